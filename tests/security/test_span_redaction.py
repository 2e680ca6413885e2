"""Finding 3: a failing stage's span never carries the raw exception text (OTLP would ship it to a collector)."""
from __future__ import annotations

import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nexus_sync import credentials, tracing
from nexus_sync.config import get_settings


@pytest.fixture
def spans(monkeypatch):
    monkeypatch.setenv("NEXUS_TRACING", "console")
    get_settings.cache_clear()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield exporter
    get_settings.cache_clear()


def test_a_failed_stage_span_holds_the_redacted_error_only(spans):
    token = f"CANARY-span-token-{uuid.uuid4().hex}"
    credentials.remember_sent(token)  # sent as a credential: the redactor knows it
    with pytest.raises(RuntimeError):
        with tracing.stage_span("fetch", str(uuid.uuid4()), {"nexus.task": "tasks.sync.fetch"}):
            raise RuntimeError(f"vendor said: Authorization: Bearer {token}")
    (span,) = spans.get_finished_spans()
    text = span.to_json()
    assert token not in text
    assert "RuntimeError" in text and "***" in text  # the failure is still visible, redacted
    assert span.status.status_code.name == "ERROR"
