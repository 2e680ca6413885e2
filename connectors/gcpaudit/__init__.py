"""GCP Cloud Audit Logs through Cloud Logging `entries:list` (vendor-apis.md §31): a Google service account (JWT
grant by google-auth), POST with `pageToken` in the body, nanosecond timestamps.

Entries arrive late (`receiveTimestamp` after `timestamp`), so the cursor is `receiveTimestamp`, kept to the
nanosecond (cursor format `iso_ns`): the next sync asks for `receiveTimestamp > cursor`, which re-reads nothing
it has and misses no late entry. A row is Google's own dedupe key: logName, timestamp and insertId."""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from connectors import cursors
from connectors.machinery import Declaration, GoogleServiceAccount, Request, TokenPaging, declare
from connectors.machinery.values import text as _text
from nexus_sync.http import dig
from nexus_sync.models import utc_iso

AUDIT_LOGS = 'logName:"cloudaudit.googleapis.com"'

DECLARATION = Declaration(
    type="gcpaudit", title="GCP Cloud Audit Logs", category="cloud", kind="event", stream="audit_logs",
    # base_url: https://logging.googleapis.com
    auth=GoogleServiceAccount(scopes=("https://www.googleapis.com/auth/logging.read",
                                      "https://www.googleapis.com/auth/cloud-platform")),
    request=Request(method="POST", path="/v2/entries:list",
                    json_body={"resourceNames": "{resource_names}", "filter": "{log_filter}",
                               "orderBy": "timestamp asc"},
                    since_body={"filter": '({log_filter}) AND receiveTimestamp>"{since}"'}),
    paging=TokenPaging(token="nextPageToken", param="pageToken", where="body", size_param="pageSize"),
    records="entries", id_field="insertId", cursor_field="receiveTimestamp", cursor_format="iso_ns",
    error_code="error.status", error_message="error.message",
    rate_limit_per_minute=60,  # entries.list read quota per project (about 60 calls/min)
    page_size=1000, max_page_size=1000,
    # resource_names: projects/<id>, organizations/<id>, folders/<id>, billingAccounts/<id> (at most 100)
    config_fields={"resource_names": [], "log_filter": AUDIT_LOGS},
)

# LogSeverity: names in JSON, numbers in some exports
LOG_SEVERITY = {"DEFAULT": "info", "DEBUG": "info", "INFO": "info", "NOTICE": "low", "WARNING": "medium",
                "ERROR": "high", "CRITICAL": "critical", "ALERT": "critical", "EMERGENCY": "critical"}
LOG_SEVERITY_NUMBERS = {0: "DEFAULT", 100: "DEBUG", 200: "INFO", 300: "NOTICE", 400: "WARNING", 500: "ERROR",
                        600: "CRITICAL", 700: "ALERT", 800: "EMERGENCY"}
SEVERITY_FALLBACK = "medium"  # a value Google adds later (raw_data keeps it)
# google.rpc.Code of an audited call's `status.code`
RPC_CODES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
             "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
             "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED")


def severity(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = LOG_SEVERITY_NUMBERS.get(value)
    text = (_text(value) or "DEFAULT").upper()
    return LOG_SEVERITY.get(text, SEVERITY_FALLBACK)


def status(payload: dict[str, Any]) -> str | None:
    """The audited call's outcome: OK without a status (or code 0), else the google.rpc.Code name."""
    if not payload:
        return None
    code = dig(payload, "status.code")
    if code in (None, 0, "0", "OK"):
        return "OK"
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(RPC_CODES):
        return RPC_CODES[code]
    return _text(code) if _text(code) in RPC_CODES else "UNKNOWN"


def log_id(log_name: str) -> str:
    """`projects/p1/logs/cloudaudit.googleapis.com%2Factivity` → `cloudaudit.googleapis.com/activity`."""
    return unquote(log_name.rpartition("/logs/")[2] or log_name)


def entry_key(raw: dict[str, Any]) -> str:
    """Google's dedupe key: the log, the timestamp (to the nanosecond) and insertId."""
    stamp = raw.get("timestamp")
    try:
        stamp = cursors.canonical(stamp, "iso_ns")
    except ValueError:  # no usable time: the text as sent still tells entries apart
        pass
    return f"{raw.get('logName')}|{stamp}|{raw['insertId']}"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = raw["protoPayload"] if isinstance(raw.get("protoPayload"), dict) else {}
    name = _text(raw.get("logName")) or ""
    method = _text(payload.get("methodName"))
    service = _text(payload.get("serviceName"))
    return {
        "uid": entry_key(raw),
        "title": f"{service} {method}" if service and method else method or log_id(name) or "log entry",
        "severity": severity(raw.get("severity")),
        "time": utc_iso(_text(raw.get("timestamp")) or _text(raw.get("receiveTimestamp"))),
        "host": _text(dig(payload, "requestMetadata.callerIp")),  # where the call came from
        "user": _text(dig(payload, "authenticationInfo.principalEmail")),
        "status": status(payload),
    }


class GcpAuditLogs(declare(DECLARATION, normalize)):  # type: ignore[misc]
    """The declared connector, its rows keyed by entry_key."""

    def source_id(self, raw: dict[str, Any]) -> str:
        return entry_key(raw)


CONNECTOR = GcpAuditLogs
