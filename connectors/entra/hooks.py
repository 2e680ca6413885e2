"""Entra ID users through Graph: full listings, and incremental syncs by delta query with its delta link as
the cursor (learn.microsoft.com/graph/delta-query-users).

A full sync first asks `/users/delta?$deltatoken=latest` for a delta link ("changes from now on": nothing
changed during the listing is missed), then lists `/users` and the recycle bin (`/directory/deletedItems`,
users deleted within 30 days, which `/users` leaves out). An incremental sync follows the saved delta link; a
user deleted since comes as `{"id", "@removed"}` and is read back from the recycle bin. Graph's "start over"
answers restart instead of failing: an expired delta link (400 `syncStateNotFound`, or 410 Gone) runs the full
sync, an expired page token (400 `Directory_ExpiredPageToken`) restarts its listing from the first page.

Page states: {"delta": next link} in a delta round; {"list": "users" | "deleted", "url": next link} in a full
listing; "restarts" counts the listings restarted so far (at most MAX_RESTARTS).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

import requests

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector
from nexus_sync.errors import VendorDataError
from nexus_sync.http import error_text, parse_json

SELECT = ("id,userPrincipalName,displayName,mail,givenName,surname,accountEnabled,jobTitle,department,"
          "employeeId,employeeType,createdDateTime")
DELETED_SELECT = SELECT + ",deletedDateTime"
LISTINGS = {"users": ("/v1.0/users", SELECT), "deleted": ("/v1.0/directory/deletedItems/microsoft.graph.user",
                                                          DELETED_SELECT)}
RESYNC = {"syncStateNotFound", "resyncRequired"}  # the delta link is dead: a full sync is needed
EXPIRED_PAGE = "Directory_ExpiredPageToken"  # a page token is dead: its listing starts over
MAX_RESTARTS = 3
# statuses read here rather than raised by the client: mapped to no rule, they come back as answers
_OWN_ERRORS: dict[int, Any] = {400: None, 404: None, 410: None}


class _StartOver(VendorDataError):
    """Graph's "start over" answer; caught where a restart is possible, a failed page anywhere else."""

    def __init__(self, code: str):
        super().__init__(f"entra: Graph asked to start over ({code})")
        self.code = code


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    state = state or {}
    restarts = int(state.get("restarts", 0))
    if "list" in state:
        return _listing_page(conn, state["list"], state.get("url"), restarts)
    if since is None:
        return _full_sync(conn, restarts)
    try:
        return _delta_page(conn, state.get("delta") or conn.vendor_url(cursors.token_of(since)), restarts)
    except _StartOver as exc:
        if exc.code == EXPIRED_PAGE and "delta" in state:  # the round's page token: the round starts over
            return fetch_page(conn, {"restarts": _counted(restarts, exc)}, since)
        return _full_sync(conn, _counted(restarts, exc))  # the delta link itself is dead


def _full_sync(conn: DeclaredConnector, restarts: int) -> Page:
    latest = _get(conn, conn.url("/v1.0/users/delta") + "?" + urlencode({"$select": SELECT,
                                                                         "$deltatoken": "latest"}))
    link = _link(conn, latest, "@odata.deltaLink")
    if link is None:
        raise VendorDataError(f"{conn.ctx.name}: the $deltatoken=latest answer has no @odata.deltaLink")
    page = _listing_page(conn, "users", None, restarts)
    return Page(page.records, page.next, cursor=cursors.stamp(link, datetime.now(timezone.utc)))


def _listing_page(conn: DeclaredConnector, listing: str, url: str | None, restarts: int) -> Page:
    path, select = LISTINGS[listing]
    first = conn.url(path) + "?" + urlencode({"$select": select, "$top": conn.config.page_size})
    try:
        body = _get(conn, conn.vendor_url(url) if url else first)
    except _StartOver as exc:
        if exc.code != EXPIRED_PAGE or url is None:
            raise
        restarts = _counted(restarts, exc)
        body = _get(conn, first)
    nxt = _link(conn, body, "@odata.nextLink")
    if nxt is not None:
        return Page(_records(body), {"list": listing, "url": nxt, "restarts": restarts})
    return Page(_records(body), {"list": "deleted", "restarts": restarts} if listing == "users" else None)


def _delta_page(conn: DeclaredConnector, url: str, restarts: int) -> Page:
    body = _get(conn, url)
    records = [_deleted_user(conn, r) if isinstance(r, dict) and "@removed" in r else r for r in _records(body)]
    nxt = _link(conn, body, "@odata.nextLink")
    if nxt is not None:
        return Page(records, {"delta": nxt, "restarts": restarts})
    link = _link(conn, body, "@odata.deltaLink")
    if link is None:
        raise VendorDataError(f"{conn.ctx.name}: a delta page without @odata.nextLink or @odata.deltaLink")
    return Page(records, None, cursor=cursors.stamp(link, datetime.now(timezone.utc)))


def _deleted_user(conn: DeclaredConnector, removed: dict[str, Any]) -> dict[str, Any]:
    """The recycle bin's record of a user a delta round reports removed; the notice itself when Graph has
    none (deleted for good: normalize rejects it, and the report names it)."""
    reason = (removed.get("@removed") or {}).get("reason")
    if reason != "changed" or not isinstance(removed.get("id"), str):
        return removed
    url = conn.url(f"/v1.0/directory/deletedItems/{quote(removed['id'], safe='')}") + "?" + urlencode(
        {"$select": DELETED_SELECT})
    resp = conn.request("GET", url, errors={404: None})
    if resp.status_code == 404:
        return removed
    record = parse_json(resp.content, f"{conn.ctx.name}: deleted user")
    return {k: v for k, v in record.items() if not k.startswith("@odata.")} if isinstance(record, dict) else removed


def _get(conn: DeclaredConnector, url: str) -> Any:
    resp = conn.request("GET", url, errors=_OWN_ERRORS)
    if resp.status_code < 400:
        return parse_json(resp.content, f"{conn.ctx.name}: answer")
    code = _code(resp)
    if resp.status_code == 410 or code in RESYNC or code == EXPIRED_PAGE:
        raise _StartOver(code or "410")
    raise VendorDataError(f"{conn.ctx.name}: GET {url.split('?', 1)[0]}: {error_text(resp, conn.http.error_paths)}")


def _code(resp: requests.Response) -> str | None:
    try:
        code = parse_json(resp.content, "error").get("error", {}).get("code")
    except (VendorDataError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _records(body: Any) -> list[dict[str, Any]]:
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, list):
        raise VendorDataError("entra: the answer's value is not a list")
    return value


def _link(conn: DeclaredConnector, body: Any, key: str) -> str | None:
    url = body.get(key) if isinstance(body, dict) else None
    if url is None:
        return None
    if not isinstance(url, str):
        raise VendorDataError(f"entra: {key} is not a string")
    return conn.vendor_url(url)


def _counted(restarts: int, exc: _StartOver) -> int:
    if restarts >= MAX_RESTARTS:
        raise VendorDataError(f"entra: Graph asked to start over {restarts + 1} times in one sync ({exc.code})")
    return restarts + 1
