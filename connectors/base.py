"""The shared connector machinery: what a connector declares, and the page it returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from nexus_sync.http import HttpClient


class ConnectorConfig(BaseModel):
    """Non-secret settings of one connector instance (connectors.yaml `config:`). Unknown keys fail."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl
    page_size: int = Field(500, ge=1)
    incremental: bool = Field(False, description="fetch only records changed since the saved cursor")
    rate_limit_per_minute: int | None = Field(None, ge=1, description="override the vendor's declared limit")

    @property
    def root(self) -> str:
        return str(self.base_url).rstrip("/")


@dataclass
class Page:
    records: list[dict[str, Any]]
    next: dict[str, Any] | None  # JSON state of the next page; None on the last page
    total: int | None = None


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
    rate_limit_per_minute: ClassVar[int | None] = None
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.http = ctx.http

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        raise NotImplementedError

    @staticmethod
    def normalize(raw: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def source_id(self, raw: dict[str, Any]) -> str:
        return str(_dig(raw, self.id_field))

    def cursor_value(self, raw: dict[str, Any]) -> str | None:
        if not self.cursor_field:
            return None
        value = _dig(raw, self.cursor_field, required=False)
        return None if value is None else str(value)


def _dig(raw: dict[str, Any], path: str, required: bool = True) -> Any:
    cur: Any = raw
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if required:
                raise KeyError(path)
            return None
        cur = cur[part]
    return cur
