"""Cybereason: Archived sensors (decommissioned hosts) are filtered out by the query, never imported."""
from __future__ import annotations


def expected_ids(truth: dict[str, dict]) -> set[str]:
    return {rid for rid, r in truth.items() if r.get("status") != "Archived"}
