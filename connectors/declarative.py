"""Declared connectors: a vendor is a Declaration (request, auth, paging, record path, ids, cursor, error
envelope) plus a pure normalize(raw) -> data. Code hooks only where the vendor really differs.

    DECLARATION = Declaration(type="sentinelone", ..., auth=HeaderAuth(template="ApiToken {token}"),
                              request=Request(path="/web/api/v2.1/agents", params={"limit": "{page_size}"}),
                              records="data", paging=TokenPaging(token="pagination.nextCursor", param="cursor"),
                              error_code="errors.0.code", error_message="errors.0.detail")
    CONNECTOR = declare(DECLARATION, normalize)

Templates: a string value "{name}" is filled from the connector's config (base_url, page_size and the
declared config_fields), `since` (the saved cursor, only in `since_params`/`since_body`) and, in auth
templates, the secrets. Every declared config field must be used somewhere: an unused one fails loudly.

`since` is the saved cursor re-parsed as the declared `cursor_format` (a bogus one is a ConfigError: a full
sync is needed), rendered by `since_format` when the vendor's query wants another layout, and checked to hold
nothing a query language reads as syntax. Auth kinds live in connectors.auth_runtime, paging kinds in
connectors.paging; both are importable from here.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Literal
from urllib.parse import urljoin

import orjson
import requests
from pydantic import Field, create_model

from connectors import cursors
from connectors.auth_runtime import AuthSpec, BasicAuth, HeaderAuth, OAuth2, SessionLogin, SigV4
from connectors.base import Connector, ConnectorConfig, Page, _dig
from connectors.paging import (
    GraphQLPaging,
    HookPaging,
    NextUrlPaging,
    OffsetPaging,
    PagePaging,
    PagingSpec,
    SearchAfterPaging,
    TokenPaging,
    XmlTruncationPaging,
)
from connectors.templates import Spec, fill, merge, template_fields
from nexus_sync.errors import ConfigError, VendorDataError
from nexus_sync.http import BodyThrottle, origin_of, parse_json, resolve_vendor_url

__all__ = ["AuthSpec", "BasicAuth", "BrokenDeclaration", "Declaration", "DeclaredConnector", "GraphQLPaging",
           "HeaderAuth", "HookPaging", "NextUrlPaging", "OAuth2", "OffsetPaging", "PagePaging", "PagingSpec",
           "Pass", "Request", "SearchAfterPaging", "SessionLogin", "SigV4", "TokenPaging", "XmlTruncationPaging",
           "declare", "fill"]


class Request(Spec):
    method: Literal["GET", "POST"] = "GET"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    since_params: dict[str, Any] = Field(default_factory=dict)  # added only when a cursor is known
    since_body: dict[str, Any] = Field(default_factory=dict)  # merged into json_body when a cursor is known


class Pass(Spec):
    """A further listing after the main one, for records the vendor's default listing leaves out (Okta's
    DEPROVISIONED users, Falcon's hidden hosts): its own request, its own paging where it pages otherwise;
    the same records path, ids, cursor and normalize. The page state names its pass ("pass": n)."""

    request: Request
    paging: PagingSpec | None = Field(None, discriminator="kind")  # None: the declaration's paging


class Declaration(Spec):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    category: Literal["edr", "siem", "cloud", "vulnerability", "identity", "itsm", "incident", "threat_intel"]
    kind: Literal["asset", "event", "vulnerability", "user", "incident"]
    stream: str = "default"
    auth: AuthSpec = Field(discriminator="kind")
    request: Request | None = None  # None only with HookPaging
    paging: PagingSpec = Field(discriminator="kind")
    passes: tuple[Pass, ...] = ()  # listed after the main request, in order
    records: str = ""  # dotted path of the record list in the answer ("" = the answer is the list)
    record_key: str | None = None  # each listed item wraps its record here (Relay `edges[].node`: "node")
    format: Literal["json", "xml"] = "json"
    id_field: str
    cursor_field: str | None = None
    cursor_format: cursors.CursorFormat = "iso"  # how the vendor's cursor values read (connectors.cursors)
    since_format: str | None = None  # strftime layout (+ %3f ms) of `{since}` when the query wants one (ServiceNow)
    # the vendor's error envelope: dotted paths (list indexes allowed) of its code and message in a JSON error
    # body; errors quote these, shortened, and never the body itself
    error_code: str | None = None
    error_message: str | None = None
    # a rate limit answered inside a 2xx body (GraphQL errors[] on HTTP 200): these codes at `error_code` mean
    # "slow down", and the wait is the number at `throttle_wait` (dotted path), in `throttle_wait_unit`;
    # waited out like a 429's Retry-After, never failing the page (nexus_sync.http.BodyThrottle)
    throttle_codes: tuple[str, ...] = ()
    throttle_wait: str | None = None
    throttle_wait_unit: Literal["s", "ms"] = "s"
    # heartbeat paths of the vendor record (a check-in time): a change there alone is not a change of the record
    volatile: tuple[str, ...] = ()
    rate_limit_per_minute: int | None = None
    rate_limit_statuses: tuple[int, ...] = (429,)  # error-table extension: Qualys says 409
    endpoint_limits: dict[str, int] = Field(default_factory=dict)  # path prefix -> requests/min, on top
    page_size: int = 500
    max_page_size: int = 1000
    config_fields: dict[str, Any] = Field(default_factory=dict)  # name -> default (... = required)


class DeclaredConnector(Connector):
    """A connector built from a Declaration. Hooks (module functions) may replace fetch_page."""

    decl: ClassVar[Declaration]
    hooks: ClassVar[Any] = None

    def __init__(self, ctx):
        super().__init__(ctx)
        if self.http.label == "?":
            self.http.label = ctx.name
        # every request of this connector stays on its base URL's origin, and its errors quote the
        # vendor's declared code and message only
        self.http.origin = origin_of(self.config.root)
        self.http.error_paths = (self.decl.error_code, self.decl.error_message)
        if self.decl.throttle_codes and self.decl.error_code:
            self.http.throttle = BodyThrottle(self.decl.error_code, self.decl.throttle_codes, self.decl.throttle_wait,
                                              0.001 if self.decl.throttle_wait_unit == "ms" else 1.0)
        self.auth_ = self.decl.auth.runtime(ctx.secrets, self.config, self.http, self.template_context())

    def template_context(self, since: str | None = None) -> dict[str, Any]:
        cfg = self.config.model_dump()
        return {**cfg, "base_url": self.config.root, "page_size": self.config.page_size, "since": since}

    def vendor_url(self, url: str, page_url: str | None = None) -> str:
        """A URL the vendor named (next link, truncation URL, job location): a relative one resolved against
        the page that named it (else the base URL), then used only on the base URL's own scheme, host and
        port; ForeignOriginError naming this connector and the foreign origin otherwise."""
        return resolve_vendor_url(self.config.root + "/", urljoin(page_url or self.config.root + "/", url),
                                  self.ctx.name)

    def saved_cursor(self, since: str | None) -> str | None:
        """As Connector.saved_cursor; a saved `token` cursor is the vendor's URL and must also be on base_url's
        origin (ForeignOriginError, a ConfigError: the pipeline then clears it and runs a full sync)."""
        since = super().saved_cursor(since)
        if since is not None and self.cursor_format == "token":
            self.vendor_url(cursors.token_of(since))
        return since

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

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        since = self.saved_cursor(since)
        if self.hooks is not None and hasattr(self.hooks, "fetch_page"):
            return self.hooks.fetch_page(self, state, since)
        return self.fetch_declared(state, since)

    # the generic page: build the request, send it, pick the records, work out the next page
    def fetch_declared(self, state: dict[str, Any] | None, since: str | None) -> Page:
        d, size = self.decl, self.config.page_size
        ctx = self.template_context(self.since_text(since) if since else None)
        which = (state or {}).get("pass", 0)  # 0: the main request, n: passes[n - 1]
        r, paging = (d.request, d.paging) if not which else (d.passes[which - 1].request,
                                                              d.passes[which - 1].paging or d.paging)
        state = {k: v for k, v in (state or {}).items() if k != "pass"} or None  # the paging's own state
        req: dict[str, Any] = {"method": r.method, "url": self.config.root + fill(r.path, ctx),
                               "params": fill(r.params, ctx), "json": fill(r.json_body, ctx),
                               "headers": fill(r.headers, ctx)}
        if since:
            req["params"] = {**req["params"], **fill(r.since_params, ctx)}
            if r.since_body:
                req["json"] = merge(req["json"] or {}, fill(r.since_body, ctx))
        req = paging.apply(req, state, size) if state else paging.first(req, size)
        if isinstance(paging, SearchAfterPaging) and not state:
            state = {"pit": self._open_pit(ctx), "after": None}
            req = paging.apply(req, state, size)
        resp = self.send(req)
        body = self.decode(resp)
        records = _dig(body, d.records, required=False) if d.records else body
        if records is None:
            records = []
        if isinstance(records, dict):  # XML: a single element is not a list
            records = [records]
        if not isinstance(records, list):
            raise VendorDataError(f"{d.type}: records at {d.records!r} are not a list")
        if d.record_key:
            records = [item[d.record_key] for item in records]
        on_origin = lambda url: self.vendor_url(url, resp.url)  # noqa: E731 - relative to this page
        nxt = paging.next(state, resp, body, records, size, on_origin)
        if nxt is None:  # this listing is done: the next pass, if any, starts at its first page
            return Page(records, {"pass": which + 1} if which < len(d.passes) else None)
        return Page(records, {**nxt, "pass": which} if which else nxt)

    def send(self, req: dict[str, Any]) -> requests.Response:
        kwargs: dict[str, Any] = {"params": req.get("params") or None, "headers": req.get("headers") or {}}
        if req.get("json") is not None:
            kwargs["json"] = req["json"]
        if hasattr(self.auth_, "sign"):
            return self._send_signed(req, kwargs)
        return self.http.request(req["method"], req["url"], auth=self.auth_,
                                 rate_limit_statuses=self.decl.rate_limit_statuses, **kwargs)

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """A hook's JSON call to its vendor: this connector's auth, rate-limit statuses and error envelope."""
        return self.http.json(method, url, auth=self.auth_, rate_limit_statuses=self.decl.rate_limit_statuses,
                              **kwargs)

    def _send_signed(self, req: dict[str, Any], kwargs: dict[str, Any]) -> requests.Response:
        prepared = requests.Request(req["method"], req["url"], params=kwargs["params"]).prepare()
        body = orjson.dumps(kwargs["json"]) if "json" in kwargs else None
        headers = {"Content-Type": "application/json", **kwargs["headers"]}
        signer = self.auth_

        class _Signed:
            def apply(self, h: dict[str, str]) -> None:
                h.update(signer.sign(req["method"], prepared.url, dict(headers), body))

            def refresh(self) -> None:
                signer.refresh()

        return self.http.request(req["method"], prepared.url, auth=_Signed(), data=body, headers=headers,
                                 rate_limit_statuses=self.decl.rate_limit_statuses)

    def decode(self, resp: requests.Response) -> Any:
        if self.decl.format == "xml":
            from connectors.xml import parse

            try:
                return parse(resp.content)
            except VendorDataError as exc:  # name the connector, as every other error does
                raise VendorDataError(f"connector {self.ctx.name!r}: {exc}") from None
        return parse_json(resp.content, f"connector {self.ctx.name!r} ({self.decl.type}): answer")

    def _open_pit(self, ctx: dict[str, Any]) -> str:
        p = self.decl.paging
        answer = self.request_json("POST", self.config.root + fill(p.pit_path, ctx),
                                   params={"keep_alive": p.keep_alive})
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise VendorDataError(f"{self.decl.type}: the point-in-time answer has no id")
        return answer["id"]

    def url(self, path: str, since: str | None = None) -> str:
        return urljoin(self.config.root + "/", fill(path, self.template_context(since)).lstrip("/"))


class BrokenDeclaration(RuntimeError):
    pass


def _check(decl: Declaration, hooks: Any, hook_fields: tuple[str, ...]) -> None:
    """BrokenDeclaration for a declaration that cannot work."""
    if decl.request is None and not isinstance(decl.paging, HookPaging):
        raise BrokenDeclaration(f"{decl.type}: a request is required unless paging is a hook")
    if isinstance(decl.paging, HookPaging) and (hooks is None or not hasattr(hooks, "fetch_page")):
        raise BrokenDeclaration(f"{decl.type}: HookPaging needs hooks.fetch_page")
    known = {"base_url", "page_size", "since", "incremental", "token_url", "rate_limit_per_minute",
             *decl.config_fields}
    # a GraphQL query is full of braces but is not a template: its inputs travel as variables
    paging_templates = decl.paging.model_dump(exclude={"query"} if isinstance(decl.paging, GraphQLPaging) else None)
    used = template_fields(decl.request) | template_fields(paging_templates) | set(hook_fields)
    used |= template_fields([p.request for p in decl.passes]) | template_fields([p.paging for p in decl.passes])
    if isinstance(decl.auth, OAuth2):
        used |= template_fields(decl.auth.token_url)
    if isinstance(decl.auth, SigV4):
        used.add(decl.auth.region_field)
    unknown = used - known
    if unknown:
        raise BrokenDeclaration(f"{decl.type}: templates use undeclared field(s) {sorted(unknown)}")
    unused = set(decl.config_fields) - used
    if unused:
        raise BrokenDeclaration(f"{decl.type}: declared config field(s) {sorted(unused)} are never used")
    for r in (decl.request, *(p.request for p in decl.passes)):
        if r and r.since_params | r.since_body and not decl.cursor_field:
            raise BrokenDeclaration(f"{decl.type}: since_params/since_body need a cursor_field")
    if decl.cursor_format == "token" and (decl.cursor_field or decl.since_format):
        raise BrokenDeclaration(f"{decl.type}: a token cursor is the listing's (Page.cursor), never a record "
                                "field or a query value: no cursor_field, no since_format")
    if (decl.throttle_codes or decl.throttle_wait) and not (decl.throttle_codes and decl.error_code):
        raise BrokenDeclaration(f"{decl.type}: throttle_codes name codes at error_code; declare both "
                                "(and throttle_wait only with them)")
    if decl.since_format is not None and decl.cursor_format == "int":
        raise BrokenDeclaration(f"{decl.type}: since_format needs a time cursor_format, not 'int'")


def declare(decl: Declaration, normalize: Callable[[dict[str, Any]], dict[str, Any]],
            hooks: Any = None, hook_fields: tuple[str, ...] = ()) -> type[DeclaredConnector]:
    """Build the connector class; fail loudly on a declaration that cannot work."""
    _check(decl, hooks, hook_fields)
    fields: dict[str, Any] = {
        "page_size": (int, Field(decl.page_size, ge=1, le=decl.max_page_size)),
        **{name: ((type(default) if default is not ... else str), default)
           for name, default in decl.config_fields.items()},
    }
    if isinstance(decl.auth, OAuth2):
        fields["token_url"] = (str | None, None)
    config_model = create_model(f"{decl.type.title()}Config", __base__=ConnectorConfig, **fields)
    paging_name = decl.paging.style if isinstance(decl.paging, HookPaging) else decl.paging.kind
    attrs = dict(decl=decl, hooks=hooks, type=decl.type, title=decl.title, category=decl.category,
                 kind=decl.kind, stream=decl.stream, auth=decl.auth.kind, paging=paging_name, id_field=decl.id_field,
                 cursor_field=decl.cursor_field, cursor_format=decl.cursor_format, volatile_fields=decl.volatile,
                 rate_limit_per_minute=decl.rate_limit_per_minute, Config=config_model,
                 normalize=staticmethod(normalize))
    return type(f"{decl.type.title()}Connector", (DeclaredConnector,), attrs)
