"""Postgres's own upkeep around the measured syncs. A phase that writes many rows (a first sync's inserts, the
hand-tuned loader's table, every last_seen rewritten) sets off autovacuum and autoanalyze, which run when the
launcher next wakes (every autovacuum_naptime, 1 min) — inside whichever sync is measured then. So each
scenario starts on a settled database: `settle` runs VACUUM (ANALYZE) on the database, outside every meter,
and reports how long it took; within the steady-state series nothing is settled (what those syncs' touches
set off is theirs). `activity` tells which tables autovacuum worked on during a measured sync."""
from __future__ import annotations

import time
from typing import Any


def settle() -> dict[str, Any]:
    """VACUUM (ANALYZE) of the whole database (every table a phase wrote: raw_data, the entity tables, the
    ledger, the loader's table); seconds it took."""
    import sqlalchemy as sa

    from nexus_sync import db

    t0 = time.perf_counter()
    with db.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM (ANALYZE)"))
    return {"database": round(time.perf_counter() - t0, 3)}


def counts() -> dict[str, Any]:
    """Autovacuum and autoanalyze runs so far per table, and the tables an autovacuum worker is on now."""
    import sqlalchemy as sa

    from nexus_sync import db

    with db.get_engine().connect() as c:
        done = {r.relname: r.autovacuum_count + r.autoanalyze_count for r in c.execute(sa.text(
            "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables"))}
        running = [r.query for r in c.execute(sa.text(
            "SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"))]
    return {"done": done, "running": running}


def activity(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What autovacuum did between two `counts`: tables it finished (with how many runs), and what it was on at
    either end."""
    out = [f"{t} ×{n - before['done'].get(t, 0)}" for t, n in sorted(after["done"].items())
           if n > before["done"].get(t, 0)]
    return out + sorted({q.removeprefix("autovacuum: ") for q in before["running"] + after["running"]})
