"""Qualys' page is a document: errors may come as SIMPLE_RETURN with HTTP 200, and one host holds many
detections, while we store one record per detection (keyed by host, QID, port, protocol)."""
from __future__ import annotations

from typing import Any

from connectors.base import Page, _dig
from connectors.templates import vendor_text
from connectors.xml import as_list
from nexus_sync.errors import VendorDataError

RESPONSE = "HOST_LIST_VM_DETECTION_OUTPUT.RESPONSE"
KEY = "_source_id"  # host ID:QID:PORT:PROTOCOL, added here: Qualys has no confirmed detection id


def detection_key(host_id: Any, det: dict[str, Any]) -> str:
    return f"{host_id}:{det.get('QID')}:{det.get('PORT', '')}:{det.get('PROTOCOL', '')}"


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    page = conn.fetch_declared(state, since)
    doc = page.records[0] if page.records else {}
    if "SIMPLE_RETURN" in doc:
        r = _dig(doc, "SIMPLE_RETURN.RESPONSE", required=False)
        r = r if isinstance(r, dict) else {}
        code, text = vendor_text(r.get("CODE"), 16), vendor_text(r.get("TEXT") or "no text")
        raise VendorDataError(f"qualys error {code}: {text}")
    records = []
    for host in as_list(_dig(doc, f"{RESPONSE}.HOST_LIST.HOST", required=False)):
        dets = as_list((host.get("DETECTION_LIST") or {}).get("DETECTION"))
        head = {k: v for k, v in host.items() if k != "DETECTION_LIST"}
        records += [{**d, "HOST": head, KEY: detection_key(host.get("ID"), d)} for d in dets]
    return Page(records, page.next)
