"""Okta users: SSWS API token, Link-header paging (vendor-apis.md §5)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.auth import HeaderToken
from connectors.base import Connector, ConnectorConfig, Page
from nexus_sync.errors import VendorDataError
from nexus_sync.models import utc_iso


class OktaConfig(ConnectorConfig):
    page_size: int = Field(200, ge=1, le=200)  # Okta caps `limit` at 200


class OktaUsers(Connector):
    type = "okta"
    title = "Okta users"
    category = "identity"
    kind = "user"
    stream = "users"
    auth = "api_token_header (SSWS)"
    paging = "link_header"
    id_field = "id"
    cursor_field = "lastUpdated"
    rate_limit_per_minute = 600
    Config = OktaConfig

    def __init__(self, ctx):
        super().__init__(ctx)
        self.auth_ = HeaderToken(ctx.secrets, field="token", header="Authorization", scheme="SSWS")

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        if state:  # the next URL as Okta gave it, with its `after` cursor
            resp = self.http.request("GET", state["url"], auth=self.auth_)
        else:
            params: dict[str, Any] = {"limit": self.config.page_size}
            if since:
                params["filter"] = f'lastUpdated gt "{since}"'
            resp = self.http.request("GET", f"{self.config.root}/api/v1/users", params=params, auth=self.auth_)
        try:
            users = resp.json()
        except ValueError:
            raise VendorDataError("GET /api/v1/users: response is not valid JSON") from None
        nxt = resp.links.get("next", {}).get("url")
        return Page(users, {"url": nxt} if nxt and users else None)

    @staticmethod
    def normalize(raw: dict[str, Any]) -> dict[str, Any]:
        profile = raw["profile"]
        names = [profile.get("firstName"), profile.get("lastName")]
        return {
            "uid": raw["id"],
            "email": profile["email"],
            "username": profile.get("login"),
            "full_name": " ".join(n for n in names if n) or None,
            "status": raw.get("status"),
            "created_time": utc_iso(raw.get("created")),
            "last_login_time": utc_iso(raw.get("lastLogin")),
            "modified_time": utc_iso(raw.get("lastUpdated")),
        }


CONNECTOR = OktaUsers
