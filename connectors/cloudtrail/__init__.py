"""AWS CloudTrail management events: LookupEvents over the AWS JSON 1.1 protocol, SigV4 (botocore; an assumed
role with an external id where configured), `NextToken` in the body, throttled as HTTP 400
ThrottlingException at 2 requests/s (vendor-apis-2.md §29). One region per connector (global services' events
land in us-east-1). The hook starts each incremental window LAG_SECONDS early: events arrive minutes late."""
from __future__ import annotations

from typing import Any

import orjson

from connectors.cloudtrail import hooks
from connectors.machinery import Declaration, Request, SigV4, TokenPaging, declare
from nexus_sync.models import utc_iso

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
CORAL = "com.amazon.coral.service#"  # AWS JSON errors name common types by their coral namespace

DECLARATION = Declaration(
    type="cloudtrail", title="AWS CloudTrail management events", category="cloud", kind="event", stream="events",
    auth=SigV4(service="cloudtrail"),
    request=Request(method="POST", path="/", json_body={},
                    headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
                    since_body={"StartTime": "{since_epoch}"}),  # inclusive; JSON timestamps are epoch seconds
    # NextToken goes back with otherwise identical parameters: the body is rebuilt the same for every page
    paging=TokenPaging(token="NextToken", param="NextToken", where="body", size_param="MaxResults"),
    records="Events", id_field="EventId", cursor_field="EventTime", cursor_format="epoch_s",
    error_code="__type", error_message="message",
    throttle_codes=("ThrottlingException", "com.amazon.coral.availability#ThrottlingException"),
    auth_codes=tuple(f"{ns}{code}" for ns in ("", CORAL) for code in (
        "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
        "MissingAuthenticationTokenException", "ExpiredTokenException")),
    rate_limit_per_minute=120,  # LookupEvents: 2 requests/s per account per region
    page_size=50, max_page_size=50,
    config_fields={"region": ...},
)


def detail(raw: dict[str, Any]) -> dict[str, Any]:
    """The event's own record: `CloudTrailEvent` is a JSON string inside the JSON (parsed a second time);
    {} where it is missing or unreadable (the listing's fields still describe the event)."""
    inner = raw.get("CloudTrailEvent")
    if isinstance(inner, (str, bytes)):
        try:
            inner = orjson.loads(inner)
        except orjson.JSONDecodeError:
            return {}
    return inner if isinstance(inner, dict) else {}


def _text(value: Any) -> str | None:
    """A scalar as text; a list's first scalar; None for nothing."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)), None)
    return None if value is None or isinstance(value, (dict, bool)) else str(value) or None


def outcome(event: dict[str, Any]) -> str:
    """FAILURE for a refused call (errorCode) or a failed console sign-in, else SUCCESS."""
    response = event.get("responseElements")
    failed_login = isinstance(response, dict) and response.get("ConsoleLogin") == "Failure"
    return "FAILURE" if event.get("errorCode") or failed_login else "SUCCESS"


def severity(raw: dict[str, Any], event: dict[str, Any]) -> str:
    """CloudTrail rates nothing: the root user's activity is high, a refused call or failed sign-in medium, a
    change (not read-only) low, a read info. An unknown ReadOnly value counts as a change."""
    identity = event.get("userIdentity")
    if isinstance(identity, dict) and identity.get("type") == "Root":
        return "high"
    if outcome(event) == "FAILURE":
        return "medium"
    read_only = raw.get("ReadOnly", event.get("readOnly"))
    return "info" if str(read_only).lower() == "true" else "low"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    event = detail(raw)
    found = event.get("userIdentity")
    identity: dict[str, Any] = found if isinstance(found, dict) else {}
    name = _text(raw.get("EventName")) or _text(event.get("eventName")) or "unknown"
    source = _text(raw.get("EventSource")) or _text(event.get("eventSource"))
    return {
        "uid": raw["EventId"],
        "title": f"{name} ({source})" if source else name,
        "severity": severity(raw, event),
        # the listing's EventTime is epoch seconds; the inner record's eventTime ISO-8601 Z
        "time": utc_iso(raw.get("EventTime")) or utc_iso(event.get("eventTime")),
        "host": _text(event.get("sourceIPAddress")),
        "user": _text(raw.get("Username")) or _text(identity.get("arn")) or _text(identity.get("principalId")),
        "status": outcome(event),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks)
