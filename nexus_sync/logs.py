"""JSON log lines (structlog over stdlib logging) carrying the task's context; secrets redacted."""
from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from nexus_sync import names
from nexus_sync.credentials import redact

_configured = False


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Every string value goes through the redactor: no known secret value leaves the process."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def setup(level: str = "INFO", stream: Any = None) -> None:
    """Route stdlib logging (Celery's too) through structlog's JSON renderer."""
    global _configured
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact,
                    structlog.processors.JSONRenderer()],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if not _configured:
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            cache_logger_on_first_use=True,
        )
    _configured = True


def bind_task(task_name: str, task_id: str, args: tuple | list) -> None:
    """Context of the running task: every log line of it carries these keys."""
    structlog.contextvars.clear_contextvars()
    ctx: dict[str, Any] = {"task": task_name, "task_id": task_id}
    if task_name == names.START_SYNC and len(args) > 1:
        ctx["connector"], ctx["sync_hid"] = args[0], args[1]
    elif args and task_name.startswith(names.SYNC_TASKS):
        ctx["sync_hid"] = args[0]
        if len(args) > 1 and isinstance(args[1], int):
            ctx["batch"] = args[1]
    if "sync_hid" in ctx:
        try:
            from nexus_sync.pipeline import load

            sc = load(ctx["sync_hid"])
            ctx.update(sync_id=sc.sync_id, connector_id=str(sc.connector.id), connector=sc.connector.name,
                       tenant_id=str(sc.connector.tenant_id))
        except Exception:
            pass  # the sync may not exist yet (start_sync creates it)
    structlog.contextvars.bind_contextvars(**ctx)


def get(name: str) -> Any:
    return structlog.get_logger(name)
