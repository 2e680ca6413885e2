"""A simulated vendor's request and answer: what a route receives and returns."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import parse_qs

import orjson


class BadRequest(Exception):
    """Raised by a route for a client error: the vendor's 400 answer with this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Request:
    method: str
    path: str  # vendor-relative: "/devices/queries/devices/v1"
    query: dict[str, list[str]]
    raw_query: str
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes
    base_url: str  # this vendor's base as the client addressed it: http://host:port/okta
    started: float = field(default_factory=time.perf_counter)

    @overload
    def arg(self, name: str) -> str | None: ...

    @overload
    def arg(self, name: str, default: str) -> str: ...

    @overload
    def arg(self, name: str, default: None) -> str | None: ...

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"invalid value for {name}: {raw!r} (expected an integer)") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            raise BadRequest(f"{name} must be in {bounds}, got {value}")
        return value

    def json(self) -> Any:
        try:
            return orjson.loads(self.body or b"null")
        except orjson.JSONDecodeError:
            raise BadRequest("request body is not valid JSON") from None

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    @property
    def url(self) -> str:
        return self.base_url + self.path + (f"?{self.raw_query}" if self.raw_query else "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    abort: str | None = None  # fault injection: "reset" (RST, no answer) or "truncate" (half a body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), list(headers or []))
