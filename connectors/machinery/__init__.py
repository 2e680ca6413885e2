"""The machinery of declared connectors: a vendor is a Declaration (request, auth, paging, record path, ids,
cursor, error envelope) plus a pure normalize(raw) -> data; code hooks only where the vendor really differs.

    DECLARATION = Declaration(type="sentinelone", ..., auth=HeaderAuth(template="ApiToken {token}"),
                              request=Request(path="/web/api/v2.1/agents", params={"limit": "{page_size}"}),
                              records="data", paging=TokenPaging(token="pagination.nextCursor", param="cursor"),
                              error_code="errors.0.code", error_message="errors.0.detail")
    CONNECTOR = declare(DECLARATION, normalize)

Templates: a string value "{name}" is filled from the connector's config (base_url, page_size and the
declared config_fields), `since` / `since_epoch` (the saved cursor, only in `since_*` request parts) and, in
auth templates, the secrets. Every declared config field must be used somewhere: an unused one fails loudly.

`since` is the saved cursor re-parsed as the declared `cursor_format` (a bogus one is a ConfigError: a full
sync is needed), rendered by `since_format` when the vendor's query wants another layout, and checked to hold
nothing a query language reads as syntax.

Rooms: declaration (Declaration, Pass, declare and its checks), request (Request), connector (the runtime and
the hooks' API), auth/ and paging/ (one module per kind, each owning its spec and its runtime), templates, xml.
"""
from __future__ import annotations

from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.auth.basic import BasicAuth
from connectors.machinery.auth.google import GoogleServiceAccount
from connectors.machinery.auth.header import HeaderAuth
from connectors.machinery.auth.oauth2 import OAuth2, OAuth2ClientCredentials
from connectors.machinery.auth.session import Logout, SessionLogin
from connectors.machinery.auth.sigv4 import SigV4
from connectors.machinery.connector import DeclaredConnector, FetchHook, State
from connectors.machinery.declaration import Declaration, ErrorWhen, Pass, declare
from connectors.machinery.kinds import BrokenDeclaration
from connectors.machinery.paging import PagingSpec
from connectors.machinery.paging.graphql import GraphQLPaging
from connectors.machinery.paging.hook import HookPaging
from connectors.machinery.paging.job import JobFailed, JobPaging
from connectors.machinery.paging.job_window import JobWindow
from connectors.machinery.paging.marker import MarkerPaging
from connectors.machinery.paging.next_url import NextUrlPaging
from connectors.machinery.paging.offset import OffsetPaging
from connectors.machinery.paging.page import PagePaging
from connectors.machinery.paging.search_after import SearchAfterPaging
from connectors.machinery.paging.token import TokenPaging
from connectors.machinery.paging.xml_truncation import XmlTruncationPaging
from connectors.machinery.request import Request
from connectors.machinery.templates import fill, vendor_text

__all__ = ["Auth", "AuthSpec", "BasicAuth", "BrokenDeclaration", "Declaration", "DeclaredConnector", "ErrorWhen", "FetchHook",
           "GoogleServiceAccount", "GraphQLPaging", "HeaderAuth", "HookPaging", "JobFailed", "JobPaging",
           "JobWindow", "Logout", "MarkerPaging", "NextUrlPaging", "OAuth2",
           "OAuth2ClientCredentials", "OffsetPaging", "PagePaging", "PagingSpec", "Pass", "Request",
           "SearchAfterPaging", "SessionLogin", "SigV4", "State", "TokenPaging", "XmlTruncationPaging", "declare",
           "fill", "vendor_text"]
