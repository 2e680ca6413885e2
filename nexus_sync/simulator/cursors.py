"""Opaque page cursors a simulated vendor hands out (`?cursor=…`): base64url JSON of where the next page
starts (and what the listing asked), read back or refused as the vendor's 400."""
from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from nexus_sync.simulator.messages import BadRequest


def opaque(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def read_opaque(cursor: str, *keys: str) -> dict[str, Any]:
    """The state inside a cursor, which must hold `keys`; BadRequest for anything else."""
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        state = None
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise BadRequest("The cursor is invalid or expired")
    return state
