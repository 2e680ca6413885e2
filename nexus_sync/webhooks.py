"""Signed webhooks: each subscriber gets the events it asked for, signed with HMAC-SHA256.

Subscribers live in NEXUS_WEBHOOKS_FILE (YAML):
    subscribers:
      - name: dashboard            # its signing secret is the credential store's `webhook-dashboard.secret`
        url: https://dash.example/hooks/nexus   # https; http:// only to loopback or with allow_insecure_http
        events: [connector.sync.complete, connector.sync.alert]
        format: json               # or slack: {"text": ...} for a Slack-compatible incoming webhook
      - name: soc
        url: https://soc.example/hooks/changes
        events: [record.changed]   # a synced record's watched fields changed (one event per record)
        kinds: [user, asset]       # optional filters of record.changed: only these kinds,
        fields: [status, state]    #   only when one of these fields changed,
        min_severity: 70           #   only records scoring at least this (0-100, nexus_sync.severity)
record.changed goes only to a subscriber that lists it in `events` (the default list leaves it out, so an
existing subscriber is never flooded with per-record events); the filters narrow it further and are refused
on a subscriber that does not list it.
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
from nexus_sync.models import DATA_MODELS
from nexus_sync.urls import require_https

TOLERANCE = 300  # seconds a signed delivery stays acceptable
_NAMESPACE = uuid.UUID("0c7e4a6e-1d2b-4f39-9a51-5e8d3b9f2a10")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
RECORD_CHANGED = "record.changed"


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    url: HttpUrl
    events: list[str] = ["connector.sync.complete", "connector.sync.alert"]
    format: Literal["json", "slack"] = "json"
    allow_insecure_http: bool = Field(False, description="allow http:// to a host that is not loopback")
    kinds: list[str] | None = Field(None, description="record.changed: only records of these kinds")
    fields: list[str] | None = Field(None, description="record.changed: only when one of these fields changed")
    min_severity: int = Field(0, ge=0, le=100, description="record.changed: only records scoring at least this")

    @model_validator(mode="after")
    def _https_only(self) -> "Subscriber":
        require_https(str(self.url), "url", self.allow_insecure_http)
        return self

    @model_validator(mode="after")
    def _filters_of_record_changed(self) -> "Subscriber":
        if (self.kinds is not None or self.fields is not None or self.min_severity) \
                and RECORD_CHANGED not in self.events:
            raise ValueError(f"kinds, fields and min_severity filter {RECORD_CHANGED} events: add {RECORD_CHANGED} "
                             "to events")
        unknown = set(self.kinds or ()) - set(DATA_MODELS)
        if unknown:
            raise ValueError(f"kinds: unknown {sorted(unknown)}; known: {sorted(DATA_MODELS)}")
        watched = {f for model in DATA_MODELS.values() for f in model.WATCHED}
        if set(self.fields or ()) - watched:
            raise ValueError(f"fields: {sorted(set(self.fields or ()) - watched)} are watched by no kind; "
                             f"watched: {sorted(watched)}")
        return self

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether this subscriber takes the event: its type listed, and a record.changed one past the filters."""
        if event.get("event_type") not in self.events:
            return False
        if event["event_type"] != RECORD_CHANGED:
            return True
        return ((self.kinds is None or event["kind"] in self.kinds)
                and (self.fields is None or not set(self.fields).isdisjoint(event["changes"]))
                and (event.get("severity") or 0) >= self.min_severity)


class DeliveryFailed(TransientError):
    """A delivery that did not get a 2xx: `status` is the answer's code, None when none came."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status

    @property
    def outage(self) -> bool:
        """The subscriber is away or overloaded (no answer, 408, 429, 5xx): wait for it, never give up."""
        return self.status is None or self.status in (408, 429) or self.status >= 500


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


def subscribers_for(event_type: str, event: dict[str, Any] | None = None) -> list[Subscriber]:
    """The subscribers of an event type; given the event itself, only those whose filters let it through."""
    from nexus_sync.config import get_settings

    return [s for s in load(get_settings().webhooks_file)
            if event_type in s.events and (event is None or s.wants(event))]


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
    if event.get("event_type") == RECORD_CHANGED:
        what = ", ".join(f"{f}: {c.get('before')} → {c.get('after')}" for f, c in event.get("changes", {}).items())
        return (f"{event.get('kind')} {event.get('source_id')} of {event.get('connector')} changed "
                f"[{event.get('severity_label')} {event.get('severity')}]: {what}")
    rec = event.get("records", {})
    return (f"sync {event.get('sync_id')} of {event.get('connector_id')}: {event.get('status')} — "
            f"{rec.get('new', 0)} new, {rec.get('updated', 0)} updated, {rec.get('touched', 0)} unchanged")


def deliver(subscriber_name: str, event: dict[str, Any], timeout: float = 10.0) -> int:
    """POST one event to one subscriber; TransientError (so: retry, then dead letter) unless 2xx.
    Redirects are not followed: a 3xx is a failure like any other non-2xx answer. An event the subscriber's
    filters exclude (as its YAML reads now) is not sent: 0."""
    from nexus_sync.config import get_settings
    from nexus_sync.credentials import get_store

    subs = {s.name: s for s in load(get_settings().webhooks_file)}
    if subscriber_name not in subs:
        raise ConfigError(f"no webhook subscriber {subscriber_name!r} in NEXUS_WEBHOOKS_FILE")
    sub = subs[subscriber_name]
    if event.get("event_type") == RECORD_CHANGED and not sub.wants(event):
        return 0
    secret = get_store().get(f"webhook-{sub.name}", ("secret",))["secret"].get_secret_value()
    body = orjson.dumps({"text": slack_text(event)} if sub.format == "slack" else event)
    ts, delivery = str(int(time.time())), delivery_id(sub.name, event)
    headers = {"Content-Type": "application/json", "X-Nexus-Event": event.get("event_type", ""),
               "X-Nexus-Timestamp": ts, "X-Nexus-Delivery": delivery,
               "X-Nexus-Signature": sign(secret, ts, delivery, body)}
    try:
        resp = requests.post(str(sub.url), data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise DeliveryFailed(f"webhook {sub.name}: {type(exc).__name__}", None) from None
    if 300 <= resp.status_code < 400:
        raise DeliveryFailed(f"webhook {sub.name}: HTTP {resp.status_code} redirect not followed "
                             "(point the subscriber's url at the final address)", resp.status_code)
    if not 200 <= resp.status_code < 300:
        raise DeliveryFailed(f"webhook {sub.name}: HTTP {resp.status_code}", resp.status_code)
    return resp.status_code
