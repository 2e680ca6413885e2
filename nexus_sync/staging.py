"""Claim-check staging: batches live in Redis with a TTL; broker messages carry only (sync, batch)."""
from __future__ import annotations

from typing import Any

import orjson

from nexus_sync.config import get_settings
from nexus_sync.redis_client import get_redis

STAGES = ("raw", "norm", "rows", "dedup")


def key(sync_hid: str, batch_no: int, stage: str) -> str:
    return f"nexus:stage:{sync_hid}:{batch_no}:{stage}"


def put(sync_hid: str, batch_no: int, stage: str, payload: Any) -> int:
    data = orjson.dumps(payload)
    get_redis().set(key(sync_hid, batch_no, stage), data, ex=get_settings().stage_ttl_seconds)
    return len(data)


def put_batch(sync_hid: str, batch_no: int, parts: dict[str, Any]) -> int:
    """Stage several parts of a batch at once (all or none); bytes are kept as they are, the rest as JSON."""
    ttl = get_settings().stage_ttl_seconds
    pipe = get_redis().pipeline(transaction=True)
    size = 0
    for stage, payload in parts.items():
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        pipe.set(key(sync_hid, batch_no, stage), data, ex=ttl)
        size += len(data)
    pipe.execute()
    return size


def get(sync_hid: str, batch_no: int, stage: str) -> Any | None:
    data = get_redis().get(key(sync_hid, batch_no, stage))
    return None if data is None else orjson.loads(data)


def get_bytes(sync_hid: str, batch_no: int, stage: str) -> bytes | None:
    return get_redis().get(key(sync_hid, batch_no, stage))


def exists(sync_hid: str, batch_no: int, stage: str) -> bool:
    return bool(get_redis().exists(key(sync_hid, batch_no, stage)))


def drop(sync_hid: str, batch_no: int) -> None:
    get_redis().delete(*(key(sync_hid, batch_no, s) for s in STAGES))
