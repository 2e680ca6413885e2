"""Claim-check staging: batches live in Redis with a TTL; broker messages carry only (sync, batch)."""
from __future__ import annotations

from typing import Any

import orjson

from nexus_sync.config import get_settings
from nexus_sync.redis_client import get_redis

STAGES = ("raw", "norm", "dedup")


def key(sync_hid: str, batch_no: int, stage: str) -> str:
    return f"nexus:stage:{sync_hid}:{batch_no}:{stage}"


def put(sync_hid: str, batch_no: int, stage: str, payload: Any) -> int:
    data = orjson.dumps(payload)
    get_redis().set(key(sync_hid, batch_no, stage), data, ex=get_settings().stage_ttl_seconds)
    return len(data)


def get(sync_hid: str, batch_no: int, stage: str) -> Any | None:
    data = get_redis().get(key(sync_hid, batch_no, stage))
    return None if data is None else orjson.loads(data)


def exists(sync_hid: str, batch_no: int, stage: str) -> bool:
    return bool(get_redis().exists(key(sync_hid, batch_no, stage)))


def drop(sync_hid: str, batch_no: int) -> None:
    get_redis().delete(*(key(sync_hid, batch_no, s) for s in STAGES))
