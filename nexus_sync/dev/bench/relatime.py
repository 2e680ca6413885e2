"""The unchanged re-syncs that last_seen's resolution (pipeline.seen) makes different: within the resolution
(no touch due), every touch due (seen_resolution 0: the cost of writing every row's last_seen), and the steady
state of a 15-minute schedule at the default resolution: consecutive syncs at the same ratio of schedule to
resolution, scaled down in time (syncs `period` seconds apart, resolution 4 × period), reported as their mean."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

RATIO = 4  # resolution / schedule: 1 h / 15 min
STEADY_SYNCS = 4  # one resolution's worth of syncs


def set_resolution(conn: Any, seconds: int | None) -> None:
    """The connector's seen_resolution (None: the default)."""
    import sqlalchemy as sa

    from nexus_sync import db

    c = db.connectors.c
    with db.get_engine().begin() as tx:
        config = dict(tx.execute(sa.select(c.config).where(c.id == conn.id)).scalar_one())
        config.pop("seen_resolution", None)
        if seconds is not None:
            config["seen_resolution"] = seconds
        tx.execute(db.connectors.update().where(c.id == conn.id).values(config=config))


def steady_state(run: Callable[..., dict[str, Any]], conn: Any, period: int) -> dict[str, Any]:
    """STEADY_SYNCS unchanged syncs started `period` s apart at a resolution of 4 × period: the ratio of a
    15-minute schedule at the default hour, scaled down in time (the touch decision reads the real clock). `run`
    does not settle the database between them (bench.vacuum): the upkeep their own touches set off is theirs."""
    set_resolution(conn, RATIO * period)
    runs = []
    start = time.monotonic()
    for k in range(1, STEADY_SYNCS + 1):
        time.sleep(max(0.0, start + k * period - time.monotonic()))
        runs.append(run(f"steady state, sync {k} of {STEADY_SYNCS} ({period} s apart, resolution {RATIO * period} s)",
                        settled=False))
    set_resolution(conn, None)
    return {"period_s": period, "resolution_s": RATIO * period, "syncs": runs,
            "records_per_s": [r["records_per_s"] for r in runs],
            "mean_records_per_s": round(statistics.mean(r["records_per_s"] for r in runs)),
            "touched": [r["touched"] for r in runs]}


def touched_rows(conn: Any, started_at: str) -> int:
    """Rows whose last_seen the sync that started at `started_at` wrote."""
    from datetime import datetime

    import sqlalchemy as sa

    from nexus_sync import db

    rd = db.raw_data.c
    since = datetime.fromisoformat(started_at).replace(microsecond=0)
    with db.get_engine().connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(db.raw_data).where(
            rd.tenant_id == conn.tenant_id, rd.source == conn.name, rd.last_seen >= since)).scalar_one())
