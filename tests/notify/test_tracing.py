"""Tracing: one trace per sync, a span per task, with a worker of its own (no other worker may take tasks)."""
from __future__ import annotations

from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from tests.conftest import STATE, worker_env
from tests.notify.test_notifications import _wait


def test_one_trace_per_sync_with_a_span_per_stage(sim, make_connector, stack, secrets_file):
    import re
    import uuid as _uuid

    env = {**worker_env(), "NEXUS_TRACING": "console", "NEXUS_METRICS_PORT": "0"}
    log = STATE / "logs" / "trace-worker.log"
    proc = procs.start_worker(log, env=env, concurrency=1, name="tracer")
    try:
        conn = make_connector(sim, "okta", page_size=150)
        hid = run_sync(conn.name, wait=False)["sync_hid"]
        report = wait_for(hid, 120, progress=False)
        assert report["status"] == "SUCCESS"
        trace_id = f'"trace_id": "0x{_uuid.UUID(hid).hex}"'
        root = f'"span_id": "0x{_uuid.UUID(hid).int & ((1 << 64) - 1):016x}"'
        assert _wait(lambda: f"nexus.sync {conn.name}" in log.read_text(), 20)
        spans = [s for s in re.split(r"\n(?=\{)", log.read_text()) if trace_id in s]
        names = {re.search(r'"name": "([^"]+)"', s).group(1) for s in spans}
        assert names >= {"nexus.start_sync", "nexus.fetch", "nexus.normalize", "nexus.dedup", "nexus.persist",
                         "nexus.notify", f"nexus.sync {conn.name}"}  # archive: the outbox relay, of no one sync
        children = [s for s in spans if '"name": "nexus.sync ' not in s]
        assert all(f'"parent_id": "0x{_uuid.UUID(hid).int & ((1 << 64) - 1):016x}"' in s for s in children)
        assert any(root in s for s in spans if f"nexus.sync {conn.name}" in s)
    finally:
        proc.stop()
