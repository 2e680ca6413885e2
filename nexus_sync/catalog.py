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
from connectors.base import Connector, ConnectorConfig, Context, SecretsProvider
from nexus_sync import db
from nexus_sync.credentials import get_store
from nexus_sync.errors import ConfigError

NAMESPACE = uuid.UUID("5b0e4a51-7f0c-4f53-9c7e-6e6578757321")
INTERVAL_RE = re.compile(r"^(\d+)(m|h|d)$")
_ENV_RE = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


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
        if not INTERVAL_RE.match(v) and len(v.split()) != 5:
            raise ValueError("use 15m, 1h, 24h, 1d or a 5-field cron expression")
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
            raise ConfigError(f"connector {self.name!r}: {exc}") from None
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
                ctx.http.bucket = TokenBucket(get_redis(), f"nexus:ratelimit:{self.id}", per_minute)
            decl = getattr(cls, "decl", None)
            for prefix, limit in (decl.endpoint_limits if decl else {}).items():
                ctx.http.endpoint_buckets.append(
                    (prefix, TokenBucket(get_redis(), f"nexus:ratelimit:{self.id}:{prefix}", limit)))
        return cls(ctx)


def _expand_env(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            if m.group(2) is None:
                raise ConfigError(f"environment variable {m.group(1)} is not set (used as ${{{m.group(1)}}})")
            return m.group(2)
        return value

    return _ENV_RE.sub(sub, text)


def load_file(path: Path) -> list[ConnectorSpec]:
    """Parse and validate connectors.yaml; errors name the file, the entry and the field."""
    try:
        doc = yaml.safe_load(_expand_env(Path(path).read_text()))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    entries = doc.get("connectors") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a top-level `connectors:` list")
    specs, seen = [], set()
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
        if spec.name in seen:
            raise ConfigError(f"{where}: name {spec.name!r} used twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _fields(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def apply(specs: list[ConnectorSpec], engine: sa.Engine | None = None) -> list[uuid.UUID]:
    engine = engine or db.get_engine()
    ids = []
    with engine.begin() as conn:
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
