"""The sync chain's tasks. Each is a thin wrapper: call the pipeline stage, enqueue what follows. The sync's
tasks take `sync_hid` and `batch_no` by keyword (pipeline.TASK_PARAMS; a message of the previous release,
positional, still runs)."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import chain

from nexus_sync import names, pipeline, recovery
from nexus_sync.celery_app import app
from nexus_sync.config import get_settings
from nexus_sync.pipeline import TaskRef
from tasks.base import PipelineTask
from tasks.outbox import kick, relay_archive, relay_events

log = logging.getLogger(__name__)


class BatchTask(PipelineTask):
    """A task of one batch; a dead-lettered one leaves a gap in the sync."""

    def on_dead_letter(self, ref: TaskRef, error: str) -> None:
        if ref.sync_hid and ref.batch_no is not None:
            if pipeline.batch_failed(ref.sync_hid, ref.batch_no, f"{self.name}: {error}"):
                notify.delay(sync_hid=ref.sync_hid)


class StartTask(PipelineTask):
    def on_dead_letter(self, ref: TaskRef, error: str) -> None:
        if ref.connector and ref.sync_hid:
            pipeline.start_failed(ref.connector, ref.sync_hid, error)


@app.task(base=StartTask, name=names.START_SYNC, bind=True)
def start_sync(self: PipelineTask, connector: str, sync_hid: str | None = None, trigger: str = "manual") -> dict:
    """Lock the connector, open sync_history RUNNING and fetch the first page. Beat sends only the connector
    (and trigger): the sync's id is then this task's id."""
    sync_hid = sync_hid or self.request.id
    result = pipeline.start(connector, sync_hid, trigger)
    if not result.skipped:
        fetch.delay(sync_hid=sync_hid, batch_no=0, state=None, since=result.since)
    return {"sync_hid": sync_hid, "skipped": result.skipped, "reason": result.reason}


class FetchTask(PipelineTask):
    def on_dead_letter(self, ref: TaskRef, error: str) -> None:
        if ref.sync_hid and ref.batch_no is not None:
            if pipeline.fetch_failed(ref.sync_hid, ref.batch_no, f"{self.name}: {error}"):
                notify.delay(sync_hid=ref.sync_hid)


@app.task(base=FetchTask, name=names.FETCH)
def fetch(sync_hid: str, batch_no: int, state: dict | None, since: str | None) -> dict:
    """Pull one vendor page, stage it, start its batch chain and the next page's fetch. A vendor job not ready
    yet: the same batch is fetched again after its wait, and this worker serves other tasks meanwhile. The next
    page's fetch goes out as soon as this page's answer is in, before it is staged (pipeline.ahead). A page of
    records the dedup cache knows is staged normalized: its chain starts at dedup."""
    def ahead(onward: dict) -> None:
        fetch.delay(sync_hid=sync_hid, batch_no=batch_no + 1, state=onward, since=since)

    fetched = pipeline.fetch(sync_hid, batch_no, state, since, ahead=ahead)
    if fetched.wait is not None:
        fetch.apply_async(kwargs={"sync_hid": sync_hid, "batch_no": batch_no, "state": fetched.next,
                                  "since": since}, countdown=fetched.wait)
        return {"batch": batch_no, "wait": fetched.wait}
    batch_chain(sync_hid, batch_no, "dedup" if fetched.normalized else "normalize").delay()
    return {"batch": batch_no, "last": fetched.last, "normalized": fetched.normalized}


def batch_chain(sync_hid: str, batch_no: int, first: str = "normalize") -> Any:
    """A batch's stages from `first` on (pipeline.BATCH_STAGES), each task after the one before."""
    stages = pipeline.BATCH_STAGES[pipeline.BATCH_STAGES.index(first):]
    return chain(*(app.tasks[names.SYNC_TASKS + stage].si(sync_hid=sync_hid, batch_no=batch_no)
                   for stage in stages))


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
    """Batched upsert into raw_data in one transaction with the batch's bookkeeping and its archive owed; the
    last batch sends notify, once (the archive catches up through the outbox relay, kicked here)."""
    counts = pipeline.persist(sync_hid, batch_no)
    kick(relay_archive)
    if pipeline.close_due(sync_hid):
        notify.delay(sync_hid=sync_hid)
    return counts


@app.task(base=BatchTask, name=names.LEGACY_ARCHIVE)
def archive(sync_hid: str, batch_no: int) -> dict:
    """A previous release's archive task, queued before the upgrade: its batch's archive becomes owed work
    (pipeline.upgrade) and, as that release did after the last batch, notify closes the sync."""
    owed = pipeline.owe_staged_archive(sync_hid, batch_no)
    kick(relay_archive)
    if pipeline.close_due(sync_hid):
        notify.delay(sync_hid=sync_hid)
    return {"owed": int(owed)}


@app.task(base=PipelineTask, name=names.NOTIFY)
def notify(sync_hid: str) -> dict | None:
    """Close the sync (pipeline.close_sync: its events, alerts and webhooks owed), kick the relay that sends
    them, then what the close sets off here: trace, metrics, recovery (pipeline.announce)."""
    closed = pipeline.close_sync(sync_hid)
    if closed is None:
        return None
    kick(relay_events)
    return pipeline.announce(closed).summary(closed)


@app.task(base=PipelineTask, name=names.RECOVER_DUE)
def recover_due() -> dict:
    """Beat, every minute: start the recovery syncs whose wait is over."""
    started = 0
    for entry in recovery.due():
        start_sync.delay(connector=entry["connector"], sync_hid=str(uuid.uuid4()), trigger=entry["trigger"])
        started += 1
    return {"started": started}


@app.task(base=PipelineTask, name=names.RESUME_STALLED)
def resume_stalled(stall_seconds: float | None = None) -> dict:
    """Beat, every minute: send again the next steps of RUNNING syncs that stopped moving (a lost message)."""
    stall = get_settings().sync_stall_seconds if stall_seconds is None else stall_seconds
    return {"resumed": {sync_hid: resume(sync_hid) for sync_hid in pipeline.stalled(stall)}}


def resume(sync_hid: str) -> list[str]:
    """Send the steps of pipeline.resume_plan; returns what was sent, for the log and the caller."""
    sent = []
    for step in pipeline.resume_plan(sync_hid):
        match step:
            case pipeline.ResumeBatch(batch_no=n, first=first):
                batch_chain(sync_hid, n, first).delay()
                sent.append(f"batch {n} from {first}")
            case pipeline.ResumeFetch(batch_no=n, state=state, since=since):
                fetch.delay(sync_hid=sync_hid, batch_no=n, state=state, since=since)
                sent.append(f"fetch {n}")
            case pipeline.LostBatch(batch_no=n, why=why) | pipeline.LostFetch(batch_no=n, why=why):
                failed = pipeline.fetch_failed if isinstance(step, pipeline.LostFetch) else pipeline.batch_failed
                sent.append(f"batch {n} failed: {why}")
                if failed(sync_hid, n, f"resume: {why}"):
                    notify.delay(sync_hid=sync_hid)
            case pipeline.CloseSync():
                notify.delay(sync_hid=sync_hid)
                sent.append("notify")
    pipeline.mark_progress(sync_hid)  # what was sent gets a full stall period to move
    log.warning("resumed stalled sync %s: %s", sync_hid, "; ".join(sent))
    return sent
