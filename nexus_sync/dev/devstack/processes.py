"""The dev stack's servers as processes: start one detached, tell ours from a pid reused by another
process, wait for it to end or end it, find a free loopback port; and what a server module provides.

Note on zombies: on machines whose PID 1 does not reap orphans, a killed server stays a zombie; zombies
count as "not running" everywhere here."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import psutil

from nexus_sync.dev.devstack.layout import Paths, write_private

PRIVATE_UMASK = 0o077  # servers create their files 0600 and folders 0700


class DevStackError(RuntimeError):
    """A dev-stack service could not be started/stopped; the message names it and its log."""


@dataclass(frozen=True)
class Server:
    """One server of the stack besides postgres (which has a socket, not a port: see postgres.py)."""

    name: str
    identify: Callable[[psutil.Process, Paths], tuple[bool, int | None]]  # (ours?, its port) from its process
    start: Callable[[Paths, int, str | None], None]  # (paths, port, password): launch it, write its pid file
    probe: Callable[[int, str | None], bool]  # (port, password): does it answer?
    stop: Callable[[Paths, int, int | None, str | None], None]  # (paths, pid, port, password)
    asks: str  # what the probe asks, for the error message


def running(server: Server, p: Paths) -> tuple[int | None, int | None]:
    """(pid, port) of OUR live instance of ``server``, checked against the process' cmdline/cwd so a pid
    reused by an unrelated process does not count."""
    proc = alive(read_pid(p.pidfile(server.name)))
    if proc is None:
        return None, None
    try:
        ours, port = server.identify(proc, p)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, OSError):
        return None, None
    return (proc.pid, port) if ours else (None, None)


def alive(pid: int | None) -> psutil.Process | None:
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


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def write_pid(path: Path, pid: int) -> None:
    write_private(path, f"{pid}\n")


def cmd_flag(cmdline: list[str], flag: str) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg == flag and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def port_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers do
        try:
            s.bind(("127.0.0.1", int(port)))
            return True
        except OSError:
            return False


def pick_port(taken: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise DevStackError("could not find a free loopback port")


def tcp_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        data = path.read_bytes()[-8000:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def fail(name: str, what: str, log: Path) -> DevStackError:
    return DevStackError(
        f"dev stack: {name} {what}; log: {log}\n--- last lines of {log.name} ---\n{tail(log)}"
    )


def spawn_detached(argv: list[str], log: Path, cwd: Path, env: Mapping[str, str] | None = None) -> int:
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


def terminate(pid: int, grace: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig``, wait up to ``grace`` s, then SIGKILL; returns when it is gone."""
    proc = alive(pid)
    if proc is None:
        return
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if not wait_dead(pid, grace):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            return
        wait_dead(pid, 5.0)


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive(pid) is None:
            return True
        time.sleep(0.05)
    return alive(pid) is None
