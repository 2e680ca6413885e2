"""Qualys stores one record per detection: host ID:QID:PORT:PROTOCOL (connectors/qualys/hooks.py)."""
from __future__ import annotations


def expected_ids(truth: dict[str, dict]) -> set[str]:
    return {f"{h['ID']}:{d['QID']}:{d.get('PORT', '')}:{d.get('PROTOCOL', '')}"
            for h in truth.values() for d in h["DETECTION_LIST"]}
