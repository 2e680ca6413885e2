"""Tab-separated text: the escaping PostgreSQL's COPY text format and ClickHouse's TabSeparated format share.

Persist and entity linking COPY rows into PostgreSQL with it; the archive inserts TabSeparated rows into
ClickHouse with it."""
from __future__ import annotations


def tab_field(value: str) -> str:
    """A value as one field of a tab-separated row: backslash, tab, newline and carriage return escaped.
    A NUL becomes `\\0` (ClickHouse reads it back as NUL; PostgreSQL refuses that row alone, see pgcopy)."""
    out = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return out.replace("\x00", "\\0") if "\x00" in out else out
