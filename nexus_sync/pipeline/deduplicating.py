"""Dedup: each record of a batch NEW / UPDATED / UNCHANGED by its content hash, from the connector's Redis
cache (source id → content hash), Postgres for what the cache misses."""
from __future__ import annotations

from contextlib import closing
from typing import Any, Mapping, cast

from nexus_sync import db, names, staging
from nexus_sync.models import content_hash
from nexus_sync.pipeline.context import SyncContext, batch_stage, load
from nexus_sync.pipeline.ledger import NEW, UNCHANGED, UPDATED, batch_persisted, staged_norm
from nexus_sync.redis_client import get_redis, text


@batch_stage
def dedup(sync_hid: str, batch_no: int) -> dict[str, int]:
    """Classify each record, staged as the batch's "dedup" part: one class letter per record."""
    if staging.exists(sync_hid, batch_no, "dedup") or batch_persisted(sync_hid, batch_no):
        return {"skipped": 1}
    ctx = load(sync_hid)
    norm = staged_norm(sync_hid, batch_no)
    sids, hashes = norm["sid"], norm["c"]
    known: dict[str, str] = {}
    if sids:
        cached = get_redis().hmget(names.dedup_key(ctx.connector.tenant_id, ctx.source), sids)
        known = {s: text(c) for s, c in zip(sids, cached) if c is not None}
    hits = len(known)
    if hits < len(sids):
        known.update(_stored_hashes(ctx, norm["kind"], [s for s in sids if s not in known]))
    classes = "".join(NEW if s not in known else (UNCHANGED if known[s] == c else UPDATED)
                      for s, c in zip(sids, hashes))
    staging.put(sync_hid, batch_no, "dedup", {"classes": classes, "cache_hits": hits})
    return {"new": classes.count(NEW), "updated": classes.count(UPDATED), "unchanged": classes.count(UNCHANGED),
            "cache_hits": hits}


def _stored_hashes(ctx: SyncContext, kind: str, sids: list[str]) -> dict[str, str]:
    """Cold cache: content hashes of stored rows, computed from their data (and put back in the cache)."""
    raw_conn = db.get_engine().raw_connection()
    try:
        with closing(raw_conn.cursor()) as cur:  # one array parameter, not thousands of bound ones
            cur.execute("SELECT source_id, data, raw_data FROM raw_data WHERE tenant_id = %s AND source = %s "
                        "AND type = %s AND source_id = ANY(%s)", (str(ctx.connector.tenant_id), ctx.source, kind, sids))
            rows = cur.fetchall()
        raw_conn.rollback()
    finally:
        raw_conn.close()
    volatile = ctx.vendor.volatile_fields
    found = {sid: content_hash(data, raw, volatile) for sid, data, raw in rows}
    learn(ctx, found)
    return found


def learn(ctx: SyncContext, hashes: dict[str, str]) -> None:
    """The dedup cache takes the content hashes now stored (only after their commit)."""
    if hashes:
        # redis-py types the mapping's keys invariantly (a union of str, bytes, …): a dict[str, str] is one
        mapping = cast("Mapping[Any, Any]", hashes)
        get_redis().hset(names.dedup_key(ctx.connector.tenant_id, ctx.source), mapping=mapping)
