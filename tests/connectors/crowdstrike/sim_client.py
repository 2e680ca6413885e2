"""A client of the simulated CrowdStrike host API (token, offset-paged id query), for simulator tests."""
from __future__ import annotations

from typing import Any

import requests

from nexus_sync.simulator import Simulator

CS_CREDS = {"client_id": "sim-client", "client_secret": "sim-secret"}


def cs_session(s: Simulator) -> requests.Session:
    r = requests.post(s.base_url("crowdstrike") + "/oauth2/token", data=CS_CREDS, timeout=10)
    assert r.status_code == 201, r.text
    sess = requests.Session()
    sess.headers["Authorization"] = "Bearer " + r.json()["access_token"]
    return sess


def cs_query_all(s: Simulator, sess: requests.Session, limit: int, **params: Any) -> list[str]:
    """Offset paging as falconpy's offset_vs_token.py does it: send back meta.pagination.offset."""
    ids: list[str] = []
    offset, total = 0, 1
    while offset < total:
        r = sess.get(s.base_url("crowdstrike") + "/devices/queries/devices/v1",
                     params={"offset": offset, "limit": limit, **params}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        ids += body["resources"]
        offset, total = body["meta"]["pagination"]["offset"], body["meta"]["pagination"]["total"]
    return ids
