"""Drive the pipeline's stages in this process (no worker): every stage still runs on the real stack."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import sqlalchemy as sa

from nexus_sync import db, pipeline


def run_inline(connector: str, twice: bool = False) -> tuple[str, dict[str, Any]]:
    """One sync, stage by stage; with twice=True every stage runs a second time right after the first.
    A vendor job that is not ready (Fetched.wait) is fetched again at once, with its state, for the same batch."""
    hid = str(uuid.uuid4())
    rounds = 2 if twice else 1
    started = None
    for _ in range(rounds):
        started = pipeline.start(connector, hid, "test")
    assert started is not None and not started.skipped, started
    batch, state = 0, None
    while True:
        for _ in range(rounds):
            fetched = pipeline.fetch(hid, batch, state, started.since)
        if fetched.wait is not None:
            state = fetched.next
            continue
        for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist):
            for _ in range(rounds):
                stage(hid, batch)
        for _ in range(rounds):
            pipeline.archive(hid, batch)
        if fetched.next is None:
            break
        batch, state = batch + 1, fetched.next
    report = None
    for _ in range(rounds):
        report = close(hid) or report
    assert report is not None
    return hid, report


def close(sync_hid: str) -> dict[str, Any] | None:
    """pipeline.close_sync's report (None: the sync has batches still to do); what the close owes (events,
    webhooks) is then sent in this process, as the outbox relay would."""
    closed = pipeline.close_sync(sync_hid)
    relay_events()
    return closed.report if closed is not None else None


def relay_events() -> dict[str, Any]:
    """The events relay's run, in this process (a worker's beat would start it)."""
    from nexus_sync.outbox import relay

    return relay.run_events()


def raw_rows(tenant_id: uuid.UUID) -> list[Any]:
    rd = db.raw_data.c
    with db.get_engine().connect() as conn:
        return conn.execute(sa.select(rd.source_id, rd.hash, rd.data, rd.last_seen, rd.ingested_at, rd.id)
                            .where(rd.tenant_id == tenant_id).order_by(rd.source_id)).all()


def cursor_of(connector_id: uuid.UUID) -> str | None:
    with db.get_engine().connect() as conn:
        return conn.execute(sa.select(db.connector_state.c.cursor)
                            .where(db.connector_state.c.connector_id == connector_id)).scalar()


def archive_count(tenant_id: uuid.UUID) -> int:
    from nexus_sync.archive import TABLE, get_archive

    return int(get_archive().query(
        f"SELECT count() AS n FROM {TABLE} WHERE tenant_id = toUUID('{tenant_id}')")[0]["n"])


def archived(tenant_id: uuid.UUID, want: int, timeout: float = 60.0) -> int:
    """The tenant's archive count once it reaches `want` (a worker's relay archives after the sync closes), or
    whatever it is at the deadline."""
    import time

    deadline = time.monotonic() + timeout
    while (n := archive_count(tenant_id)) < want and time.monotonic() < deadline:
        time.sleep(0.2)
    return n


def stored(tenant_id: uuid.UUID) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """source id → (normalized data, the vendor record as stored)."""
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return {r.source_id: (r.data, r.raw_data)
                for r in c.execute(sa.select(rd.source_id, rd.data, rd.raw_data).where(rd.tenant_id == tenant_id))}


@contextmanager
def small_simulator(seed: int, **sizes: int) -> Iterator[Any]:
    """A simulator of its own (a test may change its data freely), started and stopped around the block."""
    from nexus_sync.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=seed, sizes=sizes)).start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def scratch_database(revision: str) -> Iterator[sa.Engine]:
    """A database of its own on the test stack's PostgreSQL, migrated to `revision` (upgrade it further with
    nexus_sync.migrations.upgrade(engine.url…)); dropped afterwards."""
    from sqlalchemy.engine import make_url

    from nexus_sync.config import get_settings
    from nexus_sync.migrations import upgrade

    base = make_url(get_settings().db_url)
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = base.set(database=name)
    upgrade(url.render_as_string(hide_password=False), revision)
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


def owed(sync_hid: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(target, event) of what the sync's close owes and the relay has not sent yet (a sent row's payload is
    dropped), in the order it goes out; `prefix` keeps the targets starting with it (kafka, webhook:)."""
    from nexus_sync.outbox.store import KAFKA, unpack

    o = db.outbox.c
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(o.target, o.payload).where(
            o.sync_history_id == uuid.UUID(sync_hid), o.target.startswith(prefix), o.target != "archive",
            o.payload.is_not(None)).order_by(o.id)).all()
    return [(r.target, unpack(r.payload)["event"] if r.target == KAFKA else unpack(r.payload)) for r in rows]

