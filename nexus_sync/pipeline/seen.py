"""last_seen, relatime-style: an unchanged record's last_seen is written only when it is due, decided from the
dedup cache (no Postgres read); the records a sync saw but did not touch are kept in a set of the sync so that
lifecycle still knows exactly what the sync saw.

A dedup cache entry is `<content hash> <last touched, epoch seconds>`, and for a record normalized by this
release `<raw fingerprint> <identity hash's first 8 digits>` after them (pipeline.rawprint: an unchanged
vendor record is not normalized again; the identity digits are what `due` needs of it). A record is due when
a boundary of its own lies between its last touch and the page's fetch time: boundaries come every
`seen_resolution` seconds, shifted by an offset in [0, resolution) taken from the record's identity hash
(deterministic). So a record
seen in every sync is touched once per resolution, the stored last_seen is never more than `seen_resolution`
older than the last sync that saw it, and the touches spread evenly over the syncs (not all in the first sync
after the hour). Resolution 0: every sync touches every record (exact last_seen).

An entry of the previous release (a bare MD5 content hash, no touch time) or of another hash version reads as
a cache miss: dedup computes the stored row's hash from Postgres (current version) and puts the entry back."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, NamedTuple

from nexus_sync import names
from nexus_sync.config import get_settings
from nexus_sync.models import CONTENT_HASH_CHARS
from nexus_sync.redis_client import get_redis, text

TOUCH = "1"  # in the dedup part's "touch" mask: an unchanged record whose last_seen is written by persist
SKIP = "0"
MARK = "\x00batch:"  # a member per batch in the sync's untouched set (a source id never holds a NUL: fetch)


class Entry(NamedTuple):
    content: str  # the content hash
    touched: int  # when its last_seen was last written, epoch seconds
    raw: str = ""  # the raw fingerprint of the vendor record it was normalized from ("": none known)
    key: str = ""  # the identity hash's first 8 digits (with `raw`)


def entry(content: str, touched: int, raw: str = "", key: str = "") -> str:
    """The dedup cache value of a record stored with this content hash, its last_seen written at `touched`,
    normalized from a vendor record of raw fingerprint `raw` (pipeline.rawprint) with identity hash `key`."""
    return f"{content} {touched} {raw} {key[:8]}" if raw else f"{content} {touched}"


def parse(value: bytes | str | None) -> Entry | None:
    """The Entry of a cache value; None for a miss or an entry of another hash version."""
    if value is None:
        return None
    parts = text(value).split(" ")
    if len(parts[0]) != CONTENT_HASH_CHARS or len(parts) not in (2, 4) or not parts[1].isdigit():
        return None
    return Entry(parts[0], int(parts[1]), *parts[2:])


def read(tenant_id: object, source: str, sids: list[str]) -> dict[str, Entry]:
    """The dedup cache's entries of these source ids (those it has)."""
    if not sids:
        return {}
    cached = get_redis().hmget(names.dedup_key(tenant_id, source), sids)
    return {s: e for s, e in zip(sids, map(parse, cached)) if e is not None}


def entries(norm: dict[str, Any], indexes: Iterable[int], touched: int) -> dict[str, str]:
    """The cache entries of a normalized batch's records at these indexes, their last_seen written at
    `touched` (a batch staged before raw fingerprints: none)."""
    sids, hashes, idents = norm["sid"], norm["c"], norm["h"]
    raws = norm.get("f") or [""] * len(sids)
    return {sids[i]: entry(hashes[i], touched, raws[i], idents[i]) for i in indexes}


def epoch(at: datetime) -> int:
    """A naive UTC timestamp (the database's) as whole epoch seconds."""
    return int(at.replace(tzinfo=timezone.utc).timestamp())


def due(identity: str, touched: int, now: int, resolution: int) -> bool:
    """Whether a record last touched at `touched` has its last_seen written by a sync fetched at `now`: a
    boundary (every `resolution` s, offset by the identity hash) lies in (touched, now]."""
    if resolution <= 0 or touched >= now:
        return resolution <= 0
    offset = int(identity[:8], 16) % resolution
    return (now - offset) // resolution != (touched - offset) // resolution


def add_untouched(sync_hid: str, batch_no: int, sids: Iterable[str]) -> None:
    """Records this sync saw but whose last_seen it leaves (not due): lifecycle counts them as seen. With them,
    the batch's mark, so that lifecycle can tell a complete set from one Redis lost (untouched)."""
    key = names.seen_untouched_key(sync_hid)
    pipe = get_redis().pipeline(transaction=True)
    pipe.sadd(key, f"{MARK}{batch_no}", *sids)
    pipe.expire(key, get_settings().stage_ttl_seconds)
    pipe.execute()


def marked(sync_hid: str, batches: Iterable[int]) -> bool:
    """Whether the sync's untouched set holds the mark of each of `batches`; False when Redis lost it (then
    there is no proof of what the sync saw)."""
    marks = [f"{MARK}{b}" for b in batches]
    return not marks or all(get_redis().smismember(names.seen_untouched_key(sync_hid), marks))


def kept(sync_hid: str, sids: list[str]) -> list[bool]:
    """For each of `sids`, whether the sync kept it untouched (add_untouched). Asked by the chunk: the set of a
    large connector's sync (a million ids) is never read whole into a worker."""
    if not sids:
        return []
    return [bool(x) for x in get_redis().smismember(names.seen_untouched_key(sync_hid), sids)]
