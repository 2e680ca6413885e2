"""Records the dedup cache already knows, found at fetch: a vendor record whose raw fingerprint
(pipeline.rawprint) is the one in its cache entry (pipeline.seen) is the vendor record the stored row was made
of, normalized by the same code. Fetch stages it as that entry (source id, hashes, last touch, cursor: ~150
bytes) instead of its JSON (kilobytes), so its page is neither compressed, sent to Redis, read back, parsed
again nor re-encoded by normalize (bench/README.md, round 6); a page of known records only is staged as
normalize would stage it, and its batch goes on at dedup (no normalize task). Everything else is staged as the
vendor's JSON and normalized as before.

A record stays with the vendor's JSON (and normalize's judgement) when its source id or cursor does not read,
and when its source id comes twice in the page (normalize merges those by modification time)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from connectors.base import Connector
from nexus_sync import sanitize
from nexus_sync.pipeline import rawprint, seen
from nexus_sync.pipeline.normalizing import source_ids

FIELDS = ("i", "sid", "f", "c", "k", "t", "cur")  # the staged "known" part: parallel lists, one item a record


@dataclass
class Split:
    """A vendor page split for staging: `blobs` (each record's JSON) and `at` (its index in the page) of the
    records to normalize, `known` the others as their cache entries (FIELDS)."""

    blobs: list[bytes] = field(default_factory=list)
    at: list[int] = field(default_factory=list)
    known: dict[str, list[Any]] = field(default_factory=lambda: {f: [] for f in FIELDS})
    nuls_replaced: int = 0  # vendor strings that held NUL bytes, replaced by U+FFFD (sanitize)


def split(vendor: type[Connector], records: Connector, page: list[dict[str, Any]],
          cached: Callable[[list[str]], dict[str, seen.Entry]]) -> Split:
    """Each record's JSON (orjson, as staged; NUL bytes replaced), its fingerprint against its cache entry (`cached`: source ids →
    entries, one read for the page); a match goes to `known` with its cursor."""
    dumps, fingerprint = orjson.dumps, rawprint.fingerprinter(vendor)
    out = Split()
    blobs = [dumps(rec) for rec in page]
    if any(map(sanitize.page_has_nul, blobs)):  # stored with U+FFFD: fingerprinted (and staged) so
        out.nuls_replaced = sanitize.replace_nuls(page)
        blobs = [dumps(rec) for rec in page]
    sids = source_ids(records, page)  # an invalid one (an exception) is normalize's to report
    once = {s for s, n in Counter(sids).items() if n == 1 and isinstance(s, str)}
    entries = cached([s for s in sids if s in once])
    known = out.known
    for i, (rec, sid, blob) in enumerate(zip(page, sids, blobs)):
        hit = entries.get(sid) if sid in once else None
        if hit is not None and hit.raw and fingerprint(blob) == hit.raw:
            try:
                cursor = records.cursor_value(rec)
            except ValueError:  # normalize reports it (cursor_ignored)
                pass
            else:
                for name, value in zip(FIELDS, (i, sid, hit.raw, hit.content, hit.key, hit.touched, cursor)):
                    known[name].append(value)
                continue
        out.blobs.append(blob)
        out.at.append(i)
    return out
