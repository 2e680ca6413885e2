"""COPY that isolates the rows PostgreSQL refuses as data, so one bad record never costs its page.

A row can pass our validation and still be refused by PostgreSQL: a source id longer than its column, a
character its encoding cannot hold, JSON it will not store. COPY is all-or-nothing, so the rows are sent
in savepoints and a refused part is split in two until the refused rows stand alone: k bad rows among n
cost about 2·k·log2(n) extra COPYs, and none at all when the data is clean. The reason kept for a refused
row is PostgreSQL's error code and primary message — never its CONTEXT line, which quotes the row."""
from __future__ import annotations

import io
from typing import Any, Callable

import psycopg2


def reason(exc: psycopg2.Error) -> str:
    """A database error without the data it quotes: SQLSTATE and the primary message."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or type(exc).__name__
    return f"{exc.pgcode or type(exc).__name__}: {primary}"[:300]


def copy_isolating(cur: Any, sql: str, indexes: list[int], rows: Callable[[list[int]], io.BytesIO]
                   ) -> dict[int, str]:
    """COPY rows(indexes) with `sql`; rows refused as data are left out. Returns {index: reason}."""
    refused: dict[int, str] = {}
    pending = [indexes] if indexes else []
    while pending:
        part = pending.pop()
        cur.execute("SAVEPOINT copy_part")
        try:
            cur.copy_expert(sql, rows(part))
        except psycopg2.DataError as exc:
            cur.execute("ROLLBACK TO SAVEPOINT copy_part")
            if len(part) == 1:
                refused[part[0]] = reason(exc)
            else:
                mid = len(part) // 2
                pending += [part[mid:], part[:mid]]
        cur.execute("RELEASE SAVEPOINT copy_part")
    return refused
