"""ArcSight ESM events from a saved query viewer (vendor-apis-2.md §24): a login token (`POST
/www/core-service/rest/LoginService/login` form `login`, `password` with `Accept: application/json` →
`log.loginResponse.log.return`), owned by the task and sent as the `authToken` query parameter, logged out with
`POST .../LoginService/logout` form `authToken` (auth/owned_session.py); `getMatrixData` answers the whole
matrix, its keys namespaced by ESM version (hooks.py). The query viewer must have "Event ID" and "Start Time"
columns (as XSOAR requires); its own time condition bounds what comes, the cursor drops rows already seen."""
from __future__ import annotations

from typing import Any

from connectors.arcsight_esm import hooks
from connectors.machinery import Declaration, HookPaging, SessionLogin, declare
from connectors.machinery.auth.session import Logout
from connectors.machinery.values import instant as _time
from connectors.machinery.values import text as _text

LOGIN = "/www/core-service/rest/LoginService/"

DECLARATION = Declaration(
    type="arcsight_esm", title="ArcSight ESM events (query viewer)", category="siem", kind="event",
    stream="events",
    # base_url: https://<esm>:8443
    auth=SessionLogin(path=LOGIN + "login", form={"login": "{username}", "password": "{password}"},
                      headers={"Accept": "application/json"}, token="log.loginResponse.log.return",
                      param="authToken", logout=Logout(path=LOGIN + "logout", method="POST",
                                                       form={"authToken": "{session}"})),
    paging=HookPaging(style="one query viewer matrix (getMatrixData), no paging"),
    id_field="Event ID", cursor_field="Start Time", cursor_format="epoch_ms",
    error_code="errorCode", error_message="errorMessage",  # ESM's JSON error envelope (shape unconfirmed in §24)
    page_size=1000, max_page_size=100000,  # not sent: the matrix comes whole
    config_fields={"query_viewer_id": ...},
)

# ArcSight priority 0-10 (Very Low 0-2, Low 3-4, Medium 5-6, High 7-8, Very High 9-10), or its words
WORDS = {"very-high": "critical", "very high": "critical", "high": "high", "medium": "medium", "low": "low",
         "very-low": "info", "very low": "info"}
SEVERITY_FALLBACK = "medium"


def severity(value: Any) -> str:
    text = (_text(value) or "").strip().lower()
    try:
        n = float(text)
    except ValueError:
        return WORDS.get(text, SEVERITY_FALLBACK)
    return "critical" if n >= 9 else "high" if n >= 7 else "medium" if n >= 5 else "low" if n >= 3 else "info"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": str(raw["Event ID"]),
        "title": _text(raw.get("Name")) or f"ArcSight event {raw['Event ID']}",
        "severity": severity(raw.get("Priority")),
        "time": _time(raw.get("Start Time")) or _time(raw.get("End Time")),
        "host": _text(raw.get("Target Host Name")) or _text(raw.get("Target Address")),
        "user": _text(raw.get("Source User Name")) or _text(raw.get("Target User Name")),
        "status": None,
    }


CONNECTOR = declare(DECLARATION, normalize, hooks, hook_fields=("query_viewer_id",))
