"""Normalizing: a staged vendor page → typed, validated records keyed by source id, with their identity and
content hashes; a bad record is skipped and reported, never fatal. Reads the connector's pure parts only."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, NamedTuple

import msgspec
import orjson
from pydantic import ValidationError

from connectors.base import Connector
from nexus_sync import geo, staging
from nexus_sync.errors import StagedBatchMissing
from nexus_sync.models import DATA_MODELS, content_hash, fast_validator, identity_key
from nexus_sync.pipeline import rawprint, seen
from nexus_sync.pipeline.context import batch_stage, load
from nexus_sync.pipeline.ledger import MAX_REPORTED_INVALID, batch_persisted

_decode = msgspec.json.Decoder().decode


@batch_stage
def normalize(sync_hid: str, batch_no: int) -> dict[str, int]:
    """Vendor records → validated record data, staged as the batch's "norm" and "rows" parts (ledger). A record
    the dedup cache knows by its raw fingerprint (pipeline.rawprint) is unchanged and not normalized again."""
    if staging.exists(sync_hid, batch_no, "norm") or batch_persisted(sync_hid, batch_no):
        return {"skipped": 1}
    ctx = load(sync_hid)
    raw = _staged_page(sync_hid, batch_no)
    if "known" in raw:  # fetch read the cache (pipeline.known): its records are those it does not know
        page = normalize_page(ctx.vendor, ctx.records, raw["records"], at=raw.get("at"))
        add_known(page, raw["known"])
    else:  # staged by the previous release: the cache is read here
        page = normalize_page(ctx.vendor, ctx.records, raw["records"],
                              lambda sids: seen.read(ctx.connector.tenant_id, ctx.source, sids))
    stage_normalized(sync_hid, batch_no, page, raw)
    return {"records": len(page.by_sid), "invalid": len(page.invalid), "merged": len(page.merged),
            "known": page.known}


def stage_normalized(sync_hid: str, batch_no: int, page: NormalizedPage, raw: dict[str, Any]) -> None:
    """Stage a normalized page as the batch's "rows" and "norm" parts; `raw` gives what the staged vendor page
    carried besides its records (fetched_at, the listing's cursor, NULs replaced)."""
    records = list(page.by_sid.values())
    cursors = [r.cursor for r in records if r.cursor] + ([raw["cursor"]] if raw.get("cursor") else [])
    known = [r.touched for r in records]
    staging.put_batch(sync_hid, batch_no, {
        "rows": b"\n".join(r.line for r in records),
        "norm": {"v": 4, "kind": page.kind, "sid": list(page.by_sid), "h": [r.identity for r in records],
                 "c": [r.content for r in records], "f": [r.raw for r in records],
                 "t": known if page.known else None, "max_cursor": max(cursors) if cursors else None,
                 "invalid_count": len(page.invalid), "invalid": page.invalid[:MAX_REPORTED_INVALID],
                 "cursor_ignored": page.cursor_ignored[:MAX_REPORTED_INVALID],
                 "nuls_replaced": raw.get("nuls_replaced", 0), "fetched_at": raw["fetched_at"],
                 "duplicates_in_batch": len(page.merged), "merged": page.merged[:MAX_REPORTED_INVALID]},
    })


class Normalized(NamedTuple):
    identity: str  # the spec's MD5 per kind (cross-source matching); known by fingerprint: its first 8 digits
    content: str  # the content hash that decides NEW / UPDATED / UNCHANGED
    cursor: str | None
    line: bytes  # `data JSON <TAB> raw JSON`; known by fingerprint: empty (unchanged, never written)
    raw: str  # the raw fingerprint (pipeline.rawprint)
    touched: int | None  # known by fingerprint: the cache entry's last touch (pipeline.seen), else None


@dataclass
class NormalizedPage:
    kind: str
    by_sid: dict[str, Normalized] = field(default_factory=dict)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    cursor_ignored: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    known: int = 0  # records kept by their raw fingerprint, not normalized


def normalize_page(vendor: type[Connector], records: Connector, raw_records: list[dict[str, Any]],
                   cached: Callable[[list[str]], dict[str, seen.Entry]] | None = None,
                   at: list[int] | None = None) -> NormalizedPage:
    """A record is keyed by its source id, the vendor's own identity (and the row's key in raw_data): two
    records of one source id in a page are one record, the later by the vendor's modification time (the
    cursor field), else the later in the page; the other is counted and named as merged. The identity hash
    (the spec's MD5 per kind, over the connector type) is stored for cross-source matching only.
    `records` reads a record's source id and cursor (SyncContext.records). `cached` (source ids → their dedup
    cache entries): a record whose entry holds its raw fingerprint keeps the entry's hashes, not normalized.
    `at`: each record's index in the vendor's page (reports name it), when fetch kept some of the page aside."""
    kind, type_name = vendor.kind, vendor.type
    validate, vendor_normalize = _validator(kind), vendor.normalize
    cursor_value, dumps, fingerprint = records.cursor_value, orjson.dumps, rawprint.fingerprinter(vendor)
    volatile = vendor.volatile_fields
    enrich = geo.page_locator(DATA_MODELS[kind])  # public IPs located, once per address in the page
    page = NormalizedPage(kind)
    sids = source_ids(records, raw_records)
    entries = cached([s for s in sids if isinstance(s, str)]) if cached is not None else {}
    index_of: dict[str, int] = {}  # source id → index of the record kept
    for n, rec in enumerate(raw_records):
        i, sid, blob = at[n] if at else n, sids[n], dumps(rec)
        if not isinstance(sid, str):
            page.invalid.append({"index": i, "source_id": None, "error": _brief_error(sid)})
            continue
        raw, hit = fingerprint(blob), entries.get(sid)
        if hit is None or hit.raw != raw:  # else: the vendor record the stored row was made of, by the same code
            hit = None
            try:
                fields = validate(vendor_normalize(rec))
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                page.invalid.append({"index": i, "source_id": sid, "error": _brief_error(exc)})
                continue
            if enrich is not None:
                enrich(fields)
        try:
            cursor = cursor_value(rec)
        except ValueError as exc:  # the record is good, its cursor is not: it lands, the cursor never moves by it
            page.cursor_ignored.append({"index": i, "source_id": sid, "error": _brief_error(exc)})
            cursor = None
        made = (Normalized(hit.key, hit.content, cursor, b"", raw, hit.touched) if hit is not None else
                Normalized(identity_key(kind, type_name, fields), content_hash(fields, rec, volatile), cursor,
                           dumps(fields) + b"\t" + blob, raw, None))
        kept = page.by_sid.get(sid)
        if kept is not None:
            newer = not (made.cursor and kept.cursor and made.cursor < kept.cursor)
            dropped = index_of[sid] if newer else i
            page.merged.append({"index": dropped, "source_id": sid, "error": "merged: the same source id twice in "
                                f"one page; kept record {i if newer else index_of[sid]} (the later by modification time)"})
            if not newer:
                continue
            page.known -= kept.touched is not None
        index_of[sid] = i
        page.by_sid[sid] = made
        page.known += made.touched is not None
    return page


def add_known(page: NormalizedPage, known: dict[str, list[Any]]) -> None:
    """The records fetch found in the dedup cache by their raw fingerprint (pipeline.known): unchanged, kept
    with their entries' hashes and touch time. Their source ids are not among the page's others (fetch)."""
    for sid, raw, content, key, touched, cursor in zip(*(known[f] for f in ("sid", "f", "c", "k", "t", "cur"))):
        page.by_sid[sid] = Normalized(key, content, cursor, b"", raw, touched)
    page.known += len(known["sid"])


def source_ids(records: Connector, raw_records: list[dict[str, Any]]) -> list[str | Exception]:
    """Each record's source id, or why it has none (the record is invalid)."""
    out: list[str | Exception] = []
    for rec in raw_records:
        try:
            out.append(records.source_id(rec))
        except (KeyError, TypeError, ValueError) as exc:
            out.append(exc)
    return out


def _staged_page(sync_hid: str, batch_no: int) -> dict[str, Any]:
    """The staged raw page, parsed by msgspec's JSON decoder: the same dicts as orjson's (the page was encoded
    by orjson), ~25 % faster on a page of vendor records (bench/README.md, round 4)."""
    data = staging.get_bytes(sync_hid, batch_no, "raw")
    if data is None:
        raise StagedBatchMissing(f"staged raw of batch {batch_no} of sync {sync_hid} is gone (expired or lost); "
                                 "replay the batch's fetch")
    page: dict[str, Any] = _decode(data)
    return page


@lru_cache(maxsize=None)
def _validator(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return fast_validator(DATA_MODELS[kind])


def _brief_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:300]
    if isinstance(exc, KeyError):
        return f"missing required field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"[:300]
