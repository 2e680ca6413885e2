"""ArcSight ESM's query viewer: the whole matrix in one call (no paging: the query viewer is time-bounded by its
own condition), keys namespaced by version (`qvs.` on 6.7/6.9, `que.` later), rows of `{"value": [{"$": v}]}`
zipped with `columnHeaders` into one record per row."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.base import Page
from nexus_sync.errors import VendorDataError

if TYPE_CHECKING:
    from connectors.machinery import DeclaredConnector

MATRIX = "/www/manager-service/rest/QueryViewerService/getMatrixData"


def _namespaced(body: Any, suffix: str) -> Any:
    """The value under the one key ending in `suffix` ("qvs.return" or "que.return"), whatever the namespace."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(key, str) and key.rpartition(".")[2] == suffix:
                return value
    return None


def _cell(value: Any) -> Any:
    """A `{"$": v}` wrapper's value; a bare value as it is; an empty wrapper None."""
    return value.get("$") if isinstance(value, dict) else value


def matrix_records(body: Any) -> list[dict[str, Any]]:
    """Zip the matrix's rows with its column headers (a short row: the missing cells are None)."""
    matrix = _namespaced(_namespaced(body, "getMatrixDataResponse"), "return")
    if matrix is None:
        raise VendorDataError("arcsight_esm: no getMatrixDataResponse.return in the answer")
    headers = matrix.get("columnHeaders") or [] if isinstance(matrix, dict) else []
    rows = matrix.get("rows") or [] if isinstance(matrix, dict) else []
    if isinstance(headers, str):  # one column: XML-to-JSON gives a scalar where a list was meant
        headers = [headers]
    if isinstance(rows, dict):  # one row, likewise
        rows = [rows]
    if not isinstance(headers, list) or not isinstance(rows, list):
        raise VendorDataError("arcsight_esm: the matrix's columnHeaders / rows are not lists")
    out = []
    for row in rows:
        cells = row.get("value") if isinstance(row, dict) else row
        cells = cells if isinstance(cells, list) else [cells]
        out.append({str(h): _cell(cells[i]) if i < len(cells) else None for i, h in enumerate(headers)})
    return out


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    body = conn.request_json("GET", conn.url(MATRIX), params={"id": conn.template_context()["query_viewer_id"],
                                                                    "alt": "json"})
    records = matrix_records(body)
    if since is not None:  # the query viewer's own window decides what comes; the cursor drops what was seen
        records = [r for r in records if _after(conn, r, since)]
    return Page(records, None, len(records))


def _after(conn: DeclaredConnector, record: dict[str, Any], since: str) -> bool:
    try:
        value = conn.cursor_value(record)
    except ValueError:  # a row without a readable time is kept: never a dropped record
        return True
    return value is None or int(value) >= int(since)  # canonical epoch ms: whole numbers
