"""Issue 10 finding 6 (XML part): a vendor's XML nested 50,000 deep is a clear data error, not a RecursionError
that takes the worker's stack; ordinary nesting still converts."""
from __future__ import annotations

import pytest
import responses

import connectors
from connectors.machinery.xml import parse
from nexus_sync.errors import VendorDataError
from tests.connectors.util import drain, make

MAX_DEPTH = 100  # connectors.machinery.xml.MAX_DEPTH, spelled out: the test must also run against code without it


def _nested(depth: int, tag: str = "A") -> bytes:
    return f"<{tag}>".encode() * depth + b"x" + f"</{tag}>".encode() * depth


def test_xml_nested_50000_deep_is_a_vendor_data_error():
    with pytest.raises(VendorDataError, match=f"deeper than {MAX_DEPTH} levels"):
        parse(_nested(50_000))


def test_xml_at_the_depth_limit_still_converts():
    doc = parse(_nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        doc = doc["A"]
    assert doc == {"A": "x"}


@responses.activate
def test_a_deep_qualys_page_fails_as_bad_data(tmp_path):
    base = "https://qualysapi.qualys.test"
    responses.add(responses.POST, f"{base}/api/2.0/fo/asset/host/vm/detection/", body=_nested(50_000, "HOST"),
                  content_type="text/xml")
    with pytest.raises(VendorDataError, match="deeper than"):
        drain(make(connectors.get("qualys"), base, {"username": "u", "password": "p"}, tmp_path))
