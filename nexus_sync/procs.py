"""Background processes of the demo, tests and benchmarks: start with a log file, wait until ready, stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text().splitlines()[-30:])
    raise RuntimeError(f"{what} not ready within {timeout:.0f}s{tail}")


class Proc:
    """A child process in its own session, output to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self.argv, self.log = name, argv, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(log, "ab")
        self.popen = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True,
                                      env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a Celery worker's pool children too)."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.popen.wait(5)
        self.kill(signal.SIGKILL)  # stragglers of the group
        self._fh.close()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nexus_sync.cli", *args]


def start_simulator(log: Path, port: int, sizes: dict[str, int], seed: int = 42,
                    env: dict[str, str] | None = None) -> Proc:
    argv = cli("simulator", "serve", "--port", str(port), "--seed", str(seed))
    for vendor, n in sizes.items():
        argv += ["--size", f"{vendor}={n}"]
    proc = Proc("simulator", argv, log, env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: proc.alive() and requests.get(f"{url}/_sim/okta/stats", timeout=1).ok, 60,
               "vendor simulator", log)
    return proc


def start_worker(log: Path, env: dict[str, str] | None = None, concurrency: int = 2,
                 queues: str = "sync,archive", pool: str = "prefork", name: str = "worker") -> Proc:
    argv = cli("worker", "-c", str(concurrency), "-Q", queues, "-P", pool, "-n", f"{name}-{os.getpid()}@%h")
    offset = log.stat().st_size if log.exists() else 0  # the log may hold an earlier run's "ready."
    proc = Proc(name, argv, log, env)
    wait_until(lambda: proc.alive() and b"ready." in log.read_bytes()[offset:], 60, "celery worker", log)
    return proc
