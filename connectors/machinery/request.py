"""A declared request: method, path, parameters and body as "{name}" templates (connectors.machinery.templates),
with what is added only when a saved cursor is known (`since_*`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from connectors.machinery.templates import Spec, fill, merge

RequestDict = dict[str, Any]  # method, url, params, json, data, headers: what DeclaredConnector.send takes


class Request(Spec):
    method: Literal["GET", "POST"] = "GET"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = None
    form: dict[str, Any] | None = None  # a form-encoded body (application/x-www-form-urlencoded)
    headers: dict[str, str] = Field(default_factory=dict)
    since_params: dict[str, Any] = Field(default_factory=dict)  # added only when a cursor is known
    since_body: dict[str, Any] = Field(default_factory=dict)  # merged into json_body when a cursor is known
    since_form: dict[str, Any] = Field(default_factory=dict)  # merged into form when a cursor is known

    def uses_since(self) -> bool:
        return bool(self.since_params or self.since_body or self.since_form)

    def build(self, root: str, ctx: dict[str, Any], path_ctx: dict[str, Any] | None = None) -> RequestDict:
        """The request filled from ctx (config, `since`...); path_ctx over ctx in the path only (a vendor's
        job id, quoted as one path segment)."""
        req: RequestDict = {"method": self.method, "url": root + fill(self.path, {**ctx, **(path_ctx or {})}),
                            "params": fill(self.params, ctx), "json": fill(self.json_body, ctx),
                            "data": fill(self.form, ctx), "headers": fill(self.headers, ctx)}
        if ctx.get("since"):
            req["params"] = {**req["params"], **fill(self.since_params, ctx)}
            if self.since_body:
                req["json"] = merge(req["json"] or {}, fill(self.since_body, ctx))
            if self.since_form:
                req["data"] = {**(req["data"] or {}), **fill(self.since_form, ctx)}
        return req
