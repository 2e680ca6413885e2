"""Ping Identity PingOne users: OAuth2 client credentials of a Worker app on the region's auth host,
`_links.next.href` paging (vendor-apis-2.md §34). No documented `updatedAt` filter on `/users`: every sync is
a full sweep (an incremental one too); the cursor still records the latest `updatedAt` seen."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from connectors.base import Context
from connectors.machinery import Declaration, NextUrlPaging, OAuth2, Request, declare
from nexus_sync.errors import ConfigError
from nexus_sync.models import utc_iso

REGIONS = ("com", "eu", "ca", "asia", "com.au")  # the TLD of the environment's region: api. and auth. hosts
_ENVIRONMENT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

DECLARATION = Declaration(
    type="pingone", title="PingOne users", category="identity", kind="user", stream="users",
    # base_url: https://api.pingone.{region}; the token host is auth.pingone.{region} (a config token_url
    # overrides it); the Worker app may authenticate by client_secret_post
    auth=OAuth2(token_url="https://auth.pingone.{region}/{environment_id}/as/token"),
    request=Request(path="/v1/environments/{environment_id}/users"),
    # absolute `_links.next.href` (with ?cursor=), followed as given on the API host; `limit` may come back
    # smaller than asked (200 at most): pages end only when no next link is left
    paging=NextUrlPaging(next_path="_links.next.href", size_param="limit"),
    records="_embedded.users", id_field="id", cursor_field="updatedAt",
    error_code="code", error_message="message",
    rate_limit_per_minute=600,  # per licence, shared by its environments (35 % per IP): a modest default
    page_size=200, max_page_size=200,
    config_fields={"environment_id": ..., "region": "com"},
)


def _status(raw: dict[str, Any]) -> str | None:
    """disabled / locked / the lifecycle state (account_ok, verification_required, …) / enabled; None without any."""
    if raw.get("enabled") is False:
        return "disabled"
    account, lifecycle = raw.get("account"), raw.get("lifecycle")
    if isinstance(account, dict) and str(account.get("status") or "").upper() == "LOCKED":
        return "locked"
    state = lifecycle.get("status") if isinstance(lifecycle, dict) else None
    if isinstance(state, str) and state:
        return state.lower()
    return "enabled" if raw.get("enabled") is True else None


def _full_name(name: Any) -> str | None:
    if not isinstance(name, dict):
        return name if isinstance(name, str) and name else None
    parts = [name.get("given"), name.get("middle"), name.get("family")]
    return name.get("formatted") or " ".join(p for p in parts if isinstance(p, str) and p) or None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    sign_on = raw.get("lastSignOn")
    mfa = raw.get("mfaEnabled")
    return {
        "uid": raw["id"],
        "email": raw.get("email") or raw["username"],  # email is optional; usernames are often email-shaped
        "username": raw.get("username"),
        "full_name": _full_name(raw.get("name")),
        "status": _status(raw),
        "mfa": mfa if isinstance(mfa, bool) else None,
        "created_time": utc_iso(raw.get("createdAt")),
        "last_login_time": utc_iso(sign_on.get("at")) if isinstance(sign_on, dict) else None,
        "modified_time": utc_iso(raw.get("updatedAt")),
    }


class PingOneUsers(declare(DECLARATION, normalize)):  # type: ignore[misc]
    """The declared connector; its region and environment checked before any request (quirk 1: a region
    that does not match the environment's answers 401/404)."""

    def __init__(self, ctx: Context):
        cfg = ctx.config
        region, env = getattr(cfg, "region", ""), getattr(cfg, "environment_id", "")
        if region not in REGIONS:
            raise ConfigError(f"connector {ctx.name!r}: region {region!r} is not one of {', '.join(REGIONS)}")
        if not _ENVIRONMENT.fullmatch(env):
            raise ConfigError(f"connector {ctx.name!r}: environment_id must be the environment's UUID")
        host = (urlsplit(str(cfg.base_url)).hostname or "").lower()
        if host.startswith("api.pingone.") and host != f"api.pingone.{region}":
            raise ConfigError(f"connector {ctx.name!r}: base_url {host} is not in region {region!r} "
                              f"(its API host is api.pingone.{region})")
        super().__init__(ctx)


CONNECTOR = PingOneUsers
