"""Ids and times the stages write: row ids in bulk, archive row ids derived from the sync, UTC timestamps."""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timezone

# archive row ids are uuid5(ARCHIVE_NS, "<sync>:<source id>"): archiving a batch twice writes the same ids
ARCHIVE_NS = uuid.UUID("a7c3c0de-5e1f-4c1e-9a2b-61726368697a")


def uuid4_texts(n: int) -> list[str]:
    """n random (version 4) UUIDs as text: str(uuid.uuid4()) n times, from one urandom call."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [_uuid_text(h[j:j + 32]) for j in range(0, 32 * n, 32)]


def uuid5_text(prefix: bytes, name: str) -> str:
    """str(uuid.uuid5(ns, s + name)) where prefix = ns.bytes + s.encode(), without the UUID objects."""
    digest = bytearray(hashlib.sha1(prefix + name.encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50
    digest[8] = digest[8] & 0x3F | 0x80
    return _uuid_text(digest.hex())


def _uuid_text(h: str) -> str:
    """32 hex digits in the 8-4-4-4-12 form of str(uuid.UUID)."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    """Now in UTC, naive (the database columns are timestamp without time zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat() + "Z"
