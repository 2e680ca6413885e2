"""A QID's CVEs, from the Qualys KnowledgeBase API (vendor-apis.md §7: detections carry QIDs, not CVEs),
cached in Redis per connector.

`GET|POST /api/2.0/fo/knowledge_base/vuln/?action=list&ids=...` answers
`KNOWLEDGE_BASE_VULN_LIST_OUTPUT/RESPONSE/VULN_LIST/VULN[*]/{QID, CVE_LIST/CVE[*]/ID}`; a QID that names no
CVE has no CVE_LIST, and a QID the KnowledgeBase does not list is taken as naming none.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
import redis

from connectors.machinery import DeclaredConnector
from connectors.machinery.xml import as_list
from connectors.qualys.errors import raise_simple_return
from nexus_sync import names
from nexus_sync.config import ConfigError as SettingsError
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig

log = logging.getLogger(__name__)

PATH = "/api/2.0/fo/knowledge_base/vuln/"
ROOT = "KNOWLEDGE_BASE_VULN_LIST_OUTPUT"
BATCH = 100  # QIDs per call: a short query string (Qualys advises id_min/id_max for long ids lists)
# details=All: the level documented to hold every element; what Basic leaves out is not in our facts
DETAILS = "All"
# A QID's CVE list changes rarely: Qualys adds a CVE to an existing check now and then (its KnowledgeBase is
# updated daily), mostly in the first days after a disclosure. A day keeps such an addition at most a day
# late, at one call per 100 QIDs seen that day: a few calls against a budget of hundreds per hour.
TTL_SECONDS = 24 * 3600


def qid_key(value: Any) -> str | None:
    """A QID as the KnowledgeBase and the cache know it (decimal digits, no leading zeros); None if none."""
    text = str(value).strip() if value is not None else ""
    return str(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def cves_for(conn: DeclaredConnector, qids: set[str]) -> dict[str, list[str]]:
    """QID (a qid_key) → its CVEs, in the KnowledgeBase's order ([] for none)."""
    wanted = set(qids)
    found = _cached(conn, wanted)
    missing = sorted(wanted - found.keys(), key=int)
    for start in range(0, len(missing), BATCH):
        batch = missing[start:start + BATCH]
        fetched = _fetch(conn, batch)
        _remember(conn, fetched)
        found.update(fetched)
    return found


def _fetch(conn: DeclaredConnector, qids: list[str]) -> dict[str, list[str]]:
    resp = conn.send({"method": "POST", "url": conn.config.root + PATH,
                      "params": {"action": "list", "ids": ",".join(qids), "details": DETAILS}})
    doc = conn.decode(resp)
    raise_simple_return(doc)
    if ROOT not in doc:  # never cache "no CVE" from an answer that is not a KnowledgeBase list
        raise VendorDataError(f"qualys: the KnowledgeBase answer is not a {ROOT}")
    out: dict[str, list[str]] = {q: [] for q in qids}  # not listed: names no CVE
    for vuln in as_list(dig(doc, f"{ROOT}.RESPONSE.VULN_LIST.VULN")):
        qid = qid_key(vuln.get("QID")) if isinstance(vuln, dict) else None
        if qid in out:
            cves = as_list((vuln.get("CVE_LIST") or {}).get("CVE"))
            out[qid] = [c["ID"] for c in cves if isinstance(c, dict) and isinstance(c.get("ID"), str) and c["ID"]]
    return out


# ---- the cache: one key per connector, vendor origin and QID; best effort (a miss costs one more call)
# no Redis configured (a connector used outside the pipeline), or Redis down
CACHE_ERRORS = (SettingsError, redis.RedisError)


def _prefix(conn: DeclaredConnector) -> str:
    origin = hashlib.sha256(conn.config.root.encode()).hexdigest()[:12]  # another platform, another KB
    return names.vendor_cache_prefix("qualys-kb", conn.ctx.name, origin)


def _redis() -> Any:
    from nexus_sync.redis_client import get_redis

    return get_redis()


def _cached(conn: DeclaredConnector, qids: set[str]) -> dict[str, list[str]]:
    if not qids:
        return {}
    order = sorted(qids)
    prefix = _prefix(conn)
    try:
        values = _redis().mget([prefix + q for q in order])
    except CACHE_ERRORS as exc:
        _unavailable(conn, exc)
        return {}
    found = {}
    for qid, value in zip(order, values):
        try:
            cves = orjson.loads(value) if value is not None else None
        except ValueError:
            cves = None  # unreadable: asked again, and overwritten
        if isinstance(cves, list) and all(isinstance(c, str) for c in cves):
            found[qid] = cves
    return found


def _remember(conn: DeclaredConnector, cves: dict[str, list[str]]) -> None:
    if not cves:
        return
    prefix = _prefix(conn)
    try:
        pipe = _redis().pipeline(transaction=False)
        for qid, ids in cves.items():
            pipe.set(prefix + qid, orjson.dumps(ids), ex=TTL_SECONDS)
        pipe.execute()
    except CACHE_ERRORS as exc:
        _unavailable(conn, exc)


def _unavailable(conn: DeclaredConnector, exc: Exception) -> None:
    log.warning("connector %s: the QID → CVE cache is unavailable (%s); asking the KnowledgeBase instead",
                conn.ctx.name, type(exc).__name__)
