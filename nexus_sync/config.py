"""Settings from NEXUS_ environment variables; unset services mean the embedded dev stack."""
from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the one ConfigError of settings, connector config and secrets: unusable configuration, the message names
# the variable, file or field at fault; the error table fails it fast, without retries
from nexus_sync import names
from nexus_sync.errors import ConfigError
from nexus_sync.urls import mask


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXUS_", extra="ignore")

    state_dir: Path = Field(Path(".nexus"), description="folder of the embedded dev stack")
    database_url: str | None = Field(None, description="SQLAlchemy URL of PostgreSQL")
    redis_url: str | None = Field(None, description="Redis URL: broker, dedup cache, locks, staging")
    clickhouse_url: str | None = Field(
        None,
        description="clickhouse://host:9000/db (native, clickhouse-driver) or http://host:8123 "
        "(HTTP interface); unset = the embedded chdb engine of the dev stack",
    )
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers host:port[,...]")
    kafka_topic: str = "connector.sync.complete"
    webhooks_file: Path | None = Field(None, description="YAML of webhook subscribers (see nexus_sync/webhooks.py)")
    tracing: Literal["off", "console", "otlp"] = Field("off", description="OpenTelemetry spans per stage")
    otlp_endpoint: str = Field("http://127.0.0.1:4318/v1/traces", description="OTLP/HTTP traces endpoint")
    metrics_port: int = Field(9808, ge=0, le=65535, description="worker /metrics port on 127.0.0.1; 0 = off")
    alert_topic: str = "connector.sync.alert"
    changes_topic: str = Field("record.changed", description="Kafka topic of `record.changed` events: a synced "
                                                             "record's watched fields changed (key: the record id)")
    lifecycle_topic: str = Field("connector.records.lifecycle",
                                 description="Kafka topic of records.lifecycle events (records gone missing, back, deleted)")
    lifecycle_chunk_ids: int = Field(1000, ge=1, description="source ids per records.lifecycle event at most; more "
                                                            "are sent as parts (part/parts)")
    missing_retention_days: int = Field(0, ge=0, description="a complete full sync deletes its connector's rows missing "
                                                            "for longer than this; 0 = never delete")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    credentials_file: Path | None = Field(None, description="YAML/JSON file of connector secrets")
    stage_ttl_seconds: int = Field(24 * 3600, gt=0, description="lifetime of staged batches in Redis")
    lock_ttl_seconds: int = Field(2 * 3600, gt=0, description="TTL of the one-sync-per-connector lock")
    sync_stall_seconds: int = Field(
        900, gt=0, description="a RUNNING sync with no stage progress for this long gets its next steps sent again "
                               f"(beat's {names.RESUME_STALLED}): a Redis broker restart can lose a popped message")
    broker_visibility_timeout: int = Field(
        600, gt=0, description="seconds before an unacked task of a dead worker is redelivered"
    )
    broker_restore_interval: int = Field(
        10, gt=0, description="seconds between sweeps that give dead workers' unacked tasks back"
    )
    breaker_threshold: int = Field(3, ge=1, description="consecutive FAILED syncs that open a connector's circuit")
    breaker_cooldown_seconds: int = Field(900, ge=1, description="open circuit: seconds before a probe sync")
    recovery_delays: str = Field("300,3600", description="a FAILED sync is retried after these many seconds, "
                                                         "then dead-lettered with an alert")
    task_max_retries: int = Field(3, ge=0)
    # the outbox (nexus_sync.outbox): work owed to ClickHouse, Kafka and webhook subscribers
    outbox_relay_seconds: float = Field(5.0, gt=0, description="beat runs the outbox relays this often (they are "
                                                               "also kicked after each persist and close)")
    outbox_batch_rows: int = Field(20, ge=1, description="owed rows a relay claims and sends at a time")
    outbox_rounds: int = Field(25, ge=1, description="batches one relay run sends at most (bounded runs)")
    outbox_backoff_max_seconds: float = Field(30.0, gt=0, description="cap of a down target's retry backoff (s)")
    outbox_kafka_timeout_seconds: float = Field(10.0, gt=0, description="the relay's wait for Kafka's acks (s)")
    outbox_behind_alert_seconds: int = Field(900, gt=0, description="alert when a target's oldest owed work is "
                                                                    "older than this (s)")
    outbox_max_rows: int = Field(100_000, ge=1, description="alert when this many rows are owed in all")
    outbox_max_age_seconds: int = Field(6 * 3600, gt=0, description="alert when any owed work is this old (s)")
    outbox_keep_done_hours: float = Field(24.0, ge=0, description="done outbox rows are deleted after this long")
    retry_backoff_max: int = Field(60, gt=0, description="cap of the exponential retry backoff (s)")
    http_timeout: float = Field(30.0, gt=0)
    schedule_reconcile_seconds: float = Field(
        60.0, ge=0, description="seconds between beat's reconciles of the schedules with the connectors table; 0 = off")
    http_max_response_mb: float = Field(256, gt=0, description="cap on one vendor answer's decoded size (MB)")
    http_deadline_seconds: float = Field(
        300, gt=0, description="wall-clock bound of one vendor request: connect, headers and body (http_timeout "
                               "is per socket read, which a server dripping bytes never trips)")
    task_soft_time_limit: int = Field(900, gt=0, description="a task running this long is stopped and retried")
    task_time_limit: int = Field(960, gt=0, description="a task running this long is killed (after the soft limit)")
    flower_user: str = Field("admin", description="`nexus-sync flower`: the basic-auth user")
    flower_password: SecretStr | None = Field(
        None, description="`nexus-sync flower`: the basic-auth password; without it Flower does not start "
                          "(unless --no-auth)")

    @model_validator(mode="after")
    def _limits_in_order(self) -> "Settings":
        if self.task_time_limit <= self.task_soft_time_limit:
            raise ValueError(f"NEXUS_TASK_TIME_LIMIT ({self.task_time_limit}) must exceed NEXUS_TASK_SOFT_TIME_LIMIT "
                             f"({self.task_soft_time_limit}): the soft limit would never fire")
        return self

    @field_validator("database_url", "redis_url", "clickhouse_url", "kafka_bootstrap", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_scheme(cls, v: str | None) -> str | None:
        if v is not None and v.split("://", 1)[0] not in ("clickhouse", "http", "https"):
            raise ValueError("must start with clickhouse://, http:// or https://")
        return v

    # -- the embedded stack fills what the environment leaves unset ---------------
    def _stack(self) -> dict:
        path = self.state_dir / "stack.json"
        try:
            stat = path.stat()
            return _read_stack(str(path), stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            raise ConfigError(
                f"no service URL configured and no embedded stack at {path}: "
                "run `nexus-sync dev up` or set NEXUS_DATABASE_URL / NEXUS_REDIS_URL / "
                "NEXUS_KAFKA_BOOTSTRAP / NEXUS_CLICKHOUSE_URL"
            ) from None

    @property
    def db_url(self) -> str:
        return self.database_url or self._stack()["postgres"]["url"]

    @property
    def redis(self) -> str:
        return self.redis_url or self._stack()["redis"]["url"]

    @property
    def kafka(self) -> str:
        return self.kafka_bootstrap or self._stack()["kafka"]["bootstrap"]

    @property
    def clickhouse(self) -> str:
        return self.clickhouse_url or self._stack()["clickhouse"]["url"]


@lru_cache(maxsize=8)
def _read_stack(path: str, mtime_ns: int, size: int) -> dict:
    """The stack file, parsed once per version of it (every task asks for the services' URLs; a restarted
    stack rewrites the file, which is then read again)."""
    return json.loads(Path(path).read_text())


_CREDENTIAL_NAME = re.compile(r"secret|password|token|key", re.I)


def _explain(exc: ValidationError) -> str:
    """Each bad variable with what was wrong; a value is echoed with URL credentials masked."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        if not field:  # a rule across settings names them in its own message
            parts.append(err["msg"].removeprefix("Value error, "))
            continue
        shown = "not shown" if _CREDENTIAL_NAME.search(field) else f"got {mask(repr(err.get('input')))}"
        parts.append(f"NEXUS_{field.upper()}: {err['msg']} ({shown})")
    return "invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        print(f"nexus-sync: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
