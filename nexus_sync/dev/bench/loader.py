"""The hand-tuned loader the pipeline is measured against, in the same run, on the same simulator pages: fetch
a page (the connector's own client), the vendor's normalize, then COPY → a temp staging table → one
`INSERT … ON CONFLICT DO UPDATE … WHERE … IS DISTINCT FROM` that skips unchanged rows. One connection, one
process, no validation, no archive, no events, no ledger: the least a careful hand-written loader does."""
from __future__ import annotations

import hashlib
import io
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from nexus_sync.dev.bench.common import say

TABLE = "bench_loader"
COLS = "id, tenant_id, source, type, source_id, hash, data, raw_data, ingested_at, last_seen"
MERGE = f"""
INSERT INTO {TABLE} ({COLS}) SELECT {COLS} FROM loader_stage
ON CONFLICT (tenant_id, source, source_id, type) DO UPDATE SET
  hash = EXCLUDED.hash, data = EXCLUDED.data, raw_data = EXCLUDED.raw_data, last_seen = EXCLUDED.last_seen
WHERE {TABLE}.data IS DISTINCT FROM EXCLUDED.data OR {TABLE}.raw_data IS DISTINCT FROM EXCLUDED.raw_data
"""


def reset() -> None:
    """A fresh target table shaped like raw_data (its indexes and unique key included)."""
    _run([f"DROP TABLE IF EXISTS {TABLE}", f"CREATE TABLE {TABLE} (LIKE raw_data INCLUDING ALL)"])


def drop() -> None:
    _run([f"DROP TABLE IF EXISTS {TABLE}"])


def load(conn: Any, label: str) -> dict[str, Any]:
    """One full listing of the connector into TABLE; records/s from the first request to the last commit."""
    from nexus_sync import db

    inst = conn.instance()
    vendor = type(inst)
    tenant, source, kind = str(conn.tenant_id), conn.name, vendor.kind
    raw = db.get_engine().raw_connection()
    records, written, state = 0, 0, None
    t0 = time.perf_counter()
    try:
        cur = raw.cursor()
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS loader_stage (LIKE raw_data) ON COMMIT DELETE ROWS")
        while True:
            page = inst.fetch_page(state, None)
            now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
            buf = io.BytesIO(b"".join(_line(tenant, source, kind, inst.source_id(r), vendor.normalize(r), r, now)
                                      for r in page.records))
            cur.copy_expert(f"COPY loader_stage ({COLS}) FROM STDIN", buf)
            cur.execute(MERGE)
            written += cur.rowcount
            raw.commit()
            records += len(page.records)
            state = page.next
            if state is None:
                break
    finally:
        raw.close()
    wall = time.perf_counter() - t0
    rps = round(records / wall)
    say(f"hand-tuned loader, {label}: {records:,} records ({written:,} rows written) in {wall:.2f}s = {rps:,} rec/s")
    return {"records": records, "rows_written": written, "seconds": round(wall, 3), "records_per_s": rps}


def _line(tenant: str, source: str, kind: str, sid: str, data: dict[str, Any], rec: dict[str, Any], now: str) -> bytes:
    d, r = orjson.dumps(data), orjson.dumps(rec)
    key = hashlib.md5(f"{kind}\x1f{source}\x1f{sid}".encode()).hexdigest()
    return (f"{uuid.uuid4()}\t{tenant}\t{_tab(source)}\t{kind}\t{_tab(sid)}\t{key}\t".encode()
            + d.replace(b"\\", b"\\\\") + b"\t" + r.replace(b"\\", b"\\\\") + f"\t{now}\t{now}\n".encode())


def _tab(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _run(statements: list[str]) -> None:
    from nexus_sync import db

    raw = db.get_engine().raw_connection()
    try:
        cur = raw.cursor()
        for sql in statements:
            cur.execute(sql)
        raw.commit()
    finally:
        raw.close()
