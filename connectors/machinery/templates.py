"""The declaration language shared by requests, auth and paging specs: a strict frozen base model, and
"{name}" templates filled from the connector's config, `since` and (in auth templates) its secrets; and
vendor_text, the only form in which vendor text enters an error message."""
from __future__ import annotations

import re
import string
from typing import Any

from pydantic import BaseModel, ConfigDict

from nexus_sync.credentials import redact

_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


class Spec(BaseModel):
    """A declared spec: unknown keys fail, values never change after declaration."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def template_fields(value: Any) -> set[str]:
    """Every "{name}" used anywhere in value (strings, dicts, lists, specs)."""
    if isinstance(value, str):
        return {f for _, f, _, _ in string.Formatter().parse(value) if f}
    if isinstance(value, dict):
        return set().union(*(template_fields(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(template_fields(v) for v in value)) if value else set()
    if isinstance(value, BaseModel):
        return template_fields(value.model_dump())
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


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """b deep-merged over a (nested dicts merge, anything else is replaced)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def vendor_text(value: Any, limit: int = 160) -> str:
    """A short vendor message for an error: one line, known secrets redacted, at most `limit` characters."""
    text = redact(" ".join(str(value).split()))  # redact before cutting: never half a secret
    return text if len(text) <= limit else text[: limit - 1] + "…"
