"""The shared connector machinery: what a connector declares, and the page it returns."""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationInfo, field_validator

from connectors import cursors
from nexus_sync.errors import ConfigError
from nexus_sync.http import HttpClient, dig
from nexus_sync.urls import require_https


class ConnectorConfig(BaseModel):
    """Non-secret settings of one connector instance (connectors.yaml `config:`). Unknown keys fail."""

    model_config = ConfigDict(extra="forbid")

    # declared first: the URL check below reads it (validators see only the fields declared before theirs)
    allow_insecure_http: bool = Field(False, description="allow http:// to a host that is not loopback "
                                                         "(cleartext credentials: an explicit opt-out)")
    base_url: HttpUrl
    page_size: int = Field(500, ge=1)
    incremental: bool = Field(False, description="fetch only records changed since the saved cursor")
    rate_limit_per_minute: int | None = Field(None, ge=1, description="override the vendor's declared limit")
    seen_resolution: int = Field(3600, ge=0, description="seconds: an unchanged record's last_seen is written "
                                 "at most this often (relatime; 0: in every sync). README: last_seen")

    @field_validator("*")
    @classmethod
    def _https_only(cls, value: Any, info: ValidationInfo) -> Any:
        """base_url and every *_url field (an OAuth token_url, ...): https, or http only to loopback."""
        if info.field_name and info.field_name.endswith("_url") and value is not None:
            require_https(str(value), info.field_name, bool(info.data.get("allow_insecure_http")))
        return value

    @property
    def root(self) -> str:
        return str(self.base_url).rstrip("/")


@dataclass
class Page:
    records: list[dict[str, Any]]
    next: dict[str, Any] | None  # JSON state of the next page; None on the last page
    total: int | None = None
    # the listing's own cursor where the vendor gives one for the whole listing, not per record (a Graph delta
    # link): canonical `token` text (connectors.cursors.stamp), saved like a record cursor when the sync ends
    cursor: str | None = None
    # a vendor job that is not ready yet (a Splunk search, a Tenable export): no records; the pipeline fetches
    # again with `next` after this many seconds, and the worker serves other tasks meanwhile
    wait: float | None = None


@dataclass
class Context:
    """What a connector instance gets: its name (for secrets), config and the shared HTTP client."""

    name: str
    config: ConnectorConfig
    secrets: "SecretsProvider"
    http: HttpClient = field(default_factory=HttpClient)


class SecretsProvider:
    def __init__(self, store: Any, connector_name: str):
        self.store = store
        self.connector_name = connector_name

    def get(self, fields: tuple[str, ...], refresh: bool = False) -> dict[str, SecretStr]:
        return self.store.get(self.connector_name, fields, refresh=refresh)


class Connector:
    """A vendor stream. Subclasses declare the class attributes and implement fetch_page/normalize."""

    type: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str]
    kind: ClassVar[str]  # asset | event | vulnerability | user | incident
    stream: ClassVar[str] = "default"
    auth: ClassVar[str]
    paging: ClassVar[str]
    id_field: ClassVar[str]
    cursor_field: ClassVar[str | None] = None
    cursor_format: ClassVar[str] = "iso"  # iso | epoch_s | epoch_ms | int | token (connectors.cursors)
    # dotted paths of the vendor record left out of the change decision (models.content_hash): heartbeats
    volatile_fields: ClassVar[tuple[str, ...]] = ()
    # the version of what normalize makes of a vendor record; None: a hash of its code (pipeline.rawprint). A
    # vendor record seen before, unchanged, is not normalized again while this stays the same
    normalizer_version: ClassVar[str | None] = None
    rate_limit_per_minute: ClassVar[int | None] = None
    Config: ClassVar[builtins.type[ConnectorConfig]] = ConnectorConfig

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.http = ctx.http

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        raise NotImplementedError

    def release(self, state: dict[str, Any] | None) -> None:
        """Give back what the vendor holds for an unfinished listing (an Elasticsearch point in time), when
        fetching ends for good before its last page. Best effort; the last page's fetch releases it itself."""

    def close(self) -> None:
        """The task that built this instance is over (the fetch stage calls it in a `finally`, also after a
        failed page): end what the instance holds at the vendor, a login session above all. Never raises."""

    @staticmethod
    def normalize(raw: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def source_id(self, raw: dict[str, Any]) -> str:
        return str(dig(raw, self.id_field, required=True))

    def canonical_cursor(self, value: Any) -> str:
        """A vendor cursor value as our canonical text (connectors.cursors); ValueError if it does not parse."""
        return cursors.canonical(value, self.cursor_format)

    def cursor_value(self, raw: dict[str, Any]) -> str | None:
        """The record's canonical cursor, None when it has none; ValueError for a value that does not parse
        (the record can still land: only the cursor must not move by it)."""
        if not self.cursor_field:
            return None
        value = dig(raw, self.cursor_field)
        if value is None or value == "":
            return None
        try:
            return cursors.canonical(value, self.cursor_format)
        except ValueError as exc:
            raise ValueError(f"{self.cursor_field}: {exc}") from None

    def saved_cursor(self, since: str | None) -> str | None:
        """The saved cursor re-parsed before any use: ConfigError, naming the connector, for one that does
        not parse (a full sync is needed); an older, non-canonical but valid one comes back canonical."""
        if since is None or not (self.cursor_field or self.cursor_format == "token"):
            return since
        try:
            return cursors.canonical(since, self.cursor_format)
        except ValueError:
            raise ConfigError(f"connector {self.ctx.name!r}: the saved cursor is not "
                              f"{cursors.label(self.cursor_format)}; a full sync is needed (clear the cursor, "
                              "or sync with incremental: false)") from None

