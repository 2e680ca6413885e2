"""Background processes of the demo, tests and benchmarks: start with a log file, wait until ready, stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import requests

# connector credentials (nexus_sync.credentials): only workers and beat need them
SECRET_ENV_PREFIX = "NEXUS_SECRET_"
CREDENTIALS_FILE_ENV = "NEXUS_CREDENTIALS_FILE"


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server that needs no connector credentials (the dev stack's databases and broker,
    the vendor simulator): ours plus ``extra``, without NEXUS_SECRET_* and NEXUS_CREDENTIALS_FILE."""
    env = {**os.environ, **(extra or {})}
    return {k: v for k, v in env.items() if not k.startswith(SECRET_ENV_PREFIX) and k != CREDENTIALS_FILE_ENV}


def open_private_log(log: Path) -> BinaryIO:
    """``log`` opened for appending, created 0600 (logs can hold data and URLs)."""
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


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
        except Exception:  # not up yet (connection refused, half-written file): ask again until the deadline
            pass
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text().splitlines()[-30:])
    raise RuntimeError(f"{what} not ready within {timeout:.0f}s{tail}")


class Proc:
    """A child process in its own session, output to a log file (0600). ``credentials=False`` leaves
    NEXUS_SECRET_* and NEXUS_CREDENTIALS_FILE out of its environment."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 credentials: bool = True):
        self.name, self.argv, self.log = name, argv, log
        self._fh = open_private_log(log)
        full_env = {**os.environ, **(env or {})} if credentials else server_env(env)
        self.popen = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True,
                                      env=full_env)

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
    proc = Proc("simulator", argv, log, env, credentials=False)  # a stand-in vendor: no connector secrets
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
