"""VMware/Broadcom Carbon Black Cloud's API dialect (../shared/vendor-apis.md §4, vendor-apis-2.md §20),
shared by the simulated devices and alerts (connectors/carbonblack_*/simulator.py).

* ``X-Auth-Token: <API secret key>/<API id>`` (24 and 10 upper-case alphanumerics): a token not of that form or
  not the configured key answers 401; the org key is in every path, another org's key answers 403.
* Searches are ``POST .../_search`` with ``{"criteria", "rows", "start", "sort"}``; ``start`` counts from 1
  (as the SDK sends it; 0 reads as 1, the API's own base is unconfirmed), ``rows`` at most 10,000; the answer
  ``{"results": [...], "num_found": N}``.
* Errors ``{"success": false, "message": ...}``. No documented rate limit or headers: over the limit, a bare 429.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

from nexus_sync.simulator.messages import BadRequest, Request, Response, json_response
from nexus_sync.simulator.vendor import VendorSim

ORG_KEY = "7DESJ9GN"
MAX_ROWS, DEFAULT_ROWS = 10_000, 20
_TOKEN = re.compile(r"([A-Z0-9]{24})/([A-Z0-9]{10})")


class CarbonBlackSim(VendorSim):
    default_credentials = {"api_secret_key": "SIMSECRETKEY0123456789AB", "api_id": "SIMAPIID01"}
    org_key: ClassVar[str] = ORG_KEY

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"success": False, "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "Too Many Requests")  # no Retry-After, no rate-limit headers

    def authenticate(self, req: Request) -> Response | None:
        token = _TOKEN.fullmatch(req.headers.get("X-Auth-Token") or "")
        if token is None or token.groups() != (self.credentials["api_secret_key"], self.credentials["api_id"]):
            return self.error(401, "Unauthorized")
        return None

    def check_org(self, org_key: str) -> None:
        if org_key != self.org_key:
            raise BadRequest(f"not authorized for org {org_key[:16]!r}", 403)

    def search_window(self, body: dict[str, Any]) -> tuple[int, int]:
        """(0-based first index, rows) of a search body."""
        start, rows = body.get("start", 1), body.get("rows", DEFAULT_ROWS)
        if not isinstance(start, int) or not isinstance(rows, int) or start < 0 or rows < 1:
            raise BadRequest("start and rows must be non-negative integers")
        if rows > MAX_ROWS:
            raise BadRequest(f"rows must be at most {MAX_ROWS}")
        return max(start, 1) - 1, rows

    def search_body(self, req: Request, org_key: str) -> dict[str, Any]:
        self.check_org(org_key)
        body = req.json()
        if not isinstance(body, dict):
            raise BadRequest("the search body must be a JSON object")
        return body

    def results(self, rows: list[dict], body: dict[str, Any]) -> Response:
        first, count = self.search_window(body)
        return json_response(200, {"results": rows[first:first + count], "num_found": len(rows)})
