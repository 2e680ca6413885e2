"""The sync chain's tasks. Each is a thin wrapper: call the pipeline stage, enqueue what follows."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import chain

from nexus_sync import alerts, metrics, names, pipeline, recovery, tracing
from nexus_sync.celery_app import app
from tasks.base import PipelineTask
from tasks.notify import fan_out

log = logging.getLogger(__name__)


class BatchTask(PipelineTask):
    """A task of one batch: args are (sync_hid, batch_no); a dead-lettered one leaves a gap in the sync."""

    def on_dead_letter(self, args: Any, kwargs: Any, error: str) -> None:
        if pipeline.batch_failed(args[0], args[1], f"{self.name}: {error}"):
            notify.delay(args[0])


class StartTask(PipelineTask):
    def on_dead_letter(self, args: Any, kwargs: Any, error: str) -> None:
        connector = args[0] if args else kwargs["connector"]
        sync_hid = args[1] if len(args) > 1 else kwargs.get("sync_hid") or self.request.id
        pipeline.start_failed(connector, sync_hid, error)


@app.task(base=StartTask, name=names.START_SYNC, bind=True)
def start_sync(self: PipelineTask, connector: str, sync_hid: str | None = None, trigger: str = "manual") -> dict:
    """Lock the connector, open sync_history RUNNING and fetch the first page."""
    sync_hid = sync_hid or self.request.id
    result = pipeline.start(connector, sync_hid, trigger)
    if not result.skipped:
        fetch.delay(sync_hid, 0, None, result.since)
    return {"sync_hid": sync_hid, "skipped": result.skipped, "reason": result.reason}


class FetchTask(PipelineTask):
    def on_dead_letter(self, args: Any, kwargs: Any, error: str) -> None:
        if pipeline.fetch_failed(args[0], args[1], f"{self.name}: {error}"):
            notify.delay(args[0])


@app.task(base=FetchTask, name=names.FETCH, bind=True)
def fetch(self: PipelineTask, sync_hid: str, batch_no: int, state: dict | None, since: str | None) -> dict:
    """Pull one vendor page, stage it, start its batch chain and the next page's fetch."""
    next_state = pipeline.fetch(sync_hid, batch_no, state, since)
    batch_chain(sync_hid, batch_no).delay()
    if next_state is not None:
        fetch.delay(sync_hid, batch_no + 1, next_state, since)
    return {"batch": batch_no, "last": next_state is None}


def batch_chain(sync_hid: str, batch_no: int, first: str = "normalize") -> Any:
    """A batch's stages from `first` on (pipeline.BATCH_STAGES), each task after the one before."""
    stages = pipeline.BATCH_STAGES[pipeline.BATCH_STAGES.index(first):]
    return chain(*(app.tasks[names.SYNC_TASKS + stage].si(sync_hid, batch_no) for stage in stages))


@app.task(base=BatchTask, name=names.NORMALIZE)
def normalize(sync_hid: str, batch_no: int) -> dict:
    """Vendor records → validated record data (bad ones skipped and reported)."""
    return pipeline.normalize(sync_hid, batch_no)


@app.task(base=BatchTask, name=names.DEDUP)
def dedup(sync_hid: str, batch_no: int) -> dict:
    """Classify NEW / UPDATED / UNCHANGED against the Redis cache (Postgres on a miss)."""
    return pipeline.dedup(sync_hid, batch_no)


@app.task(base=BatchTask, name=names.PERSIST)
def persist(sync_hid: str, batch_no: int) -> dict:
    """Batched upsert into raw_data in one transaction with the batch's bookkeeping."""
    return pipeline.persist(sync_hid, batch_no)


@app.task(base=BatchTask, name=names.ARCHIVE)
def archive(sync_hid: str, batch_no: int) -> dict:
    """Append new/updated records to ClickHouse; the last batch triggers notify."""
    counts, finished = pipeline.archive(sync_hid, batch_no)
    if finished:
        notify.delay(sync_hid)
    return counts


@app.task(base=PipelineTask, name=names.NOTIFY)
def notify(sync_hid: str) -> dict | None:
    """Close the sync: sync_history, cursor, report, Kafka event, lock; a FAILED sync gets its recovery."""
    report = pipeline.finish(sync_hid)
    if report is None:
        return None
    if "_event" in report:  # first close with this outcome: count it, tell the subscribers, alert
        tracing.record_sync(sync_hid, report, pipeline.load(sync_hid).started_at, pipeline.utcnow())
        metrics.observe_report(report)
        metrics.observe_archive_lag(sync_hid)
        fan_out(report["_event"])
        for severity, message in alerts.evaluate(report):
            fan_out(recovery.alert(severity, report, message))
    plan = recovery.act(report)
    return {"status": report["status"], "sync_id": report["sync_id"], "recovery": plan.action if plan else ""}


@app.task(base=PipelineTask, name=names.RECOVER_DUE)
def recover_due() -> dict:
    """Beat, every minute: start the recovery syncs whose wait is over."""
    started = 0
    for entry in recovery.due():
        start_sync.delay(entry["connector"], str(uuid.uuid4()), entry["trigger"])
        started += 1
    return {"started": started}


@app.task(base=PipelineTask, name=names.RESUME_STALLED)
def resume_stalled(stall_seconds: float | None = None) -> dict:
    """Beat, every minute: send again the next steps of RUNNING syncs that stopped moving (a lost message)."""
    from nexus_sync.config import get_settings

    stall = get_settings().sync_stall_seconds if stall_seconds is None else stall_seconds
    resumed = {}
    for sync_hid in pipeline.stalled(stall):
        resumed[sync_hid] = resume(sync_hid)
    return {"resumed": resumed}


def resume(sync_hid: str) -> list[str]:
    """Send the steps of pipeline.resume_plan; returns what was sent, for the log and the caller."""
    sent = []
    for step in pipeline.resume_plan(sync_hid):
        kind = step[0]
        if kind == "batch":
            n, first = step[1], step[2]
            batch_chain(sync_hid, n, first).delay()
            sent.append(f"batch {n} from {first}")
        elif kind == "fetch":
            fetch.delay(sync_hid, step[1], step[2], step[3])
            sent.append(f"fetch {step[1]}")
        elif kind in ("lost_batch", "lost_fetch"):
            n, why = step[1], step[2]
            failed = pipeline.fetch_failed if kind == "lost_fetch" else pipeline.batch_failed
            ended = failed(sync_hid, n, f"resume: {why}")
            sent.append(f"batch {n} failed: {why}")
            if ended:
                notify.delay(sync_hid)
        else:
            notify.delay(sync_hid)
            sent.append("notify")
    pipeline.mark_progress(sync_hid)  # what was sent gets a full stall period to move
    log.warning("resumed stalled sync %s: %s", sync_hid, "; ".join(sent))
    return sent
