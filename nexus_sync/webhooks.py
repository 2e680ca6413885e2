"""Signed webhooks: each subscriber gets the events it asked for, signed with HMAC-SHA256.

Subscribers live in NEXUS_WEBHOOKS_FILE (YAML):
    subscribers:
      - name: dashboard            # its signing secret is the credential store's `webhook-dashboard.secret`
        url: https://dash.example/hooks/nexus
        events: [connector.sync.complete, connector.sync.alert]
        format: json               # or slack: {"text": ...} for a Slack-compatible incoming webhook
Headers: X-Nexus-Event, X-Nexus-Timestamp, X-Nexus-Signature: sha256=HMAC(secret, "<timestamp>.<body>").
"""
from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any, Literal

import orjson
import requests
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from nexus_sync.errors import ConfigError, TransientError


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    url: HttpUrl
    events: list[str] = ["connector.sync.complete", "connector.sync.alert"]
    format: Literal["json", "slack"] = "json"


def load(path: Path | None) -> list[Subscriber]:
    if path is None:
        return []
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        return [Subscriber.model_validate(s) for s in doc.get("subscribers", [])]
    except FileNotFoundError:
        raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): no such file") from None
    except (yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise ConfigError(f"{path} (NEXUS_WEBHOOKS_FILE): {exc}") from None


def subscribers_for(event_type: str) -> list[Subscriber]:
    from nexus_sync.config import get_settings

    return [s for s in load(get_settings().webhooks_file) if event_type in s.events]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300) -> bool:
    """What a receiver does: constant-time compare, and refuse replays of old deliveries."""
    fresh = abs(time.time() - float(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def slack_text(event: dict[str, Any]) -> str:
    if event.get("event_type") == "connector.sync.alert":
        return f":rotating_light: [{event.get('severity', '').upper()}] {event.get('message')}"
    rec = event.get("records", {})
    return (f"sync {event.get('sync_id')} of {event.get('connector_id')}: {event.get('status')} — "
            f"{rec.get('new', 0)} new, {rec.get('updated', 0)} updated, {rec.get('touched', 0)} unchanged")


def deliver(subscriber_name: str, event: dict[str, Any], timeout: float = 10.0) -> int:
    """POST one event to one subscriber; TransientError (so: retry, then dead letter) unless 2xx."""
    from nexus_sync.config import get_settings
    from nexus_sync.credentials import get_store

    subs = {s.name: s for s in load(get_settings().webhooks_file)}
    if subscriber_name not in subs:
        raise ConfigError(f"no webhook subscriber {subscriber_name!r} in NEXUS_WEBHOOKS_FILE")
    sub = subs[subscriber_name]
    secret = get_store().get(f"webhook-{sub.name}", ("secret",))["secret"].get_secret_value()
    body = orjson.dumps({"text": slack_text(event)} if sub.format == "slack" else event)
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Nexus-Event": event.get("event_type", ""),
               "X-Nexus-Timestamp": ts, "X-Nexus-Signature": sign(secret, ts, body)}
    try:
        resp = requests.post(str(sub.url), data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise TransientError(f"webhook {sub.name}: {type(exc).__name__}") from None
    if not 200 <= resp.status_code < 300:
        raise TransientError(f"webhook {sub.name}: HTTP {resp.status_code}")
    return resp.status_code
