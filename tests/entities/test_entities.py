"""Issue 13 #4, one machine many sources: through every stage on the real stack (simulators over HTTP, PostgreSQL),
the rows of one host from CrowdStrike, Qualys, Tenable and AWS Security Hub link to one entity; one CVE from
several scanners is one finding with every source; a randomized MAC links nothing; two entities a row shows to
be one are merged; users link by email/UPN across Okta and Entra; an unchanged re-sync rewrites nothing."""
from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from connectors.securityhub.simulator import ACCOUNT, REGION
from nexus_sync import db
from tests.entities.helpers import edit, entity_of, register, snapshot
from tests.pipeline.helpers import run_inline, small_simulator

INSTANCE = "i-0a1b2c3d4e5f60718"
ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{INSTANCE}"
FQDN = "web-07.acme.corp"
LOG4SHELL = "CVE-2021-44228"  # Qualys QID 376021 in the simulator's KnowledgeBase


@pytest.fixture(scope="module")
def host_sim() -> Iterator[Any]:
    """One host seen by an EDR (CrowdStrike, with its EC2 instance id), two scanners (Qualys by DNS name,
    Tenable by FQDN) and AWS (Security Hub findings on the instance's ARN), among the simulators' other data."""
    from nexus_sync.simulator import SimConfig, Simulator, discover

    sizes = {"crowdstrike": 30, "qualys": 8, "tenable": 16, "securityhub": 16}
    s = Simulator(SimConfig(seed=31, sizes={**{v: 0 for v in discover()}, **sizes})).start()
    cs = s.vendor("crowdstrike").order[0]
    edit(s, "crowdstrike", cs, lambda r: r.update(hostname="web-07", machine_domain="acme.corp", instance_id=INSTANCE,
                                                  service_provider="AWS_EC2_V2", mac_address="00-50-56-0a-0b-0c"))

    def qualys_host(r: dict[str, Any]) -> None:
        r.update(DNS=FQDN, DETECTION_LIST=[{**r["DETECTION_LIST"][0], "QID": 376021, "STATUS": "Active"}])

    edit(s, "qualys", s.vendor("qualys").order[0], qualys_host)
    tenable = s.vendor("tenable")
    first = tenable.records[tenable.order[0]]["asset"]["uuid"]
    for fid in [f for f in tenable.order if tenable.records[f]["asset"]["uuid"] == first]:
        edit(s, "tenable", fid, lambda r: r["asset"].update(hostname="web-07", fqdn=FQDN))
    edit(s, "tenable", tenable.order[0], lambda r: r["plugin"].update(cve=[LOG4SHELL]))
    hub = s.vendor("securityhub")
    inspector = next(i for i in hub.order if hub.records[i].get("Vulnerabilities"))
    control = next(i for i in hub.order if not hub.records[i].get("Vulnerabilities"))
    on_host = {"Type": "AwsEc2Instance", "Id": ARN, "Partition": "aws", "Region": REGION}

    def inspector_finding(r: dict[str, Any]) -> None:
        r.update(Resources=[on_host])
        r["Vulnerabilities"][0].update(Id=LOG4SHELL)

    edit(s, "securityhub", inspector, inspector_finding)
    edit(s, "securityhub", control, lambda r: r.update(Resources=[on_host]))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def host_world(host_sim: Any, stack: Any, secrets_file: Any) -> dict[str, Any]:
    tenant = uuid.uuid4()
    conns = {v: register(host_sim, secrets_file, v, tenant, page_size=size)
             for v, size in (("crowdstrike", 10), ("qualys", 3), ("tenable", 5), ("securityhub", 5))}
    for conn in conns.values():
        _, report = run_inline(conn.name)
        assert report["status"] == "SUCCESS", report
    return {"tenant": tenant, "conns": conns, "sim": host_sim}


def _rows_of(tenant: uuid.UUID, entity: Any) -> list[Any]:
    rd, el = db.raw_data.c, db.entity_links.c
    with db.get_engine().connect() as c:
        return list(c.execute(sa.select(rd.source, rd.type, rd.source_id, el.matched_on, el.confidence)
                         .join(db.raw_data, rd.id == el.raw_data_id)
                         .where(el.entity_id == entity, rd.tenant_id == tenant).order_by(rd.source, rd.source_id)).all())


def test_a_host_seen_by_crowdstrike_qualys_and_aws_is_one_entity(host_world):
    tenant, conns, sim = host_world["tenant"], host_world["conns"], host_world["sim"]
    cs = entity_of(tenant, conns["crowdstrike"].name, sim.vendor("crowdstrike").order[0])
    assert cs is not None and (cs.matched_on, cs.confidence) == ("instance_id", 0.98)
    rows = _rows_of(tenant, cs.entity_id)
    by_source: dict[str, list[Any]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    assert set(by_source) == {c.name for c in conns.values()}
    assert [(r.matched_on, r.confidence) for r in by_source[conns["qualys"].name]] == [("fqdn", 0.7)]
    assert {(r.matched_on, r.confidence) for r in by_source[conns["tenable"].name]} == {("fqdn", 0.7)}
    assert len(by_source[conns["tenable"].name]) == 2
    hub = by_source[conns["securityhub"].name]
    assert len(hub) == 2 and {(r.matched_on, r.confidence) for r in hub} == {("instance_id", 0.98)}
    with db.get_engine().connect() as c:
        ek = db.entity_keys.c
        keys = set(c.execute(sa.select(ek.key_type, ek.key_value).where(ek.entity_id == cs.entity_id)).all())
        entity = c.execute(sa.select(db.entities).where(db.entities.c.id == cs.entity_id)).one()
    assert {("instance_id", INSTANCE), ("cloud_resource", ARN), ("fqdn", FQDN), ("mac", "00:50:56:0a:0b:0c")} <= keys
    assert (entity.kind, entity.label) == ("asset", FQDN)
    # the other hosts of each source stay entities of their own: nothing else reached this one
    assert len(rows) == 1 + 1 + 2 + 2


def test_one_cve_on_the_host_from_several_scanners_is_one_finding_with_every_source(host_world):
    tenant, conns, sim = host_world["tenant"], host_world["conns"], host_world["sim"]
    entity = entity_of(tenant, conns["crowdstrike"].name, sim.vendor("crowdstrike").order[0]).entity_id
    fl, rd = db.finding_links.c, db.raw_data.c
    with db.get_engine().connect() as c:
        found = c.execute(sa.select(fl.cve, rd.source, rd.source_id).join(db.raw_data, rd.id == fl.raw_data_id)
                          .where(fl.entity_id == entity, fl.cve == LOG4SHELL)).all()
        control = c.execute(sa.select(sa.func.count()).select_from(db.finding_links).where(
            fl.entity_id == entity, fl.cve.not_like("CVE-%"))).scalar()
    assert sorted(r.source for r in found) == sorted(conns[v].name for v in ("qualys", "tenable", "securityhub"))
    assert len({r.source_id for r in found}) == 3  # the rows stay one per vendor finding
    assert control == 0  # a failed control (no CVE) is no cross-source finding


def test_entities_show_prints_the_entity_with_its_sources_and_findings(host_world):
    from typer.testing import CliRunner

    from nexus_sync.cli import app

    tenant, conns, sim = host_world["tenant"], host_world["conns"], host_world["sim"]
    entity = str(entity_of(tenant, conns["crowdstrike"].name, sim.vendor("crowdstrike").order[0]).entity_id)
    found = CliRunner().invoke(app, ["entities", "find", INSTANCE, "--json"])
    assert found.exit_code == 0, found.output
    assert entity in {f["id"] for f in json.loads(found.output)}
    shown = CliRunner().invoke(app, ["entities", "show", entity, "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert doc["sources"] == sorted(c.name for c in conns.values())
    log4shell = next(f for f in doc["findings"] if f["cve"] == LOG4SHELL)
    assert log4shell["sources"] == sorted(conns[v].name for v in ("qualys", "securityhub", "tenable"))
    text = CliRunner().invoke(app, ["entities", "show", entity])
    assert text.exit_code == 0 and "instance_id" in text.output and LOG4SHELL in text.output
    print(text.output)


def test_an_unchanged_resync_changes_no_links(host_world):
    tenant, conns = host_world["tenant"], host_world["conns"]
    before = snapshot(tenant)
    assert before["entity_links"] and before["finding_links"]
    for conn in conns.values():
        _, report = run_inline(conn.name)
        assert report["status"] == "SUCCESS" and report["records"]["new"] == report["records"]["updated"] == 0
    assert snapshot(tenant) == before  # linked_at included: not one row rewritten


def test_a_randomized_mac_links_nothing_a_global_one_links(stack, secrets_file):
    with small_simulator(41, crowdstrike=12, servicenow=6) as s:
        cs, sn = s.vendor("crowdstrike").order, s.vendor("servicenow").order
        bare = {"machine_domain": "", "instance_id": None}
        edit(s, "crowdstrike", cs[0], lambda r: r.update(mac_address="0a-1b-2c-11-22-33", hostname="lt-1", **bare))
        edit(s, "crowdstrike", cs[1], lambda r: r.update(mac_address="00-50-56-11-22-33", hostname="lt-2", **bare))
        other = {"fqdn": "", "host_name": "", "serial_number": ""}
        edit(s, "servicenow", sn[0], lambda r: r.update(mac_address="0A:1B:2C:11:22:33", name="ci-1", **other))
        edit(s, "servicenow", sn[1], lambda r: r.update(mac_address="00:50:56:11:22:33", name="ci-2", **other))
        tenant = uuid.uuid4()
        conns = [register(s, secrets_file, v, tenant) for v in ("crowdstrike", "servicenow")]
        for conn in conns:
            run_inline(conn.name)
        randomized = [entity_of(tenant, c.name, sid) for c, sid in zip(conns, (cs[0], sn[0]))]
        global_ = [entity_of(tenant, c.name, sid) for c, sid in zip(conns, (cs[1], sn[1]))]
    assert randomized[0].entity_id != randomized[1].entity_id
    assert global_[0].entity_id == global_[1].entity_id and global_[1].matched_on == "mac"
    with db.get_engine().connect() as c:
        ek = db.entity_keys.c
        assert c.execute(sa.select(sa.func.count()).where(ek.tenant_id == tenant, ek.key_type == "mac",
                                                          ek.key_value == "0a:1b:2c:11:22:33")).scalar() == 0


def test_two_entities_a_row_shows_to_be_one_are_merged_into_the_older(stack, secrets_file):
    with small_simulator(43, crowdstrike=8, servicenow=6) as s:
        cs, sn = s.vendor("crowdstrike").order, s.vendor("servicenow").order
        edit(s, "crowdstrike", cs[0], lambda r: r.update(serial_number="SER-MERGE-1", machine_domain="", instance_id=None))
        ci = {"fqdn": "", "host_name": "", "serial_number": "", "mac_address": "00:50:56:77:88:99"}
        edit(s, "servicenow", sn[0], lambda r: r.update(name="ci-x", **ci))
        edit(s, "servicenow", sn[1], lambda r: r.update(name="ci-y", **ci))
        tenant = uuid.uuid4()
        crowdstrike, servicenow = (register(s, secrets_file, v, tenant) for v in ("crowdstrike", "servicenow"))
        run_inline(crowdstrike.name)
        run_inline(servicenow.name)
        older = entity_of(tenant, crowdstrike.name, cs[0]).entity_id
        younger = entity_of(tenant, servicenow.name, sn[0]).entity_id
        assert older != younger and entity_of(tenant, servicenow.name, sn[1]).entity_id == younger
        edit(s, "servicenow", sn[0], lambda r: r.update(serial_number="ser-merge-1 "))  # the CMDB learns the serial
        _, report = run_inline(servicenow.name)
        assert report["records"]["updated"] == 1
        x, y = (entity_of(tenant, servicenow.name, sid) for sid in sn[:2])
    assert x.entity_id == y.entity_id == older and x.matched_on == "serial"  # y moved though it did not change
    with db.get_engine().connect() as c:
        assert c.execute(sa.select(db.entities).where(db.entities.c.id == younger)).first() is None
        ek = db.entity_keys.c
        moved = c.execute(sa.select(ek.entity_id).where(ek.tenant_id == tenant, ek.key_type == "mac",
                                                        ek.key_value == "00:50:56:77:88:99")).scalar()
    assert moved == older


def test_users_link_by_email_and_upn_across_okta_and_entra(stack, secrets_file):
    with small_simulator(47, okta=10, entra=10) as s:
        okta, entra = s.vendor("okta").order[0], s.vendor("entra").order[0]
        edit(s, "okta", okta, lambda r: r["profile"].update(email="Jane.Doe@Example.com", login="jdoe@example.com"))
        edit(s, "entra", entra, lambda r: r.update(userPrincipalName="JANE.DOE@example.com", mail=None))
        tenant = uuid.uuid4()
        conns = [register(s, secrets_file, v, tenant) for v in ("okta", "entra")]
        for conn in conns:
            _, report = run_inline(conn.name)
            assert report["status"] == "SUCCESS", report
        o, e = entity_of(tenant, conns[0].name, okta), entity_of(tenant, conns[1].name, entra)
    assert o.entity_id == e.entity_id and (e.matched_on, e.confidence) == ("email", 0.9)
    with db.get_engine().connect() as c:
        entity = c.execute(sa.select(db.entities).where(db.entities.c.id == o.entity_id)).one()
        ek = db.entity_keys.c
        emails = set(c.execute(sa.select(ek.key_value).where(ek.entity_id == o.entity_id, ek.key_type == "email")).scalars())
    assert entity.kind == "user" and emails == {"jane.doe@example.com", "jdoe@example.com"}


def test_a_key_with_a_backslash_is_stored_as_it_is_and_links_the_next_source(stack, secrets_file):
    """Keys go into entity_keys by COPY: a value holding a backslash (a Windows `DOMAIN\\host` habit in serials
    and names) is stored as it is, so the next source's same key finds it."""
    serial = "SER\\BACK\\t-1"  # a backslash before letters COPY would read as escapes (\\B, \\t) if unescaped
    with small_simulator(53, crowdstrike=6, servicenow=4) as s:
        cs, sn = s.vendor("crowdstrike").order, s.vendor("servicenow").order
        edit(s, "crowdstrike", cs[0], lambda r: r.update(serial_number=serial, machine_domain="", instance_id=None))
        ci = {"fqdn": "", "host_name": "", "mac_address": "", "serial_number": serial.lower()}
        edit(s, "servicenow", sn[0], lambda r: r.update(name="ci-backslash", **ci))
        tenant = uuid.uuid4()
        crowdstrike, servicenow = (register(s, secrets_file, v, tenant) for v in ("crowdstrike", "servicenow"))
        run_inline(crowdstrike.name)
        run_inline(servicenow.name)
        a, b = entity_of(tenant, crowdstrike.name, cs[0]), entity_of(tenant, servicenow.name, sn[0])
    assert a.entity_id == b.entity_id and b.matched_on == "serial"
    with db.get_engine().connect() as c:
        ek = db.entity_keys.c
        stored = c.execute(sa.select(ek.key_value).where(ek.tenant_id == tenant, ek.key_type == "serial",
                                                         ek.entity_id == a.entity_id)).scalars().all()
    assert [v.lower() for v in stored] == [serial.lower()]
