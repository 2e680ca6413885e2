"""An unchanged vendor record is not normalized again (pipeline.rawprint): its raw fingerprint, seeded by the
connector's normalizer version, is in its dedup cache entry. A changed record, a new normalizer version or a
cold cache goes through normalize as before; an invalid record never enters the cache."""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa

import connectors
from nexus_sync import db, names
from nexus_sync.pipeline import deduplicating, rawprint
from nexus_sync.redis_client import get_redis
from tests.pipeline.helpers import archive_count, run_inline, small_simulator, stored
from tests.pipeline.test_lifecycle import later

USERS = 60


@pytest.fixture
def okta_sim() -> Iterator[Any]:
    with small_simulator(17, okta=USERS) as sim:
        yield sim


@pytest.fixture
def normalized(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the Okta records normalize is called for (the connector's own normalize still runs)."""
    calls: list[str] = []
    vendor = connectors.registry()["okta"]
    real: Callable[[dict[str, Any]], dict[str, Any]] = vendor.normalize

    @functools.wraps(real)  # its module too: the normalizer version stays the code's
    def counting(raw: dict[str, Any]) -> dict[str, Any]:
        calls.append(raw["id"])
        return real(raw)

    monkeypatch.setattr(vendor, "normalize", staticmethod(counting))
    return calls


def rows(conn: Any) -> dict[str, tuple[Any, ...]]:
    """source id → what a rewrite changes (hash, data, updated_at)."""
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return {r.source_id: (r.hash, r.data, r.updated_at) for r in c.execute(
            sa.select(rd.source_id, rd.hash, rd.data, rd.updated_at).where(rd.tenant_id == conn.tenant_id))}


def sync(conn: Any, calls: list[str]) -> dict[str, Any]:
    """One sync a minute after the last; its report's record counts, with how many normalize calls it made."""
    later(conn)
    calls.clear()
    _, report = run_inline(conn.name)
    return {**report["records"], "normalized": len(calls)}


def test_an_unchanged_vendor_record_is_not_normalized_and_its_row_is_left(okta_sim, make_connector, normalized,
                                                                          monkeypatch):
    conn = make_connector(okta_sim, "okta")
    run_inline(conn.name)
    assert len(normalized) == USERS
    before = rows(conn)
    learned: list[str] = []  # dedup's cache writes: an entry that has the fingerprint is not written again
    real_learn = deduplicating.learn
    monkeypatch.setattr(deduplicating, "learn", lambda ctx, entries: (learned.extend(entries),
                                                                      real_learn(ctx, entries)))
    counts = sync(conn, normalized)
    assert counts["normalized"] == 0 and counts["unchanged"] == USERS
    assert counts["new"] == counts["updated"] == 0
    assert rows(conn) == before
    assert learned == []


def test_one_changed_field_is_normalized_updated_and_archived(okta_sim, make_connector, normalized):
    conn = make_connector(okta_sim, "okta")
    run_inline(conn.name)
    archived_before = archive_count(conn.tenant_id)
    vendor = okta_sim.vendor("okta")
    with vendor.lock:
        rid = vendor.order[7]
        record = vendor.records[rid]
        vendor.records[rid] = {**record, "profile": {**record["profile"], "title": "Chief Fingerprint Officer"}}
        vendor.version += 1
        vendor.on_data_changed()
    before = rows(conn)
    counts = sync(conn, normalized)
    assert normalized == [rid]
    assert counts["updated"] == 1 and counts["unchanged"] == USERS - 1
    assert stored(conn.tenant_id)[rid][1]["profile"]["title"] == "Chief Fingerprint Officer"
    after = rows(conn)
    assert after[rid] != before[rid] and {s: r for s, r in after.items() if s != rid} == {
        s: r for s, r in before.items() if s != rid}
    assert archive_count(conn.tenant_id) == archived_before + 1


def test_a_new_normalizer_version_normalizes_everything_once_and_rewrites_nothing(
        okta_sim, make_connector, normalized, monkeypatch):
    conn = make_connector(okta_sim, "okta")
    run_inline(conn.name)
    before = rows(conn)
    monkeypatch.setattr(connectors.registry()["okta"], "normalizer_version", "2099-01")  # a new release
    monkeypatch.setattr(rawprint, "_SEEDS", {})  # its workers start afresh
    counts = sync(conn, normalized)
    assert counts["normalized"] == USERS and counts["unchanged"] == USERS and counts["updated"] == 0
    assert rows(conn) == before
    assert sync(conn, normalized)["normalized"] == 0  # the new version's fingerprints were learned


def test_a_cold_cache_normalizes_everything_and_learns_the_fingerprints(okta_sim, make_connector, normalized):
    conn = make_connector(okta_sim, "okta")
    run_inline(conn.name)
    before = rows(conn)
    get_redis().delete(names.dedup_key(conn.tenant_id, conn.name))  # Redis restarted
    counts = sync(conn, normalized)
    assert counts["normalized"] == USERS and counts["unchanged"] == USERS and counts["updated"] == 0
    assert rows(conn) == before
    counts = sync(conn, normalized)
    assert counts["normalized"] == 0 and counts["unchanged"] == USERS


def test_an_invalid_record_is_reported_in_every_sync(okta_sim, make_connector, monkeypatch):
    conn = make_connector(okta_sim, "okta")
    vendor = connectors.registry()["okta"]
    bad = okta_sim.vendor("okta").order[3]
    calls: list[str] = []
    real = vendor.normalize

    @functools.wraps(real)
    def rejecting(raw: dict[str, Any]) -> dict[str, Any]:  # normalize refuses one record
        calls.append(raw["id"])
        if raw["id"] == bad:
            raise ValueError("not a user we can read")
        return real(raw)

    monkeypatch.setattr(vendor, "normalize", staticmethod(rejecting))
    for first in (True, False, False):
        later(conn)
        calls.clear()
        _, report = run_inline(conn.name)
        assert report["records"]["invalid"] == 1
        assert [i["source_id"] for i in report["invalid_records"]] == [bad]
        assert (len(calls) == USERS) if first else calls == [bad]
    assert get_redis().hget(names.dedup_key(conn.tenant_id, conn.name), bad) is None
