"""OpenTelemetry: one trace per sync, a span per pipeline task under it.

The tasks of a sync run in different processes and never wait for each other, so no context travels
in the messages: the trace id IS the sync id (a UUID is 128 bits) and the root span's id is derived from it.
Each task's span names that root as parent; notify records the root itself, from the sync's start to its
close. Off by default; NEXUS_TRACING=console prints spans, NEXUS_TRACING=otlp sends them to
NEXUS_OTLP_ENDPOINT (OTLP over HTTP, e.g. http://collector:4318/v1/traces)."""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, cast

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

_provider: Any = None
_lock = threading.Lock()


def ids(sync_hid: str) -> tuple[int, int]:
    u = uuid.UUID(str(sync_hid)).int
    return u, (u & ((1 << 64) - 1)) or 1  # trace id, root span id


def tracer() -> Any:
    """The configured tracer, or None when tracing is off."""
    global _provider
    from nexus_sync.config import get_settings

    s = get_settings()
    if s.tracing == "off":
        return None
    with _lock:
        if _provider is None:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

            # _SyncIds has IdGenerator's two methods without subclassing it: the SDK loads only when tracing is on
            provider = TracerProvider(resource=Resource.create({"service.name": "nexus-sync"}),
                                      id_generator=cast("IdGenerator", _SyncIds()))
            if s.tracing == "console":
                provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=s.otlp_endpoint)))
            _provider = provider
    return _provider.get_tracer("nexus_sync")


class _SyncIds:
    """Random ids, except for the root span of a sync, whose ids come from the sync id."""

    forced = threading.local()

    def generate_trace_id(self) -> int:
        f = getattr(self.forced, "ids", None)
        return f[0] if f else uuid.uuid4().int

    def generate_span_id(self) -> int:
        f = getattr(self.forced, "ids", None)
        if f:
            self.forced.ids = None
            return f[1]
        return uuid.uuid4().int & ((1 << 64) - 1) or 1


def _parent(sync_hid: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    trace_id, span_id = ids(sync_hid)
    ctx = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(ctx))


@contextmanager
def stage_span(stage: str, sync_hid: str | None, attributes: dict[str, Any]) -> Iterator[Any]:
    t = tracer()
    if t is None or not sync_hid:
        yield None
        return
    # the SDK's own exception recording would copy the raw exception text into the span (and OTLP ships it
    # to a collector): the span gets the failure's type and its redacted message instead
    with t.start_as_current_span(f"nexus.{stage}", context=_parent(sync_hid), attributes=attributes,
                                 record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            _record_failure(span, exc)
            raise


def _record_failure(span: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    from nexus_sync.credentials import redact

    message = redact(str(exc))[:500]
    span.add_event("exception", {"exception.type": type(exc).__name__, "exception.message": message})
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))


def record_sync(sync_hid: str, report: dict[str, Any], started: datetime, ended: datetime) -> None:
    """The root span of the sync, written when it closes (its children are already out)."""
    t = tracer()
    if t is None:
        return
    _SyncIds.forced.ids = ids(sync_hid)

    def ns(dt: datetime) -> int:
        return int(dt.replace(tzinfo=timezone.utc).timestamp() * 1e9)

    span = t.start_span(f"nexus.sync {report.get('connector')}", start_time=ns(started), attributes={
        "nexus.sync_id": report.get("sync_id", ""), "nexus.connector": report.get("connector", ""),
        "nexus.status": report.get("status", ""), "nexus.records.new": report.get("records", {}).get("new", 0),
        "nexus.records.updated": report.get("records", {}).get("updated", 0),
        "nexus.records.unchanged": report.get("records", {}).get("unchanged", 0)})
    span.end(end_time=ns(ended))


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()
