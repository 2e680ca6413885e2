"""Vendor values read totally (DESIGN §9): one scalar where a normalizer expects one, whatever the vendor sent."""
from __future__ import annotations

from typing import Any


def text(value: Any) -> str | None:
    """A scalar as text; a list where one value was expected gives its first; empty, a bool, a dict or None
    give None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        return None
    return str(value)
