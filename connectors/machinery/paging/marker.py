"""A marker and a truncation flag in the answer (the AWS Query protocol: IAM's `Marker` + `IsTruncated`): more
pages exist exactly while the flag is true, even when a page holds fewer records than asked for (or none);
the marker goes back as a parameter, a form field (Query) or a JSON body field."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, put
from connectors.machinery.request import RequestDict
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig

TRUE = (True, "true", "True")  # XML answers carry the flag as text


class MarkerPaging(PagingSpec):
    kind: Literal["marker"] = "marker"
    marker: str  # dotted path of the marker in the answer
    truncated: str  # dotted path of the "more pages" flag
    param: str = "Marker"
    where: Literal["params", "body", "form"] = "form"
    size_param: str | None = None  # "MaxItems"

    def describe(self) -> str:
        return f"{self.param} while {self.truncated.rpartition('.')[2]}"

    def first(self, req: RequestDict, size: int) -> RequestDict:
        if self.size_param:
            self._put(req, self.size_param, size)
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        self._put(req, self.param, state["marker"])
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        if dig(body, self.truncated) not in TRUE:
            return None
        marker = dig(body, self.marker)
        if not isinstance(marker, str) or not marker:
            raise VendorDataError(f"the answer says more pages follow ({self.truncated}) but gives no marker "
                                  f"at {self.marker!r}")
        if state and marker == state.get("marker"):  # the same marker again would page forever
            raise VendorDataError(f"the vendor repeated the marker at {self.marker!r}")
        return {"marker": marker}

    def _put(self, req: RequestDict, key: str, value: Any) -> None:
        if self.where == "form":
            req["data"] = {**(req.get("data") or {}), key: value}
        else:
            put(req, self.where, key, value)
