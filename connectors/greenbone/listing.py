"""A gvmd listing over GMP, shared by the results and hosts types: the config, and a Connector whose
fetch_page opens a connection, authenticates, sends one listing command and closes the connection — also on
failure — so no session outlives a task or is shared across workers (connectors/greenbone/gmp.py).

Why not the declared machinery: GMP is not HTTP (XML commands on a TLS or Unix-socket stream, spoken by
python-gvm), so neither our HTTP client nor its auth/paging kinds apply; this is the one small fetch path
it needs. What the machinery gives every HTTP connector is kept here by hand: verified TLS, credentials from
the secrets store registered for redaction, connect/read timeouts, the vendor's busy signal waited out and
its statuses mapped to our error classes.

Paging is `first`/`rows` inside the filter string (1-based; next `first += rows` until `first > filtered`);
incremental by `modification_time>` in the filter. Pages are sorted by creation time, not modification time:
offset paging over a set that changes meanwhile must not let a record move backwards past the offset. Sorted
by modification, a record re-scanned during a sync jumps to the end and every later one shifts back by one —
a record never read, whose old modification time the next incremental would skip too; sorted by creation, a
change only brings a record into the `modification_time>` set at its place, shifting later ones forward — a
record read twice, which dedup absorbs. The filter is always explicit: gvmd's default (rows=10, min_qod=70,
overrides) applies to a command without one (§33 quirk 4)."""
from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from connectors import cursors
from connectors.base import Connector, ConnectorConfig, Context, Page
from connectors.greenbone import gmp
from connectors.greenbone.results import parse_records, total_of
from nexus_sync.errors import ConfigError, RateLimited
from nexus_sync.http import INLINE_WAIT_MAX

DEFAULT_PORT = 9390  # python-gvm DEFAULT_GVM_PORT
SECRETS = ("username", "password")
OWN_TERMS = ("first=", "rows=", "sort=", "sort-reverse=")


class GreenboneConfig(ConnectorConfig):
    """base_url is gvmd's GMP-over-TLS address, https://host:9390 (the path is not used)."""

    page_size: int = Field(100, ge=1, le=1000, description="GMP `rows` per listing command")
    socket_path: str | None = Field(None, description="gvmd's Unix socket (/run/gvmd/gvmd.sock) instead of TLS")
    ca_file: str | None = Field(None, description="PEM CA bundle for gvmd's (often self-signed) certificate; "
                                                  "default: the system trust store")
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="connect and read timeout (a large "
                                                                    "get_results can take minutes)")
    filter: str = Field("", description="extra GMP filter terms (not first/rows/sort: paging owns them)")
    busy_wait_seconds: float = Field(5.0, ge=0, description="wait after a 503 (gvmd busy), times the attempt")
    busy_retries: int = Field(3, ge=0, le=10, description="busy answers waited out inside one page (each "
                                                         "wait at most nexus_sync.http.INLINE_WAIT_MAX)")


class GmpListing(Connector):
    """A gvmd listing: `command` (a python-gvm method) answering `element`s counted in `count_element`."""

    command: ClassVar[str]
    element: ClassVar[str]
    count_element: ClassVar[str]
    auth: ClassVar[str] = "gmp"
    paging: ClassVar[str] = "gmp filter first/rows"
    id_field: ClassVar[str] = "id"
    cursor_field: ClassVar[str | None] = "modification_time"
    Config: ClassVar[builtins.type[ConnectorConfig]] = GreenboneConfig
    config: GreenboneConfig

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        cfg = self.config
        if any(term in cfg.filter for term in OWN_TERMS):
            raise ConfigError(f"connector {ctx.name!r}: filter must not set first/rows/sort (paging owns them)")
        url = urlsplit(cfg.root)
        if not cfg.socket_path and url.scheme != "https":
            raise ConfigError(f"connector {ctx.name!r}: GMP runs over TLS: base_url must be https://host:port "
                              "(or set socket_path)")
        self.host, self.port = url.hostname, url.port or DEFAULT_PORT

    def filter_string(self, first: int, since: str | None) -> str:
        terms = [f"first={first}", f"rows={self.config.page_size}", "sort=created", self.config.filter.strip()]
        if since:
            # gvmd compares to the second with `>` only: one second earlier re-reads the boundary, misses nothing
            at = cursors.instant(since, self.cursor_format) - timedelta(seconds=1)
            terms.append(f"modification_time>{at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        return " ".join(t for t in terms if t)

    def _credentials(self) -> tuple[str, str]:
        values: dict[str, SecretStr] = self.ctx.secrets.get(SECRETS)
        return values["username"].get_secret_value(), values["password"].get_secret_value()

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        since = self.saved_cursor(since)
        first = int((state or {}).get("first", 1))
        cfg = self.config
        username, password = self._credentials()
        with gmp.session(self.ctx.name, self.host, self.port, cfg.socket_path, cfg.ca_file, cfg.timeout_seconds,
                         username, password) as live:
            root = self._listing(live, self.filter_string(first, since))
        records = parse_records(root, self.element)
        filtered = total_of(root, self.count_element)
        nxt = first + cfg.page_size
        done = nxt > filtered if filtered is not None else len(records) < cfg.page_size
        return Page(records=records, next=None if done else {"first": nxt}, total=filtered)

    def _listing(self, live: gmp.Session, filter_string: str) -> Any:
        """The listing command, waiting out gvmd's busy answers (503) on the same connection while the wait is
        short (as the HTTP client waits out a short Retry-After); then a RateLimited with the next wait, so the
        pipeline re-queues the page on a new connection instead of holding a worker."""
        cfg = self.config
        for attempt in range(1, cfg.busy_retries + 2):
            try:
                return live.command(self.command, filter_string=filter_string, details=True)
            except RateLimited as exc:
                wait = max(cfg.busy_wait_seconds * attempt, 0.5)
                if attempt > cfg.busy_retries or wait > INLINE_WAIT_MAX:
                    raise RateLimited(f"connector {self.ctx.name!r}: {exc}", wait) from None
                self.http.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises
