"""The state folder of a dev stack: where each server keeps its data, log and pid file, the lock that
serialises up/down/restart, and the modes that keep it all private to its owner."""
from __future__ import annotations

import fcntl
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Paths:
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


def paths(state_dir: Path) -> Paths:
    return Paths(Path(state_dir).expanduser().resolve())


@contextmanager
def locked(p: Paths) -> Iterator[None]:
    """Serialise up/down/restart of one state dir across processes."""
    p.root.mkdir(mode=root_mode(), parents=True, exist_ok=True)
    with os.fdopen(os.open(p.lock, os.O_RDWR | os.O_CREAT, 0o600), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def root_mode() -> int:
    """0700, or 0711 when we are root: postgres then runs as the user "pgserver", who must pass through the
    state folder to its data (pgserver's choice; initdb refuses root). Everything in the folder stays
    closed to other users either way."""
    return 0o711 if os.geteuid() == 0 else 0o700


def make_private(p: Paths) -> None:
    """The state folder ``root_mode()``; what the stack keeps in it 0700 (folders) and 0600 (files), owner
    bits kept: what a server or an older version of the stack created with a looser mode. Only the stack's
    own entries: a state folder given by NEXUS_STATE_DIR may hold other things."""
    p.root.chmod(root_mode())
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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as a 0600 file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
