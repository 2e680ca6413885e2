"""Greenbone / OpenVAS results over GMP (vendor-apis-2.md §33), against the simulator's GMP-over-TLS server:
empty / one / many / page 2 / auth failure / busy / incremental, a connection per page that is always closed
(also on failure), verified TLS, GMP statuses → our errors, the missing extra, and the fact sheet's record."""
from __future__ import annotations

import sys
from typing import cast

import pytest
from lxml import etree

from connectors.greenbone import CONNECTOR as Greenbone
from connectors.greenbone import gmp
from connectors.greenbone.results import parse_records, total_of
from connectors.greenbone.simulator import GreenboneSim
from nexus_sync.credentials import redact
from nexus_sync.errors import AuthError, ConfigError, RateLimited, TransientError, VendorDataError
from nexus_sync.models import Vulnerability
from nexus_sync.simulator import Simulator
from tests.connectors import greenbone as shared
from tests.connectors.greenbone import CREDS, start
from tests.connectors.util import Sleeps, drain, make

# the fact sheet's record, verbatim (§33)
FACT_XML = b"""<get_results_response status="200" status_text="OK">
  <result id="9184608a-0b86-42e0-b733-4668feebc1c7">
    <name>Apache Tomcat RCE Vulnerability - April19 (Windows)</name>
    <modification_time>2024-06-01T09:31:15Z</modification_time><creation_time>2024-06-01T09:31:15Z</creation_time>
    <host>10.0.0.12<asset asset_id="6e3c..."/><hostname>app-12</hostname></host>
    <port>8080/tcp</port>
    <nvt oid="1.3.6.1.4.1.25623.1.0.142265"><type>nvt</type><name>Apache Tomcat RCE Vulnerability - April19 (Windows)</name>
      <refs><ref type="cve" id="CVE-2019-0232"/></refs></nvt>
    <threat>High</threat><severity>8.1</severity><qod><value>80</value><type>remote_banner</type></qod>
  </result>
  <results start="1" max="100"/><result_count>1234<filtered>57</filtered><page>1</page></result_count>
</get_results_response>"""


@pytest.fixture
def gvmd():
    sims: list[Simulator] = []
    yield lambda size: start("greenbone", size, sims)
    for sim in sims:
        sim.stop()


def connector(sim: Simulator, tmp_path, creds=None, sleeps=None, **config):
    return shared.connector(Greenbone, sim, tmp_path, creds, sleeps, **config)


def open_connections(sim: Simulator) -> int:
    return shared.open_connections(sim, "greenbone")


def test_golden_fact_sheet_record():
    root = etree.fromstring(FACT_XML)
    [raw] = parse_records(root, "result")
    assert total_of(root, "result_count") == 57
    assert raw["host"] == {"#text": "10.0.0.12", "asset": {"asset_id": "6e3c..."}, "hostname": "app-12"}
    data = Vulnerability.model_validate(Greenbone.normalize(raw)).model_dump()
    assert data["severity_label"] == "high" and data["severity_score"] == 81  # derived by the model
    assert {k: v for k, v in data.items() if not k.startswith("severity_")} == {
        "uid": "9184608a-0b86-42e0-b733-4668feebc1c7", "cve": "CVE-2019-0232", "asset_uid": "6e3c...",
        "title": "Apache Tomcat RCE Vulnerability - April19 (Windows) on app-12 8080/tcp", "severity": "high",
        "cvss": 8.1, "status": "open", "first_seen_time": "2024-06-01T09:31:15Z",
        "last_seen_time": "2024-06-01T09:31:15Z"}


def test_normalize_is_total():
    """Unknown threat labels, no CVE, a bare host, a missing score, a list where one ref was expected."""
    raw = {"id": "r1", "host": "10.0.0.9", "threat": "Catastrophic", "severity": "-99",
           "nvt": {"oid": "1.3.6.1.4.1.25623.1.0.10330", "refs": {"ref": [{"type": "url", "id": "x"}]}},
           "modification_time": "not a time"}
    data = Vulnerability.model_validate(Greenbone.normalize(raw))
    assert (data.cve, data.asset_uid, data.severity, data.cvss, data.last_seen_time) == (
        "NVT-1.3.6.1.4.1.25623.1.0.10330", "10.0.0.9", "info", None, None)
    assert Greenbone.normalize({"id": "r2", "severity": "9.8", "host": ["odd"], "nvt": "x"})["severity"] == "critical"


@pytest.mark.parametrize("size, pages", [(0, 1), (1, 1), (25, 3)])
def test_pages_cover_every_result_once(gvmd, tmp_path, size, pages):
    sim = gvmd(size)
    conn = connector(sim, tmp_path)
    records, n = drain(conn)
    assert sorted(r["id"] for r in records) == sorted(sim.truth("greenbone"))
    assert n == pages
    stats = sim.stats("greenbone")
    # one connection for version negotiation and one session per page, every one of them closed
    assert stats["gmp_commands"]["get_results"] == pages == stats["gmp_commands"]["authenticate"]
    assert stats["gmp_connections"] == 2 * pages  # per page: python-gvm's get_version one, then the session
    assert open_connections(sim) == 0


def test_page_two_is_first_plus_rows_in_the_filter(gvmd, tmp_path):
    sim = gvmd(25)
    conn = connector(sim, tmp_path)
    page = conn.fetch_page(None, None)
    assert page.next == {"first": 11} and page.total == 25 and len(page.records) == 10
    page2 = conn.fetch_page(page.next, None)
    assert page2.next == {"first": 21} and not {r["id"] for r in page.records} & {r["id"] for r in page2.records}
    assert conn.filter_string(11, None) == "first=11 rows=10 sort=created apply_overrides=1 min_qod=70"


def test_a_result_re_scanned_during_a_full_sync_is_not_skipped(gvmd, tmp_path):
    """Offset paging sorted by creation: a change mid-sync never moves a record back past the offset."""
    sim = gvmd(25)
    conn = connector(sim, tmp_path)
    page = conn.fetch_page(None, None)
    sim.mutate("greenbone", 0.5)
    rest, _ = drain_from(conn, page.next)
    assert {r["id"] for r in page.records + rest} == set(sim.truth("greenbone"))


def drain_from(conn, state):
    records: list[dict] = []
    pages = 0
    while state is not None:
        page = conn.fetch_page(state, None)
        records, pages, state = records + page.records, pages + 1, page.next
    return records, pages


def test_wrong_password_is_an_auth_error_and_the_connection_is_closed(gvmd, tmp_path):
    sim = gvmd(3)
    with pytest.raises(AuthError, match="Authentication failed") as err:
        drain(connector(sim, tmp_path, creds={"username": "sim-admin", "password": "wrong-password-1"}))
    assert "wrong-password-1" not in str(err.value) and redact("wrong-password-1") == "***"
    assert open_connections(sim) == 0


def test_busy_gvmd_is_waited_out(gvmd, tmp_path):
    sim = gvmd(25)
    sim.set_faults("greenbone", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(connector(sim, tmp_path, sleeps=sleeps))
    assert {r["id"] for r in records} == set(sim.truth("greenbone"))
    assert sleeps and all(s >= 5.0 for s in sleeps)
    assert open_connections(sim) == 0


def test_busy_for_good_re_queues_the_page_and_still_closes_the_connection(gvmd, tmp_path):
    sim = gvmd(5)
    sim.set_faults("greenbone", rate_limit_every=1)
    sleeps = Sleeps()
    with pytest.raises(RateLimited) as err:
        connector(sim, tmp_path, sleeps=sleeps, busy_wait_seconds=2.0).fetch_page(None, None)
    # 2 s and 4 s inline (the HTTP client's inline limit is 5 s); the next wait, 6 s, is the pipeline's countdown
    assert err.value.wait_seconds == 6.0 and sleeps == [2.0, 4.0]
    assert open_connections(sim) == 0


def test_incremental_asks_for_results_modified_since_the_cursor(gvmd, tmp_path):
    sim = gvmd(25)
    conn = connector(sim, tmp_path, incremental=True)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = set(sim.mutate("greenbone", 0.2))
    again, _ = drain(conn, since=cursor)
    # one second before the cursor (gvmd compares whole seconds with `>`): the boundary result comes again
    assert changed <= {r["id"] for r in again} <= changed | {r["id"] for r in records
                                                             if r["modification_time"] >= cursor[:19]}
    assert "modification_time>" in conn.filter_string(1, cursor)


def test_tls_is_verified(gvmd, tmp_path):
    sim = gvmd(1)
    with pytest.raises(ConfigError, match="certificate not trusted.*ca_file"):
        connector(sim, tmp_path, ca_file=None).fetch_page(None, None)
    assert open_connections(sim) == 0


def test_gmp_needs_tls_or_a_socket(tmp_path):
    with pytest.raises(ConfigError, match="over TLS"):
        make(Greenbone, "http://127.0.0.1:9390", CREDS, tmp_path)
    make(Greenbone, "http://127.0.0.1:9390", CREDS, tmp_path, socket_path="/run/gvmd/gvmd.sock")


def test_gvmd_unreachable_is_transient(gvmd, tmp_path):
    sim = gvmd(1)
    port = cast(GreenboneSim, sim.vendor("greenbone")).port
    sim.stop()
    conn = make(Greenbone, f"https://127.0.0.1:{port}", CREDS, tmp_path, timeout_seconds=2)
    with pytest.raises(TransientError, match="gvmd at 127.0.0.1"):
        conn.fetch_page(None, None)


@pytest.mark.parametrize("what, status, error", [
    ("authenticate", 400, AuthError), ("get_results", 401, AuthError), ("get_results", 503, RateLimited),
    ("get_results", 400, VendorDataError), ("get_results", 404, VendorDataError),
    ("get_results", 500, TransientError)])
def test_gmp_statuses_map_to_our_errors(what, status, error):
    assert type(gmp.status_error(what, status, "text")) is error


def test_without_the_extra_a_config_error_names_it(gvmd, tmp_path, monkeypatch):
    sim = gvmd(1)
    monkeypatch.setitem(sys.modules, "gvm", None)  # as if python-gvm were not installed
    monkeypatch.setitem(sys.modules, "gvm.connections", None)
    with pytest.raises(ConfigError, match=r"nexus-sync\[greenbone\]"):
        connector(sim, tmp_path).fetch_page(None, None)


def test_without_the_extra_nothing_else_breaks():
    """A fresh interpreter where python-gvm cannot be imported: every connector type still loads and validates
    (greenbone's too, without touching gvm), and only a greenbone fetch says the extra is missing."""
    import subprocess

    code = """
import sys
class NoGvm:
    def find_spec(self, name, path=None, target=None):
        if name == "gvm" or name.startswith("gvm."):
            raise ImportError("No module named " + repr(name))
sys.meta_path.insert(0, NoGvm())
import connectors
from connectors.greenbone import gmp
types = connectors.registry()
assert {"greenbone", "greenbone_hosts", "okta", "cybereason"} <= set(types), sorted(types)
assert not any(m == "gvm" or m.startswith("gvm.") for m in sys.modules)
try:
    gmp.session("x", "127.0.0.1", 9390, None, None, 1.0, "u", "p").__enter__()
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ConfigError") and "pip install 'nexus-sync[greenbone]'" in out.stdout, out.stdout


def test_demo_and_bench_find_the_gmp_port_and_ca(tmp_path, monkeypatch):
    """`demo --all` fixes each GMP type's port and the CA folder before the simulator starts, and
    examples/connectors-all.yaml names them; the bench reads them from the simulator's /_sim description."""
    from nexus_sync import catalog
    from nexus_sync.dev.demo import EXAMPLES, gmp_env
    from nexus_sync.simulator import SimConfig

    env = gmp_env(tmp_path)
    assert len({env["NEXUS_SIM_GREENBONE_PORT"], env["NEXUS_SIM_GREENBONE_HOSTS_PORT"]}) == 2
    for key, value in {**env, "NEXUS_SIM_URL": "http://127.0.0.1:1"}.items():
        monkeypatch.setenv(key, value)
    sim = Simulator(SimConfig(seed=7, sizes={"greenbone": 1, "greenbone_hosts": 1})).start()
    try:
        specs = {s.type: s.config for s in catalog.load_file(EXAMPLES / "connectors-all.yaml")}
        described = sim.describe()["vendors"]
        for vendor in ("greenbone", "greenbone_hosts"):
            assert specs[vendor]["base_url"] == sim.base_url(vendor) == described[vendor]["config"]["base_url"]
            ca = sim.vendor(vendor).ca_file.read_bytes()  # type: ignore[attr-defined]
            assert open(specs[vendor]["ca_file"], "rb").read() == ca
            assert open(described[vendor]["config"]["ca_file"], "rb").read() == ca
    finally:
        sim.stop()
