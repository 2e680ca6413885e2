"""Adaptive sync intervals: the spec's "adjust frequency based on data volatility".

`interval: adaptive(15m..24h)` in connectors.yaml lets a connector's schedule move between two bounds with how
much of its data changes (catalog.adaptive_bounds reads the syntax; nexus_sync.schedule runs the result).

* **Steps**: the lower bound doubled until the upper one — 15m, 30m, 1h, 2h, 4h, 8h, 16h, then 24h (the upper
  bound is always the last step): the interval is always one of them, never outside the bounds.
* **Changed fraction** of a sync: (new + updated) / its records, where its records are the larger of what
  the sync processed and the rows the connector holds — a full sync's own count, and for an incremental one
  (which fetches only what the vendor says was modified) the share of the whole inventory that changed.
  The measure is the mean over the connector's last WINDOW (5) finished syncs (SUCCESS or PARTIAL; FAILED
  and SKIPPED ones say nothing about the data). A first full load counts as all new: a new connector stays
  at the lower bound until it has shown its syncs for a while.
* **Rule**: a quarter of the records changing (HOT) puts the connector on the lower bound, and each halving
  of the changed fraction one step up: 12.5 % → 30m, 6 % → 1h, 3 % → 2h, 1.6 % → 4h, … nothing changed →
  the upper bound. **Hysteresis**: the current step stays while the fraction is within half a step of its
  own band (a 2h connector moves only below ~1.1 % or above ~4.4 %), so a fraction hovering at a boundary
  does not flip the schedule back and forth; when it moves, it goes straight to the fraction's own step.
  No finished sync yet: the current step stays (a new connector starts at the lower bound).
* The current step is the connector's RedBeat entry (what beat runs). The periodic reconcile (every minute)
  applies the rule; the result only changes when a sync finishes, and applying it again changes nothing.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.catalog import adaptive_bounds

HOT = 0.25  # the changed fraction that puts a connector on its lower bound
WINDOW = 5  # the last finished syncs the fraction is taken over
MARGIN = 0.5  # hysteresis, in steps: how far past its own band the fraction must go before the step moves
COUNTED = ("SUCCESS", "PARTIAL")  # finished syncs that say how much of the data changed


@dataclass(frozen=True)
class Recent:
    """The changed fraction of a connector's last finished syncs, newest first."""

    fractions: tuple[float, ...] = ()

    @property
    def changed(self) -> float | None:
        return sum(self.fractions) / len(self.fractions) if self.fractions else None


@dataclass(frozen=True)
class Decision:
    every: int  # seconds: one of the steps
    text: str  # why, for `schedule show`: "adaptive 15m..24h: 2h, changed 3 % over the last 5 syncs"


def steps(low: int, high: int) -> list[int]:
    """The intervals an adaptive connector can run at: low, 2·low, 4·low … below high, then high."""
    out = [low]
    while out[-1] * 2 < high:
        out.append(out[-1] * 2)
    return [*out, high]


def decide(low: int, high: int, current: int | None, recent: Recent) -> Decision:
    """The interval (one of the steps) for a connector running at `current` (None: no entry yet, or an
    interval that is no step of these bounds) whose recent syncs changed as `recent` says."""
    ladder = steps(low, high)
    top = len(ladder) - 1
    at = ladder.index(current) if current in ladder else None
    changed = recent.changed
    if changed is None:
        step, why = (at if at is not None else 0), "no finished sync yet"
    else:
        # the fraction's place on the steps: step k's own band is [k, k+1); nothing changed is past the top
        position = min(math.log2(HOT / changed), top + 1.0) if changed > 0 else top + 1.0
        holds = at is not None and (at == 0 or position >= at - MARGIN) and (at == top or position < at + 1 + MARGIN)
        step = at if holds and at is not None else min(max(math.floor(position), 0), top)
        n = len(recent.fractions)
        why = f"changed {_percent(changed)} over the last {n} syncs" if n > 1 else f"changed {_percent(changed)} " \
            "in the last sync"
    return Decision(ladder[step], f"adaptive {duration(low)}..{duration(high)}: {duration(ladder[step])}, {why}")


def duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h" if hours else "") + (f"{rest // 60}m" if rest or not hours else "")


def _percent(fraction: float) -> str:
    pct = fraction * 100
    if pct == 0 or pct >= 1:
        return f"{pct:.0f} %"
    return f"{pct:.1f} %" if pct >= 0.1 else "<0.1 %"


def recent_changes(rows: Iterable[Any], engine: sa.Engine | None = None) -> dict[uuid.UUID, Recent]:
    """connector id → its Recent, for the adaptive connectors among `rows` (catalog.ConnectorRow): two
    queries for all of them (the last WINDOW finished syncs of each, the rows each holds)."""
    adaptive = [r for r in rows if _bounds_or_none(r.interval) is not None]
    if not adaptive:
        return {}
    sh, rd = db.sync_history.c, db.raw_data.c
    ranked = (sa.select(sh.connector_id, sh.records_processed, sh.records_new, sh.records_updated,
                        sa.func.row_number().over(partition_by=sh.connector_id, order_by=sh.started_at.desc())
                        .label("n"))
              .where(sa.tuple_(sh.tenant_id, sh.connector_id).in_([(r.tenant_id, r.id) for r in adaptive]),
                     sh.status.in_(COUNTED), sh.completed_at.is_not(None))
              .subquery())
    with (engine or db.get_engine()).connect() as conn:
        syncs = conn.execute(sa.select(ranked).where(ranked.c.n <= WINDOW).order_by(ranked.c.connector_id,
                                                                                    ranked.c.n)).all()
        held = {(t, source): n for t, source, n in conn.execute(
            sa.select(rd.tenant_id, rd.source, sa.func.count())
            .where(sa.tuple_(rd.tenant_id, rd.source).in_([(r.tenant_id, r.name) for r in adaptive]))
            .group_by(rd.tenant_id, rd.source))}
    rows_of = {r.id: int(held.get((r.tenant_id, r.name), 0)) for r in adaptive}
    fractions: dict[uuid.UUID, list[float]] = {r.id: [] for r in adaptive}
    for s in syncs:
        base = max(s.records_processed, rows_of[s.connector_id])
        fractions[s.connector_id].append((s.records_new + s.records_updated) / base if base else 0.0)
    return {cid: Recent(tuple(f)) for cid, f in fractions.items()}


def _bounds_or_none(interval: str) -> tuple[int, int] | None:
    try:
        return adaptive_bounds(interval)
    except ValueError:  # not well formed: the schedule reports it (catalog refuses it at `connectors apply`)
        return None
