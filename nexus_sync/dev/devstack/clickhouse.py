"""The ClickHouse stand-in: nexus_sync.dev.chdb_server (the chdb engine behind ClickHouse's HTTP interface),
ONE process owning chdb/, password in its environment."""
from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from nexus_sync.dev.chdb_server import PASSWORD_ENV, USER
from nexus_sync.dev.devstack.layout import Paths
from nexus_sync.dev.devstack.processes import Server, cmd_flag, spawn_detached, terminate, write_pid
from nexus_sync.dev.procs import server_env

MODULE = "nexus_sync.dev.chdb_server"
_PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _identify(proc: psutil.Process, p: Paths) -> tuple[bool, int | None]:
    cmd = proc.cmdline()
    if MODULE not in cmd or cmd_flag(cmd, "--path") != str(p.chdb_dir):
        return False, None
    port = cmd_flag(cmd, "--port")
    return True, int(port) if port else None


def start(p: Paths, port: int, password: str | None) -> None:
    p.chdb_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [sys.executable, "-m", MODULE, "--path", str(p.chdb_dir), "--port", str(port), "--host", "127.0.0.1"]
    pythonpath = os.pathsep.join([str(_PROJECT_ROOT)] + ([os.environ["PYTHONPATH"]]
                                                         if os.environ.get("PYTHONPATH") else []))
    # the password goes in the environment, which only its owner can read (/proc/PID/environ is 0400)
    env = server_env({"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", PASSWORD_ENV: password or ""})
    pid = spawn_detached(argv, p.log("clickhouse"), p.root, env)
    write_pid(p.pidfile("clickhouse"), pid)


def probe(port: int, password: str | None) -> bool:
    """An authenticated SELECT 1: the server is up and takes our password."""
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"SELECT 1", method="POST",
                                 headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"1"
    except (urllib.error.URLError, OSError):
        return False


def stop(p: Paths, pid: int, _port: int | None, _password: str | None) -> None:
    terminate(pid, 10)  # closes its chdb session on SIGTERM


SERVER = Server("clickhouse", _identify, start, probe, stop, asks="SELECT 1")
