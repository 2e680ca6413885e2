"""Vendor cursors as canonical text: parsed once per record, re-checked before a saved one is used, and
rendered for a vendor's query language only from that checked form.

Canonical text per declared `cursor_format`:
  iso       UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (nexus_sync.models.utc_iso)
  iso_ns    UTC `YYYY-MM-DDTHH:MM:SS.fffffffffZ`, always nine fraction digits: a vendor that stamps nanoseconds
            (Google Cloud Logging) is read again from exactly its own instant, and the fixed width keeps text
            order time order
  epoch_s   epoch seconds, digits only
  epoch_ms  epoch milliseconds, digits only
  int       a non-negative integer, digits only
  token     `<iso> <token>`: an opaque cursor the vendor gives for a whole listing (a Graph delta link), after
            the UTC time it was received, so saved tokens order by age; the token is 1..4096 printable ASCII
            characters without spaces, and is never filled into a query (connectors use it as the vendor's URL)
A value of the other kind (an epoch where ISO is declared, ISO where an epoch is) is converted, not refused:
vendors mix them up. Anything else raises ValueError with a short message (never the whole value).
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Literal

from nexus_sync.models import utc_iso

CursorFormat = Literal["iso", "iso_ns", "epoch_s", "epoch_ms", "int", "token"]

MAX_TEXT = 64  # longer than any timestamp or 64-bit integer: refused before any parsing
MS_ABOVE = 1e11  # an epoch above this is milliseconds (1e11 s is the year 5138), as utc_iso reads it

# UTC 'Z' times with up to 6 fractional digits, the form most vendors send: made canonical by string work
_UTC_Z = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?Z")
# RFC 3339 with up to 9 fractional digits and any offset, read without losing a digit (iso_ns)
_RFC3339_NS = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?"
                         r"(Z|z|[+-][0-9]{2}:[0-9]{2})")
_DIGITS = re.compile(r"[0-9]{1,19}")
_EPOCH_TEXT = re.compile(r"[0-9]{9,19}(?:\.[0-9]{1,9})?")  # 9+ digits: not a basic-format ISO date (8)
# what a rendered cursor may contain: it cannot close Okta's "…" or FQL's '…', start a ServiceNow `^` clause,
# or escape anything (no quotes, backslashes, carets, ampersands, brackets)
_QUERY_SAFE = re.compile(r"[0-9A-Za-z :.+-]{1,64}")

_TOKEN = re.compile(r"(\S{1,64}) ([\x21-\x7e]{1,4096})")
_LABELS = {"iso": "an ISO-8601 time", "iso_ns": "an ISO-8601 time (to the nanosecond)", "epoch_s": "an epoch-seconds time", "epoch_ms": "an epoch-milliseconds time",
           "int": "a non-negative integer", "token": "a received-at time and a vendor token"}


def canonical(value: Any, fmt: str) -> str:
    """The canonical text of a vendor cursor value; ValueError when it does not parse as `fmt`."""
    if fmt == "token":
        whole = _TOKEN.fullmatch(value) if type(value) is str else None
        try:
            if whole is not None:
                return f"{canonical(whole.group(1), 'iso')} {whole.group(2)}"
        except ValueError:  # its time is no time: the cursor is bad, said below
            pass
        raise _bad(value, fmt)
    if fmt == "iso":
        if type(value) is str and len(value) <= MAX_TEXT and not _EPOCH_TEXT.fullmatch(value):
            try:
                utc = _UTC_Z.fullmatch(value)
                if utc:  # the common case, ~4x faster than parsing and printing (utc_iso's output, same text)
                    seconds, fraction = utc.groups()
                    datetime.fromisoformat(seconds)  # only prove it is a real instant (no month 13)
                    fraction = (fraction or "").ljust(6, "0")
                    return f"{seconds}.{fraction}Z" if fraction != "000000" else f"{seconds}Z"
                text = utc_iso(value)
            except (ValueError, TypeError, OverflowError):
                raise _bad(value, fmt) from None
            if text is None:
                raise _bad(value, fmt)
            return text
        return utc_iso(instant(value, fmt))  # type: ignore[return-value]
    if fmt == "iso_ns":
        return _iso_ns(value)
    if fmt == "int":
        if type(value) is int and value >= 0:
            return str(value)
        if type(value) is str and _DIGITS.fullmatch(value):
            return str(int(value))
        raise _bad(value, fmt)
    if fmt not in ("epoch_s", "epoch_ms"):
        raise ValueError(f"unknown cursor format {fmt!r}")
    seconds = instant(value, fmt).timestamp()
    return str(int(seconds)) if fmt == "epoch_s" else str(int(round(seconds * 1000)))


def _iso_ns(value: Any) -> str:
    """iso_ns canonical text: RFC 3339 text keeps all nine fraction digits; anything else (an epoch, a
    datetime, another ISO layout) is read as `instant` reads it, to the microsecond."""
    whole = _RFC3339_NS.fullmatch(value) if type(value) is str and len(value) <= MAX_TEXT else None
    if whole is None:
        at = instant(value, "iso_ns")
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}000Z"
    seconds, fraction, offset = whole.groups()
    try:
        at = datetime.fromisoformat(seconds + ("+00:00" if offset in "Zz" else offset)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _bad(value, "iso_ns") from None
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + (fraction or "").ljust(9, "0") + "Z"


def epoch_seconds(text: str, fmt: str) -> int:
    """A canonical time cursor as whole epoch seconds, rounded down (a filter from it never skips a record)."""
    return math.floor(instant(text, fmt).timestamp())


def stamp(token: str, at: datetime) -> str:
    """A vendor's listing token as a canonical `token` cursor received at `at`; ValueError if it is not one."""
    return canonical(f"{utc_iso(at)} {token}", "token")


def token_of(text: str) -> str:
    """The vendor's token inside a canonical `token` cursor."""
    return text.split(" ", 1)[1]


def query_text(text: str) -> str:
    """text, if it is safe inside any vendor query language we fill (Okta filter, ServiceNow encoded query,
    FQL, OData, JQL); ValueError otherwise. Canonical cursors always are: this is the last line of defence."""
    if not _QUERY_SAFE.fullmatch(text):
        raise ValueError("cursor text holds characters a vendor query would read as syntax")
    return text


def instant(value: Any, fmt: str) -> datetime:
    """A time cursor (datetime, epoch number, epoch or ISO text) → aware UTC datetime, or ValueError."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if type(value) is str:
        if len(value) > MAX_TEXT:
            raise _bad(value, fmt)
        if _EPOCH_TEXT.fullmatch(value):
            value = float(value)
    if type(value) in (int, float):
        if not math.isfinite(value) or value < 0:
            raise _bad(value, fmt)
        # a bare number: epoch seconds or milliseconds by magnitude, whichever format was declared
        seconds = value / 1000 if value > MS_ABOVE else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _bad(value, fmt) from None
    if type(value) is not str:
        raise _bad(value, fmt)
    try:
        return datetime.fromisoformat(utc_iso(value).replace("Z", "+00:00"))  # type: ignore[union-attr]
    except (ValueError, TypeError, OverflowError):
        raise _bad(value, fmt) from None


def _bad(value: Any, fmt: str) -> ValueError:
    return ValueError(f"cursor {value!r:.40} is not {label(fmt)}")


def label(fmt: str) -> str:
    """'an ISO-8601 time', ...: what a cursor of `fmt` must be, for messages."""
    return _LABELS.get(fmt, repr(fmt))
