"""Cybereason sensors (vendor-apis-2.md §22) as assets: a cookie session (`POST /login.html` form → JSESSIONID,
`GET /logout`), owned by the task (auth/owned_session.py); `POST /rest/sensors/query` whose `offset` is a page
number (0-based: the SDK adds 1 per page), Archived sensors filtered out. No server-side incremental: full
sweeps. An expired session answers a 302 to /login.html, not a 401: logged in again once."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, PagePaging, Request, SessionLogin, declare
from connectors.machinery.auth.session import Logout
from connectors.machinery.values import text as _text
from nexus_sync.models import utc_iso

NOT_ARCHIVED = [{"fieldName": "status", "operator": "NotEquals", "values": ["Archived"]}]
# the console's cookie session, owned per task; the Malops type (connectors/cybereason_malops) uses this one
SESSION = SessionLogin(path="/login.html", form={"username": "{username}", "password": "{password}"},
                       cookie="JSESSIONID", refused=("error", "reset"), expired_path="/login.html",
                       header="Cookie", template="JSESSIONID={session}", logout=Logout(path="/logout"))

DECLARATION = Declaration(
    type="cybereason", title="Cybereason sensors", category="edr", kind="asset", stream="sensors",
    # base_url: https://<tenant>.cybereason.net (on-prem consoles often :8443)
    auth=SESSION,
    request=Request(method="POST", path="/rest/sensors/query",
                    json_body={"filters": NOT_ARCHIVED, "sortDirection": "ASC"}),
    paging=PagePaging(page_param="offset", size_param="limit", where="body", start=0, total="totalResults"),
    records="sensors", id_field="sensorId",
    error_code="status", error_message="message",  # the REST API's {"status": "FAILURE", "message"} (unconfirmed)
    volatile=("lastPylumInfoMsgUpdateTime",),  # a heartbeat: it moves on every check-in
    page_size=1000, max_page_size=30000,
)

STATES = {"online": "online", "offline": "offline", "stale": "stale", "archived": "archived"}


def _state(raw: dict[str, Any]) -> str | None:
    status = (_text(raw.get("status")) or "").strip().lower()
    state = STATES.get(status, status or None)  # a status Cybereason adds later is kept as it reads
    return "isolated" if raw.get("isolated") is True and state == "online" else state


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    name = _text(raw.get("machineName"))
    fqdn = _text(raw.get("fqdn"))
    ips = [_text(raw.get("internalIpAddress")), _text(raw.get("externalIpAddress"))]
    groups = [g for g in (_text(raw.get("groupName")), _text(raw.get("policyName"))) if g]
    return {
        "uid": str(raw["sensorId"]),
        "hostname": fqdn or name,
        "name": name or fqdn,
        "os_name": _text(raw.get("osType")),
        "os_version": _text(raw.get("osVersionType")),
        "type": None,
        "ips": [ip for ip in ips if ip],
        "macs": [],
        "state": _state(raw),
        "domain": fqdn.partition(".")[2] or None if fqdn else None,
        "serial_number": _text(raw.get("serialNumber")),
        "agent_version": _text(raw.get("version")),
        "groups": groups,
        "first_seen_time": _time(raw.get("firstSeenTime")),
        "last_seen_time": _time(raw.get("lastPylumInfoMsgUpdateTime")),
        "modified_time": None,
    }


def _time(value: Any) -> str | None:
    try:
        return utc_iso(value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None)
    except ValueError:  # a time that does not parse is no time, never a dropped sensor
        return None


CONNECTOR = declare(DECLARATION, normalize)
