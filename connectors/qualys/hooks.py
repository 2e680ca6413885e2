"""Qualys' page is a document: errors may come as SIMPLE_RETURN with HTTP 200, and one host holds many
detections, while we store one record per detection (keyed by host, QID, port, protocol), each with its QID's
CVEs from the KnowledgeBase."""
from __future__ import annotations

from typing import Any

from connectors.base import Page
from connectors.machinery import DeclaredConnector
from connectors.machinery.xml import as_list
from connectors.qualys import knowledge_base
from connectors.qualys.errors import raise_simple_return
from nexus_sync.http import dig

RESPONSE = "HOST_LIST_VM_DETECTION_OUTPUT.RESPONSE"
KEY = "_source_id"  # host ID:QID:PORT:PROTOCOL, added here: UNIQUE_VULN_ID is unconfirmed (§7)
CVES = "_cves"  # the QID's CVEs from the KnowledgeBase, added here: detections carry none


def detection_key(host_id: Any, det: dict[str, Any]) -> str:
    """A detection is one QID on one port/protocol of a host (§7). An Oracle check reports each database
    INSTANCE on one port as its own detection, so a detection that names one has it in its key too."""
    key = f"{host_id}:{det.get('QID')}:{det.get('PORT', '')}:{det.get('PROTOCOL', '')}"
    return f"{key}:{det['INSTANCE']}" if det.get("INSTANCE") else key


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    page = conn.fetch_declared(state, since)
    doc = page.records[0] if page.records else {}
    raise_simple_return(doc)
    records = []
    for host in as_list(dig(doc, f"{RESPONSE}.HOST_LIST.HOST")):
        dets = as_list((host.get("DETECTION_LIST") or {}).get("DETECTION"))
        head = {k: v for k, v in host.items() if k != "DETECTION_LIST"}
        records += [{**d, "HOST": head, KEY: detection_key(host.get("ID"), d)} for d in dets]
    qids = [knowledge_base.qid_key(r.get("QID")) for r in records]
    cves = knowledge_base.cves_for(conn, {q for q in qids if q})
    for r, qid in zip(records, qids):
        r[CVES] = cves.get(qid, []) if qid else []
    return Page(records, page.next)
