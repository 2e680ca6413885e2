"""JSON log lines (structlog over stdlib logging) carrying the task's context; secrets redacted."""
from __future__ import annotations

import logging
import sys
from typing import Any, MutableMapping

import structlog
from structlog.typing import Processor

from nexus_sync.credentials import redact

_configured = False


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every string value goes through the redactor: no known secret value leaves the process."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def setup(level: str = "INFO", stream: Any = None) -> None:
    """Route stdlib logging (Celery's too) through structlog's JSON renderer."""
    global _configured
    shared: list[Processor] = [
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


def bind_task(task_name: str, task_id: str) -> None:
    """Context of the running task: every log line of it carries these keys. A pipeline task adds its sync's
    (tasks.base binds nexus_sync.pipeline.log_context)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task=task_name, task_id=task_id)


def bind(**keys: Any) -> None:
    """More keys for every log line of the running task."""
    structlog.contextvars.bind_contextvars(**keys)


def get(name: str) -> Any:
    return structlog.get_logger(name)
