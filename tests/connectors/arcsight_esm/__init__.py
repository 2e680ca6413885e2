"""ArcSight ESM: the connector reads one query viewer (its id is config)."""
from __future__ import annotations

from typing import Any


def config(sim: Any) -> dict[str, Any]:
    from connectors.arcsight_esm.simulator import VIEWER_ID

    return {"query_viewer_id": VIEWER_ID}


UNPAGED = "getMatrixData answers the query viewer's whole matrix: ESM has no paging for it (vendor-apis-2.md §24)"
