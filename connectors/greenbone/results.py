"""A get_results answer → plain dicts, and the readers normalize uses on them.

XML → dict as connectors.machinery.xml does (attributes as keys, repeated tags as lists), but keeping the text
of mixed elements under "#text": gvmd's `<host>10.0.0.12<asset asset_id=".."/><hostname>..</hostname></host>`
carries the IP as text beside child elements (§33 quirk 2), which a children-only conversion would drop."""
from __future__ import annotations

from typing import Any

from connectors.machinery.xml import MAX_DEPTH, as_list
from nexus_sync.errors import VendorDataError


def element(el: Any, depth: int = 1) -> Any:
    children = [c for c in el if isinstance(c.tag, str)]  # comments and processing instructions aside
    text = (el.text or "").strip()
    if not children:
        return {**el.attrib, **({"#text": text} if text else {})} if el.attrib else text
    if depth >= MAX_DEPTH:
        raise VendorDataError(f"greenbone: XML nested deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = dict(el.attrib)
    if text:
        out["#text"] = text
    for child in children:
        value = element(child, depth + 1)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


def parse_records(root: Any, tag: str) -> list[dict[str, Any]]:
    """Every `<result id=..>` (`<asset id=..>`…) of a listing answer; one without an id cannot be kept."""
    out = []
    for el in root.findall(tag):
        rec = element(el)
        if not isinstance(rec, dict) or not rec.get("id"):
            raise VendorDataError(f"greenbone: a <{tag}> without an id attribute")
        out.append(rec)
    return out


def total_of(root: Any, count: str) -> int | None:
    """`<result_count>N<filtered>F</filtered>…`: F, the number the filter matches (None if absent)."""
    filtered = root.findtext(f"{count}/filtered")
    try:
        return int(filtered) if filtered is not None else None
    except ValueError:
        return None


def text_of(value: Any) -> str | None:
    """An element's text whether it came as a string or as a dict with attributes / children."""
    if isinstance(value, dict):
        value = value.get("#text")
    return value.strip() or None if isinstance(value, str) else None


def host_of(raw: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(ip, asset id, hostname) of a result's mixed `<host>` element."""
    host = raw.get("host")
    if not isinstance(host, dict):
        return text_of(host), None, None
    asset = host.get("asset")
    asset_id = asset.get("asset_id") if isinstance(asset, dict) else None
    return text_of(host), asset_id if isinstance(asset_id, str) and asset_id else None, text_of(host.get("hostname"))


def nvt_of(raw: dict[str, Any]) -> dict[str, Any]:
    nvt = raw.get("nvt")
    return nvt if isinstance(nvt, dict) else {}


def cves_of(nvt: dict[str, Any]) -> list[str]:
    """`<refs><ref type="cve" id="CVE-…"/>…` in order (other ref types — url, cert-bund — left aside)."""
    refs = nvt.get("refs")
    out = []
    for ref in as_list(refs.get("ref") if isinstance(refs, dict) else None):
        if isinstance(ref, dict) and str(ref.get("type", "")).lower() == "cve" and isinstance(ref.get("id"), str):
            out.append(ref["id"].strip())
    return [c for c in out if c]
