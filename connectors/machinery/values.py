"""Vendor values read totally (DESIGN §9): one scalar where a normalizer expects one, whatever the vendor sent."""
from __future__ import annotations

from typing import Any

from nexus_sync.models import utc_iso


def text(value: Any) -> str | None:
    """A scalar as text; a list where one value was expected gives its first; empty, a bool, a dict or None
    give None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        return None
    return str(value)


def instant(value: Any) -> str | None:
    """A time as ISO-8601 UTC: ISO text, or epoch ms as a number or digits (ArcSight); None for no time."""
    value = text(value)
    try:
        return utc_iso(int(value) if value and value.isdigit() else value)
    except ValueError:  # a time that does not parse is no time
        return None
