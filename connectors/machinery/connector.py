"""A declared connector at run time: what `declare` builds, and the typed API a vendor's hooks use
(connectors/<vendor>/hooks.py take a DeclaredConnector and call only its public methods)."""
from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ClassVar
from urllib.parse import urljoin

import requests

from connectors import cursors
from connectors.base import Connector, Context, Page
from connectors.machinery.auth import Auth
from connectors.machinery.request import RequestDict
from connectors.machinery.templates import fill
from nexus_sync.errors import ConfigError, VendorDataError
from nexus_sync.http import BodyThrottle, dig, origin_of, parse_json, resolve_vendor_url
from nexus_sync.transport import path_of

if TYPE_CHECKING:
    from connectors.machinery.declaration import Declaration

State = dict[str, Any]
# a vendor's own page: fetch_page(conn, state, since) in connectors/<vendor>/hooks.py
FetchHook = Callable[["DeclaredConnector", "State | None", "str | None"], Page]
TIME_FORMATS = ("iso", "iso_ns", "epoch_s", "epoch_ms")


def _xml(content: bytes) -> Any:
    from connectors.machinery.xml import parse

    return parse(content)


class DeclaredConnector(Connector):
    """A connector built from a Declaration. A hooks module's fetch_page may replace the declared page."""

    decl: ClassVar[Declaration]
    hooks: ClassVar[ModuleType | None] = None  # the vendor's hooks module (the pipeline reads after_persist)
    fetch_hook: ClassVar[FetchHook | None] = None

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        if self.http.label == "?":
            self.http.label = ctx.name
        # every request of this connector stays on its base URL's origin, and its errors quote the
        # vendor's declared code and message only
        self.http.origin = origin_of(self.config.root)
        self.http.error_paths = (self.decl.error_code, self.decl.error_message)
        if self.decl.throttle_codes and self.decl.error_code:
            self.http.throttle = BodyThrottle(self.decl.error_code, self.decl.throttle_codes, self.decl.throttle_wait,
                                              0.001 if self.decl.throttle_wait_unit == "ms" else 1.0,
                                              _xml if self.decl.format == "xml" else None)
        if self.decl.format == "xml":
            self.http.error_decode = _xml
        if self.decl.error_when is not None:
            self.http.body_error = self.decl.error_when.runtime(_xml if self.decl.format == "xml" else None)
        if self.decl.auth_codes and self.decl.error_code:
            self.http.auth_codes = BodyThrottle(self.decl.error_code, self.decl.auth_codes,
                                                decode=_xml if self.decl.format == "xml" else None)
        self._auth: Auth = self.decl.auth.runtime(ctx.secrets, self.config, self.http, self.template_context())

    # ---- the page
    def fetch_page(self, state: State | None, since: str | None) -> Page:
        since = self.saved_cursor(since)
        hook = type(self).fetch_hook  # read off the class: a plain function, not a method
        if hook is not None:
            return hook(self, state, since)
        return self.fetch_declared(state, since)

    def fetch_declared(self, state: State | None, since: str | None) -> Page:
        """The declared page: the listing's paging fetches it; after the last page, the next pass starts."""
        ctx = self.template_context(since)
        which = (state or {}).get("pass", 0)  # 0: the main request, n: passes[n - 1]
        request, paging = self.decl.listing(which)
        own = {k: v for k, v in (state or {}).items() if k != "pass"} or None  # the paging's own state
        page = paging.fetch(self, request, ctx, own)
        if page.next is None:  # this listing is done: the next pass, if any, starts at its first page
            return replace(page, next={"pass": which + 1} if which < len(self.decl.passes) else None)
        return replace(page, next={**page.next, "pass": which}) if which else page

    def release(self, state: State | None) -> None:
        _, paging = self.decl.listing((state or {}).get("pass", 0))
        paging.release(self, {k: v for k, v in (state or {}).items() if k != "pass"} or None)

    @property
    def auth_runtime(self) -> Auth:
        """This connector's auth at run time (a job living in the owned session hands it over: job_session)."""
        return self._auth

    def close(self) -> None:
        self._auth.close()  # an owned session handed over to the job's next task stays open

    # ---- templates and URLs
    def template_context(self, since: str | None = None) -> dict[str, Any]:
        """What "{name}" templates read: the config, and with a cursor `since` (query text), `since_epoch` and
        `since_epoch_ms` (Cortex XDR's filters)."""
        cfg = self.config.model_dump()
        ctx = {**cfg, "base_url": self.config.root, "page_size": self.config.page_size, "since": None,
               "since_epoch": None, "since_epoch_ms": None}
        if since:
            ctx["since"] = self.since_text(since)
            if self.decl.cursor_format in TIME_FORMATS:
                try:
                    ctx["since_epoch"] = cursors.epoch_seconds(since, self.decl.cursor_format)
                    ctx["since_epoch_ms"] = (int(since) if self.decl.cursor_format == "epoch_ms"  # exact
                                             else ctx["since_epoch"] * 1000)
                except ValueError:  # a hook's own layout, not a cursor (Jira's JQL time): no epoch of it
                    pass
        return ctx

    def since_text(self, since: str) -> str:
        """`{since}` for templates: the checked cursor in the declared `since_format`, query-safe."""
        d = self.decl
        text = since
        if d.since_format is not None:  # strftime, plus %3f = milliseconds (rounded down: `gt` misses nothing)
            at = cursors.instant(since, d.cursor_format)
            text = at.strftime(d.since_format.replace("%3f", f"{at.microsecond // 1000:03d}"))
        try:
            return cursors.query_text(text)
        except ValueError as exc:
            raise ConfigError(f"connector {self.ctx.name!r}: {exc}; a full sync is needed") from None

    def saved_cursor(self, since: str | None) -> str | None:
        """As Connector.saved_cursor; a saved `token` cursor is the vendor's URL and must also be on base_url's
        origin (ForeignOriginError, a ConfigError: the pipeline then clears it and runs a full sync)."""
        since = super().saved_cursor(since)
        if since is not None and self.cursor_format == "token":
            self.vendor_url(cursors.token_of(since))
        return since

    def url(self, path: str, since: str | None = None) -> str:
        """A declared path ("{name}" templates filled) on the base URL."""
        return urljoin(self.config.root + "/", fill(path, self.template_context(since)).lstrip("/"))

    def vendor_url(self, url: str, page_url: str | None = None) -> str:
        """A URL the vendor named (next link, truncation URL, job location): a relative one resolved against
        the page that named it (else the base URL), then used only on the base URL's own scheme, host and
        port; ForeignOriginError naming this connector and the foreign origin otherwise."""
        return resolve_vendor_url(self.config.root + "/", urljoin(page_url or self.config.root + "/", url),
                                  self.ctx.name)

    # ---- requests: this connector's auth, rate-limit statuses and error envelope
    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One call to the vendor (kwargs as nexus_sync.http.HttpClient.request: params, json, data, errors…)."""
        return self._auth.send(self.http, method, url, rate_limit_statuses=self.decl.rate_limit_statuses, **kwargs)

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """One call whose answer is JSON."""
        return parse_json(self.request(method, url, **kwargs).content, f"{method} {path_of(url)}")

    def send(self, req: RequestDict) -> requests.Response:
        """A built request (connectors.machinery.request.Request.build)."""
        kwargs: dict[str, Any] = {"params": req.get("params") or None, "headers": req.get("headers") or {}}
        if req.get("json") is not None:
            kwargs["json"] = req["json"]
        if req.get("data") is not None:
            kwargs["data"] = req["data"]
        return self.request(req["method"], req["url"], **kwargs)

    def decode(self, resp: requests.Response) -> Any:
        """An answer in the declared format (JSON, or XML as dicts)."""
        if self.decl.format == "xml":
            from connectors.machinery.xml import parse

            try:
                return parse(resp.content)
            except VendorDataError as exc:  # name the connector, as every other error does
                raise VendorDataError(f"connector {self.ctx.name!r}: {exc}") from None
        return parse_json(resp.content, f"connector {self.ctx.name!r} ({self.decl.type}): answer")

    def records_of(self, body: Any) -> list[Any]:
        """The record list at the declared `records` path (unwrapped from `record_key`)."""
        d = self.decl
        records = dig(body, d.records) if d.records else body
        if records is None:
            records = []
        if isinstance(records, dict):  # XML: a single element is not a list
            records = [records]
        if not isinstance(records, list):
            raise VendorDataError(f"{d.type}: records at {d.records!r} are not a list")
        return [item[d.record_key] for item in records] if d.record_key else records
