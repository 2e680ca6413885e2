"""last_seen relatime-style (pipeline.seen): an unchanged record's last_seen is written when due (once per the
connector's seen_resolution, spread by identity), decided from the dedup cache; 0 writes it in every sync; a
cache entry of the previous release (a bare MD5, no touch time) is a miss, never a change."""
from __future__ import annotations

import hashlib

from nexus_sync import names
from nexus_sync.pipeline import seen
from nexus_sync.redis_client import get_redis, text
from tests.pipeline.helpers import raw_rows, run_inline
from tests.pipeline.test_lifecycle import later

HOUR = 3600


def entries(key: str) -> dict[str, tuple[str, int]]:
    """The dedup cache: source id → (content hash, last touched)."""
    out = {text(k): seen.parse(v) for k, v in get_redis().hgetall(key).items()}
    assert None not in out.values()
    return {k: (v.content, v.touched) for k, v in out.items() if v is not None}


def _identity(n: int) -> str:
    return hashlib.md5(str(n).encode()).hexdigest()


def test_a_record_seen_every_15_minutes_is_touched_once_an_hour_and_touches_spread_evenly():
    ids = [_identity(n) for n in range(4000)]
    touched = dict.fromkeys(ids, 1_765_000_000)  # all written by one first sync
    per_sync = []
    for k in range(1, 17):  # four hours of a 15-minute schedule
        now = 1_765_000_000 + k * 900
        due = [i for i in ids if seen.due(i, touched[i], now, HOUR)]
        assert all(now - touched[i] <= HOUR + 900 for i in ids)  # never staler than the resolution (+ a sync)
        per_sync.append(len(due))
        touched.update(dict.fromkeys(due, now))
    assert all(800 <= n <= 1200 for n in per_sync), per_sync  # ~a quarter each sync, no hourly spike


def test_resolution_zero_is_always_due_and_a_touch_in_the_future_never_is():
    assert seen.due(_identity(1), 100, 100, 0) and seen.due(_identity(1), 200, 100, 0)
    assert not seen.due(_identity(1), 200, 100, HOUR)


def test_unchanged_rows_keep_last_seen_until_due(sim, make_connector):
    conn = make_connector(sim, "okta")
    run_inline(conn.name)
    later(conn)
    before = {r.source_id: r.last_seen for r in raw_rows(conn.tenant_id)}
    _, report = run_inline(conn.name)
    after = {r.source_id: r.last_seen for r in raw_rows(conn.tenant_id)}
    assert report["records"]["unchanged"] == 450
    assert sum(after[s] == before[s] for s in before) >= 440  # within the hour: (nearly) none written
    key = names.dedup_key(conn.tenant_id, conn.name)
    cache = entries(key)
    get_redis().hset(key, mapping={s: seen.entry(c, t - 2 * HOUR) for s, (c, t) in cache.items()})  # 2 h ago
    later(conn)  # a row the second sync touched must not be written again within the same second (last_seen: s)
    after = {r.source_id: r.last_seen for r in raw_rows(conn.tenant_id)}
    _, report = run_inline(conn.name)
    assert report["records"]["unchanged"] == 450
    assert all(r.last_seen > after[r.source_id] for r in raw_rows(conn.tenant_id))  # every touch due: written
    assert all(touched >= cache[sid][1] for sid, (_, touched) in entries(key).items())  # rewritten, not 2 h old


def test_resolution_zero_writes_last_seen_in_every_sync(sim, make_connector):
    conn = make_connector(sim, "okta", seen_resolution=0)
    run_inline(conn.name)
    later(conn)
    before = {r.source_id: r.last_seen for r in raw_rows(conn.tenant_id)}
    _, report = run_inline(conn.name)
    assert report["records"]["unchanged"] == 450
    assert all(r.last_seen > before[r.source_id] for r in raw_rows(conn.tenant_id))


def test_a_cache_entry_of_the_previous_release_is_a_miss_not_a_change(sim, make_connector):
    conn = make_connector(sim, "okta")
    run_inline(conn.name)
    key = names.dedup_key(conn.tenant_id, conn.name)
    sids = [text(k) for k in get_redis().hkeys(key)]
    get_redis().hset(key, mapping={s: hashlib.md5(s.encode()).hexdigest() for s in sids})  # bare MD5 values
    _, report = run_inline(conn.name)
    assert report["records"] == {"processed": 450, "new": 0, "updated": 0, "unchanged": 450, "invalid": 0,
                                 "merged": 0}
    assert len(entries(key)) == 450  # put back in the current format
