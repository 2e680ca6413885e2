"""The stack as a whole: stack.json (ports, URLs, passwords), and up / down / restart_service / status."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_sync.dev.chdb_server import USER as CHDB_USER
from nexus_sync.dev.devstack import clickhouse, kafka, postgres, redis
from nexus_sync.dev.devstack.layout import Paths, locked, make_private, paths, write_private
from nexus_sync.dev.devstack.processes import (
    DevStackError,
    Server,
    alive,
    fail,
    pick_port,
    port_free,
    running,
    tcp_open,
)
from nexus_sync.urls import mask

SERVICES = ("postgres", "redis", "kafka", "clickhouse")
SECRET_SERVICES = ("redis", "clickhouse")  # the ones with a password
START_TIMEOUT = 30.0
PORT_RELEASE_TIMEOUT = 10.0  # a stopped or killed server's port, before up moves the service to another
# the servers with a port, in the order they are launched (before postgres, so they boot while it starts)
SERVERS: dict[str, Server] = {s.name: s for s in (redis.SERVER, kafka.SERVER, clickhouse.SERVER)}


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    url: str
    detail: str = ""


# ---------------------------------------------------------------------------------
# stack.json
# ---------------------------------------------------------------------------------
def stack_info(state_dir: Path) -> dict[str, Any] | None:
    """Parsed stack.json of ``state_dir`` or None."""
    try:
        info: dict[str, Any] = json.loads(paths(state_dir).stack_json.read_text())
        return info
    except (OSError, ValueError):
        return None


def _write_stack(p: Paths, info: dict[str, Any]) -> None:
    write_private(p.stack_json, json.dumps(info, indent=2) + "\n")


def _passwords(p: Paths) -> tuple[dict[str, str], set[str]]:
    """The passwords of Redis and the chdb server from stack.json, and the names of those that were not
    there yet and have just been generated."""
    old = stack_info(p.root) or {}
    passwords: dict[str, str] = {}
    fresh: set[str] = set()
    for name in SECRET_SERVICES:
        value = (old.get(name) or {}).get("password")
        if not (isinstance(value, str) and value):
            value = secrets.token_urlsafe(32)  # URL-safe: it goes into the URLs as it is
            fresh.add(name)
        passwords[name] = value
    return passwords, fresh


def _build_info(p: Paths, ports: dict[str, int | None], passwords: dict[str, str]) -> dict[str, Any]:
    # postmaster.pid names the socket dir while postgres runs; when it is stopped
    # keep what the previous stack.json said (the same dir is chosen again on start)
    old_pg = (stack_info(p.root) or {}).get("postgres") or {}
    sock = postgres.socket_dir(p) or (Path(old_pg["socket_dir"]) if old_pg.get("socket_dir") else None)
    url, dsn = postgres.urls(sock)
    info: dict[str, Any] = {"state_dir": str(p.root)}
    info["postgres"] = {
        "url": url, "dsn": dsn, "datadir": str(p.pgdata),
        "pid": postgres.running(p), "socket_dir": str(sock or ""), "log": str(p.pg_log),
    }
    rp, kp, cp = ports.get("redis"), ports.get("kafka"), ports.get("clickhouse")
    rpw, cpw = passwords["redis"], passwords["clickhouse"]
    info["redis"] = {
        "url": f"redis://:{rpw}@127.0.0.1:{rp}/0" if rp else "", "port": rp, "password": rpw,
        "pid": running(redis.SERVER, p)[0], "log": str(p.log("redis")),
    }
    info["kafka"] = {
        "bootstrap": f"127.0.0.1:{kp}" if kp else "", "port": kp,
        "pid": running(kafka.SERVER, p)[0], "log": str(p.log("kafka")),
    }
    info["clickhouse"] = {
        "url": f"http://{CHDB_USER}:{cpw}@127.0.0.1:{cp}" if cp else "", "port": cp, "user": CHDB_USER,
        "password": cpw, "path": str(p.chdb_dir), "pid": running(clickhouse.SERVER, p)[0],
        "log": str(p.log("clickhouse")),
    }
    return info


def _known_ports(p: Paths) -> dict[str, int | None]:
    old = stack_info(p.root) or {}
    return {name: (old.get(name) or {}).get("port") for name in SERVERS}


# ---------------------------------------------------------------------------------
# start, wait, stop
# ---------------------------------------------------------------------------------
def _await_port_release(port: int | None) -> None:
    """A server that just stopped: give the kernel a moment to release its port."""
    deadline = time.monotonic() + PORT_RELEASE_TIMEOUT
    while port and not port_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _stop(name: str, p: Paths, passwords: dict[str, str]) -> None:
    if name == "postgres":
        postgres.stop(p)
        return
    server = SERVERS[name]
    pid, port = running(server, p)
    if pid is not None:
        server.stop(p, pid, port, passwords.get(name))
        if alive(pid) is not None:
            raise fail(name, f"did not stop (pid {pid})", p.log(name))
    p.pidfile(name).unlink(missing_ok=True)


def _launch(p: Paths, names: tuple[str, ...], ports: dict[str, int | None],
            passwords: dict[str, str]) -> dict[str, float]:
    """Launch whichever of ``names`` (postgres aside) is not running; returns when each was launched.
    ``ports`` is updated in place with the ports actually used."""
    # the stack's own live services keep their ports; others need a free one
    taken: set[int] = set()
    live: set[str] = set()
    for name, server in SERVERS.items():
        pid, port = running(server, p)
        if pid is not None:
            live.add(name)
            if port:
                ports[name] = port
        known = ports.get(name)
        if known:
            taken.add(known)
    started: dict[str, float] = {}
    for name, server in SERVERS.items():
        if name not in names or name in live:
            continue
        port = ports.get(name)
        # a killed server's forked child (redis's AOF rewrite) holds the listener a moment longer:
        # clients know this port, so wait for it before moving to another
        _await_port_release(port)
        if not port or not port_free(port):
            taken.discard(port or 0)
            port = pick_port(taken)
            ports[name] = port
        taken.add(port)
        p.pidfile(name).unlink(missing_ok=True)  # stale
        server.start(p, port, passwords.get(name))
        started[name] = time.monotonic()
    return started


def _await_postgres(p: Paths) -> None:
    t0 = time.monotonic()
    if postgres.running(p) is None:
        postgres.start(p)
    deadline = t0 + START_TIMEOUT
    while not postgres.probe(p):
        if postgres.running(p) is None:
            raise fail("postgres", "exited during startup", p.pg_log)
        if time.monotonic() > deadline:
            raise fail("postgres", f"did not answer SELECT 1 within {START_TIMEOUT:.0f} s", p.pg_log)
        time.sleep(0.1)


def _await_server(p: Paths, server: Server, port: int, password: str | None, started: float | None) -> None:
    name = server.name
    deadline = (started or time.monotonic()) + START_TIMEOUT
    while not server.probe(port, password):
        if time.monotonic() > deadline:
            raise fail(name, f"did not answer {server.asks} on 127.0.0.1:{port} within "
                             f"{START_TIMEOUT:.0f} s", p.log(name))
        if name != "redis" or time.monotonic() - (started or 0) > 2:
            # redis writes its pid file right after daemonizing; the others at once
            if running(server, p)[0] is None:
                raise fail(name, "exited during startup", p.log(name))
        time.sleep(0.05)


def _ensure(p: Paths, names: tuple[str, ...], ports: dict[str, int | None], passwords: dict[str, str]) -> None:
    """Start whichever of ``names`` is not running, then wait until all answer.
    ``ports`` is updated in place with the ports actually used."""
    started = _launch(p, names, ports, passwords)
    if "postgres" in names:
        _await_postgres(p)
    for name, server in SERVERS.items():
        port = ports.get(name)
        if name in names and port:
            _await_server(p, server, port, passwords.get(name), started.get(name))


# ---------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------
def up(state_dir: Path) -> dict[str, Any]:
    """Start (or keep) all services; idempotent. Returns the stack.json content."""
    p = paths(state_dir)
    with locked(p):
        for d in (p.root / "logs", p.root / "run"):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        ports = _known_ports(p)
        passwords, fresh = _passwords(p)
        try:
            for name in fresh:  # a server running without its new password (a stack from before passwords)
                _, port = running(SERVERS[name], p)
                _stop(name, p, passwords)
                _await_port_release(port)
            _ensure(p, SERVICES, ports, passwords)
        finally:
            info = _build_info(p, ports, passwords)
            _write_stack(p, info)
            make_private(p)
        return info


def down(state_dir: Path) -> None:
    """Stop every service of the stack (data dirs and stack.json with its ports stay)."""
    p = paths(state_dir)
    if not p.root.exists():
        return
    with locked(p):
        passwords, _ = _passwords(p)
        errors = []
        for name in ("clickhouse", "kafka", "redis", "postgres"):
            try:
                _stop(name, p, passwords)
            except DevStackError as exc:
                errors.append(str(exc))
        if p.stack_json.exists():
            _write_stack(p, _build_info(p, _known_ports(p), passwords))
        if errors:
            raise DevStackError("\n".join(errors))


def restart_service(state_dir: Path, name: str) -> None:
    """Stop then start one service on the same port with the same data
    ("redis", "postgres"; also "kafka" — in-memory, so it loses topics — and "clickhouse")."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    p = paths(state_dir)
    with locked(p):
        ports = _known_ports(p)
        passwords, _ = _passwords(p)
        _, port = running(SERVERS[name], p) if name != "postgres" else (None, None)
        if port:
            ports[name] = port
        _stop(name, p, passwords)
        if name != "postgres":
            _await_port_release(ports.get(name))
        try:
            _ensure(p, (name,), ports, passwords)
        finally:
            _write_stack(p, _build_info(p, ports, passwords))
            make_private(p)


def stop_service(state_dir: Path, name: str) -> None:
    """Stop one server (not postgres) and leave it stopped: an outage, until `start_service` (or `up`)."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; expected one of {', '.join(SERVERS)}")
    p = paths(state_dir)
    with locked(p):
        passwords, _ = _passwords(p)
        _stop(name, p, passwords)


def start_service(state_dir: Path, name: str) -> None:
    """Start one stopped server again on its port, with its data ("kafka" comes back empty: in-memory)."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; expected one of {', '.join(SERVERS)}")
    p = paths(state_dir)
    with locked(p):
        ports = _known_ports(p)
        passwords, _ = _passwords(p)
        _await_port_release(ports.get(name))
        try:
            _ensure(p, (name,), ports, passwords)
        finally:
            _write_stack(p, _build_info(p, ports, passwords))
            make_private(p)


def _detail(name: str, p: Paths) -> tuple[int | None, str]:
    """The service's pid (None when it is not running) and what is known of it."""
    if name == "postgres":
        pid = postgres.running(p)
        if pid is None:
            return None, "stale pid file" if p.pidfile(name).exists() else "stopped"
        sock = postgres.socket_dir(p)
        ok = sock is not None and any(sock.glob(".s.PGSQL.*[0-9]"))
        return pid, f"socket {sock}" if ok else "process alive but no socket"
    pid, port = running(SERVERS[name], p)
    if pid is None:
        return None, "stale pid file" if p.pidfile(name).exists() else "stopped"
    if port and tcp_open(port):
        return pid, f"listening on 127.0.0.1:{port}"
    return pid, f"process alive but not listening on 127.0.0.1:{port}"


def status(state_dir: Path) -> list[ServiceStatus]:
    """One ServiceStatus per service (postgres, redis, kafka, clickhouse)."""
    p = paths(state_dir)
    info = stack_info(p.root) or {}
    out: list[ServiceStatus] = []
    for name in SERVICES:
        entry = info.get(name) or {}
        url = mask(entry.get("bootstrap" if name == "kafka" else "url") or "")
        pid, detail = _detail(name, p)
        out.append(ServiceStatus(name, pid is not None, pid, url, f"{detail}; log: {p.log(name)}"))
    return out
