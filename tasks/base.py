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

from nexus_sync import db, logs, metrics, names, pipeline, tracing
from nexus_sync.config import get_settings
from nexus_sync.credentials import redact
from nexus_sync.errors import Action, TransientError, rule_for_exception

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
        sync_hid = _sync_of(self.name, args, self.request.id)
        try:
            with tracing.stage_span(stage, sync_hid, {"nexus.task": self.name, "nexus.task_id": self.request.id or "",
                                                      **({"nexus.batch": args[1]} if len(args) > 1
                                                         and isinstance(args[1], int) else {})}):
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
            if sync_hid and self.request.retries < max_retries:  # alive, just waiting: not a stalled sync
                pipeline.mark_progress(sync_hid, ahead=countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Out of retries (or not retryable): keep the task and the error durably, then tell the pipeline."""
        try:
            dead_letter(self.name, task_id, list(args), dict(kwargs), exc, str(einfo),
                        self.request.retries, self.request.delivery_info or {})
        except Exception:
            log.exception("could not dead-letter task %s %s", self.name, task_id)
        try:
            self.on_dead_letter(args, kwargs, f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("dead-letter follow-up of %s %s failed", self.name, task_id)

    def on_dead_letter(self, args: Any, kwargs: Any, error: str) -> None:
        """Hook for tasks: record what the failure means for the sync."""


def _as_sync_error(exc: Exception, task: str) -> Exception:
    """The error table's view of an exception Celery raises inside the task: a soft time limit is transient
    (a slow vendor or a long stage; the next attempt starts from the saved state)."""
    if isinstance(exc, SoftTimeLimitExceeded):
        limit = get_settings().task_soft_time_limit
        return TransientError(f"{task} ran past its soft time limit of {limit} s (NEXUS_TASK_SOFT_TIME_LIMIT)")
    return exc


def _sync_of(name: str, args: Any, task_id: str | None) -> str | None:
    """The sync a task works for: start_sync's second argument (or its own id), else the first."""
    if name == names.START_SYNC:
        return args[1] if len(args) > 1 and args[1] else task_id
    if name.startswith(names.SYNC_TASKS) and args and isinstance(args[0], str):
        return args[0]
    return None


def dead_letter(name: str, task_id: str, args: list[Any], kwargs: dict[str, Any], exc: BaseException,
                tb: str, retries: int, delivery_info: dict[str, Any]) -> None:
    connector_id = None
    sync_hid = _sync_of(name, args, task_id)  # a scheduled start has no sync id argument: its task id is it
    if sync_hid:
        try:
            from nexus_sync.pipeline import load

            connector_id = load(sync_hid).connector.id
        except Exception as exc:  # the dead letter is kept without its connector rather than lost
            log.warning("dead letter of %s %s: its sync's connector is unknown (%s)", name, task_id,
                        type(exc).__name__)
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.dead_letters).values(
            id=uuid.uuid4(), task_name=name, task_id=task_id, args=args, kwargs=kwargs,
            headers={"delivery_info": {k: str(v) for k, v in delivery_info.items()}},
            queue=(delivery_info or {}).get("routing_key"), connector_id=connector_id,
            sync_history_id=uuid.UUID(sync_hid) if sync_hid else None,
            exception_type=type(exc).__name__, error=redact(str(exc))[:4000],
            traceback=redact(tb or "".join(traceback.format_exception(exc)))[:20000], retries=retries,
        ).on_conflict_do_nothing())
