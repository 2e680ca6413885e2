"""Jira needs a bounded JQL filter (the simulator's issues are all in project SEC)."""
from __future__ import annotations

from typing import Any


def config(sim: Any) -> dict[str, Any]:
    return {"jql": "project = SEC"}
