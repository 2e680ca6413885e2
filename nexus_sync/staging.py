"""Claim-check staging: batches live in Redis with a TTL; broker messages carry only (sync, batch).

Payloads of 64 KiB or more (a page's raw records, its rows) are stored zstd-compressed: vendor JSON
compresses ~8× at ~3 µs per record (bench/README.md), which cuts what Redis holds in memory, copies
through its sockets and appends to its AOF by as much. Reads tell a compressed value by the zstd frame
magic (JSON never starts with it), so values staged before this existed still read."""
from __future__ import annotations

from typing import Any

import orjson

from nexus_sync import compress, names
from nexus_sync.config import get_settings
from nexus_sync.redis_client import data as as_bytes
from nexus_sync.redis_client import get_redis

STAGES = ("raw", "norm", "rows", "dedup")
COMPRESS_MIN_BYTES = 64 * 1024


def encode(data: bytes) -> bytes:
    return compress.compress(data) if len(data) >= COMPRESS_MIN_BYTES else data


def decode(data: bytes) -> bytes:
    return compress.decompress(data) if compress.is_compressed(data) else data


key = names.stage_key


def put(sync_hid: str, batch_no: int, stage: str, payload: Any) -> int:
    """Stage one part as JSON; returns the bytes stored."""
    data = encode(orjson.dumps(payload))
    get_redis().set(key(sync_hid, batch_no, stage), data, ex=get_settings().stage_ttl_seconds)
    return len(data)


def put_batch(sync_hid: str, batch_no: int, parts: dict[str, Any]) -> int:
    """Stage several parts of a batch at once (all or none); bytes are kept as they are, the rest as JSON."""
    ttl = get_settings().stage_ttl_seconds
    pipe = get_redis().pipeline(transaction=True)
    size = 0
    for stage, payload in parts.items():
        data = encode(payload if isinstance(payload, bytes) else orjson.dumps(payload))
        pipe.set(key(sync_hid, batch_no, stage), data, ex=ttl)
        size += len(data)
    pipe.execute()
    return size


def get(sync_hid: str, batch_no: int, stage: str) -> Any | None:
    data = get_redis().get(key(sync_hid, batch_no, stage))
    return None if data is None else orjson.loads(decode(as_bytes(data)))


def get_bytes(sync_hid: str, batch_no: int, stage: str) -> bytes | None:
    data = get_redis().get(key(sync_hid, batch_no, stage))
    return None if data is None else decode(as_bytes(data))


def exists(sync_hid: str, batch_no: int, stage: str) -> bool:
    return bool(get_redis().exists(key(sync_hid, batch_no, stage)))


def drop(sync_hid: str, batch_no: int) -> None:
    get_redis().delete(*(key(sync_hid, batch_no, s) for s in STAGES))
