"""XML vendor answers → plain dicts, parsed with defusedxml (no entity expansion, no external DTDs)."""
from __future__ import annotations

from typing import Any

from defusedxml import ElementTree

from connectors.machinery.templates import vendor_text
from nexus_sync.errors import VendorDataError

MAX_DEPTH = 100  # Qualys' deepest answer nests 7 levels; 50,000 used to raise RecursionError


def _convert(el: Any, depth: int = 1) -> Any:
    children = list(el)
    if not children:
        text = (el.text or "").strip()
        return {**el.attrib, "#text": text} if el.attrib else text
    if depth >= MAX_DEPTH:
        raise VendorDataError(f"XML nested deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = dict(el.attrib)
    for child in children:
        value = _convert(child, depth + 1)
        tag = _local(child.tag)
        if tag in out:
            if not isinstance(out[tag], list):
                out[tag] = [out[tag]]
            out[tag].append(value)
        else:
            out[tag] = value
    return out


def _local(tag: str) -> str:
    """A tag without its namespace: AWS answers put xmlns on the root (`{https://iam…/}ListUsersResponse`),
    whose dots would break dotted paths."""
    return tag.rpartition("}")[2]


def parse(content: bytes) -> dict[str, Any]:
    """{root_tag: {child: value | [values]}}; tags by local name (no namespace), repeated tags become lists,
    leaf text is stripped. Nesting past MAX_DEPTH elements is a VendorDataError (never a RecursionError)."""
    try:
        root = ElementTree.fromstring(content)
    except Exception as exc:  # ParseError or a defusedxml refusal (entities, DTDs)
        raise VendorDataError(f"unreadable XML answer: {type(exc).__name__}: {vendor_text(exc)}") from None
    return {_local(root.tag): _convert(root)}


def as_list(value: Any) -> list[Any]:
    """An XML child that may appear once (a dict/str) or many times (a list)."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]
