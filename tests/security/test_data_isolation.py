"""Findings 5 and 8: one NUL byte or one record PostgreSQL refuses never costs the page, and two connectors
of one type in one tenant keep their own rows. Through every stage on the real stack."""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import orjson
import pytest
import sqlalchemy as sa

from nexus_sync import catalog, db
from tests.conftest import add_secrets
from tests.pipeline.helpers import archive_count, run_inline


@pytest.fixture(scope="module")
def okta_sim() -> Iterator[Any]:
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={"okta": 60})).start()
    yield s
    s.stop()


def _replace(vendor: Any, old_id: str, record: dict[str, Any]) -> None:
    """Serve `record` in place of the record `old_id` (its id may differ)."""
    with vendor.lock:
        new_id = record[vendor.id_field]
        vendor.order[vendor.order.index(old_id)] = new_id
        del vendor.records[old_id]
        vendor.records[new_id] = record
        vendor.position = {rid: i for i, rid in enumerate(vendor.order)}
        vendor.version += 1
        vendor.on_data_changed()


def _connector(sim: Any, secrets_file: Any, tenant: uuid.UUID, name: str | None = None) -> catalog.ConnectorRow:
    name = name or f"okta-{uuid.uuid4().hex[:8]}"
    add_secrets(secrets_file, name, {"token": "sim-okta-token"})
    catalog.apply([catalog.ConnectorSpec(name=name, type="okta", tenant_id=tenant, interval="15m",
                                         config={"base_url": sim.base_url("okta"), "page_size": 25})])
    return catalog.get(name)


def _rows(tenant: uuid.UUID) -> list[Any]:
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return c.execute(sa.select(rd.source, rd.source_id, rd.data, rd.raw_data).where(rd.tenant_id == tenant)).all()


def test_a_nul_byte_and_a_refused_record_cost_only_themselves(stack, secrets_file, okta_sim):
    vendor = okta_sim.vendor("okta")
    vendor.load()
    ids = list(vendor.order)
    nul = orjson.loads(orjson.dumps(vendor.records[ids[3]]))
    nul["profile"]["firstName"] = "Ann\u0000a"
    nul["profile"]["login"] = "ann\u0000a@example.com"
    _replace(vendor, ids[3], nul)
    too_long = orjson.loads(orjson.dumps(vendor.records[ids[30]]))
    too_long["id"] = "00u" + "x" * 600  # source_id is VARCHAR(500): PostgreSQL refuses the row, not the page
    _replace(vendor, ids[30], too_long)

    conn = _connector(okta_sim, secrets_file, uuid.uuid4())
    _, report = run_inline(conn.name)

    rows = {r.source_id: r for r in _rows(conn.tenant_id)}
    assert len(rows) == 59 and too_long["id"] not in rows
    landed = rows[ids[3]]
    assert landed.data["full_name"].startswith("Ann\ufffda") and "\ufffd" in landed.raw_data["profile"]["login"]
    assert report["status"] == "PARTIAL"
    assert report["records"]["new"] == 59 and report["records"]["invalid"] == 1
    (bad,) = report["invalid_records"]
    assert bad["source_id"] == too_long["id"] and bad["error"].startswith("refused by PostgreSQL: 22001")
    assert "x" * 40 not in bad["error"] and "CONTEXT" not in bad["error"]  # the reason never quotes the row
    assert archive_count(conn.tenant_id) == 59  # what was refused is not archived either
    vendor.load()


def test_two_connectors_of_one_type_in_one_tenant_keep_their_own_rows(stack, secrets_file, okta_sim):
    vendor = okta_sim.vendor("okta")
    vendor.load()
    tenant = uuid.uuid4()
    eu, us = _connector(okta_sim, secrets_file, tenant), _connector(okta_sim, secrets_file, tenant)
    run_inline(eu.name)
    okta_sim.mutate("okta", 0.5)  # the second console says something else about the same ids
    run_inline(us.name)
    rows = _rows(tenant)
    assert len(rows) == 120
    by_source = {s: {r.source_id: r.raw_data for r in rows if r.source == s} for s in (eu.name, us.name)}
    assert len(by_source[eu.name]) == len(by_source[us.name]) == 60
    assert by_source[eu.name] != by_source[us.name]  # the second sync did not overwrite the first's rows
    _, again = run_inline(eu.name)  # and the first connector's rows are still its own: nothing new to it
    assert again["records"]["new"] == 0 and again["records"]["updated"] == 30
    vendor.load()


def test_the_tab_separated_escaper_escapes_nul():
    from nexus_sync.tsv import tab_field

    assert tab_field("a\x00b\tc\\d\n") == "a\\0b\\tc\\\\d\\n"  # a raw NUL would end the field in ClickHouse


def test_a_stray_byte_or_an_unpaired_surrogate_costs_no_page():
    """orjson refuses invalid UTF-8 and unpaired surrogates outright, which would fail the whole page: the
    answer is read leniently instead, those characters become U+FFFD, and the page stages as usual."""
    from nexus_sync.errors import VendorDataError
    from nexus_sync.http import parse_json

    page = parse_json(b'[{"hostname": "a\\ud800b"}, {"hostname": "caf\xe9"}, {"hostname": "ok"}]', "okta: answer")
    assert [r["hostname"] for r in page] == ["a\ufffdb", "caf\ufffd", "ok"]
    orjson.dumps(page)  # what staging does next: no longer refused
    with pytest.raises(VendorDataError, match="not valid JSON"):
        parse_json(b'[{"hostname": "a"', "okta: answer")
