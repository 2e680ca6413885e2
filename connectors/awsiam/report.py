"""IAM's credential report (vendor-apis-2.md §36): GetCredentialReport's `Content` is base64 of a CSV whose
first row is the header; times read `2024-01-01T00:00:00+00:00`; sentinels say "no value"."""
from __future__ import annotations

import base64
import binascii
import csv
import io
from typing import Any

from nexus_sync.errors import VendorDataError

ROOT = "<root_account>"  # the row of the account's root user
NONE = {"N/A", "no_information", "not_supported", ""}  # the report's ways of saying "no value"


def rows(content: Any) -> dict[str, dict[str, str]]:
    """The report's rows by ARN (the root user's row too), from the base64 `Content`."""
    if not isinstance(content, str) or not content.strip():
        raise VendorDataError("the credential report has no Content")
    try:
        text = base64.b64decode(content.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise VendorDataError("the credential report's Content is not base64 of UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "arn" not in reader.fieldnames or "user" not in reader.fieldnames:
        raise VendorDataError("the credential report has no user/arn columns")
    return {row["arn"]: row for row in reader if row.get("arn")}


def value(row: dict[str, Any] | None, column: str) -> str | None:
    """A column's value, None for the report's sentinels (N/A, no_information, not_supported)."""
    found = (row or {}).get(column)
    return None if not isinstance(found, str) or found.strip() in NONE else found.strip()


def flag(row: dict[str, Any] | None, column: str) -> bool | None:
    """A true/false column; None for a sentinel or anything else."""
    found = value(row, column)
    return {"true": True, "false": False}.get(found.lower()) if found else None
