"""The normalized data model (DESIGN §4): typed record data per kind, identity and content hashes."""
from __future__ import annotations

import hashlib
import ipaddress
import re
import types
import typing
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Literal

import orjson
import xxhash
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nexus_sync.severity import LABELS, rate

Kind = Literal["asset", "event", "vulnerability", "user", "incident"]
SEVERITIES = LABELS
EVENT_WINDOW_SECONDS = 300  # the spec: the same event within 5 minutes is one event


_UTC = timezone.utc
_CANONICAL_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def utc_iso(value: Any) -> str | None:
    """Any vendor timestamp (ISO string with any fraction/offset, epoch s or ms) → UTC ISO-8601 'Z'."""
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) == 20 and _CANONICAL_UTC.fullmatch(value):
            datetime.fromisoformat(value)  # already the output form: only prove it is a real instant
            return value
        try:  # the common case: Python 3.11 reads 'Z', offsets and 7-digit fractions itself
            dt = datetime.fromisoformat(value)
        except ValueError:
            dt = _parse_iso_lenient(value)
    elif isinstance(value, (int, float)):
        ts = value / 1000 if value > 1e11 else value
        dt = datetime.fromtimestamp(ts, tz=_UTC)
    elif isinstance(value, datetime):
        dt = value
    else:
        dt = _parse_iso_lenient(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    elif dt.tzinfo is not _UTC:
        dt = dt.astimezone(_UTC)
    return dt.isoformat()[:-6] + "Z"  # isoformat of a UTC datetime ends in '+00:00'


def _parse_iso_lenient(text: str) -> datetime:
    text = text.strip()
    # older Pythons parse at most 6 fractional digits (MDE sends 7); padding blanks are vendor noise
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                   r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")
_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")


def canonical_mac(value: str | None) -> str | None:
    """aa-bb-cc-dd-ee-ff, AABBCCDDEEFF, aa:bb:… → aa:bb:cc:dd:ee:ff."""
    if not value:
        return None
    digits = value.replace(":", "").replace("-", "")
    if len(digits) != 12 or not _HEX.issuperset(digits):
        digits = _NOT_HEX.sub("", value)
        if len(digits) != 12:
            raise ValueError(f"not a MAC address: {value!r}")
    d = digits.lower()
    return f"{d[0:2]}:{d[2:4]}:{d[4:6]}:{d[6:8]}:{d[8:10]}:{d[10:12]}"


def canonical_ip(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    if _IPV4.fullmatch(text):
        return text  # a dotted quad without leading zeros is already canonical
    return str(ipaddress.ip_address(text))


def canonical_hostname(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().rstrip(".").lower()


_SEVERITY_ALIASES = {"informational": "info", "none": "info", "moderate": "medium", "severe": "high",
                     "important": "high", "urgent": "critical", "1": "low", "2": "medium", "3": "high",
                     "4": "critical",
                     # Jira's classic priority scheme (projects that never moved to Highest…Lowest)
                     "blocker": "critical", "major": "high", "minor": "low", "trivial": "info"}


def severity(value: Any) -> str:
    text = str(value).strip().lower()
    text = _SEVERITY_ALIASES.get(text, text)
    if text not in SEVERITIES:
        raise ValueError(f"unknown severity {value!r}")
    return text


SEVERITY = severity  # for the models' tables, whose own `severity` field hides the function from mypy


def _canonical_set(canonical: Callable[[str], str | None]) -> Callable[[list[str]], list[str]]:
    """A list normalizer: each non-empty value made canonical, values it maps to None dropped, duplicates
    dropped, sorted."""

    def normalize(values: list[str]) -> list[str]:
        if len(values) == 1:  # the common case, without the set and the sort
            one = canonical(values[0]) if values[0] else None
            return [one] if one else []
        return sorted({c for c in map(canonical, filter(None, values)) if c})

    return normalize


def device_ip(value: str | None) -> str | None:
    """canonical_ip, or None for what no device is known by: loopback (127/8, ::1) and unspecified
    (0.0.0.0, ::) — every host reports them (DESIGN §9; raw_data keeps them)."""
    ip = canonical_ip(value)
    if ip is None:
        return None
    if _IPV4.fullmatch(ip):
        return None if ip.startswith("127.") or ip == "0.0.0.0" else ip
    addr = ipaddress.ip_address(ip)
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return None if addr.is_loopback or addr.is_unspecified or (
        mapped is not None and (mapped.is_loopback or mapped.is_unspecified)) else ip


_PLACEHOLDER_MACS = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})


def device_mac(value: str | None) -> str | None:
    """canonical_mac, or None for the all-zero placeholder (Linux agents report it for lo) and broadcast."""
    mac = canonical_mac(value)
    return None if mac in _PLACEHOLDER_MACS else mac


def _list_of_values(value: Any) -> Any:
    """The declared rule for list fields: None is an empty list, a lone scalar a list of one, and None or
    empty entries are dropped (an address without a MAC still has its IP)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and (None in value or "" in value):
        return [v for v in value if v is not None and v != ""]
    return value


_ip_list = _canonical_set(device_ip)
_mac_list = _canonical_set(device_mac)


def _email(value: str | None) -> str | None:
    if value is None:  # a directory without mail addresses (AWS IAM): the user is known by its uid
        return None
    value = value.strip().lower()
    if "@" not in value:
        raise ValueError(f"not an email address: {value!r}")
    return value


class _Data(BaseModel):
    """A kind's record data. BEFORE normalizers see the vendor value, AFTER ones the type-checked value; both
    the pydantic validators below and the fast path (fast_validator) run them from these tables.
    Every kind carries the common severity scale (nexus_sync.severity): `severity_score` 0-100 — a vendor's
    own risk score if its normalizer gives one, else derived — and its band, `severity_label` (always derived).
    WATCHED: the fields whose change makes an UPDATED record a `record.changed` event (pipeline/changes.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    BEFORE: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    AFTER: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    WATCHED: ClassVar[tuple[str, ...]] = ()

    severity_score: int | None = Field(None, ge=0, le=100)
    severity_label: str | None = None

    @model_validator(mode="after")
    def _rated(self) -> "_Data":
        rate(self.__dict__)  # derived fields of a frozen model: set once, here (fast_validator does the same)
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _before(cls, value: Any, info: ValidationInfo) -> Any:
        fn = cls.BEFORE.get(info.field_name or "")
        return value if fn is None else fn(value)

    @field_validator("*")
    @classmethod
    def _after(cls, value: Any, info: ValidationInfo) -> Any:
        fn = cls.AFTER.get(info.field_name or "")
        return value if fn is None else fn(value)


class Asset(_Data):
    """OCSF Device (Device Inventory Info 5001)."""

    uid: str
    hostname: str | None = None
    name: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    type: str | None = None
    ips: list[str] = Field(default_factory=list)
    # public ips → their location, {"country": ISO 3166-1 alpha-2}: set at normalize from IP_FIELDS (nexus_sync.geo)
    geo: dict[str, dict[str, str]] = Field(default_factory=dict)
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

    BEFORE = {"ips": _list_of_values, "macs": _list_of_values}
    IP_FIELDS: ClassVar[tuple[str, ...]] = ("ips",)  # the addresses nexus_sync.geo locates into `geo`
    AFTER = {"hostname": canonical_hostname, "ips": _ip_list, "macs": _mac_list}
    WATCHED = ("state", "os_name", "os_version")  # state: the vendor's status, containment included (CrowdStrike)


class User(_Data):
    """OCSF User (User Inventory Info 5003)."""

    uid: str
    email: str | None = None
    username: str | None = None
    full_name: str | None = None
    status: str | None = None
    mfa: bool | None = None
    created_time: str | None = None
    last_login_time: str | None = None
    modified_time: str | None = None
    groups: list[str] = Field(default_factory=list)

    AFTER = {"email": _email}
    WATCHED = ("status", "groups")  # groups: where a user's admin roles show (no vendor gives roles apart)


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

    BEFORE = {"severity": SEVERITY}
    WATCHED = ("severity", "status")


class SecurityEvent(_Data):
    """OCSF Detection Finding 2004."""

    uid: str
    title: str
    severity: str
    time: str
    host: str | None = None
    user: str | None = None
    status: str | None = None

    BEFORE = {"severity": SEVERITY}


class Incident(_Data):
    """OCSF Incident Finding 2005."""

    uid: str
    title: str
    severity: str
    time: str
    status: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)

    BEFORE = {"severity": SEVERITY}
    WATCHED = ("status", "severity")


DATA_MODELS: dict[str, type[_Data]] = {
    "asset": Asset, "user": User, "vulnerability": Vulnerability, "event": SecurityEvent, "incident": Incident,
}


def fast_validator(model: type[_Data]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """model.model_validate(d).__dict__ without pydantic's per-field machinery, for the common case.

    The data models are flat and their field types few (str, float, bool, list[str], dict[str, str], each
    maybe optional), so a check per field is generated as Python source once per model: a value of exactly
    the declared type passes (an int for a float is widened, as pydantic does) and goes through the model's
    BEFORE/AFTER normalizers; a missing field takes its default (normalizers do not run on defaults, as in
    pydantic). Anything else — a coercion, a missing required or an unknown field, a normalizer's error —
    goes to pydantic itself, so every result and every error is pydantic's. Both paths end with the derived
    severity (nexus_sync.severity.rate, the models' after-validator).
    tests/core/test_models.py and the connector contract tests hold the two paths equal.
    """
    env: dict[str, Any] = {"names": frozenset(model.model_fields), "slow": model.model_validate, "_Slow": _Slow,
                           "rate": rate}
    body: list[str] = []
    out: list[str] = []
    for i, (name, field) in enumerate(model.model_fields.items()):
        var, inner, optional = f"f{i}", *_unwrap(field.annotation)
        steps = []
        if name in model.BEFORE:
            env[f"before{i}"] = model.BEFORE[name]
            steps.append(f"{var} = before{i}({var})")
        steps += _check_source(var, inner, optional)
        if name in model.AFTER:
            env[f"after{i}"] = model.AFTER[name]
            steps.append(f"{var} = after{i}({var})")
        if field.is_required():
            body += [f"{var} = d[{name!r}]", *steps]
        else:
            env[f"default{i}"] = field.default_factory or field.default
            fill = f"default{i}()" if field.default_factory else f"default{i}"
            body += [f"if {name!r} in d:", f"    {var} = d[{name!r}]", *(f"    {s}" for s in steps),
                     "else:", f"    {var} = {fill}"]
        out.append(f"{name!r}: {var}")
    source = "\n".join([
        "def validate(d):",
        "    if not names.issuperset(d):",
        "        return slow(d).__dict__",
        "    try:",
        *(f"        {line}" for line in body),
        "    except (KeyError, _Slow, ValueError, TypeError):",
        "        return slow(d).__dict__",
        f"    out = {{{', '.join(out)}}}",
        "    rate(out)",
        "    return out",
    ])
    exec(compile(source, f"<fast_validator {model.__name__}>", "exec"), env)
    return env["validate"]


class _Slow(Exception):
    """The fast path does not decide this value: pydantic does."""


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _check_source(var: str, inner: Any, optional: bool) -> list[str]:
    """Source lines that pass `var` when it holds exactly `inner` (or None if optional), else raise _Slow."""
    if inner is str or inner is bool:
        test = f"type({var}) is not {inner.__name__}"
        return [f"if {var} is not None and {test}:" if optional else f"if {test}:", "    raise _Slow"]
    if inner is float:
        none = f" and {var} is not None" if optional else ""
        return [f"if type({var}) is not float{none}:",
                f"    if type({var}) is not int:", "        raise _Slow", f"    {var} = float({var})"]
    if inner == list[str]:  # loops, not all(<generator>): this runs per record
        lines = [f"if type({var}) is not list:", "    raise _Slow", f"for x in {var}:",
                 "    if type(x) is not str:", "        raise _Slow", f"{var} = list({var})"]
    elif inner == dict[str, str]:
        lines = [f"if type({var}) is not dict:", "    raise _Slow", f"for k, x in {var}.items():",
                 "    if type(k) is not str or type(x) is not str:", "        raise _Slow", f"{var} = dict({var})"]
    else:
        return ["raise _Slow"]  # a type the fast path does not know: pydantic validates every such record
    return [f"if {var} is not None:", *(f"    {line}" for line in lines)] if optional else lines


def identity_key(kind: str, source: str, data: dict[str, Any]) -> str:
    """The dedup identity of the spec, per kind (MD5, 32 hex), over a record's validated data."""
    parts: tuple[str, ...]
    if kind == "asset":
        parts = (kind, source, data["uid"])
    elif kind == "user":
        parts = (kind, source, data["email"] or data["uid"])  # the spec's email; the uid where there is none
    elif kind == "vulnerability":
        parts = (kind, source, data["cve"], data["asset_uid"])
    elif kind == "event":
        epoch = datetime.fromisoformat(data["time"]).timestamp()
        parts = (kind, source, data["uid"], str(int(epoch // EVENT_WINDOW_SECONDS)))
    else:  # incident
        parts = (kind, source, data["uid"])
    return hashlib.md5("\x1f".join(parts).encode()).hexdigest()


# fields that change on every observation (a check-in) without the thing itself changing; the vendor's
# modification time is NOT one of them: when the vendor says the record changed, we store the new version
VOLATILE_FIELDS = frozenset({"last_seen_time", "last_seen"})


# the content hash is ours (the spec fixes only the identity hash, MD5): xxh3-64, 16 hex digits. Its length
# tells its version: a dedup cache entry of the previous release (32-digit MD5) reads as a miss (pipeline.seen),
# so an upgrade recomputes a stored row's hash from Postgres once instead of calling every record changed
CONTENT_HASH_CHARS = 16


def content_hash(data: dict[str, Any], raw: dict[str, Any] | None = None, volatile: tuple[str, ...] = ()) -> str:
    """What decides UPDATED vs UNCHANGED: xxh3-64 over the normalized data and the vendor record as received,
    minus the heartbeat fields (VOLATILE_FIELDS of the data, the connector's declared `volatile` paths of
    the record). A change the vendor makes outside the normalized fields (a rescan's risk score, an
    indicator's decayed score) is a change: the stored row always matches what the vendor last said."""
    stable = dict(data)
    for name in VOLATILE_FIELDS:
        stable.pop(name, None)
    digest = xxhash.xxh3_64(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS))
    if raw is not None:
        digest.update(b"\x1e")
        digest.update(orjson.dumps(without_paths(raw, volatile) if volatile else raw, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def without_paths(raw: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of raw without the dotted paths (only the dicts along a path are copied; raw is untouched)."""
    out = dict(raw)
    for path in paths:
        *parents, last = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                break
            node[part] = node = dict(child)
        else:
            node.pop(last, None)
    return out

