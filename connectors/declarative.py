"""Declared connectors: a vendor is a Declaration (request, auth, paging, record path, ids, cursor)
plus a pure normalize(raw) -> data. Code hooks only where the vendor really differs.

    DECLARATION = Declaration(type="sentinelone", ..., auth=HeaderAuth(template="ApiToken {token}"),
                              request=Request(path="/web/api/v2.1/agents", params={"limit": "{page_size}"}),
                              records="data", paging=TokenPaging(token="pagination.nextCursor", param="cursor"))
    CONNECTOR = declare(DECLARATION, normalize)

Templates: a string value "{name}" is filled from the connector's config (base_url, page_size and the
declared config_fields), `since` (the saved cursor, only in `since_params`/`since_body`) and, in auth
templates, the secrets. Every declared config field must be used somewhere: an unused one fails loudly.
"""
from __future__ import annotations

import re
import string
import threading
import time
from typing import Any, Callable, ClassVar, Literal, Union
from urllib.parse import urljoin

import orjson
import requests
from pydantic import BaseModel, ConfigDict, Field, create_model

from connectors.base import Connector, ConnectorConfig, Page, _dig
from nexus_sync.errors import AuthError, ConfigError, TransientError, VendorDataError

_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------ request
class Request(_Spec):
    method: Literal["GET", "POST"] = "GET"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    since_params: dict[str, Any] = Field(default_factory=dict)  # added only when a cursor is known
    since_body: dict[str, Any] = Field(default_factory=dict)  # merged into json_body when a cursor is known


# --------------------------------------------------------------------------------- auth
class HeaderAuth(_Spec):
    """A header built from secrets: `SSWS {token}`, `ApiToken {token}`, `accessKey={access_key};...`."""

    kind: Literal["header"] = "header"
    header: str = "Authorization"
    template: str = "Bearer {token}"


class BasicAuth(_Spec):
    kind: Literal["basic"] = "basic"
    extra_headers: dict[str, str] = Field(default_factory=dict)  # e.g. Qualys' X-Requested-With


class OAuth2(_Spec):
    """Client credentials; token_url may use config fields; config `token_url` overrides it."""

    kind: Literal["oauth2"] = "oauth2"
    token_url: str
    scope: str | None = None
    form: dict[str, str] = Field(default_factory=dict)  # extra token-request fields, e.g. Wiz' audience


class SigV4(_Spec):
    """AWS Signature V4 by botocore; secrets access_key_id, secret_access_key[, session_token]."""

    kind: Literal["sigv4"] = "sigv4"
    service: str
    region_field: str = "region"


class SessionLogin(_Spec):
    """POST credentials to a login path, read a session token, send it in a header."""

    kind: Literal["session"] = "session"
    path: str
    form: dict[str, str]  # templates over secrets, e.g. {"username": "{username}"}
    token: str  # dotted path of the token in the JSON answer
    header: str = "Authorization"
    template: str = "Bearer {session}"
    lifetime_seconds: int = 3000


AuthSpec = Union[HeaderAuth, BasicAuth, OAuth2, SigV4, SessionLogin]


# ------------------------------------------------------------------------------- paging
class _Paging(_Spec):
    def first(self, req: dict[str, Any], size: int) -> dict[str, Any]:
        return req

    def apply(self, req: dict[str, Any], state: dict[str, Any], size: int) -> dict[str, Any]:
        raise NotImplementedError

    def next(self, state: dict[str, Any] | None, resp: requests.Response, body: Any,
             records: list[Any], size: int) -> dict[str, Any] | None:
        raise NotImplementedError


def _put(req: dict[str, Any], where: str, key: str, value: Any) -> None:
    if where == "body":
        req["json"] = {**(req.get("json") or {}), key: value}
    else:
        req["params"] = {**req["params"], key: value}


class OffsetPaging(_Paging):
    kind: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    where: Literal["params", "body"] = "params"
    total: str | None = None  # dotted path of the total count, when the vendor gives one
    start: int = 0

    def first(self, req: dict[str, Any], size: int) -> dict[str, Any]:
        _put(req, self.where, self.limit_param, size)
        _put(req, self.where, self.offset_param, self.start)
        return req

    def apply(self, req: dict[str, Any], state: dict[str, Any], size: int) -> dict[str, Any]:
        self.first(req, size)
        _put(req, self.where, self.offset_param, state["offset"])
        return req

    def next(self, state, resp, body, records, size):
        offset = (state or {}).get("offset", self.start) + len(records)
        total = _dig(body, self.total, required=False) if self.total else None
        if not records or len(records) < size or (total is not None and offset - self.start >= int(total)):
            return None
        return {"offset": offset}


class PagePaging(_Paging):
    kind: Literal["page"] = "page"
    page_param: str = "page"
    size_param: str = "size"
    where: Literal["params", "body"] = "params"
    start: int = 1
    total_pages: str | None = None

    def first(self, req: dict[str, Any], size: int) -> dict[str, Any]:
        _put(req, self.where, self.size_param, size)
        _put(req, self.where, self.page_param, self.start)
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        _put(req, self.where, self.page_param, state["page"])
        return req

    def next(self, state, resp, body, records, size):
        page = (state or {}).get("page", self.start)
        pages = _dig(body, self.total_pages, required=False) if self.total_pages else None
        if not records or len(records) < size or (pages is not None and page - self.start + 1 >= int(pages)):
            return None
        return {"page": page + 1}


class TokenPaging(_Paging):
    """An opaque token in the response body, sent back as a parameter (or body field)."""

    kind: Literal["token"] = "token"
    token: str  # dotted path in the response
    param: str
    where: Literal["params", "body"] = "params"
    size_param: str | None = None
    total: str | None = None  # dotted path of the total: stop once that many records were seen

    def first(self, req, size):
        if self.size_param:
            _put(req, self.where, self.size_param, size)
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        _put(req, self.where, self.param, state["token"])
        return req

    def next(self, state, resp, body, records, size):
        token = _dig(body, self.token, required=False)
        seen = (state or {}).get("seen", 0) + len(records)
        total = _dig(body, self.total, required=False) if self.total else None
        if not token or not records or (total is not None and seen >= int(total)):
            return None
        return {"token": token, "seen": seen}


class NextUrlPaging(_Paging):
    """The next page's full URL: in the body (`@odata.nextLink`) or the Link header (rel="next")."""

    kind: Literal["next_url"] = "next_url"
    next_path: str | None = None  # key in the body (e.g. "@odata.nextLink"); None = the Link header
    size_param: str | None = None

    def first(self, req, size):
        if self.size_param:
            req["params"] = {**req["params"], self.size_param: size}
        return req

    def apply(self, req, state, size):
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state, resp, body, records, size):
        if self.next_path is None:
            url = resp.links.get("next", {}).get("url")
        else:
            url = body.get(self.next_path) if isinstance(body, dict) else None
        return {"url": url} if url and records else None


class GraphQLPaging(_Paging):
    """Relay-style connection: {nodes, pageInfo {hasNextPage, endCursor}} at `connection`."""

    kind: Literal["graphql"] = "graphql"
    query: str
    connection: str  # dotted path, e.g. "data.issues"
    size_var: str = "first"
    cursor_var: str = "after"
    variables: dict[str, Any] = Field(default_factory=dict)

    def first(self, req, size):
        # variables from the request (since_body: {"variables": {...}}) merge over the declared ones
        variables = _merge(self.variables, (req.get("json") or {}).get("variables") or {})
        req["json"] = {"query": self.query, "variables": {**variables, self.size_var: size, self.cursor_var: None}}
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        req["json"]["variables"][self.cursor_var] = state["cursor"]
        return req

    def next(self, state, resp, body, records, size):
        if isinstance(body, dict) and body.get("errors"):
            raise VendorDataError(f"GraphQL errors: {str(body['errors'])[:300]}")
        info = _dig(body, f"{self.connection}.pageInfo", required=False) or {}
        return {"cursor": info["endCursor"]} if info.get("hasNextPage") and records else None


class SearchAfterPaging(_Paging):
    """Elasticsearch/OpenSearch: a point in time, sorted search, `search_after` = last hit's sort."""

    kind: Literal["search_after"] = "search_after"
    pit_path: str  # e.g. "/{index}/_pit"
    keep_alive: str = "1m"
    sort: list[dict[str, Any]]

    def first(self, req, size):
        req["json"] = {**(req.get("json") or {}), "size": size, "sort": self.sort}
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        req["json"]["pit"] = {"id": state["pit"], "keep_alive": self.keep_alive}
        if state.get("after") is not None:
            req["json"]["search_after"] = state["after"]
        return req

    def next(self, state, resp, body, records, size):
        pit = body.get("pit_id") or (state or {}).get("pit")
        if not records or len(records) < size:
            return None
        return {"pit": pit, "after": records[-1]["sort"]}


class XmlTruncationPaging(_Paging):
    """Qualys: a WARNING with a URL to the next batch while more records exist."""

    kind: Literal["xml_truncation"] = "xml_truncation"
    next_url: str  # dotted path in the parsed XML, e.g. "RESPONSE.WARNING.URL"

    def apply(self, req, state, size):
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state, resp, body, records, size):
        url = _dig(body, self.next_url, required=False)
        return {"url": url.strip()} if url and records else None


class HookPaging(_Paging):
    """Paging done by the connector's own fetch_page hook (async export jobs, search jobs)."""

    kind: Literal["hook"] = "hook"
    style: str  # described in `connectors types`, e.g. "async export + chunks"


PagingSpec = Union[OffsetPaging, PagePaging, TokenPaging, NextUrlPaging, GraphQLPaging, SearchAfterPaging,
                   XmlTruncationPaging, HookPaging]


# -------------------------------------------------------------------------- declaration
class Declaration(_Spec):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    category: Literal["edr", "siem", "cloud", "vulnerability", "identity", "itsm", "incident", "threat_intel"]
    kind: Literal["asset", "event", "vulnerability", "user", "incident"]
    stream: str = "default"
    auth: AuthSpec = Field(discriminator="kind")
    request: Request | None = None  # None only with HookPaging
    paging: PagingSpec = Field(discriminator="kind")
    records: str = ""  # dotted path of the record list in the answer ("" = the answer is the list)
    record_key: str | None = None  # each listed item wraps its record here (Relay `edges[].node`: "node")
    format: Literal["json", "xml"] = "json"
    id_field: str
    cursor_field: str | None = None
    rate_limit_per_minute: int | None = None
    rate_limit_statuses: tuple[int, ...] = (429,)  # error-table extension: Qualys says 409
    endpoint_limits: dict[str, int] = Field(default_factory=dict)  # path prefix -> requests/min, on top
    page_size: int = 500
    max_page_size: int = 1000
    config_fields: dict[str, Any] = Field(default_factory=dict)  # name -> default (... = required)


def _template_fields(value: Any) -> set[str]:
    if isinstance(value, str):
        return {f for _, f, _, _ in string.Formatter().parse(value) if f}
    if isinstance(value, dict):
        return set().union(*(_template_fields(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_template_fields(v) for v in value)) if value else set()
    if isinstance(value, BaseModel):
        return _template_fields(value.model_dump())
    return set()


def fill(value: Any, ctx: dict[str, Any]) -> Any:
    """Fill "{name}" templates; a value that is exactly one placeholder keeps the field's type."""
    if isinstance(value, str):
        whole = _FIELD.fullmatch(value)
        if whole:
            return ctx[whole.group(1)]
        return value.format(**ctx) if "{" in value else value
    if isinstance(value, dict):
        return {k: fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    return value


# ----------------------------------------------------------------------------- runtime
class _TemplateHeader:
    """HeaderAuth at run time: re-reads the store on refresh()."""

    def __init__(self, secrets: Any, spec: HeaderAuth):
        self.secrets, self.spec = secrets, spec
        self.fields = tuple(sorted(_template_fields(spec.template)))
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, self._refresh).items()}
        self._refresh = False
        headers[self.spec.header] = self.spec.template.format(**values)

    def refresh(self) -> None:
        self._refresh = True


class _Basic:
    def __init__(self, secrets: Any, spec: BasicAuth):
        self.secrets, self.spec = secrets, spec
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        import base64

        s = self.secrets.get(("username", "password"), self._refresh)
        self._refresh = False
        pair = f"{s['username'].get_secret_value()}:{s['password'].get_secret_value()}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        headers.update(self.spec.extra_headers)

    def refresh(self) -> None:
        self._refresh = True


class _SessionAuth:
    _sessions: ClassVar[dict[str, tuple[str, float]]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: Any, spec: SessionLogin, root: str, timeout: float):
        self.secrets, self.spec, self.root, self.timeout = secrets, spec, root, timeout
        self.fields = tuple(sorted(_template_fields(spec.form)))
        self._key = f"{secrets.connector_name}|{root}"

    def _login(self, refresh: bool) -> tuple[str, float]:
        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, refresh).items()}
        try:
            resp = requests.post(self.root + self.spec.path, data=fill(self.spec.form, values),
                                 timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"session login {self.spec.path}: {type(exc).__name__}") from None
        if resp.status_code in (400, 401, 403):
            raise AuthError(f"session login {self.spec.path} refused: {resp.status_code}")
        if resp.status_code >= 300:
            raise TransientError(f"session login {self.spec.path}: {resp.status_code}")
        return str(_dig(resp.json(), self.spec.token)), time.time() + self.spec.lifetime_seconds

    def apply(self, headers: dict[str, str], force: bool = False) -> None:
        with self._lock:
            hit = self._sessions.get(self._key)
            if force or hit is None or hit[1] <= time.time():
                hit = self._sessions[self._key] = self._login(force)
        headers[self.spec.header] = self.spec.template.format(session=hit[0])

    def refresh(self) -> None:
        self.apply({}, force=True)


class _SigV4:
    """botocore signs the prepared request; the HTTP client calls sign(request) before sending."""

    def __init__(self, secrets: Any, spec: SigV4, region: str):
        self.secrets, self.spec, self.region = secrets, spec, region
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        pass  # signing needs the whole request: see sign()

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        s = self.secrets.get(("access_key_id", "secret_access_key"), self._refresh)
        self._refresh = False
        try:
            token = self.secrets.get(("session_token",))["session_token"].get_secret_value()
        except ConfigError:
            token = None
        creds = Credentials(s["access_key_id"].get_secret_value(), s["secret_access_key"].get_secret_value(), token)
        aws = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(creds, self.spec.service, self.region).add_auth(aws)
        return dict(aws.headers.items())

    def refresh(self) -> None:
        self._refresh = True


class DeclaredConnector(Connector):
    """A connector built from a Declaration. Hooks (module functions) may replace fetch_page."""

    decl: ClassVar[Declaration]
    hooks: ClassVar[Any] = None

    def __init__(self, ctx):
        super().__init__(ctx)
        self.auth_ = self._make_auth()

    def template_context(self, since: str | None = None) -> dict[str, Any]:
        cfg = self.config.model_dump()
        return {**cfg, "base_url": self.config.root, "page_size": self.config.page_size, "since": since}

    def _make_auth(self) -> Any:
        a, secrets = self.decl.auth, self.ctx.secrets
        if isinstance(a, HeaderAuth):
            return _TemplateHeader(secrets, a)
        if isinstance(a, BasicAuth):
            return _Basic(secrets, a)
        if isinstance(a, OAuth2):
            from connectors.auth import OAuth2ClientCredentials

            url = getattr(self.config, "token_url", None) or fill(a.token_url, self.template_context())
            extra = {"grant_type": "client_credentials", **({"scope": a.scope} if a.scope else {}), **a.form}
            return OAuth2ClientCredentials(secrets, url, extra, timeout=self.http.timeout)
        if isinstance(a, SessionLogin):
            return _SessionAuth(secrets, a, self.config.root, self.http.timeout)
        return _SigV4(secrets, a, getattr(self.config, a.region_field))

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        if self.hooks is not None and hasattr(self.hooks, "fetch_page"):
            return self.hooks.fetch_page(self, state, since)
        return self.fetch_declared(state, since)

    # the generic page: build the request, send it, pick the records, work out the next page
    def fetch_declared(self, state: dict[str, Any] | None, since: str | None) -> Page:
        d, size = self.decl, self.config.page_size
        ctx = self.template_context(since)
        r = d.request
        req: dict[str, Any] = {"method": r.method, "url": self.config.root + fill(r.path, ctx),
                               "params": fill(r.params, ctx), "json": fill(r.json_body, ctx),
                               "headers": fill(r.headers, ctx)}
        if since:
            req["params"] = {**req["params"], **fill(r.since_params, ctx)}
            if r.since_body:
                req["json"] = _merge(req["json"] or {}, fill(r.since_body, ctx))
        req = d.paging.apply(req, state, size) if state else d.paging.first(req, size)
        if isinstance(d.paging, SearchAfterPaging) and not state:
            state = {"pit": self._open_pit(ctx), "after": None}
            req = d.paging.apply(req, state, size)
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
        return Page(records, d.paging.next(state, resp, body, records, size))

    def send(self, req: dict[str, Any]) -> requests.Response:
        kwargs: dict[str, Any] = {"params": req.get("params") or None, "headers": req.get("headers") or {}}
        if req.get("json") is not None:
            kwargs["json"] = req["json"]
        if isinstance(self.auth_, _SigV4):
            return self._send_signed(req, kwargs)
        return self.http.request(req["method"], req["url"], auth=self.auth_,
                                 rate_limit_statuses=self.decl.rate_limit_statuses, **kwargs)

    def _send_signed(self, req: dict[str, Any], kwargs: dict[str, Any]) -> requests.Response:
        import orjson

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

            return parse(resp.content)
        try:
            return orjson.loads(resp.content)
        except ValueError:
            raise VendorDataError(f"{self.decl.type}: answer is not valid JSON ({len(resp.content)} bytes)") from None

    def _open_pit(self, ctx: dict[str, Any]) -> str:
        p = self.decl.paging
        resp = self.http.request("POST", self.config.root + fill(p.pit_path, ctx),
                                 params={"keep_alive": p.keep_alive}, auth=self.auth_)
        return resp.json()["id"]

    def url(self, path: str, since: str | None = None) -> str:
        return urljoin(self.config.root + "/", fill(path, self.template_context(since)).lstrip("/"))


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class BrokenDeclaration(RuntimeError):
    pass


def declare(decl: Declaration, normalize: Callable[[dict[str, Any]], dict[str, Any]],
            hooks: Any = None, hook_fields: tuple[str, ...] = ()) -> type[DeclaredConnector]:
    """Build the connector class; fail loudly on a declaration that cannot work."""
    if decl.request is None and not isinstance(decl.paging, HookPaging):
        raise BrokenDeclaration(f"{decl.type}: a request is required unless paging is a hook")
    if isinstance(decl.paging, HookPaging) and (hooks is None or not hasattr(hooks, "fetch_page")):
        raise BrokenDeclaration(f"{decl.type}: HookPaging needs hooks.fetch_page")
    known = {"base_url", "page_size", "since", "incremental", "token_url", "rate_limit_per_minute",
             *decl.config_fields}
    # a GraphQL query is full of braces but is not a template: its inputs travel as variables
    paging_templates = decl.paging.model_dump(exclude={"query"} if isinstance(decl.paging, GraphQLPaging) else None)
    used = _template_fields(decl.request) | _template_fields(paging_templates) | set(hook_fields)
    if isinstance(decl.auth, OAuth2):
        used |= _template_fields(decl.auth.token_url)
    if isinstance(decl.auth, SigV4):
        used.add(decl.auth.region_field)
    unknown = used - known
    if unknown:
        raise BrokenDeclaration(f"{decl.type}: templates use undeclared field(s) {sorted(unknown)}")
    unused = set(decl.config_fields) - used
    if unused:
        raise BrokenDeclaration(f"{decl.type}: declared config field(s) {sorted(unused)} are never used")
    if decl.request and decl.request.since_params | decl.request.since_body and not decl.cursor_field:
        raise BrokenDeclaration(f"{decl.type}: since_params/since_body need a cursor_field")

    fields: dict[str, Any] = {
        "page_size": (int, Field(decl.page_size, ge=1, le=decl.max_page_size)),
        **{name: ((type(default) if default is not ... else str), default)
           for name, default in decl.config_fields.items()},
    }
    if isinstance(decl.auth, OAuth2):
        fields["token_url"] = (str | None, None)
    config_model = create_model(f"{decl.type.title()}Config", __base__=ConnectorConfig, **fields)
    paging_name = decl.paging.style if isinstance(decl.paging, HookPaging) else decl.paging.kind
    auth_name = decl.auth.kind

    attrs = dict(decl=decl, hooks=hooks, type=decl.type, title=decl.title, category=decl.category,
                 kind=decl.kind, stream=decl.stream, auth=auth_name, paging=paging_name, id_field=decl.id_field,
                 cursor_field=decl.cursor_field, rate_limit_per_minute=decl.rate_limit_per_minute,
                 Config=config_model, normalize=staticmethod(normalize))
    return type(f"{decl.type.title()}Connector", (DeclaredConnector,), attrs)
