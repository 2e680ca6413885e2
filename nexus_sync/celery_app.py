"""The one Celery app: Redis broker, late acks, queues by workload, readable task names."""
from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init, worker_process_init
from kombu import Queue

from nexus_sync import names
from nexus_sync.config import ConfigError, get_settings
from nexus_sync.names import Queues

log = logging.getLogger(__name__)


UNACKED_MUTEX_EXPIRE = 30


def make_app(set_as_current: bool = True) -> Celery:
    """The Celery app from the settings (tests build spare ones with set_as_current=False)."""
    app = Celery("nexus_sync", include=["tasks.sync", "tasks.schedule", "tasks.notify", "tasks.outbox"], set_as_current=set_as_current)
    try:
        settings = get_settings()
        broker = settings.redis
        visibility, restore = settings.broker_visibility_timeout, settings.broker_restore_interval
        soft, hard = settings.task_soft_time_limit, settings.task_time_limit
    except ConfigError:
        broker, visibility, restore = "redis://127.0.0.1:6379/0", 600, 10  # a worker resolves it for real
        soft, hard = 900, 960
    app.conf.update(
        broker_url=broker,
        broker_connection_retry_on_startup=True,
        # acks_late over Redis: a dead worker's unacked tasks come back after visibility_timeout; kombu
        # sweeps every interval × throttle seconds (default 100 s), so sweep every `restore` seconds instead.
        # The sweep holds a mutex key in Redis; should its holder die, or Redis restart, mid-sweep (seen in
        # the chaos test), the key stays until it expires and nothing is redelivered meanwhile: kombu's
        # 300 s becomes 30 s (a sweep takes milliseconds; an overlap only redelivers an idempotent task).
        broker_transport_options={"visibility_timeout": visibility, "unacked_restore_interval": restore,
                                  "unacked_restore_throttle": 1, "unacked_mutex_expire": UNACKED_MUTEX_EXPIRE},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,  # a failure is dead-lettered by us, not redelivered
        # no task may hold a worker forever (a vendor dripping bytes, a hook polling a job): the soft limit
        # raises SoftTimeLimitExceeded in the task, which the error table retries; the hard one kills the child
        task_soft_time_limit=soft,
        task_time_limit=hard,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_default_queue=Queues.SYNC.value,
        task_queues=[Queue(q.value) for q in Queues],
        task_routes=[{names.RELAY_ARCHIVE: {"queue": Queues.ARCHIVE.value}}],
        worker_hijack_root_logger=False,
        # FAILED syncs waiting for their recovery attempt (nexus_sync.recovery) are started from here
        beat_schedule={"recover-failed-syncs": {"task": names.RECOVER_DUE, "schedule": 60.0},
                       "resume-stalled-syncs": {"task": names.RESUME_STALLED, "schedule": 60.0,
                                                "options": {"expires": 59}},
                       # the outbox relays (nexus_sync.outbox); persist and close also kick them at once
                       **{f"outbox-{name.rsplit('_', 1)[-1]}": {
                           "task": name, "schedule": get_settings().outbox_relay_seconds,
                           "options": {"expires": get_settings().outbox_relay_seconds}}
                          for name in (names.RELAY_ARCHIVE, names.RELAY_EVENTS)}},
    )
    _beat_conf(app, broker)
    return app


def _without_password(redis_url: str) -> tuple[str, dict[str, str]]:
    """(the URL without its password, {"password": it}) — redis-py takes it as a keyword instead."""
    parts = urlsplit(redis_url)
    if parts.password is None:
        return redis_url, {}
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + (f"[{host}]" if ":" in host else host) \
        + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), {"password": unquote(parts.password)}


def _beat_conf(app: Celery, redis_url: str) -> None:
    """Beat with RedBeat: connector schedules live in Redis, derived from the connectors table by
    nexus_sync.schedule (reconciled on `connectors apply`, at beat start and by the task added here)."""
    url, options = _without_password(redis_url)
    every = get_settings().schedule_reconcile_seconds  # NEXUS_SCHEDULE_RECONCILE_SECONDS, 0 = off
    beat_schedule = dict(app.conf.beat_schedule or {})
    if every:
        beat_schedule["reconcile-schedules"] = {"task": names.RECONCILE, "schedule": every,
                                                "options": {"expires": max(every - 1, 1)}}
    app.conf.update(
        beat_scheduler="redbeat.RedBeatScheduler",
        # the password travels as an option, not in the URL: a worker answers `inspect conf` (Flower asks
        # for it) with its settings through Redis, and Celery masks `password` keys and broker_url only
        redbeat_redis_url=url,
        redbeat_redis_options=options,  # set: RedBeat would otherwise fall back to broker_transport_options
        redbeat_key_prefix=names.BEAT_PREFIX,
        beat_max_interval=10,  # beat re-reads Redis at least this often: a changed entry counts within 10 s
        # a scheduled trigger's priority (HIGH 0 / NORMAL 3 / LOW 6; lower first on Redis) goes to every task
        # of its chain: fetch, normalize, dedup, persist, archive, notify
        task_inherit_parent_priority=True,
        beat_schedule=beat_schedule,
    )


app = make_app()


@worker_init.connect
def _serve_metrics(**_kwargs: object) -> None:
    """The worker's main process serves /metrics for itself and its pool children (multiprocess mode)."""
    import os

    from nexus_sync import metrics

    port = get_settings().metrics_port
    if not port or "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return
    try:
        metrics.serve(port)
        log.info("metrics on http://127.0.0.1:%s/metrics", port)
    except OSError as exc:
        log.warning("metrics not served: port %s: %s", port, exc)


@worker_init.connect
def _check_schema(**_kwargs: object) -> None:
    """A worker on an unmigrated database would fail every task: say so and exit instead."""
    from nexus_sync import db
    from nexus_sync.migrations import NotMigrated, require_current

    try:
        require_current(db.get_engine())
    except NotMigrated as exc:
        print(f"nexus-sync worker: {exc}", file=sys.stderr)
        sys.exit(3)
    except Exception as exc:  # database unreachable
        print(f"nexus-sync worker: cannot check the database schema: {exc}", file=sys.stderr)
        sys.exit(3)


@worker_process_init.connect
def _after_fork(**_kwargs: object) -> None:
    from nexus_sync import archive, db

    db.reset_after_fork()
    archive.archive_for.cache_clear()


@setup_logging.connect
def _json_logs(loglevel: Any = None, **_kwargs: object) -> None:
    """Celery leaves logging to us: JSON lines with task context, secrets redacted."""
    from nexus_sync import logs

    try:
        level = get_settings().log_level
    except ConfigError:
        level = "INFO"
    logs.setup(level)


@task_prerun.connect
def _bind(task_id: str = "", task: Any = None, **_kwargs: object) -> None:
    from nexus_sync import logs

    logs.bind_task(task.name if task else "?", task_id)


@task_postrun.connect
def _unbind(**_kwargs: object) -> None:
    import structlog

    structlog.contextvars.clear_contextvars()
