"""A vendor's declaration (request, auth, paging, record path, ids, cursor, error envelope), its checks, and
`declare`, which builds the connector class from it (connectors.machinery.connector)."""
from __future__ import annotations

from types import ModuleType
from typing import Annotated, Any, Callable, Literal

from pydantic import BeforeValidator, Field, SerializeAsAny, create_model

from connectors import cursors
from connectors.base import ConnectorConfig
from connectors.machinery.auth import AuthSpec
from connectors.machinery.connector import DeclaredConnector, FetchHook
from connectors.machinery.kinds import BrokenDeclaration
from connectors.machinery.paging import PagingSpec
from connectors.machinery.request import Request
from connectors.machinery.templates import Spec, template_fields
from nexus_sync.http import BodyError

# a declared kind: an instance of a registered kind (or a dict naming one by `kind`), kept as its own class
Auth = Annotated[SerializeAsAny[AuthSpec], BeforeValidator(AuthSpec.parse)]
Paging = Annotated[SerializeAsAny[PagingSpec], BeforeValidator(PagingSpec.parse)]

# template names every declaration may use besides its config fields: the base config, `since` (the
# checked cursor text), `since_epoch` (the cursor as whole epoch seconds, for a time cursor) and `since_epoch_ms`
BASE_FIELDS = {"base_url", "page_size", "since", "since_epoch", "since_epoch_ms", "incremental",
               "rate_limit_per_minute"}


class Pass(Spec):
    """A further listing after the main one, for records the vendor's default listing leaves out (Okta's
    DEPROVISIONED users, Falcon's hidden hosts): its own request, its own paging where it pages otherwise;
    the same records path, ids, cursor and normalize. The page state names its pass ("pass": n)."""

    request: Request
    paging: Paging | None = None  # None: the declaration's paging


class ErrorWhen(Spec):
    """Failures the vendor answers with HTTP 2xx (Exabeam's `{"errors": {...}}`, ArcSight Logger's
    `"status": "error"`): the value at `path` (dotted) of a 2xx body is one of `values` (compared as JSON text:
    false -> "false"), or, with no values, anything but null/false/0/""/[]/{}. Such an answer counts as HTTP
    `status` (per value: `statuses`) and goes through the error table like it: 401/403 refresh the credentials
    once, then an auth failure; 429 (or a declared rate_limit_status) waits, never dropping the page; 5xx retry;
    another 4xx fails. `message`: dotted path of the vendor's text, quoted (redacted, short) in the error."""

    path: str = Field(min_length=1)
    values: tuple[str, ...] = ()
    status: int = Field(500, ge=400, le=599)
    statuses: dict[str, Annotated[int, Field(ge=400, le=599)]] = Field(default_factory=dict)
    message: str | None = None

    def runtime(self, decode: Callable[[bytes], Any] | None) -> BodyError:
        statuses = {value: self.statuses.get(value, self.status) for value in self.values}
        return BodyError(self.path, statuses, None if self.values else self.status, self.message, decode)


class Declaration(Spec):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    category: Literal["edr", "siem", "cloud", "vulnerability", "identity", "itsm", "incident", "threat_intel"]
    kind: Literal["asset", "event", "vulnerability", "user", "incident"]
    stream: str = "default"
    auth: Auth
    request: Request | None = None  # None only where the paging sends its own (a hook, a job)
    paging: Paging
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
    # a rate limit answered inside a body (GraphQL errors[] on HTTP 200, Salesforce's REQUEST_LIMIT_EXCEEDED on a
    # 403): these codes at `error_code` mean "slow down", and the wait is the number at `throttle_wait` (dotted
    # path), in `throttle_wait_unit`;
    # waited out like a 429's Retry-After, never failing the page (nexus_sync.http.BodyThrottle)
    throttle_codes: tuple[str, ...] = ()
    throttle_wait: str | None = None
    throttle_wait_unit: Literal["s", "ms"] = "s"
    # codes at `error_code` that say the credentials were refused whatever the status (AWS JSON services answer
    # 400 UnrecognizedClientException / ExpiredTokenException): a refresh, then an AuthError, like a 401
    auth_codes: tuple[str, ...] = ()
    error_when: ErrorWhen | None = None  # failures answered with HTTP 2xx, through the error table (ErrorWhen)
    # heartbeat paths of the vendor record (a check-in time): a change there alone is not a change of the record
    volatile: tuple[str, ...] = ()
    normalizer_version: str | None = None  # None: a hash of normalize's code (Connector.normalizer_version)
    rate_limit_per_minute: int | None = None
    rate_limit_statuses: tuple[int, ...] = (429,)  # error-table extension: Qualys says 409
    endpoint_limits: dict[str, int] = Field(default_factory=dict)  # path prefix -> requests/min, on top
    page_size: int = 500
    max_page_size: int = 1000
    config_fields: dict[str, Any] = Field(default_factory=dict)  # name -> default (... = required)

    def listing(self, which: int) -> tuple[Request | None, PagingSpec]:
        """The request and paging of listing `which`: 0 the main one, n the pass passes[n - 1]."""
        if not which:
            return self.request, self.paging
        p = self.passes[which - 1]
        return p.request, p.paging or self.paging


def _check(decl: Declaration, hooks: ModuleType | None, hook_fields: tuple[str, ...]) -> None:
    """BrokenDeclaration for a declaration that cannot work."""
    for which in range(len(decl.passes) + 1):
        request, paging = decl.listing(which)
        paging.check(decl, request, hooks)
    pagings = [decl.paging, *(p.paging for p in decl.passes if p.paging)]
    known = BASE_FIELDS | set(decl.config_fields) | set(decl.auth.config_fields())
    for paging in pagings:
        known |= paging.runtime_fields() | set(paging.config_fields())
    requests = [r for r in (decl.request, *(p.request for p in decl.passes)) if r is not None]
    requests += [r for paging in pagings for r in paging.own_requests()]
    used = template_fields(requests) | template_fields([paging.templates() for paging in pagings])
    used |= set(hook_fields) | decl.auth.config_used()
    unknown = used - known
    if unknown:
        raise BrokenDeclaration(f"{decl.type}: templates use undeclared field(s) {sorted(unknown)}")
    unused = set(decl.config_fields) - used
    if unused:
        raise BrokenDeclaration(f"{decl.type}: declared config field(s) {sorted(unused)} are never used")
    if any(r.uses_since() for r in requests) and not decl.cursor_field:
        raise BrokenDeclaration(f"{decl.type}: since_params/since_body/since_form need a cursor_field")
    if decl.cursor_format == "token" and (decl.cursor_field or decl.since_format):
        raise BrokenDeclaration(f"{decl.type}: a token cursor is the listing's (Page.cursor), never a record "
                                "field or a query value: no cursor_field, no since_format")
    if (decl.throttle_codes or decl.throttle_wait) and not (decl.throttle_codes and decl.error_code):
        raise BrokenDeclaration(f"{decl.type}: throttle_codes name codes at error_code; declare both "
                                "(and throttle_wait only with them)")
    if decl.auth_codes and not decl.error_code:
        raise BrokenDeclaration(f"{decl.type}: auth_codes name codes at error_code; declare both")
    if decl.error_when and set(decl.error_when.statuses) - set(decl.error_when.values):
        raise BrokenDeclaration(f"{decl.type}: error_when.statuses names values not in error_when.values")
    if decl.since_format is not None and decl.cursor_format == "int":
        raise BrokenDeclaration(f"{decl.type}: since_format needs a time cursor_format, not 'int'")


def declare(decl: Declaration, normalize: Callable[[dict[str, Any]], dict[str, Any]],
            hooks: ModuleType | None = None, hook_fields: tuple[str, ...] = ()) -> type[DeclaredConnector]:
    """Build the connector class; fail loudly on a declaration that cannot work. `hooks`: the vendor's hooks
    module (fetch_page(conn, state, since) replaces the declared page; after_persist, read by the pipeline);
    `hook_fields`: the config fields its hooks read."""
    _check(decl, hooks, hook_fields)
    fields: dict[str, Any] = {
        "page_size": (int, Field(decl.page_size, ge=1, le=decl.max_page_size)),
        **decl.auth.config_fields(),
        **{name: value for paging in (decl.paging, *(p.paging for p in decl.passes if p.paging))
           for name, value in paging.config_fields().items()},
        **{name: ((type(default) if default is not ... else str), default)
           for name, default in decl.config_fields.items()},
    }
    config_model = create_model(f"{decl.type.title()}Config", __base__=ConnectorConfig, **fields)
    fetch_hook: FetchHook | None = getattr(hooks, "fetch_page", None)
    attrs = dict(decl=decl, hooks=hooks, fetch_hook=staticmethod(fetch_hook) if fetch_hook else None,
                 type=decl.type, title=decl.title, category=decl.category, kind=decl.kind, stream=decl.stream,
                 auth=decl.auth.kind, paging=decl.paging.describe(), id_field=decl.id_field,
                 cursor_field=decl.cursor_field, cursor_format=decl.cursor_format, volatile_fields=decl.volatile,
                 normalizer_version=decl.normalizer_version,
                 rate_limit_per_minute=decl.rate_limit_per_minute, Config=config_model,
                 normalize=staticmethod(normalize))
    return type(f"{decl.type.title()}Connector", (DeclaredConnector,), attrs)
