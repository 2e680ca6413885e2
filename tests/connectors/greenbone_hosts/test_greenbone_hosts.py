"""Greenbone / OpenVAS host assets over GMP (`<get_assets type="host"/>`), against the simulator's GMP server:
empty / one / many / page 2 / auth failure / busy / incremental, connections always closed, and a host in the
GMP reference shape. The shared fetch path's other cases (TLS, statuses, the extra) are in tests/connectors/
greenbone."""
from __future__ import annotations

import pytest
from lxml import etree

from connectors.greenbone.results import parse_records, total_of
from connectors.greenbone_hosts import CONNECTOR as Hosts
from nexus_sync.errors import AuthError, RateLimited
from nexus_sync.models import Asset
from nexus_sync.simulator import Simulator
from tests.connectors import greenbone as shared
from tests.connectors.greenbone import start
from tests.connectors.util import Sleeps, drain

VENDOR = "greenbone_hosts"
# a host asset as GMP's reference shows get_assets type="host" (trimmed: permissions, source data)
HOST_XML = b"""<get_assets_response status="200" status_text="OK">
  <asset id="b493b7a8-7489-11df-a3ec-002264764cea">
    <owner><name>admin</name></owner><name>192.168.10.15</name><comment></comment>
    <creation_time>2024-05-02T08:00:12Z</creation_time><modification_time>2024-06-01T09:31:15Z</modification_time>
    <writable>1</writable><in_use>0</in_use>
    <identifiers>
      <identifier id="7d1bcb5a-0000-4000-8000-000000000001"><name>ip</name><value>192.168.10.15</value>
        <creation_time>2024-05-02T08:00:12Z</creation_time><modification_time>2024-05-02T08:00:12Z</modification_time>
        <source id="c2a1"><type>Report Host Detail</type><data>1.3.6.1.4.1.25623.1.0.103997</data><deleted>0</deleted></source>
      </identifier>
      <identifier id="7d1bcb5a-0000-4000-8000-000000000002"><name>hostname</name><value>db-15.corp.example.com</value>
        <source id="c2a1"><type>Report Host Detail</type></source></identifier>
      <identifier id="7d1bcb5a-0000-4000-8000-000000000003"><name>MAC</name><value>00:50:56:AB:CD:EF</value>
        <source id="c2a1"><type>Report Host Detail</type></source></identifier>
      <identifier id="7d1bcb5a-0000-4000-8000-000000000004"><name>OS</name><value>cpe:/o:canonical:ubuntu_linux:22.04</value>
        <source id="c2a1"><type>Report Host Detail</type></source></identifier>
    </identifiers>
    <type>host</type>
    <host><severity><value>8.1</value></severity>
      <detail><name>best_os_cpe</name><value>cpe:/o:canonical:ubuntu_linux:22.04</value><source id="x"><type>nvt</type></source></detail>
      <detail><name>best_os_txt</name><value>Ubuntu 22.04</value></detail></host>
  </asset>
  <assets start="1" max="100"/><asset_count>12<filtered>12</filtered><page>1</page></asset_count>
</get_assets_response>"""


@pytest.fixture
def gvmd():
    sims: list[Simulator] = []
    yield lambda size: start(VENDOR, size, sims)
    for sim in sims:
        sim.stop()


def test_golden_host():
    root = etree.fromstring(HOST_XML)
    [raw] = parse_records(root, "asset")
    assert total_of(root, "asset_count") == 12
    data = Asset.model_validate(Hosts.normalize(raw))
    assert (data.uid, data.hostname, data.name, data.os_name, data.ips, data.macs) == (
        "b493b7a8-7489-11df-a3ec-002264764cea", "db-15.corp.example.com", "192.168.10.15", "Ubuntu 22.04",
        ["192.168.10.15"], ["00:50:56:ab:cd:ef"])
    assert (data.first_seen_time, data.last_seen_time) == ("2024-05-02T08:00:12Z", "2024-06-01T09:31:15Z")


def test_normalize_is_total():
    raw = {"id": "h1", "name": "printer.local", "identifiers": {"identifier": {"name": "MAC", "value": "n/a"}},
           "host": "odd", "modification_time": "yesterday"}
    data = Asset.model_validate(Hosts.normalize(raw))
    assert (data.ips, data.macs, data.os_name, data.last_seen_time, data.name) == ([], [], None, None, "printer.local")


@pytest.mark.parametrize("size, pages", [(0, 1), (1, 1), (25, 3)])
def test_pages_cover_every_host_once(gvmd, tmp_path, size, pages):
    sim = gvmd(size)
    records, n = drain(shared.connector(Hosts, sim, tmp_path))
    assert sorted(r["id"] for r in records) == sorted(sim.truth(VENDOR)) and n == pages
    assert shared.open_connections(sim, VENDOR) == 0


def test_wrong_password_is_an_auth_error_and_the_connection_is_closed(gvmd, tmp_path):
    sim = gvmd(3)
    with pytest.raises(AuthError):
        drain(shared.connector(Hosts, sim, tmp_path, creds={"username": "sim-admin", "password": "nope-nope"}))
    assert shared.open_connections(sim, VENDOR) == 0


def test_busy_is_waited_out_then_re_queued(gvmd, tmp_path):
    sim = gvmd(25)
    sim.set_faults(VENDOR, rate_limit_every=3)
    sleeps = Sleeps()
    records, _ = drain(shared.connector(Hosts, sim, tmp_path, sleeps=sleeps))
    assert {r["id"] for r in records} == set(sim.truth(VENDOR)) and sleeps
    sim.set_faults(VENDOR, rate_limit_every=1)
    with pytest.raises(RateLimited):
        shared.connector(Hosts, sim, tmp_path, busy_retries=0).fetch_page(None, None)
    assert shared.open_connections(sim, VENDOR) == 0


def test_incremental_asks_for_hosts_modified_since_the_cursor(gvmd, tmp_path):
    sim = gvmd(25)
    conn = shared.connector(Hosts, sim, tmp_path, incremental=True)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = set(sim.mutate(VENDOR, 0.2))
    again, _ = drain(conn, since=cursor)
    boundary = {r["id"] for r in records if r["modification_time"] >= cursor[:19]}
    assert changed <= {r["id"] for r in again} <= changed | boundary


def test_get_assets_of_another_type_is_not_served(gvmd, tmp_path):
    """The simulator serves host assets only, as the connector asks (python-gvm get_hosts: type="host")."""
    sim = gvmd(1)
    gvmd_sim = sim.vendor(VENDOR)
    cmd = etree.fromstring(b'<get_assets type="os" filter="rows=10"/>')
    answer = gvmd_sim.answer(cmd, {"user": "sim-admin"})
    assert b'status="400"' in answer
