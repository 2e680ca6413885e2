"""Exabeam AA notable users: one ranked list a sync."""
from __future__ import annotations

UNPAGED = "users/notable answers one ranked list cut at numberOfResults: AA has no paging for it (vendor-apis-2.md §25)"
