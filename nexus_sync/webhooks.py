"""Signed webhooks: each subscriber gets the events it asked for, signed with HMAC-SHA256.

Subscribers live in NEXUS_WEBHOOKS_FILE (YAML):
    subscribers:
      - name: dashboard            # its signing secret is the credential store's `webhook-dashboard.secret`
        url: https://dash.example/hooks/nexus   # https; http:// only to loopback or with allow_insecure_http
        events: [connector.sync.complete, connector.sync.alert]
        format: json               # or slack: {"text": ...} for a Slack-compatible incoming webhook
Headers: X-Nexus-Event, X-Nexus-Timestamp (unix seconds), X-Nexus-Delivery (a UUID, the same on every retry
of one delivery), X-Nexus-Signature: sha256=HMAC(secret, "<timestamp>.<delivery id>.<body>").
A receiver checks the signature and the timestamp (`verify`) and remembers the delivery ids it accepted
for as long as the timestamp tolerance, refusing one seen before (`ReplayGuard` does both): without that,
a captured delivery replays successfully inside the window. Redirects are never followed (a 3xx fails).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import orjson
import requests
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from nexus_sync.errors import ConfigError, TransientError
from nexus_sync.urls import require_https

TOLERANCE = 300  # seconds a signed delivery stays acceptable
_NAMESPACE = uuid.UUID("0c7e4a6e-1d2b-4f39-9a51-5e8d3b9f2a10")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    url: HttpUrl
    events: list[str] = ["connector.sync.complete", "connector.sync.alert"]
    format: Literal["json", "slack"] = "json"
    allow_insecure_http: bool = Field(False, description="allow http:// to a host that is not loopback")

    @model_validator(mode="after")
    def _https_only(self) -> "Subscriber":
        require_https(str(self.url), "url", self.allow_insecure_http)
        return self


def _problems(exc: ValidationError) -> str:
    """Field and message of each error, without the input (a Slack hook URL is itself a secret)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'subscriber'}: {e['msg']}" for e in exc.errors())


def load(path: Path | None) -> list[Subscriber]:
    if path is None:
        return []
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): not valid YAML: {exc}") from None
    entries = doc.get("subscribers") or [] if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): expected a top-level `subscribers:` list")
    subs = []
    for i, entry in enumerate(entries):
        try:
            subs.append(Subscriber.model_validate(entry))
        except ValidationError as exc:
            raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): subscribers[{i}]: {_problems(exc)}") from None
    return subs


def subscribers_for(event_type: str) -> list[Subscriber]:
    from nexus_sync.config import get_settings

    return [s for s in load(get_settings().webhooks_file) if event_type in s.events]


def delivery_id(subscriber_name: str, event: dict[str, Any]) -> str:
    """One event to one subscriber: the same id on every retry, so a receiver can drop duplicates."""
    return str(uuid.uuid5(_NAMESPACE, subscriber_name + "\n" + orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
                          .decode()))


def _canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


def sign(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """sha256=HMAC(secret, "<timestamp>.<delivery id>.<body>"); the id must be a canonical UUID (no dots)."""
    if not _canonical_uuid(delivery):
        raise ValueError("delivery id must be a canonical UUID")
    message = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, delivery: str | None, body: bytes, signature: str | None,
           tolerance: float = TOLERANCE, now: float | None = None) -> bool:
    """What a receiver does: a numeric timestamp within `tolerance`, a canonical UUID delivery id, and a
    constant-time signature compare. Never raises: anything malformed is False. It cannot tell a replay
    inside the window from the first delivery: remember accepted delivery ids (see ReplayGuard)."""
    if not (isinstance(timestamp, str) and _TIMESTAMP_RE.fullmatch(timestamp) and isinstance(delivery, str)
            and _canonical_uuid(delivery) and isinstance(signature, str) and isinstance(body, bytes)):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, timestamp, delivery, body)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


class ReplayGuard:
    """A receiver's check: `verify` plus the delivery ids accepted inside the tolerance window; a delivery
    id seen before is refused. (Our sender retries with the same id when an answer is lost: a refused
    delivery that still passes `verify` is such a repeat, best answered 2xx without acting on it again.)
    Bounded: when `max_ids` unexpired ids are held, new deliveries are refused (fail closed; the sender
    retries) rather than forgetting an id that could then be replayed."""

    def __init__(self, secret: str, tolerance: float = TOLERANCE, max_ids: int = 100_000):
        self.secret, self.tolerance, self.max_ids = secret, tolerance, max_ids
        self._seen: OrderedDict[str, float] = OrderedDict()  # delivery id → when it may be forgotten
        self._lock = threading.Lock()

    def accept(self, timestamp: str | None, delivery: str | None, body: bytes, signature: str | None,
               now: float | None = None) -> bool:
        """True once for a fresh, correctly signed delivery; False for a replay, a forgery or a stale one."""
        now = time.time() if now is None else now
        if not verify(self.secret, timestamp, delivery, body, signature, self.tolerance, now):
            return False
        assert timestamp is not None and delivery is not None  # verify refuses a delivery without them
        with self._lock:
            # an id is forgotten once its timestamp is past the window, when verify refuses it anyway
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if delivery in self._seen or len(self._seen) >= self.max_ids:
                return False
            self._seen[delivery] = int(timestamp) + self.tolerance
            return True


def slack_text(event: dict[str, Any]) -> str:
    if event.get("event_type") == "connector.sync.alert":
        return f":rotating_light: [{event.get('severity', '').upper()}] {event.get('message')}"
    rec = event.get("records", {})
    return (f"sync {event.get('sync_id')} of {event.get('connector_id')}: {event.get('status')} — "
            f"{rec.get('new', 0)} new, {rec.get('updated', 0)} updated, {rec.get('touched', 0)} unchanged")


def deliver(subscriber_name: str, event: dict[str, Any], timeout: float = 10.0) -> int:
    """POST one event to one subscriber; TransientError (so: retry, then dead letter) unless 2xx.
    Redirects are not followed: a 3xx is a failure like any other non-2xx answer."""
    from nexus_sync.config import get_settings
    from nexus_sync.credentials import get_store

    subs = {s.name: s for s in load(get_settings().webhooks_file)}
    if subscriber_name not in subs:
        raise ConfigError(f"no webhook subscriber {subscriber_name!r} in NEXUS_WEBHOOKS_FILE")
    sub = subs[subscriber_name]
    secret = get_store().get(f"webhook-{sub.name}", ("secret",))["secret"].get_secret_value()
    body = orjson.dumps({"text": slack_text(event)} if sub.format == "slack" else event)
    ts, delivery = str(int(time.time())), delivery_id(sub.name, event)
    headers = {"Content-Type": "application/json", "X-Nexus-Event": event.get("event_type", ""),
               "X-Nexus-Timestamp": ts, "X-Nexus-Delivery": delivery,
               "X-Nexus-Signature": sign(secret, ts, delivery, body)}
    try:
        resp = requests.post(str(sub.url), data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise TransientError(f"webhook {sub.name}: {type(exc).__name__}") from None
    if 300 <= resp.status_code < 400:
        raise TransientError(f"webhook {sub.name}: HTTP {resp.status_code} redirect not followed "
                             "(point the subscriber's url at the final address)")
    if not 200 <= resp.status_code < 300:
        raise TransientError(f"webhook {sub.name}: HTTP {resp.status_code}")
    return resp.status_code
