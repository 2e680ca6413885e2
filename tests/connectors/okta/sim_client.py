"""A client of the simulated Okta users API (SSWS token, Link-header paging), for simulator tests."""
from __future__ import annotations

from typing import Any

import requests

OKTA_AUTH = {"Authorization": "SSWS sim-okta-token"}


def okta_all(url: str, headers: dict = OKTA_AUTH, **params: Any) -> tuple[list[dict], list[str]]:
    users, nexts = [], []
    r = requests.get(url, headers=headers, params=params, timeout=10)
    while True:
        assert r.status_code == 200, r.text
        users += r.json()
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            return users, nexts
        nexts.append(nxt)
        r = requests.get(nxt, headers=headers, timeout=10)
