"""Defender for Cloud assessments: the severity joined from assessmentMetadata, every status landing, a total
normalizer, nextLink paging (same origin only) on both listings."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import responses

from connectors.defendercloud_assessments import CONNECTOR as Assessments
from connectors.defendercloud_assessments import hooks
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.errors import AuthError, ForeignOriginError
from nexus_sync.models import Vulnerability
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.arm import SUBSCRIPTION
from tests.connectors import arm
from tests.connectors.util import drain

V = "defendercloud_assessments"
VM = "/subscriptions/20ff7fc3-e762-44dd-bd96-b71116dcdc23/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1"
KEY = "83f577bd-a1b6-b7e1-0891-12ca19d1e6df"
# the 2021-06-01 spec's example shape (vendor-apis-2.md §26 gives no assessment skeleton), with $expand=metadata
GOLDEN: dict[str, Any] = {"id": f"{VM}/providers/Microsoft.Security/assessments/{KEY}", "name": KEY,
          "type": "Microsoft.Security/assessments",
          "properties": {"resourceDetails": {"Source": "Azure", "Id": VM},
                         "displayName": "Install endpoint protection solution on virtual machines",
                         "status": {"code": "Unhealthy", "firstEvaluationDate": "2024-03-01T10:00:00.1234567Z",
                                    "statusChangeDate": "2024-05-20T08:30:00.7654321Z"},
                         "metadata": {"displayName": "Install endpoint protection solution on virtual machines",
                                      "severity": "High", "categories": ["Compute"], "assessmentType": "BuiltIn"}}}


@pytest.fixture(autouse=True)
def _fresh_caches():
    OAuth2ClientCredentials._tokens.clear()
    hooks._cache.clear()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=4, sizes={V: 25})).start()
    yield s
    s.stop()


def conn(sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None, **kw: Any) -> Any:
    return arm.connector(Assessments, sim, tmp_path, creds, **kw)


def test_golden_record_normalizes_to_the_expected_fields():
    data = Vulnerability.model_validate(Assessments.normalize(GOLDEN)).__dict__
    assert {k: data[k] for k in ("uid", "cve", "asset_uid", "title", "severity", "status", "first_seen_time",
                                 "last_seen_time")} == {
        "uid": GOLDEN["id"], "cve": KEY, "asset_uid": VM,
        "title": "Install endpoint protection solution on virtual machines", "severity": "high",
        "status": "Unhealthy", "first_seen_time": "2024-03-01T10:00:00.123456Z",
        "last_seen_time": "2024-05-20T08:30:00.765432Z"}


def test_normalize_is_total():
    props = {"resourceDetails": [{"source": "Azure", "id": VM}], "status": {"code": "Quarantined"},
             "metadata": {"severity": "Severe"}}
    data = Vulnerability.model_validate(Assessments.normalize({**GOLDEN, "properties": props}))
    assert (data.asset_uid, data.status, data.severity, data.title) == (VM, "Unknown", "medium", None)
    bare = Vulnerability.model_validate(Assessments.normalize({"id": GOLDEN["id"], "name": KEY}))
    assert bare.asset_uid == VM and bare.severity == "medium" and bare.status is None


def test_every_assessment_lands_with_its_metadata_severity(sim, tmp_path):
    records, pages = drain(conn(sim, tmp_path))
    assert {r["id"] for r in records} == set(sim.truth(V)) and pages == 3
    assert all("metadata" not in r["properties"] for r in sim.truth(V).values())  # the list has no severity
    assert all(r["properties"]["metadata"]["severity"] in ("Low", "Medium", "High") for r in records)
    statuses = {Assessments.normalize(r)["status"] for r in records}
    assert {"Healthy", "Unhealthy"} <= statuses  # a fix shows as Healthy, never as a dropped record
    by_path = sim.stats(V)["by_path"]
    assert by_path["/providers/Microsoft.Security/assessmentMetadata"] == 2  # two pages, once per process


def test_empty_and_one(tmp_path):
    arm.check_empty_and_one(Assessments, tmp_path)


def test_incremental_lists_in_full(sim, tmp_path):
    assert Assessments.cursor_field is None
    records, _ = drain(conn(sim, tmp_path, incremental=True))
    assert len(records) == 25


def test_wrong_secret_is_an_auth_error(sim, tmp_path):
    with pytest.raises(AuthError):
        drain(conn(sim, tmp_path, creds={**arm.CREDS, "client_secret": "nope"}))


def test_throttle_is_waited_out(sim, tmp_path):
    arm.check_throttle_waited_out(Assessments, sim, tmp_path, 25)


@responses.activate
def test_a_metadata_next_link_to_another_host_is_refused(tmp_path):
    c = arm.on_arm(Assessments, tmp_path)
    responses.add(responses.GET, f"{arm.ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Security/assessments",
                  json={"value": [GOLDEN]})
    responses.add(responses.GET, f"{arm.ARM}{hooks.METADATA_PATH}",
                  json={"value": [], "nextLink": "https://attacker.example/providers/x"})
    with pytest.raises(ForeignOriginError):
        drain(c)
