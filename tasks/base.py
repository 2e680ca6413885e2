"""The base task: late acks, retries with exponential backoff + jitter, vendor waits, dead-lettering."""
from __future__ import annotations

import logging
import random
import time
import traceback
import uuid
from typing import Any

from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import db, logs, metrics, pipeline, tracing
from nexus_sync.config import get_settings
from nexus_sync.credentials import redact
from nexus_sync.errors import Action, TransientError, rule_for_exception
from nexus_sync.pipeline import TaskRef

log = logging.getLogger(__name__)
stage_log = logs.get("nexus_sync.stage")
RATE_LIMIT_MAX_RETRIES = 50  # a rate limit never drops a page: it waits, many times if it must


def backoff(retries: int) -> float:
    """1s, 2s, 4s, 8s… capped, with full jitter on top half."""
    base = min(get_settings().retry_backoff_max, 2.0 ** retries)
    return base / 2 + random.uniform(0, base / 2)


def decide(exc: BaseException, retries: int) -> tuple[float | None, int]:
    """The error table's answer for a task: (countdown before the retry or None to fail, max retries)."""
    rule = rule_for_exception(exc)
    if rule.action is Action.WAIT:
        wait = getattr(exc, "wait_seconds", 1.0)
        return (max(wait, 1.0) if retries < RATE_LIMIT_MAX_RETRIES else None), RATE_LIMIT_MAX_RETRIES
    max_retries = get_settings().task_max_retries
    if rule.action is Action.RETRY and retries < max_retries:
        return backoff(retries), max_retries
    return None, max_retries


class PipelineTask(Task):
    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 3

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        stage = self.name.rsplit(".", 1)[-1]
        ref = pipeline.task_ref(self.name, args, kwargs, self.request.id)  # the one reader of a task's sync
        logs.bind(**pipeline.log_context(ref))
        attributes = {"nexus.task": self.name, "nexus.task_id": self.request.id or "",
                      **({"nexus.batch": ref.batch_no} if ref.batch_no is not None else {})}
        try:
            with tracing.stage_span(stage, ref.sync_hid, attributes):
                result = super().__call__(*args, **kwargs)
            counts = result if isinstance(result, dict) else {}
            seconds = time.perf_counter() - started
            stage_log.info("stage done", stage=stage, ms=round(seconds * 1000, 1),
                           **{k: v for k, v in counts.items() if isinstance(v, (int, float, str, bool))})
            metrics.observe_stage(stage, seconds, counts)
            return result
        except Retry:
            raise
        except Exception as caught:
            exc = _as_sync_error(caught, self.name)
            metrics.ERRORS.labels(self.name, rule_for_exception(exc).failure_type).inc()
            if self.request.is_eager:
                raise
            countdown, max_retries = decide(exc, self.request.retries)
            if countdown is None:
                if exc is caught:
                    raise
                raise exc from None
            if ref.sync_hid and self.request.retries < max_retries:  # alive, just waiting: not a stalled sync
                pipeline.mark_progress(ref.sync_hid, ahead=countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Out of retries (or not retryable): keep the task and the error durably, then tell the pipeline."""
        ref = pipeline.task_ref(self.name, args, kwargs, task_id)
        try:
            dead_letter(self.name, task_id, list(args), dict(kwargs), ref, exc, str(einfo),
                        self.request.retries, self.request.delivery_info or {})
        except Exception:
            log.exception("could not dead-letter task %s %s", self.name, task_id)
        try:
            self.on_dead_letter(ref, f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("dead-letter follow-up of %s %s failed", self.name, task_id)

    def on_dead_letter(self, ref: TaskRef, error: str) -> None:
        """Hook for tasks: record what the failure means for the sync."""


def _as_sync_error(exc: Exception, task: str) -> Exception:
    """The error table's view of an exception Celery raises inside the task: a soft time limit is transient
    (a slow vendor or a long stage; the next attempt starts from the saved state)."""
    if isinstance(exc, SoftTimeLimitExceeded):
        limit = get_settings().task_soft_time_limit
        return TransientError(f"{task} ran past its soft time limit of {limit} s (NEXUS_TASK_SOFT_TIME_LIMIT)")
    return exc


def dead_letter(name: str, task_id: str, args: list[Any], kwargs: dict[str, Any], ref: TaskRef,
                exc: BaseException, tb: str, retries: int, delivery_info: dict[str, Any]) -> None:
    """Keep the task (its arguments as sent) and its error in dead_letters, with its sync and connector."""
    connector_id = None
    if ref.sync_hid:
        try:
            connector_id = pipeline.load(ref.sync_hid).connector.id
        except Exception as exc_load:  # the dead letter is kept without its connector rather than lost
            log.warning("dead letter of %s %s: its sync's connector is unknown (%s)", name, task_id,
                        type(exc_load).__name__)
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.dead_letters).values(
            id=uuid.uuid4(), task_name=name, task_id=task_id, args=args, kwargs=kwargs,
            headers={"delivery_info": {k: str(v) for k, v in delivery_info.items()}},
            queue=(delivery_info or {}).get("routing_key"), connector_id=connector_id,
            sync_history_id=uuid.UUID(ref.sync_hid) if ref.sync_hid else None,
            exception_type=type(exc).__name__, error=redact(str(exc))[:4000],
            traceback=redact(tb or "".join(traceback.format_exception(exc)))[:20000], retries=retries,
        ).on_conflict_do_nothing())
