"""Embedded dev stack: real servers from pip, no root, no Docker, loopback only.

Everything lives under one state folder (default ``.nexus/``)::

    stack.json            ports and URLs (read by nexus_sync.config)
    pg/                   PostgreSQL 16 cluster (pgserver); pg/log is its log,
                          pg/postmaster.pid its pid file
    redis/                Redis working dir (appendonly.aof)
    kafka/                working dir of the Tansu broker (in-memory storage)
    chdb/                 chdb (ClickHouse engine) data, owned by ONE chdb_server process
    logs/{redis,kafka,clickhouse}.log
    run/{redis,kafka,clickhouse}.pid

The folder is private to its owner: 0700 (0711 when run as root, see ``layout.root_mode``), every
folder in it 0700 and every file 0600 (servers start with umask 077, ``up`` tightens what
exists). Redis and the chdb server require a password, generated at the first ``up``
(``secrets.token_urlsafe``), kept in stack.json across restarts and carried in its URLs
(``redis://:PASSWORD@…``, ``http://default:PASSWORD@…``); a stack.json from before passwords
gets them at the next ``up``, which restarts Redis and the chdb server with them (data kept).
``status`` shows the URLs masked (nexus_sync.urls.mask). The servers get our environment
without connector credentials (NEXUS_SECRET_*, NEXUS_CREDENTIALS_FILE).

All servers are detached from the caller (own session, re-parented away from it),
so the stack outlives ``nexus-sync dev up``. ``up`` is idempotent: running services
are left alone, dead ones (or stale pid files, also pids reused by unrelated
processes) are restarted on the same ports, and ports taken by something else are
replaced by free ones.

One module per server (postgres, redis, kafka, clickhouse: start, probe, stop, tell our process from
another), layout.py (the folder, its lock and modes), processes.py (detached servers, pids, ports) and
stack.py (stack.json, up/down/restart_service/status). Zombies count as "not running" everywhere here.
"""
from nexus_sync.dev.devstack.postgres import DB_NAME
from nexus_sync.dev.devstack.processes import DevStackError
from nexus_sync.dev.devstack.stack import (
           SECRET_SERVICES,
           SERVICES,
           START_TIMEOUT,
           ServiceStatus,
           down,
           restart_service,
           stack_info,
           start_service,
           status,
           stop_service,
           up,
)

__all__ = ["DB_NAME", "SECRET_SERVICES", "SERVICES", "START_TIMEOUT", "DevStackError", "ServiceStatus", "down",
           "restart_service", "stack_info", "start_service", "status", "stop_service", "up"]
