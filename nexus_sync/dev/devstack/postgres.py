"""PostgreSQL 16 from pgserver: its cluster in pg/ (pg/log its log, pg/postmaster.pid its pid file), reached
over a private Unix socket; the "nexus" database is created on first use."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psutil

from nexus_sync.dev.devstack.layout import Paths
from nexus_sync.dev.devstack.processes import PRIVATE_UMASK, alive, cmd_flag, fail, terminate, wait_dead
from nexus_sync.dev.procs import server_env

DB_NAME = "nexus"


def _postmaster(p: Paths) -> list[str] | None:
    try:
        return p.pidfile("postgres").read_text().splitlines()
    except OSError:
        return None


def running(p: Paths) -> int | None:
    lines = _postmaster(p)
    if not lines:
        return None
    try:
        pid = int(lines[0].strip())
    except ValueError:
        return None
    proc = alive(pid)
    if proc is None:
        return None
    try:
        cmd = proc.cmdline()
        if not cmd or Path(cmd[0]).name != "postgres":
            return None
        datadir = cmd_flag(cmd, "-D")
        if datadir is None or Path(datadir).resolve() != p.pgdata:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid


def socket_dir(p: Paths) -> Path | None:
    lines = _postmaster(p)
    if lines and len(lines) >= 5 and lines[4].strip():
        return Path(lines[4].strip())
    return None


def urls(sock: Path | None, db: str = DB_NAME) -> tuple[str, str]:
    if sock is None:
        return "", ""
    host = quote(str(sock), safe="/")
    return (
        f"postgresql+psycopg2://postgres@/{db}?host={host}",
        f"postgresql://postgres@/{db}?host={host}",
    )


def _orphans(p: Paths) -> list[psutil.Process]:
    """Live postgres processes working in our pgdata (backends of a killed postmaster)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "postgres" and alive(proc.pid) and Path(proc.cwd()) == p.pgdata:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return found


def _clear_stale(p: Paths) -> None:
    """Remove postmaster.pid (+ socket lock) left by a dead server. postgres itself
    refuses to start while the pid in it is alive, which is also the case for a
    zombie or a pid reused by an unrelated process (and pgserver chokes on a
    half-written file). Backends a killed postmaster left behind must go first."""
    lines = _postmaster(p)
    if lines is None:
        return
    for proc in _orphans(p):
        # they exit by themselves on postmaster death; zombies count as gone
        if not wait_dead(proc.pid, 5):
            terminate(proc.pid, 0.1, signal.SIGKILL)
    if len(lines) >= 5 and lines[4].strip() and len(lines) >= 4 and lines[3].strip():
        (Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
    p.pidfile("postgres").unlink(missing_ok=True)


# pgserver starts the server in a child of ours, so the server gets the environment and umask we choose and
# pgserver's per-process bookkeeping (atexit hook, instance cache, pid list) ends with that child. As root it
# runs postgres as the user "pgserver" and opens every folder above pgdata to it (g+rx,o+rx). postgres must
# pass through them as long as it runs (it opens e.g. global/pg_control by its full path: without that the
# shutdown checkpoint PANICs), but needs no listing: they get their modes back, plus search permission.
_LAUNCHER = """
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


def start(p: Paths) -> None:
    _clear_stale(p)
    res = subprocess.run([sys.executable, "-c", _LAUNCHER, str(p.pgdata)], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, env=server_env(), umask=PRIVATE_UMASK, timeout=60)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise fail("postgres", f"did not start ({last})", p.pg_log)
    _private_socket(p)


def _private_socket(p: Paths) -> None:
    """Only the server's owner (and root) may connect: pgserver sets trust auth, and for a long state path
    it puts the socket in a shared runtime folder (0777 when run as root)."""
    sock = socket_dir(p)
    for path in sock.glob(".s.PGSQL.*") if sock else ():
        if not path.name.endswith(".lock"):
            path.chmod(0o600)


def probe(p: Paths) -> bool:
    """SELECT 1 in the nexus database, creating that database on first use."""
    import psycopg2

    _, dsn_pg = urls(socket_dir(p), "postgres")
    _, dsn = urls(socket_dir(p), DB_NAME)
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


def stop(p: Paths) -> None:
    pid = running(p)
    if pid is None:
        return
    # SIGINT is postgres' "fast" shutdown, what `pg_ctl -m fast stop` sends; pg_ctl itself would have to
    # run as the server's user, who may not enter the private state folder
    terminate(pid, 30, signal.SIGINT)
    if alive(pid) is not None:
        raise fail("postgres", f"did not stop (pid {pid})", p.pg_log)
