"""Elastic through the real pipeline (issue 11, items 8 and 13): an alert triaged in place reaches the next
incremental sync, and no sync leaves a point in time open on the cluster — after its last page, or after its
fetch has failed for good."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from connectors import cursors
from nexus_sync import db, pipeline
from nexus_sync.errors import TransientError
from nexus_sync.simulator import SimConfig, Simulator
from tests.pipeline.helpers import cursor_of, run_inline


def stored(tenant_id) -> dict[str, tuple[dict, dict]]:
    rd = db.raw_data.c
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(rd.source_id, rd.data, rd.raw_data).where(rd.tenant_id == tenant_id)).all()
    return {r.source_id: (r.data, r.raw_data) for r in rows}


def without_hit_fields(hit: dict) -> dict:
    """The stored hit without what the search adds to the document (its sort values and score)."""
    return {k: v for k, v in hit.items() if k not in ("sort", "_score")}


@pytest.fixture
def elastic():
    sims: list[Simulator] = []

    def start(size: int, seed: int) -> Simulator:
        sims.append(Simulator(SimConfig(seed=seed, sizes={"elastic": size})).start())
        return sims[-1]

    yield start
    for s in sims:
        s.stop()


def test_an_alert_triaged_in_place_reaches_the_next_incremental_sync(elastic, make_connector):
    s = elastic(400, seed=3)
    conn = make_connector(s, "elastic", page_size=100, incremental=True)
    _, first = run_inline(conn.name)
    assert first["status"] == "SUCCESS" and first["records"]["new"] == 400
    triaged = s.mutate("elastic", 0.75)  # Kibana's status update: workflow status rewritten, @timestamp kept
    truth = s.truth("elastic")
    assert len(triaged) == 300
    _, second = run_inline(conn.name)
    assert second["status"] == "SUCCESS", second
    assert second["records"]["updated"] == 300 and second["records"]["new"] == 0
    rows = stored(conn.tenant_id)
    assert sorted(rows) == sorted(truth)
    for alert_id, alert in truth.items():
        data, raw = rows[alert_id]
        assert data["status"] == alert["_source"]["kibana.alert.workflow_status"]
        assert without_hit_fields(raw) == alert, "raw_data is the alert as Elasticsearch sent it"
    last_change = max(cursors.canonical(truth[i]["_source"]["kibana.alert.workflow_status_updated_at"], "iso")
                      for i in triaged)
    assert cursor_of(conn.id) == last_change, "the cursor is the alerts' modification time"


def test_a_merge_that_renumbers_documents_changes_no_alert(elastic, make_connector):
    s = elastic(100, seed=6)
    conn = make_connector(s, "elastic", page_size=40)
    run_inline(conn.name)
    triaged = s.mutate("elastic", 0.1)  # re-indexed: these alerts and every later _shard_doc move
    _, again = run_inline(conn.name)
    assert again["status"] == "SUCCESS"
    assert (again["records"]["updated"], again["records"]["unchanged"]) == (len(triaged), 100 - len(triaged))


def _finish_after_failure(hid: str, failed_batch: int) -> dict:
    """What the fetch task does once its retries are spent, then the batches fetched before run to the end."""
    assert pipeline.fetch_failed(hid, failed_batch, "TransientError: POST /_search: 500 Internal Server Error") \
        is (failed_batch == 0)
    for batch in range(failed_batch):
        for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
            stage(hid, batch)
    return pipeline.close_sync(hid).report


def test_no_sync_leaves_a_point_in_time_open(elastic, make_connector):
    s = elastic(120, seed=4)
    conn = make_connector(s, "elastic", page_size=50)
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS" and report["pages"] == 3
    assert s.stats("elastic")["open_pits"] == 0, "closed after the last page"

    hid = str(uuid.uuid4())
    pipeline.start(conn.name, hid, "test")
    state = pipeline.fetch(hid, 0, None, None).next
    assert state is not None and s.stats("elastic")["open_pits"] == 1
    s.set_faults("elastic", broken_paths=["/_search"])
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 1, state, None)
    assert s.stats("elastic")["open_pits"] == 1, "a failed page keeps its PIT for the fetch's retry"
    assert _finish_after_failure(hid, 1)["status"] == "PARTIAL"
    assert s.stats("elastic")["open_pits"] == 0, "closed once the fetch failed for good"

    hid = str(uuid.uuid4())
    pipeline.start(conn.name, hid, "test")
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 0, None, None)
    assert s.stats("elastic")["open_pits"] == 0, "a failed first page closes the PIT it opened"
    assert _finish_after_failure(hid, 0)["status"] == "FAILED"
