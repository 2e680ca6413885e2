"""The normalized data model (DESIGN §4): typed record data per kind, identity and content hashes."""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["asset", "event", "vulnerability", "user", "incident"]
SEVERITIES = ("info", "low", "medium", "high", "critical")
EVENT_WINDOW_SECONDS = 300  # the spec: the same event within 5 minutes is one event


def utc_iso(value: Any) -> str | None:
    """Any vendor timestamp (ISO string with any fraction/offset, epoch s or ms) → UTC ISO-8601 'Z'."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        ts = value / 1000 if value > 1e11 else value
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        text = str(value).strip()
        # Python < 3.12 parses at most 6 fractional digits; MDE sends 7.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def canonical_mac(value: str | None) -> str | None:
    """aa-bb-cc-dd-ee-ff, AABBCCDDEEFF, aa:bb:… → aa:bb:cc:dd:ee:ff."""
    if not value:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", value).lower()
    if len(digits) != 12:
        raise ValueError(f"not a MAC address: {value!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def canonical_ip(value: str | None) -> str | None:
    if not value:
        return None
    return str(ipaddress.ip_address(value.strip()))


def canonical_hostname(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().rstrip(".").lower()


def severity(value: Any) -> str:
    text = str(value).strip().lower()
    aliases = {"informational": "info", "none": "info", "moderate": "medium", "severe": "high",
               "important": "high", "urgent": "critical", "1": "low", "2": "medium", "3": "high", "4": "critical"}
    text = aliases.get(text, text)
    if text not in SEVERITIES:
        raise ValueError(f"unknown severity {value!r}")
    return text


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Asset(_Data):
    """OCSF Device (Device Inventory Info 5001)."""

    uid: str
    hostname: str | None = None
    name: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    type: str | None = None
    ips: list[str] = Field(default_factory=list)
    macs: list[str] = Field(default_factory=list)
    state: str | None = None
    domain: str | None = None
    serial_number: str | None = None
    agent_version: str | None = None
    cloud: dict[str, str] | None = None
    groups: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    first_seen_time: str | None = None
    last_seen_time: str | None = None
    modified_time: str | None = None

    _norm_host = field_validator("hostname")(lambda cls, v: canonical_hostname(v))
    _norm_ips = field_validator("ips")(lambda cls, v: sorted({canonical_ip(i) for i in v if i}))
    _norm_macs = field_validator("macs")(lambda cls, v: sorted({canonical_mac(m) for m in v if m}))


class User(_Data):
    """OCSF User (User Inventory Info 5003)."""

    uid: str
    email: str
    username: str | None = None
    full_name: str | None = None
    status: str | None = None
    mfa: bool | None = None
    created_time: str | None = None
    last_login_time: str | None = None
    modified_time: str | None = None
    groups: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip().lower()
        if "@" not in v:
            raise ValueError(f"not an email address: {v!r}")
        return v


class Vulnerability(_Data):
    """OCSF Vulnerability Finding 2002."""

    uid: str
    cve: str
    asset_uid: str
    title: str | None = None
    severity: str
    cvss: float | None = None
    status: str | None = None
    first_seen_time: str | None = None
    last_seen_time: str | None = None

    _sev = field_validator("severity", mode="before")(lambda cls, v: severity(v))


class SecurityEvent(_Data):
    """OCSF Detection Finding 2004."""

    uid: str
    title: str
    severity: str
    time: str
    host: str | None = None
    user: str | None = None
    status: str | None = None

    _sev = field_validator("severity", mode="before")(lambda cls, v: severity(v))


class Incident(_Data):
    """OCSF Incident Finding 2005."""

    uid: str
    title: str
    severity: str
    time: str
    status: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)

    _sev = field_validator("severity", mode="before")(lambda cls, v: severity(v))


DATA_MODELS: dict[str, type[_Data]] = {
    "asset": Asset, "user": User, "vulnerability": Vulnerability, "event": SecurityEvent, "incident": Incident,
}


def identity_key(kind: str, source: str, data: _Data) -> str:
    """The dedup identity of the spec, per kind (MD5, 32 hex)."""
    if kind == "asset":
        parts = (kind, source, data.uid)
    elif kind == "user":
        parts = (kind, source, data.email)
    elif kind == "vulnerability":
        parts = (kind, source, data.cve, data.asset_uid)
    elif kind == "event":
        epoch = datetime.fromisoformat(data.time.replace("Z", "+00:00")).timestamp()
        parts = (kind, source, data.uid, str(int(epoch // EVENT_WINDOW_SECONDS)))
    else:  # incident
        parts = (kind, source, data.uid)
    return hashlib.md5("\x1f".join(parts).encode()).hexdigest()


# fields that change on every observation (a check-in) without the thing itself changing; the vendor's
# modification time is NOT one of them: when the vendor says the record changed, we store the new version
VOLATILE_FIELDS = frozenset({"last_seen_time", "last_seen"})


def content_hash(data: dict[str, Any]) -> str:
    stable = {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}
    return hashlib.md5(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RecordMetadata(BaseModel):
    sync_id: str
    sync_run: int
    confidence: float = 1.0
    is_partial: bool = False


class NormalizedRecord(BaseModel):
    id: uuid.UUID
    type: Kind
    source: str
    source_id: str
    tenant_id: uuid.UUID
    data: dict[str, Any]
    hash: str  # identity (the spec's dedup hash)
    content_hash: str
    ingested_at: str
    last_seen: str
    raw_data: dict[str, Any]
    metadata: RecordMetadata
