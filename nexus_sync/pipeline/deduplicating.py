"""Dedup: each record of a batch NEW / UPDATED / UNCHANGED by its content hash, from the connector's Redis
cache (source id → content hash and last touch), Postgres for what the cache misses; and which unchanged
records have their last_seen due (pipeline.seen)."""
from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Any, Mapping, cast

from nexus_sync import db, names, staging
from nexus_sync.models import content_hash
from nexus_sync.pipeline import rawprint, seen
from nexus_sync.pipeline.context import SyncContext, batch_stage, load
from nexus_sync.pipeline.ledger import NEW, UNCHANGED, UPDATED, batch_persisted, staged_norm
from nexus_sync.redis_client import get_redis


@batch_stage
def dedup(sync_hid: str, batch_no: int) -> dict[str, int]:
    """Classify each record, staged as the batch's "dedup" part: one class letter per record, and for the
    unchanged ones whether persist writes their last_seen (relatime, pipeline.seen); the others are added to
    the sync's set of records seen untouched."""
    if staging.exists(sync_hid, batch_no, "dedup") or batch_persisted(sync_hid, batch_no):
        return {"skipped": 1}
    ctx = load(sync_hid)
    norm = staged_norm(sync_hid, batch_no)
    sids, hashes, idents = norm["sid"], norm["c"], norm["h"]
    # records normalize kept by their raw fingerprint: unchanged, their last touch from the same cache read
    raws = norm.get("f") or [""] * len(sids)  # raw fingerprints (none in a batch staged by the previous release)
    known: dict[str, seen.Entry] = {sids[i]: seen.Entry(hashes[i], t, raws[i])
                                    for i, t in enumerate(norm.get("t") or ()) if t is not None}
    by_fingerprint = len(known)
    known.update(seen.read(ctx.connector.tenant_id, ctx.source, [s for s in sids if s not in known]))
    hits = len(known)
    if hits < len(sids):
        known.update(_stored_hashes(ctx, norm["kind"], [s for s in sids if s not in known]))
    classes = "".join(NEW if s not in known else (UNCHANGED if known[s][0] == c else UPDATED)
                      for s, c in zip(sids, hashes))
    now, resolution = seen.epoch(datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))), seen_resolution(ctx)
    touch = "".join(seen.TOUCH if c == UNCHANGED and seen.due(idents[i], known[sids[i]][1], now, resolution)
                    else seen.SKIP for i, c in enumerate(classes))
    untouched = [i for i, c in enumerate(classes) if c == UNCHANGED and touch[i] == seen.SKIP]
    seen.add_untouched(sync_hid, batch_no, (sids[i] for i in untouched))
    # an unchanged record's entry learns its raw fingerprint of this normalizer version (touched ones: at persist)
    learn(ctx, {sids[i]: seen.entry(hashes[i], known[sids[i]].touched, raws[i], idents[i]) for i in untouched
                if raws[i] and not rawprint.same_version(known[sids[i]].raw, raws[i])})
    staging.put(sync_hid, batch_no, "dedup", {"classes": classes, "touch": touch, "cache_hits": hits})
    unchanged = classes.count(UNCHANGED)
    return {"new": classes.count(NEW), "updated": classes.count(UPDATED), "unchanged": unchanged,
            "cache_hits": hits, "by_fingerprint": by_fingerprint, "touch": touch.count(seen.TOUCH)}


def seen_resolution(ctx: SyncContext) -> int:
    """The connector's `seen_resolution` (seconds; 0: last_seen written in every sync)."""
    return int(ctx.vendor.Config.model_validate(ctx.connector.config).seen_resolution)


def _stored_hashes(ctx: SyncContext, kind: str, sids: list[str]) -> dict[str, seen.Entry]:
    """Cold cache: content hashes of stored rows, computed from their data, with their last_seen (and put back
    in the cache)."""
    raw_conn = db.get_engine().raw_connection()
    try:
        with closing(raw_conn.cursor()) as cur:  # one array parameter, not thousands of bound ones
            cur.execute("SELECT source_id, data, raw_data, last_seen FROM raw_data WHERE tenant_id = %s "
                        "AND source = %s AND type = %s AND source_id = ANY(%s)",
                        (str(ctx.connector.tenant_id), ctx.source, kind, sids))
            rows = cur.fetchall()
        raw_conn.rollback()
    finally:
        raw_conn.close()
    volatile = ctx.vendor.volatile_fields
    found = {sid: seen.Entry(content_hash(data, raw, volatile), seen.epoch(last)) for sid, data, raw, last in rows}
    learn(ctx, {sid: seen.entry(e.content, e.touched) for sid, e in found.items()})
    return found


def learn(ctx: SyncContext, entries: dict[str, str]) -> None:
    """The dedup cache takes the entries (seen.entry) of what is now stored (only after their commit)."""
    if entries:
        # redis-py types the mapping's keys invariantly (a union of str, bytes, …): a dict[str, str] is one
        mapping = cast("Mapping[Any, Any]", entries)
        get_redis().hset(names.dedup_key(ctx.connector.tenant_id, ctx.source), mapping=mapping)
