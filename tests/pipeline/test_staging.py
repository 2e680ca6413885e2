"""Claim-check staging in Redis: big payloads are stored compressed, read back exactly, and values staged
uncompressed (before compression existed) still read."""
from __future__ import annotations

import uuid

import orjson

from nexus_sync import compress, staging
from nexus_sync.redis_client import get_redis


def test_a_page_is_stored_compressed_and_read_back_exactly(stack):
    hid = str(uuid.uuid4())
    page = {"records": [{"device_id": f"{i:032x}", "hostname": f"host-{i}", "tags": ["a", "ü ✓"]}
                        for i in range(5000)], "fetched_at": "2026-11-22T10:00:00Z"}
    staging.put(hid, 0, "raw", page)
    stored = get_redis().get(staging.key(hid, 0, "raw"))
    plain = orjson.dumps(page)
    assert compress.is_compressed(stored) and len(stored) < len(plain) / 4
    assert staging.get(hid, 0, "raw") == page

    rows = b"\n".join(orjson.dumps(r) + b"\t" + orjson.dumps(r) for r in page["records"])
    staging.put_batch(hid, 0, {"rows": rows, "norm": {"h": ["x"]}})
    assert staging.get_bytes(hid, 0, "rows") == rows
    assert get_redis().get(staging.key(hid, 0, "norm")) == b'{"h":["x"]}'  # small: stored as it is
    staging.drop(hid, 0)
    assert staging.get(hid, 0, "raw") is None and staging.get_bytes(hid, 0, "rows") is None


def test_a_value_staged_uncompressed_still_reads(stack):
    hid = str(uuid.uuid4())
    big = orjson.dumps({"records": [{"n": i} for i in range(20000)]})
    assert len(big) > staging.COMPRESS_MIN_BYTES
    get_redis().set(staging.key(hid, 0, "raw"), big, ex=60)  # as a worker of the previous release staged it
    assert staging.get(hid, 0, "raw") == orjson.loads(big)
    staging.drop(hid, 0)


def test_normalize_reads_a_staged_page_as_orjson_would(stack):
    """normalize parses the raw page with msgspec: the same dicts as orjson for every simulated vendor."""
    from nexus_sync.pipeline.normalizing import _staged_page
    from nexus_sync.simulator import vendor_names
    from nexus_sync.simulator.data import generate

    hid = str(uuid.uuid4())
    edge = [1.5e300, -0.0, 0.1, 2**63 - 1, -2**63, "é\u2028\ud7ff\\\"", None, True, {"": []}]
    for n, vendor in enumerate(vendor_names()):
        try:
            records = generate(vendor, 3, 200)
        except KeyError:  # a vendor whose data is not made by a registered generator
            continue
        page = {"records": records, "edge": edge, "fetched_at": "2026-12-07T06:00:00Z"}
        staging.put(hid, n, "raw", page)
        assert orjson.dumps(_staged_page(hid, n)) == orjson.dumps(page), vendor
        staging.drop(hid, n)
