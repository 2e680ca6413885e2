"""Exabeam Advanced Analytics notable users as users: the `ExaAuthToken` header, one ranked list a sync (no
paging, no cursor), users with AA's nesting; against the simulator and with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.exabeam_notable_users import CONNECTOR as Notable
from nexus_sync.errors import AuthError, VendorDataError
from nexus_sync.models import User
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"token": "sim-exabeam-aa-cluster-token-5e1f0c"}
BASE = "https://aa.corp.example"
NOTABLE = f"{BASE}/uba/api/users/notable"
# the fact sheet's user item (vendor-apis-2.md §25: username, riskScore, lastSessionId), with the rest of the
# recorded fixture it cites (XSOAR's Exabeam test_data/response_users.py)
FACT_USER = {
    "user": {"username": "new_username_risky", "riskScore": 95.5, "averageRiskScore": 93.06,
             "pastScores": [92.7356224797443, 93.36451351435753], "lastSessionId": "user-000000000",
             "firstSeen": 1682956976547, "lastSeen": 1719331984447, "lastActivityType": "Account is active",
             "accessStatus": "Account deleted", "lastActivityTime": 1719331984447,
             "info": {"location": "dallas", "email": "user@example.com", "employeeType": "employee",
                      "fullName": "User Employee", "department": "operations", "title": "operations director",
                      "group": "sap:design,milling"},
             "labels": ["APsiteB"], "pendingRiskTransfers": []},
    "userFullName": "Name Name", "isExecutive": False, "highestRiskScore": 116,
    "highestRiskSession": {"sessionId": "user-000000000", "username": "username_not_risky", "riskScore": 95.5},
    "notableSessionIds": ["abc-00000000000"], "incidentIds": [],
}

sim = sim_of("exabeam_notable_users", seed=6)


def _conn(base: str, tmp_path, **kw):
    return make(Notable, base, kw.pop("creds", CREDS), tmp_path, **kw)


def test_golden_the_fact_sheets_user():
    data = User.model_validate(Notable.normalize(FACT_USER)).model_dump()
    fields = ("uid", "username", "email", "full_name", "status", "created_time", "last_login_time",
              "modified_time", "groups")
    assert {k: data[k] for k in fields} == {
        "uid": "new_username_risky", "username": "new_username_risky", "email": "user@example.com",
        "full_name": "Name Name", "status": "deleted", "created_time": "2023-05-01T16:02:56.547000Z",
        "last_login_time": "2024-06-25T16:13:04.447000Z", "modified_time": "2024-06-25T16:13:04.447000Z",
        "groups": ["APsiteB", "sap:design", "milling"]}
    assert Notable.cursor_field is None and Notable.id_field == "user.username"


def test_normalize_is_total():
    odd = {"user": {"username": 42, "accessStatus": "Account on hold", "labels": "privileged_user",
                    "info": None, "firstSeen": "not a time", "lastSeen": None}, "userFullName": ["A B"],
           "isExecutive": True}
    data = User.model_validate(Notable.normalize(odd))
    assert (data.uid, data.status, data.groups, data.full_name, data.email, data.created_time) == (
        "42", "account on hold", ["privileged_user", "executive"], "A B", None, None)
    with pytest.raises(KeyError):  # no username: no identity, the record is reported invalid
        Notable.normalize({"user": {}})


@responses.activate
def test_one_request_with_the_token_header_and_the_window(tmp_path):
    responses.add(responses.GET, NOTABLE, json={"users": [FACT_USER, {**FACT_USER, "user": {
        **FACT_USER["user"], "username": "second"}}]})
    records, pages = drain(_conn(BASE, tmp_path, creds={"token": "t0k"}, unit="M", num=3, number_of_results=50))
    assert [r["user"]["username"] for r in records] == ["new_username_risky", "second"] and pages == 1
    assert len(responses.calls) == 1 and responses.calls[0].request.headers["ExaAuthToken"] == "t0k"
    assert parse_qs(urlsplit(responses.calls[0].request.url).query) == {
        "unit": ["M"], "num": ["3"], "numberOfResults": ["50"]}


@responses.activate
def test_an_answer_without_a_users_list_fails_the_page(tmp_path):
    responses.add(responses.GET, NOTABLE, json={"message": "maintenance"})
    with pytest.raises(VendorDataError, match="users"):
        drain(_conn(BASE, tmp_path))


def test_empty_one_and_many_in_one_ranked_list(sim, tmp_path):
    for size in (0, 1, 25):
        s = sim(size)
        records, pages = drain(_conn(s.base_url("exabeam_notable_users"), tmp_path))
        assert {r["user"]["username"] for r in records} == set(s.truth("exabeam_notable_users")) and pages == 1
        scores = [r["user"]["riskScore"] for r in records]
        assert scores == sorted(scores, reverse=True)  # ranked: the riskiest first


def test_the_list_is_cut_at_number_of_results(sim, tmp_path):
    s = sim(25)
    records, _ = drain(_conn(s.base_url("exabeam_notable_users"), tmp_path, number_of_results=5))
    truth = s.truth("exabeam_notable_users")
    top = sorted(truth, key=lambda u: -truth[u]["user"]["riskScore"])[:5]
    assert [r["user"]["username"] for r in records] == top


def test_wrong_token_is_an_auth_error(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError, match="401"):
        drain(_conn(s.base_url("exabeam_notable_users"), tmp_path, creds={"token": "wrong"}))


def test_a_unit_aa_does_not_know_is_refused(sim, tmp_path):
    s = sim(3)
    with pytest.raises(VendorDataError, match="400"):
        drain(_conn(s.base_url("exabeam_notable_users"), tmp_path, unit="year"))


def test_429s_are_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults("exabeam_notable_users", rate_limit_every=2, retry_after_seconds=1)
    sleeps = Sleeps()
    conn = _conn(s.base_url("exabeam_notable_users"), tmp_path, sleep=sleeps)
    for _ in range(2):  # one request a sync: the second sync's is the one answered 429
        records, _ = drain(conn)
        assert len(records) == 25
    assert sleeps and all(x >= 0.5 for x in sleeps)


def test_every_sync_is_full_and_sees_the_changes(sim, tmp_path):
    s = sim(12)
    conn = _conn(s.base_url("exabeam_notable_users"), tmp_path)
    first, _ = drain(conn)
    s.mutate("exabeam_notable_users", 0.5)
    again, _ = drain(conn, since=None)
    assert {r["user"]["username"] for r in again} == {r["user"]["username"] for r in first}
    assert again != first  # new risk scores and sessions come with the next full listing


def test_a_user_who_is_no_longer_notable_is_marked_missing_not_changed(sim, make_connector):
    """Dropping off the ranked list is the listing's "no longer listed" (a complete full sync marks the row
    missing): the user's own row and status stay as AA last gave them."""
    from tests.pipeline.helpers import raw_rows, run_inline
    from tests.pipeline.test_lifecycle import later, missing

    s = sim(12)
    row = make_connector(s, "exabeam_notable_users", number_of_results=5)

    def top5() -> list[str]:
        truth = s.truth("exabeam_notable_users")
        return sorted(truth, key=lambda u: (-truth[u]["user"]["riskScore"], u))[:5]

    before = top5()
    assert run_inline(row.name)[1]["status"] == "SUCCESS"
    assert {r.source_id for r in raw_rows(row.tenant_id)} == set(before)
    later(row)  # syncs run minutes apart (lifecycle allows for clock skew between workers)
    s.mutate("exabeam_notable_users", 0.5)  # new sessions, new risk scores: the ranking moves
    dropped = set(before) - set(top5())
    assert dropped, "the mutation left the top 5 as it was: pick another seed"
    _, report = run_inline(row.name)
    assert report["status"] == "SUCCESS" and report["lifecycle"]["missing"] == len(dropped), report.get("lifecycle")
    assert set(missing(row)) == dropped
    rows = {r.source_id: r for r in raw_rows(row.tenant_id)}
    assert set(rows) == set(before) | set(top5())  # the dropped user's row stays, as AA last listed it
