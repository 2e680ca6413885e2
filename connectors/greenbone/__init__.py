"""Greenbone / OpenVAS (gvmd) results as vulnerabilities (vendor-apis-2.md §33): GMP, not HTTP.

GMP is XML commands over a TLS (or Unix socket) stream, spoken by python-gvm (an optional extra,
GPL-3.0-or-later): the listing's fetch path is connectors/greenbone/listing.py (a connection per page, always
closed), the session connectors/greenbone/gmp.py. `<get_results filter=".." details="1"/>`, default filter terms
`apply_overrides=1 min_qod=70`. A finding's identity is gvmd's own result id."""
from __future__ import annotations

import builtins
from typing import Any, ClassVar

from pydantic import Field

from connectors.base import ConnectorConfig
from connectors.greenbone.listing import GmpListing, GreenboneConfig
from connectors.greenbone.results import cves_of, host_of, nvt_of, text_of
from nexus_sync.models import utc_iso

# threat label → our severity; "Log" results are informational, "False Positive" / "Debug" too
THREATS = {"high": "high", "medium": "medium", "low": "low", "log": "info", "false positive": "info",
           "debug": "info", "critical": "critical", "alarm": "high"}


class GreenboneResultsConfig(GreenboneConfig):
    filter: str = Field("apply_overrides=1 min_qod=70", description="extra GMP filter terms (not first/rows/"
                                                                     "sort: paging owns them)")


class GreenboneConnector(GmpListing):
    type: ClassVar[str] = "greenbone"
    title: ClassVar[str] = "Greenbone / OpenVAS results"
    category: ClassVar[str] = "vulnerability"
    kind: ClassVar[str] = "vulnerability"
    stream: ClassVar[str] = "results"
    command: ClassVar[str] = "get_results"  # <get_results filter=".." details="1"/>
    element: ClassVar[str] = "result"
    count_element: ClassVar[str] = "result_count"
    Config: ClassVar[builtins.type[ConnectorConfig]] = GreenboneResultsConfig


def _cvss(value: Any) -> float | None:
    try:
        score = float(text_of(value) or "")
    except ValueError:
        return None
    return score if 0.0 <= score <= 10.0 else None  # gvmd's -1 / -99 mean "no score"


def _time(value: Any) -> str | None:
    try:
        return utc_iso(text_of(value))
    except ValueError:  # a time gvmd should not send: the finding still lands, without it
        return None


def severity(raw: dict[str, Any]) -> str:
    """The threat label where it is one we know, else from the score (CVSS bands), else info."""
    label = (text_of(raw.get("threat")) or "").lower()
    if label in THREATS:
        return THREATS[label]
    score = _cvss(raw.get("severity"))
    if not score:
        return "info"
    return "critical" if score >= 9.0 else "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    ip, asset_id, hostname = host_of(raw)
    nvt = nvt_of(raw)
    cves = cves_of(nvt)
    oid = nvt.get("oid") if isinstance(nvt.get("oid"), str) else None
    name = text_of(raw.get("name")) or text_of(nvt.get("name"))
    port = text_of(raw.get("port"))
    return {
        "uid": raw["id"],
        # the check's first CVE (all stay in raw_data); a check without one is known by its NVT OID
        "cve": cves[0] if cves else f"NVT-{oid or 'unknown'}",
        # the asset id gvmd links, else the host text (its IP)
        "asset_uid": asset_id or ip or "unknown",
        "title": " ".join(p for p in (name, "on" if hostname or ip else None, hostname or ip, port) if p)
        if name else None,
        "severity": severity(raw),
        "cvss": _cvss(raw.get("severity")),
        "status": "open",  # get_results lists current findings; a fixed one stops appearing
        "first_seen_time": _time(raw.get("creation_time")),
        "last_seen_time": _time(raw.get("modification_time")),
    }


GreenboneConnector.normalize = staticmethod(normalize)  # type: ignore[method-assign]  # defined below the class
CONNECTOR = GreenboneConnector
