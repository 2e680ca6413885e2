"""Fetch stages a record the dedup cache knows by its raw fingerprint as its cache entry, not as the vendor's
JSON (pipeline.known): an unchanged re-sync's staged pages hold no vendor record, and everything the cache does
not know — changed, new, a source id twice in the page, an unreadable id or cursor, an entry without a
fingerprint — is staged and normalized as before, reported by its index in the vendor's page."""
from __future__ import annotations

import functools
import uuid
from typing import Any, Iterator

import orjson
import pytest

import connectors
from nexus_sync import staging
from nexus_sync.pipeline import known, rawprint, seen
from tests.pipeline.helpers import run_inline, small_simulator
from tests.pipeline.test_lifecycle import later

USERS = 60
OKTA = connectors.registry()["okta"]


def user(uid: str, updated: str = "2026-12-01T10:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {"id": uid, "status": "ACTIVE", "lastUpdated": updated, "profile": {"login": f"{uid}@example.com"},
            **extra}


def entry_of(rec: dict[str, Any], content: str = "c" * 32) -> seen.Entry:
    """The cache entry of a record stored from exactly this vendor JSON."""
    return seen.Entry(content, 1_700_000_000, rawprint.fingerprinter(OKTA)(orjson.dumps(rec)), "0123abcd")


def test_only_records_whose_entry_holds_their_fingerprint_are_kept_as_entries():
    page = [user("u0"), user("u1"), user("u2", title="changed"), user("u3"), user("u3"), {"no": "id"},
            user("u5", updated="not a time"), user("u6"), user("u7")]
    cache = {"u0": entry_of(page[0]), "u1": entry_of(page[1]), "u2": entry_of(user("u2")),
             "u3": entry_of(page[3]), "u5": entry_of(page[6]), "u6": seen.Entry("c" * 32, 1_700_000_000),
             "u7": entry_of(page[8])}
    asked: list[list[str]] = []
    part = known.split(OKTA, OKTA.__new__(OKTA), page, lambda sids: (asked.append(sids), cache)[1])
    assert part.known["sid"] == ["u0", "u1", "u7"] and part.known["i"] == [0, 1, 8]
    assert part.known["c"] == ["c" * 32] * 3 and part.known["t"] == [1_700_000_000] * 3
    assert part.known["f"] == [cache["u0"].raw, cache["u1"].raw, cache["u7"].raw]
    assert part.known["cur"][0] is not None  # the cursor is read for a known record too
    # changed, twice in the page (both), no id, a cursor that does not read, an entry of the previous release
    assert part.at == [2, 3, 4, 5, 6, 7]
    assert [orjson.loads(b) for b in part.blobs] == [page[i] for i in part.at]
    assert asked == [["u0", "u1", "u2", "u5", "u6", "u7"]]  # one read for the page, never a repeated id


def test_a_nul_is_replaced_before_the_fingerprint():
    stored = user("u0", title="a\ufffdb")  # as it was stored: fetch replaced the vendor's NUL
    page = [user("u0", title="a\x00b")]
    part = known.split(OKTA, OKTA.__new__(OKTA), page, lambda sids: {"u0": entry_of(stored)})
    assert part.nuls_replaced == 1 and part.known["sid"] == ["u0"]


@pytest.fixture
def okta_sim() -> Iterator[Any]:
    with small_simulator(23, okta=USERS) as sim:
        yield sim


@pytest.fixture
def staged_parts(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every part the stages put, by name ("raw", "norm": parsed; "rows": as bytes)."""
    parts: dict[str, list[Any]] = {"raw": [], "norm": [], "rows": []}
    real = staging.put_batch

    @functools.wraps(real)
    def spying(sync_hid: str, batch_no: int, payload: dict[str, Any]) -> int:
        for name in parts:
            if name in payload:
                value = payload[name]
                parts[name].append(value if isinstance(value, (bytes, dict)) else orjson.loads(value))
        return real(sync_hid, batch_no, payload)

    monkeypatch.setattr(staging, "put_batch", spying)
    return parts


@pytest.fixture
def staged_raw(staged_parts: dict[str, list[Any]]) -> list[Any]:
    """Every "raw" part fetch stages (JSON bytes: parsed by raw_parts)."""
    return staged_parts["raw"]


def raw_parts(staged: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(p) for p in staged]


def test_an_unchanged_resync_stages_no_vendor_record(okta_sim, make_connector, staged_parts):
    conn = make_connector(okta_sim, "okta", page_size=25)
    run_inline(conn.name)
    assert sum(len(orjson.loads(p)["records"]) for p in staged_parts["raw"]) == USERS
    for part in staged_parts.values():
        part.clear()
    later(conn)
    _, report = run_inline(conn.name)
    assert report["records"]["unchanged"] == USERS and report["records"]["new"] == 0
    # every page was known: staged normalized by fetch (no vendor page staged, no normalize work)
    assert staged_parts["raw"] == [] and len(staged_parts["norm"]) >= 3  # the active users' pages, then the rest
    assert sorted(s for p in staged_parts["norm"] for s in p["sid"]) == sorted(okta_sim.vendor("okta").order)
    assert all(p["t"] and p["max_cursor"] for p in staged_parts["norm"])


def test_a_page_of_known_records_goes_on_at_dedup_and_one_with_a_change_at_normalize(okta_sim, make_connector):
    from nexus_sync import pipeline

    conn = make_connector(okta_sim, "okta", page_size=25)
    run_inline(conn.name)
    later(conn)
    assert len(okta_sim.mutate("okta", 1 / USERS)) == 1  # one record changes: its page is normalized, the others are not
    hid = str(uuid.uuid4())
    started = pipeline.start(conn.name, hid, "test")
    state, normalized = None, []
    while True:
        batch = len(normalized)
        fetched = pipeline.fetch(hid, batch, state, started.since)
        normalized.append(fetched.normalized)
        assert staging.exists(hid, batch, "norm") is fetched.normalized
        assert staging.exists(hid, batch, "raw") is not fetched.normalized
        if (state := fetched.next) is None:
            break
    assert len(normalized) >= 3 and normalized.count(False) == 1
    assert pipeline.resume_plan(hid) == [pipeline.ResumeBatch(n, "dedup" if done else "normalize")
                                         for n, done in enumerate(normalized)]
    pipeline.release_lock(conn.id, hid)


def test_a_bad_record_among_known_ones_is_reported_by_its_index_in_the_page(okta_sim, make_connector,
                                                                            monkeypatch, staged_parts, staged_raw):
    conn = make_connector(okta_sim, "okta")
    bad = okta_sim.vendor("okta").order[5]
    real = OKTA.normalize

    @functools.wraps(real)  # its module too: the normalizer version stays the code's
    def rejecting(raw: dict[str, Any]) -> dict[str, Any]:
        if raw["id"] == bad:
            raise ValueError("not a user we can read")
        return real(raw)

    monkeypatch.setattr(OKTA, "normalize", staticmethod(rejecting))
    run_inline(conn.name)
    (where,) = [[r["id"] for r in p["records"]].index(bad) for p in raw_parts(staged_raw)
                if bad in str(p["records"])]
    for part in staged_parts.values():
        part.clear()
    later(conn)
    _, report = run_inline(conn.name)
    assert report["records"]["invalid"] == 1 and report["records"]["unchanged"] == USERS - 1
    (page,) = raw_parts(staged_raw)  # only the bad record's page is staged as vendor JSON, the rest of it as entries
    assert page["at"] == [where] and [r["id"] for r in page["records"]] == [bad]
    assert sum(len(p["sid"]) for p in staged_parts["norm"]) == USERS - 1  # every other page: normalized by fetch
    assert [(i["source_id"], i["index"]) for i in report["invalid_records"]] == [(bad, where)]


def test_a_page_staged_by_the_previous_release_is_still_normalized_by_its_fingerprint(okta_sim, make_connector,
                                                                                      monkeypatch):
    """An upgrade in flight: the old fetch staged the whole page; the new normalize reads the cache itself."""
    from nexus_sync.pipeline import fetching
    from nexus_sync.pipeline.ids import iso, utcnow

    conn = make_connector(okta_sim, "okta")
    run_inline(conn.name)
    monkeypatch.setattr(fetching, "_stage", lambda ctx, sync_hid, batch_no, page, connector: staging.put_batch(
        sync_hid, batch_no, {"raw": orjson.dumps({"records": page.records, "fetched_at": iso(utcnow())})}))
    calls: list[str] = []
    real = OKTA.normalize

    @functools.wraps(real)
    def counting(raw: dict[str, Any]) -> dict[str, Any]:
        calls.append(raw["id"])
        return real(raw)

    monkeypatch.setattr(OKTA, "normalize", staticmethod(counting))
    later(conn)
    _, report = run_inline(conn.name)
    assert report["records"]["unchanged"] == USERS and calls == []
