"""Jira needs a bounded JQL filter (the simulator's issues are in projects SEC and OPS)."""
from __future__ import annotations

from typing import Any


def config(sim: Any) -> dict[str, Any]:
    return {"jql": "project in (SEC, OPS)"}
