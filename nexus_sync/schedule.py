"""Connector schedules: one RedBeat entry per enabled connector, derived from the connectors table.

Celery beat runs with RedBeat (`nexus-sync beat`), which keeps its entries in Redis and reads them again on
every tick: writing an entry changes the schedule of a running beat, no restart. `reconcile()` makes the
entries match the connectors table; it runs on `connectors apply`, when `nexus-sync beat` starts, and every
minute as the beat task `tasks.schedule.reconcile` (NEXUS_SCHEDULE_RECONCILE_SECONDS, 0 turns it off).

* **interval** `15m`, `1h`, `24h` (any `Nm`/`Nh`/`Nd`): runs on a grid aligned to the Unix epoch, shifted by
  the connector's **offset** = sha256(connector id) mod interval, in whole seconds. Connectors with the same
  interval thus fire at different, stable moments (a 15m connector with offset 7m33s runs at :07:33, :22:33,
  :37:33, :52:33), across restarts and on every machine. Stored as a RedBeat `rrule` (MINUTELY, interval,
  dtstart on the grid); a trigger not picked up within one interval expires (the next one replaces it).
* **adaptive(LOW..HIGH)**: an interval as above whose length moves between the bounds with how much of the
  connector's data its recent syncs changed (nexus_sync.adaptive: the rule); each reconcile applies it, so
  beat follows within a minute of a sync, and `schedule show` says why.
* **cron** (5 fields, UTC: minute hour day-of-month month day-of-week): fires exactly as written, no offset.
* **priority** HIGH / NORMAL / LOW → Celery message priority 0 / 3 / 6. On Redis, kombu keeps one list per
  priority step (`sync`, `sync\\x06\\x163`, `sync\\x06\\x166`, …) and a worker always pops the lowest number
  first, so 0 is the highest. `task_inherit_parent_priority` carries the trigger's priority to every task of
  the chain (fetch, normalize, …, archive, notify). Same queues as before (`sync`, `archive`): a worker's
  `-Q sync,archive` consumes all priorities. Messages without a priority (manual `sync run`, DLQ replays)
  count as 0 on Redis: a human waiting for a sync goes first.
* **enabled: false** → no entry.

An entry sends `tasks.sync.start_sync` with args `[connector name]` and kwargs `{"trigger": "schedule"}`:
RedBeat sends fixed arguments, so the sync id is the task id, which Celery makes new for every run.
A trigger that finds the connector's sync still running is recorded as SKIPPED by start_sync; the entry
stays and fires again at its next slot.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Iterable

from nexus_sync import names

log = logging.getLogger(__name__)

TASK = names.START_SYNC
RECONCILE_TASK = names.RECONCILE
ENTRY_PREFIX = "connector:"  # RedBeat entry name of a connector: connector:<name>
KEY_PREFIX = names.BEAT_PREFIX
PRIORITIES = {"HIGH": 0, "NORMAL": 3, "LOW": 6}  # Celery priorities on Redis: lower = sooner
REANCHOR_AFTER = timedelta(days=1)  # keeps rrule's walk from dtstart short; same grid, same run times
RECONCILE_LOCK = names.BEAT_RECONCILE_LOCK


# ---------------------------------------------------------------------------------------------------- plans
@dataclass(frozen=True)
class Plan:
    """What the schedule of one connector should be."""

    connector: str
    connector_id: uuid.UUID
    interval: str
    priority: str
    enabled: bool
    every: int | None = None  # seconds; None for cron
    offset: int | None = None  # seconds after each epoch-aligned interval start
    cron: str | None = None
    error: str | None = None  # an interval beat cannot run (the connector gets no entry)
    adaptive: str | None = None  # an adaptive interval: its current step and why (adaptive.Decision.text)

    @property
    def entry_name(self) -> str:
        return ENTRY_PREFIX + self.connector

    @property
    def scheduled(self) -> bool:
        return self.enabled and self.error is None

    def fingerprint(self) -> tuple[Any, ...]:
        return ("every", self.every, self.offset) if self.every else ("cron", self.cron)


def offset_for(connector_id: uuid.UUID | str, every: int) -> int:
    """Deterministic stagger: the connector id's sha256 modulo the interval, in seconds."""
    digest = hashlib.sha256(str(connector_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % every


def plan_for(row: Any, entry: Any = None, recent: Any = None) -> Plan:
    """row: a catalog.ConnectorRow (name, id, interval, priority, enabled). For an adaptive interval, `entry`
    is the connector's RedBeat entry (the step it runs at now) and `recent` its adaptive.Recent."""
    from nexus_sync import adaptive
    from nexus_sync.catalog import adaptive_bounds, interval_seconds

    base = dict(connector=row.name, connector_id=row.id, interval=row.interval, priority=row.priority,
                enabled=row.enabled)
    if row.priority not in PRIORITIES:
        return Plan(**base, error=f"unknown priority {row.priority!r}")
    try:
        bounds = adaptive_bounds(row.interval)
    except ValueError as exc:  # written to the table some other way than `connectors apply`
        return Plan(**base, error=str(exc))
    if bounds is not None:
        running = _fingerprint_of(entry.schedule) if entry is not None else None
        decision = adaptive.decide(*bounds, running[1] if running and running[0] == "every" else None,
                                   recent or adaptive.Recent())
        return Plan(**base, every=decision.every, offset=offset_for(row.id, decision.every), adaptive=decision.text)
    every = interval_seconds(row.interval)
    if every is not None:
        if every < 60:
            return Plan(**base, error=f"interval {row.interval!r} is shorter than a minute")
        return Plan(**base, every=every, offset=offset_for(row.id, every))
    cron = " ".join(row.interval.split())
    try:
        _crontab(cron)
    except (ValueError, TypeError) as exc:
        return Plan(**base, error=f"bad cron {cron!r}: {exc}")
    return Plan(**base, cron=cron)


def _crontab(expr: str) -> Any:
    from celery.schedules import crontab

    minute, hour, dom, month, dow = expr.split()
    return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)


def grid_slot_at_or_before(now: datetime, every: int, offset: int) -> datetime:
    ts = int(now.timestamp())
    return datetime.fromtimestamp(ts - ((ts - offset) % every), tz=timezone.utc)


def next_slot(now: datetime, every: int, offset: int) -> datetime:
    """The first run strictly after `now` on the connector's grid."""
    return grid_slot_at_or_before(now, every, offset) + timedelta(seconds=every)


# ------------------------------------------------------------------------------------------- RedBeat glue
def _app() -> Any:
    from redbeat.schedulers import ensure_conf

    from nexus_sync.celery_app import app

    ensure_conf(app)
    return app


def _redis(app: Any) -> Any:
    from redbeat.schedulers import get_redis

    return get_redis(app)


def key_of(app: Any, entry_name: str) -> str:
    return app.redbeat_conf.key_prefix + entry_name


def _schedule_of(plan: Plan, now: datetime) -> Any:
    if plan.cron:
        return _crontab(plan.cron)
    from redbeat.schedules import rrule

    assert plan.every is not None and plan.offset is not None
    return rrule("MINUTELY", dtstart=grid_slot_at_or_before(now, plan.every, plan.offset),
                 interval=plan.every // 60)


def _entry_of(plan: Plan, app: Any, now: datetime) -> Any:
    from redbeat.schedulers import RedBeatSchedulerEntry

    options: dict[str, Any] = {"priority": PRIORITIES[plan.priority]}
    if plan.every:
        options["expires"] = plan.every  # a trigger older than one interval is superseded by the next one
    return RedBeatSchedulerEntry(plan.entry_name, TASK, _schedule_of(plan, now), args=[plan.connector],
                                 kwargs={"trigger": "schedule"}, options=options, app=app)


def _fingerprint_of(schedule: Any) -> tuple[Any, ...] | None:
    from celery.schedules import crontab
    from redbeat.schedules import rrule

    if isinstance(schedule, rrule):
        every = schedule.interval * 60
        return ("every", every, int(schedule.dtstart.timestamp()) % every)
    if isinstance(schedule, crontab):
        return ("cron", " ".join(str(x) for x in (schedule._orig_minute, schedule._orig_hour,
                                                   schedule._orig_day_of_month, schedule._orig_month_of_year,
                                                   schedule._orig_day_of_week)))
    return None


def next_run(entry: Any, now: datetime | None = None) -> datetime:
    """When beat sends this entry next (a time before `now` means: at beat's next tick, it is overdue)."""
    from celery.schedules import crontab
    from redbeat.schedules import rrule

    now = now or datetime.now(timezone.utc)
    last = entry.last_run_at
    if last is None:
        return now  # RedBeat: never run → due now
    if isinstance(entry.schedule, rrule):
        nxt = entry.schedule.rrule.after(last)
        return nxt.astimezone(timezone.utc) if nxt else now
    if isinstance(entry.schedule, crontab):
        entry.schedule.nowfun = lambda: now  # the estimate is relative to the schedule's own clock
        return now + entry.schedule.remaining_estimate(last)
    return entry.due_at or now


def _write(app: Any, entry: Any, last_run_at: datetime | None, now: datetime) -> None:
    """Definition, meta and score in one transaction (RedBeat's own save() keeps an old meta).

    last_run_at None: the run times stay as they are — only the definition is replaced, and beat's own
    meta (last run) and score are left alone, so a send racing with this write is never repeated."""
    from redbeat.decoder import RedBeatJSONEncoder, to_timestamp

    definition = {"name": entry.name, "task": entry.task, "args": entry.args, "kwargs": entry.kwargs,
                  "options": entry.options, "schedule": entry.schedule, "enabled": True}
    with _redis(app).pipeline() as pipe:
        pipe.hset(entry.key, "definition", json.dumps(definition, cls=RedBeatJSONEncoder))
        if last_run_at is not None:
            entry.last_run_at = last_run_at
            score = to_timestamp(max(next_run(entry, now), now))
            pipe.hset(entry.key, "meta", json.dumps({"last_run_at": last_run_at}, cls=RedBeatJSONEncoder))
            pipe.zadd(app.redbeat_conf.schedule_key, {entry.key: score})
        pipe.execute()


def _delete(app: Any, key: str) -> None:
    with _redis(app).pipeline() as pipe:
        pipe.zrem(app.redbeat_conf.schedule_key, key)
        pipe.delete(key)
        pipe.execute()


def load_entry(app: Any, entry_name: str) -> Any | None:
    from redbeat.schedulers import RedBeatSchedulerEntry

    try:
        return RedBeatSchedulerEntry.from_key(key_of(app, entry_name), app=app)
    except KeyError:
        return None


def connector_entry_keys(app: Any) -> set[str]:
    """Every RedBeat key of a connector entry: in the schedule set, or left without it."""
    r = _redis(app)
    prefix = key_of(app, ENTRY_PREFIX)
    keys = {k for k in r.zrange(app.redbeat_conf.schedule_key, 0, -1) if k.startswith(prefix)}
    keys.update(r.scan_iter(match=prefix + "*", count=1000))
    return keys


# ---------------------------------------------------------------------------------------------- reconcile
@dataclass
class ReconcileResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "removed": len(self.removed),
                "unchanged": len(self.unchanged), "errors": self.errors}

    def __str__(self) -> str:
        parts = [f"{len(getattr(self, k))} {k}" for k in ("created", "updated", "removed", "unchanged")]
        text = "schedules: " + ", ".join(parts)
        for name, err in sorted(self.errors.items()):
            text += f"\n  {name}: not scheduled: {err}"
        return text


def reconcile(names: Collection[str] | None = None, now: datetime | None = None,
              rows: Iterable[Any] | None = None) -> ReconcileResult:
    """Make the RedBeat entries match the connectors table (all of it, or only the connectors `names`).

    New entry: first run at the connector's next slot (not at once: 50 connectors applied together must
    not all fire now). Interval or cron changed: the new schedule's next slot. Priority changed: the same
    run times, new priority. Disabled or deleted connector: entry removed. Idempotent; concurrent callers
    take turns (a Redis lock).
    """
    from nexus_sync import adaptive, catalog

    app = _app()
    now = now or datetime.now(timezone.utc)
    rows = list(rows) if rows is not None else catalog.list_all()
    if names is not None:
        wanted = set(names)
        rows = [r for r in rows if r.name in wanted]
    result = ReconcileResult()
    recent = adaptive.recent_changes(rows)  # no query unless some interval is adaptive
    with _redis(app).lock(RECONCILE_LOCK, timeout=60, blocking_timeout=30):
        keep: set[str] = set()
        for row in rows:
            current = load_entry(app, ENTRY_PREFIX + row.name)
            plan = plan_for(row, current, recent.get(row.id))
            key = key_of(app, plan.entry_name)
            if not plan.scheduled:
                if plan.error:
                    result.errors[plan.connector] = plan.error
                    log.error("connector %s is not scheduled: %s", plan.connector, plan.error)
                if current is not None:
                    _delete(app, key)
                    result.removed.append(plan.connector)
                continue
            keep.add(key)
            desired = _entry_of(plan, app, now)
            if current is None:
                _write(app, desired, now, now)
                result.created.append(plan.connector)
                continue
            same_times = _fingerprint_of(current.schedule) == plan.fingerprint()
            same_send = (current.task, list(current.args or []), dict(current.kwargs or {}),
                         dict(current.options or {})) == (desired.task, desired.args, desired.kwargs,
                                                          desired.options)
            stale_anchor = same_times and plan.every is not None and now - current.schedule.dtstart > REANCHOR_AFTER
            if same_times and same_send and current.enabled and not stale_anchor:
                result.unchanged.append(plan.connector)
                continue
            # same run times (priority changed, or the rrule re-anchored on its grid): keep beat's meta
            _write(app, desired, None if same_times and current.last_run_at else now, now)
            (result.updated if not (same_times and same_send) else result.unchanged).append(plan.connector)
        if names is None:  # a full reconcile also drops entries of connectors that are gone
            for key in connector_entry_keys(app) - keep:
                _delete(app, key)
                result.removed.append(key[len(key_of(app, ENTRY_PREFIX)):])
    return result


# ------------------------------------------------------------------------------------------------- show
@dataclass(frozen=True)
class Row:
    connector: str
    interval: str
    offset: int | None
    priority: str
    enabled: bool
    next_run: datetime | None
    last_run: datetime | None
    state: str  # scheduled | disabled | not reconciled | error: … | stale entry; an adaptive one says why
    adaptive: str | None = None  # an adaptive interval's current step and why (adaptive.Decision.text)


def show(now: datetime | None = None, rows: Iterable[Any] | None = None) -> list[Row]:
    """Each connector's schedule as beat sees it (its RedBeat entry), next to what the table says."""
    from nexus_sync import adaptive, catalog

    app = _app()
    now = now or datetime.now(timezone.utc)
    out = []
    rows = list(rows) if rows is not None else catalog.list_all()
    recent = adaptive.recent_changes(rows)
    for row in rows:
        entry = load_entry(app, ENTRY_PREFIX + row.name)
        plan = plan_for(row, entry, recent.get(row.id))
        nxt = next_run(entry, now) if entry is not None else None
        if plan.error:
            state = f"error: {plan.error}"
        elif not plan.enabled:
            state = "disabled" if entry is None else "stale entry (run `nexus-sync schedule reconcile`)"
        elif entry is None:
            state = "not reconciled (run `nexus-sync schedule reconcile`)"
        elif plan.adaptive and (entry.options or {}).get("priority") == PRIORITIES[plan.priority]:
            moves = _fingerprint_of(entry.schedule) != plan.fingerprint()
            state = ("moves at the next reconcile, " if moves else "scheduled, ") + plan.adaptive
        elif _fingerprint_of(entry.schedule) != plan.fingerprint() or \
                (entry.options or {}).get("priority") != PRIORITIES[plan.priority]:
            state = "stale entry (run `nexus-sync schedule reconcile`)"
        else:
            state = "scheduled"
        out.append(Row(plan.connector, plan.interval, plan.offset, plan.priority, plan.enabled, nxt,
                       entry.last_run_at if entry is not None else None, state, plan.adaptive))
    return out


def format_offset(offset: int | None) -> str:
    if offset is None:
        return "-"
    h, rest = divmod(offset, 3600)
    m, s = divmod(rest, 60)
    return f"+{h:02d}:{m:02d}:{s:02d}"


def state_text(row: Row, now: datetime | None = None) -> str:
    """The row's state, with a hint when its next run is overdue (beat not running?)."""
    now = now or datetime.now(timezone.utc)
    if row.next_run is not None and row.next_run < now - timedelta(seconds=30):
        return row.state + ", overdue: sent at beat's next tick (is `nexus-sync beat` running?)"
    return row.state


def reconcile_every() -> float:
    """Seconds between the periodic reconciles (NEXUS_SCHEDULE_RECONCILE_SECONDS, default 60; 0 = off)."""
    from nexus_sync.config import get_settings

    return get_settings().schedule_reconcile_seconds
