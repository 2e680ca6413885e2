"""Connector instances: connectors.yaml → the connectors table, validated against each type's declaration."""
from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.dialects.postgresql import insert as pg_insert

import connectors as connector_types
from connectors.base import Connector, Context, SecretsProvider
from nexus_sync import db, names
from nexus_sync.credentials import env_prefix, get_store
from nexus_sync.errors import ConfigError
from nexus_sync.urls import mask

NAMESPACE = uuid.UUID("5b0e4a51-7f0c-4f53-9c7e-6e6578757321")
INTERVAL_RE = re.compile(r"^(\d+)(m|h|d)$")
ADAPTIVE_RE = re.compile(r"^adaptive\(\s*(\S+?)\s*\.\.\s*(\S+?)\s*\)$")  # adaptive(15m..24h): nexus_sync/adaptive.py
_ENV_RE = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")
# NEXUS_ variables that carry credentials: never expanded into config, which is stored in the database
# a variable named like a credential, whoever set it (NEXUS_SECRET_*, AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, ...)
_CREDENTIAL_VAR_RE = re.compile(r"(?:^|_)(?:SECRET|PASSWORD|PASSWD|TOKEN|KEY|APIKEY|CREDENTIALS?)(?:_|$)")


class ConnectorSpec(BaseModel):
    """One entry of connectors.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    type: str
    tenant_id: uuid.UUID
    id: uuid.UUID | None = None
    enabled: bool = True
    interval: str = "1h"
    priority: str = Field("NORMAL", pattern=r"^(HIGH|NORMAL|LOW)$")
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if adaptive_bounds(v) is not None:  # a bad adaptive(…) raises, saying what is wrong
            return v
        if not INTERVAL_RE.match(v) and len(v.split()) != 5:
            raise ValueError("use 15m, 1h, 24h, 1d, adaptive(15m..24h) or a 5-field cron expression")
        return v


@dataclass
class ConnectorRow:
    id: uuid.UUID
    name: str
    type: str
    tenant_id: uuid.UUID
    enabled: bool
    interval: str
    priority: str
    config: dict[str, Any]

    def instance(self, http: Any = None) -> Connector:
        cls = connector_types.get(self.type)
        try:
            cfg = cls.Config.model_validate(self.config)
        except ValidationError as exc:
            raise ConfigError(f"connector {self.name!r}: {_fields(exc, prefix='config.')}") from None
        ctx = Context(self.name, cfg, SecretsProvider(get_store(), self.name))
        if http is not None:
            ctx.http = http
        else:
            from nexus_sync.config import get_settings
            from nexus_sync.ratelimit import TokenBucket
            from nexus_sync.redis_client import get_redis

            ctx.http.timeout = get_settings().http_timeout
            ctx.http.label = self.name
            per_minute = cfg.rate_limit_per_minute or cls.rate_limit_per_minute
            if per_minute:
                ctx.http.bucket = TokenBucket(get_redis(), names.ratelimit_key(self.id), per_minute)
            decl = getattr(cls, "decl", None)
            for prefix, limit in (decl.endpoint_limits if decl else {}).items():
                ctx.http.endpoint_buckets.append(
                    (prefix, TokenBucket(get_redis(), names.ratelimit_key(self.id, prefix), limit)))
        return cls(ctx)


def _credential_var(name: str, value: str | None) -> bool:
    """A variable named like a credential (…SECRET…, …PASSWORD…, …TOKEN…, …KEY…), or one whose value holds URL
    userinfo or a secret-looking query parameter."""
    if _CREDENTIAL_VAR_RE.search(name):
        return True
    return value is not None and mask(value) != value


def _expand_env(text: str, path: Path) -> str:
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if _credential_var(m.group(1), value):
            raise ConfigError(f"{path}: ${{{m.group(1)}}} is refused: {m.group(1)} carries a credential, and "
                              "connector config is stored in the database; secrets belong in the credential "
                              "store (NEXUS_SECRET_<CONNECTOR>_<FIELD> or NEXUS_CREDENTIALS_FILE)")
        if value is None:
            if m.group(2) is None:
                raise ConfigError(f"environment variable {m.group(1)} is not set (used as ${{{m.group(1)}}})")
            return m.group(2)
        return value

    return _ENV_RE.sub(sub, text)


def load_file(path: Path) -> list[ConnectorSpec]:
    """Parse and validate connectors.yaml; errors name the file, the entry and the field."""
    try:
        doc = yaml.safe_load(_expand_env(Path(path).read_text(), path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {mask(str(exc))}") from None
    entries = doc.get("connectors") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a top-level `connectors:` list")
    specs: list[ConnectorSpec] = []
    seen: dict[str, str] = {}  # secret prefix → the entry's name
    for i, entry in enumerate(entries):
        where = f"{path}: connectors[{i}]" + (f" ({entry.get('name')})" if isinstance(entry, dict) else "")
        try:
            spec = ConnectorSpec.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_fields(exc)}") from None
        try:
            cls = connector_types.get(spec.type)
        except KeyError as exc:
            raise ConfigError(f"{where}: type: {exc.args[0]}") from None
        try:
            cls.Config.model_validate(spec.config)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_fields(exc, prefix='config.')}") from None
        if spec.name in seen.values():
            raise ConfigError(f"{where}: name {spec.name!r} used twice")
        other = seen.setdefault(env_prefix(spec.name), spec.name)
        if other != spec.name:
            raise ConfigError(f"{where}: {_shared_secrets(spec.name, other)}")
        specs.append(spec)
    return specs


def _shared_secrets(name: str, other: str) -> str:
    return (f"connector names {name!r} and {other!r} would read the same secrets "
            f"({env_prefix(name)}*): rename one (names may not differ only in '-', '_' or '.')")


def _check_secret_prefixes(specs: list[ConnectorSpec], existing: list[str]) -> None:
    """ConfigError when two connectors (in `specs`, or one in `specs` and one in the table) share a prefix."""
    owners: dict[str, set[str]] = {}
    for name in [*existing, *(s.name for s in specs)]:
        owners.setdefault(env_prefix(name), set()).add(name)
    for spec in specs:
        others = sorted(owners[env_prefix(spec.name)] - {spec.name})
        if others:
            raise ConfigError(_shared_secrets(spec.name, others[0]))


def _fields(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def apply(specs: list[ConnectorSpec], engine: sa.Engine | None = None) -> list[uuid.UUID]:
    """Upsert the connectors by name; ConfigError (nothing written) when two names would share secrets."""
    engine = engine or db.get_engine()
    ids = []
    with engine.begin() as conn:
        # concurrent applies see each other's names before checking (held to the end of the transaction)
        conn.execute(sa.text(f"LOCK TABLE {db.connectors.name} IN SHARE ROW EXCLUSIVE MODE"))
        _check_secret_prefixes(specs, list(conn.execute(sa.select(db.connectors.c.name)).scalars()))
        for spec in specs:
            cid = spec.id or uuid.uuid5(NAMESPACE, spec.name)
            values = dict(id=cid, name=spec.name, type=spec.type, tenant_id=spec.tenant_id, enabled=spec.enabled,
                          interval=spec.interval, priority=spec.priority, config=spec.config)
            stmt = pg_insert(db.connectors).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=[db.connectors.c.name],
                set_={k: stmt.excluded[k] for k in values if k not in ("id", "name")} | {"updated_at": sa.func.now()},
            )
            conn.execute(stmt)
            ids.append(cid)
    return ids


def _row(r: Any) -> ConnectorRow:
    return ConnectorRow(r.id, r.name, r.type, r.tenant_id, r.enabled, r.interval, r.priority, r.config)


def get(ref: str | uuid.UUID, engine: sa.Engine | None = None) -> ConnectorRow:
    """A connector by name or id; ConfigError if there is none."""
    engine = engine or db.get_engine()
    c = db.connectors.c
    try:
        cond = c.id == uuid.UUID(str(ref))
    except ValueError:
        cond = c.name == str(ref)
    with engine.connect() as conn:
        r = conn.execute(sa.select(db.connectors).where(cond)).first()
    if r is None:
        raise ConfigError(f"unknown connector {ref!r} (see `nexus-sync connectors list`)")
    return _row(r)


def list_all(engine: sa.Engine | None = None) -> list[ConnectorRow]:
    engine = engine or db.get_engine()
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(sa.select(db.connectors).order_by(db.connectors.c.name))]


def interval_seconds(interval: str) -> int | None:
    m = INTERVAL_RE.match(interval)
    if not m:
        return None
    return int(m.group(1)) * {"m": 60, "h": 3600, "d": 86400}[m.group(2)]


def adaptive_bounds(interval: str) -> tuple[int, int] | None:
    """`adaptive(LOW..HIGH)` → (LOW, HIGH) in seconds; None for any other interval; ValueError naming what is
    wrong for an adaptive one that is not well formed (units m, h, d; at least a minute; LOW below HIGH)."""
    text = interval.strip()
    if not text.lower().startswith("adaptive"):
        return None
    m = ADAPTIVE_RE.match(text)
    if not m:
        raise ValueError(f"{interval!r}: write adaptive(LOW..HIGH), e.g. adaptive(15m..24h)")
    low, high = interval_seconds(m.group(1)), interval_seconds(m.group(2))
    for bound, seconds in ((m.group(1), low), (m.group(2), high)):
        if seconds is None:
            raise ValueError(f"{interval!r}: bound {bound!r} is not an interval: a whole number and m, h or d "
                             "(15m, 2h, 1d)")
        if seconds < 60:
            raise ValueError(f"{interval!r}: bound {bound!r} is shorter than a minute")
    assert low is not None and high is not None
    if low >= high:
        raise ValueError(f"{interval!r}: the lower bound {m.group(1)} must be shorter than the upper bound "
                         f"{m.group(2)}")
    return low, high
