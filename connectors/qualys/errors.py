"""Qualys' error document: SIMPLE_RETURN/RESPONSE/{CODE,TEXT}, sometimes with HTTP 200 (vendor-apis.md §7)."""
from __future__ import annotations

from typing import Any

from connectors.machinery.templates import vendor_text
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig


def raise_simple_return(doc: dict[str, Any]) -> None:
    """A VendorDataError quoting the code and text (shortened) when the answer is a SIMPLE_RETURN."""
    if "SIMPLE_RETURN" in doc:
        r = dig(doc, "SIMPLE_RETURN.RESPONSE")
        r = r if isinstance(r, dict) else {}
        code, text = vendor_text(r.get("CODE"), 16), vendor_text(r.get("TEXT") or "no text")
        raise VendorDataError(f"qualys error {code}: {text}")
