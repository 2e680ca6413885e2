"""ClickHouse archive (`raw_data_archive`): the native protocol (clickhouse-driver) for a server, or the
HTTP interface (a real server's :8123, or the dev stack's chdb engine process)."""
from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import urlparse

import orjson
import requests

from nexus_sync.errors import TransientError
from nexus_sync.tsv import tab_field

TABLE = "raw_data_archive"
COLUMNS = ("id", "tenant_id", "source", "type", "data", "ingested_at", "ingestion_year", "ingestion_month")
# Exactly-once archive by construction: each insert carries the outbox row's stable id as its
# insert_deduplication_token, and the table remembers the tokens of its last DEDUP_WINDOW inserts, so a relay
# that inserted and died before marking the work done inserts again to no effect (tests/archive show it on
# the embedded engine). The relay retries within seconds; the window covers hours of inserts.
DEDUP_WINDOW = 10000


def ddl(supports_ttl: bool, dedup: bool = False) -> str:
    ttl = "\nTTL ingested_at + INTERVAL 2 YEAR DELETE" if supports_ttl else ""
    ttl += f"\nSETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}" if dedup else ""
    return f"""CREATE TABLE IF NOT EXISTS {TABLE} (
  id UUID,
  tenant_id UUID,
  source String,
  type String,
  data String,
  ingested_at DateTime,
  ingestion_year Int32,
  ingestion_month Int32
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (tenant_id, source, ingested_at){ttl}"""


def server_supports_ttl(version: str) -> bool:
    """Table TTL arrived in ClickHouse 19.6."""
    major, minor = (int(x) for x in re.findall(r"\d+", version)[:2])
    return (major, minor) >= (19, 6)


def server_supports_dedup_token(version: str) -> bool:
    """insert_deduplication_token arrived in ClickHouse 22.2 (the non-replicated window before it)."""
    major, minor = (int(x) for x in re.findall(r"\d+", version)[:2])
    return (major, minor) >= (22, 2)


def archive_row(rec_id: str, tenant_id: str, source: str, kind: str, data: dict[str, Any] | bytes,
                ingested_at: datetime) -> dict[str, Any]:
    """One archive row; data is the record's data, or already its JSON (the pipeline's staged bytes)."""
    return {"id": rec_id, "tenant_id": tenant_id, "source": source, "type": kind,
            "data": (data if isinstance(data, bytes) else orjson.dumps(data)).decode(),
            "ingested_at": _datetime_text(ingested_at),
            "ingestion_year": ingested_at.year, "ingestion_month": ingested_at.month}


def _json_tsv(value: str) -> str:
    """JSON text as a TabSeparated field: JSON has no raw tab, newline or CR, so only backslashes are escaped."""
    return value.replace("\\", "\\\\")


@lru_cache(maxsize=64)
def _datetime_text(at: datetime) -> str:  # a batch's rows share one fetch time: format it once
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _quote(value: str | None) -> str | None:
    return None if value is None else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Archive:
    dedup_token = False  # set by ensure_schema: the server deduplicates inserts by token

    def query(self, sql: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def insert(self, rows: list[dict[str, Any]], token: str | None = None) -> None:
        raise NotImplementedError

    def version(self) -> str:
        return self.query("SELECT version() AS v")[0]["v"]

    def ensure_schema(self) -> None:
        version = self.version()
        self.dedup_token = server_supports_dedup_token(version)
        self.execute(ddl(server_supports_ttl(version), self.dedup_token))
        if self.dedup_token:  # a table created before the window existed gets it
            self.execute(f"ALTER TABLE {TABLE} MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW}")

    def insert_once(self, rows: list[dict[str, Any]], token: str) -> int:
        """Insert a unit of work once however often it is sent: by its deduplication token where the server
        has them; on an older server (18.16) by leaving out ids already archived (insert_new: not airtight
        against two concurrent inserts of the same rows, which the relay's row lock prevents)."""
        if not rows:
            return 0
        if self.dedup_token:
            self.insert(rows, token)
            return len(rows)
        return self.insert_new(rows)

    def existing_ids(self, ids: Iterable[str], tenant_id: str | None = None, source: str | None = None) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        # tenant and source lead the table's sort key: with them the lookup reads one range, not the table
        scope = "".join(f" AND {col} = {val}" for col, val in (("tenant_id", f"toUUID('{tenant_id}')" if tenant_id
                                                                   else None), ("source", _quote(source))) if val)
        for i in range(0, len(ids), 5000):
            chunk = ",".join(f"toUUID('{x}')" for x in ids[i : i + 5000])
            # the alias must not be `id`: ClickHouse 18.x substitutes aliases into WHERE (String IN UUIDs)
            rows = self.query(f"SELECT toString(id) AS archived_id FROM {TABLE} WHERE id IN ({chunk}){scope}")
            found.update(r["archived_id"] for r in rows)
        return found

    def ids_ingested_at(self, tenant_id: str, source: str, ingested_at: str) -> set[str]:
        """Ids archived for one tenant and source at one ingestion second: one range of the sort key."""
        rows = self.query(f"SELECT toString(id) AS archived_id FROM {TABLE} WHERE tenant_id = toUUID('{tenant_id}')"
                          f" AND source = {_quote(source)} AND ingested_at = toDateTime({_quote(ingested_at)})")
        return {r["archived_id"] for r in rows}

    def insert_new(self, rows: list[dict[str, Any]]) -> int:
        """Insert the rows whose id is not archived yet: re-running a batch never doubles rows."""
        if not rows:
            return 0
        first = rows[0]
        same_scope = all(r["tenant_id"] == first["tenant_id"] and r["source"] == first["source"] for r in rows)
        if same_scope and all(r["ingested_at"] == first["ingested_at"] for r in rows):
            # a pipeline batch: its rows share the fetch time, a prefix of the sort key, so the check reads that
            # range instead of sending thousands of ids
            present = self.ids_ingested_at(first["tenant_id"], first["source"], first["ingested_at"])
        elif same_scope:
            present = self.existing_ids((r["id"] for r in rows), first["tenant_id"], first["source"])
        else:
            present = self.existing_ids(r["id"] for r in rows)
        fresh = [r for r in rows if r["id"] not in present]
        if fresh:
            self.insert(fresh)
        return len(fresh)


class HttpArchive(Archive):
    def __init__(self, url: str, timeout: float = 60.0):
        parsed = urlparse(url)
        self.url = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 8123}/"
        self.database = parsed.path.strip("/") or None
        self.auth = (parsed.username, parsed.password or "") if parsed.username else None
        self.session = requests.Session()
        self.timeout = timeout

    def _post(self, query: str, body: bytes | None = None, settings: dict[str, str] | None = None) -> bytes:
        # without data the SQL travels as the body: existing_ids' IN lists are far longer than a server's
        # URL limit (ClickHouse 18.16 answers 400 with an empty body to a ~20 KB URL)
        params = {"query": query} if body is not None else {}
        if body is None:
            body = query.encode()
        if self.database:
            params["database"] = self.database
        params.update(settings or {})
        try:
            resp = self.session.post(self.url, params=params, data=body, auth=self.auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"ClickHouse HTTP {self.url}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            text = resp.content[:300].decode(errors="replace")  # 18.16 sends no charset: not resp.text
            raise TransientError(f"ClickHouse HTTP {resp.status_code}: {text}")
        return resp.content

    def query(self, sql: str) -> list[dict[str, Any]]:
        out = self._post(f"{sql} FORMAT JSONEachRow")
        return [orjson.loads(line) for line in out.splitlines() if line.strip()]

    def execute(self, sql: str) -> None:
        self._post(sql)

    def insert(self, rows: list[dict[str, Any]], token: str | None = None) -> None:
        # TabSeparated: the JSON text goes in as it is (escaped), where JSONEachRow would quote it once more
        body = "".join(f"{r['id']}\t{r['tenant_id']}\t{tab_field(r['source'])}\t{tab_field(r['type'])}\t"
                       f"{_json_tsv(r['data'])}\t{r['ingested_at']}\t{r['ingestion_year']}\t{r['ingestion_month']}\n"
                       for r in rows)
        self._post(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) FORMAT TabSeparated", body.encode(),
                   {"insert_deduplication_token": token} if token else None)


class NativeArchive(Archive):
    def __init__(self, url: str):
        from clickhouse_driver import Client

        self.client = Client.from_url(url)

    def query(self, sql: str) -> list[dict[str, Any]]:
        try:
            rows, cols = self.client.execute(sql, with_column_types=True)
        except Exception as exc:  # driver errors: network or server
            raise TransientError(f"ClickHouse native: {type(exc).__name__}: {str(exc)[:300]}") from None
        names = [c[0] for c in cols]
        return [dict(zip(names, r)) for r in rows]

    def execute(self, sql: str) -> None:
        self.query(sql)

    def insert(self, rows: list[dict[str, Any]], token: str | None = None) -> None:
        import uuid as _uuid

        values = [
            (_uuid.UUID(r["id"]), _uuid.UUID(r["tenant_id"]), r["source"], r["type"], r["data"],
             datetime.strptime(r["ingested_at"], "%Y-%m-%d %H:%M:%S"), r["ingestion_year"], r["ingestion_month"])
            for r in rows
        ]
        try:
            self.client.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES", values,
                                settings={"insert_deduplication_token": token} if token else None)
        except Exception as exc:
            raise TransientError(f"ClickHouse native insert: {type(exc).__name__}: {str(exc)[:300]}") from None


@lru_cache(maxsize=4)
def archive_for(url: str) -> Archive:
    archive: Archive = NativeArchive(url) if url.startswith("clickhouse://") else HttpArchive(url)
    archive.ensure_schema()
    return archive


def get_archive() -> Archive:
    from nexus_sync.config import get_settings

    return archive_for(get_settings().clickhouse)
