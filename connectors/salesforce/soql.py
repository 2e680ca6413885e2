"""A Salesforce listing declared once: an sObject's fields read by SOQL through `/query`, ordered by a time
field and the Id, incremental by `<time field> > <literal>` (vendor-apis-2.md §35). Shared by the users
(connectors/salesforce) and the login history (connectors/salesforce_logins).

The time trap: Salesforce writes `2024-06-01T10:00:00.000+0000` (no colon in the offset). Records' times are
parsed into the canonical UTC cursor; the next query's literal is written from that cursor, unquoted and in
SOQL's own form (`2024-06-01T10:00:00.000Z`), never from the vendor's text."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, NextUrlPaging, OAuth2, Request


def soql_declaration(sobject: str, fields: str, time_field: str, **decl: Any) -> Declaration:
    """The Declaration of `SELECT <fields> FROM <sobject> [WHERE <time_field> > {since}] ORDER BY <time_field>,
    Id`; `decl`: type, title, category, kind, stream (and any other Declaration field)."""
    order = f"ORDER BY {time_field}, Id"
    return Declaration(
        # base_url: the org's My Domain (https://acme.my.salesforce.com), where the client-credentials flow
        # runs (not login./test.salesforce.com) and where the token's instance_url points; no expires_in: a
        # dead session answers 401 INVALID_SESSION_ID, and the token is asked again
        auth=OAuth2(token_url="{base_url}/services/oauth2/token", client_auth="basic"),
        request=Request(path="/services/data/{api_version}/query",
                        params={"q": f"SELECT {fields} FROM {sobject} {order}"},
                        since_params={"q": f"SELECT {fields} FROM {sobject} WHERE {time_field} > {{since}} {order}"},
                        headers={"Sforce-Query-Options": "batchSize={page_size}"}),  # a suggestion (200..2000)
        # the relative /services/data/vNN.N/query/<locator>-<n>, resolved on base_url's origin, until
        # done: true; a locator is never kept between syncs (they expire when idle)
        paging=NextUrlPaging(next_path="nextRecordsUrl"),
        records="records", id_field="Id", cursor_field=time_field,
        since_format="%Y-%m-%dT%H:%M:%S.%3fZ",  # SOQL's dateTime literal, to the millisecond the vendor keeps
        error_code="0.errorCode", error_message="0.message",  # [{"message", "errorCode"}]
        throttle_codes=("REQUEST_LIMIT_EXCEEDED",),  # the daily allocation: a 403, not a 429
        page_size=2000, max_page_size=2000,
        config_fields={"api_version": "v59.0"},
        **decl,
    )
