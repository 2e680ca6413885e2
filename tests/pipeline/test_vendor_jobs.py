"""A vendor job that is not ready yet (connectors.base.Page.wait): nothing is staged, the same batch is fetched
again with the job's state after the wait (the worker is freed meanwhile), and the sync does not look stalled."""
from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import connectors
from connectors.base import Page
from nexus_sync import pipeline, runs, staging
from tests.pipeline.helpers import raw_rows, run_inline

WAIT = 30.0


@pytest.fixture
def job_pages(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any] | None]:
    """Okta answers every page as a job: first "not ready" (no records, the job's state), then the page."""
    cls = connectors.get("okta")
    real = cls.fetch_page
    asked: list[dict[str, Any] | None] = []

    def fetch_page(self: Any, state: dict[str, Any] | None, since: str | None) -> Page:
        asked.append(state)
        if not (state or {}).get("job_ready"):
            return Page([], {"job_ready": True, "page": state}, wait=WAIT)
        return real(self, state["page"], since)

    monkeypatch.setattr(cls, "fetch_page", fetch_page)
    return asked


def test_a_job_not_ready_stages_nothing_and_keeps_the_sync_alive(sim, make_connector, job_pages):
    conn = make_connector(sim, "okta", page_size=100)
    hid = str(uuid.uuid4())
    assert not pipeline.start(conn.name, hid, "test").skipped
    fetched = pipeline.fetch(hid, 0, None, None)
    assert fetched == pipeline.Fetched({"job_ready": True, "page": None}, WAIT) and not fetched.last
    assert not staging.exists(hid, 0, "raw")  # no batch for a job that is not ready
    assert hid not in pipeline.stalled(WAIT / 2)  # waiting on the vendor is not stalling
    assert hid in pipeline.stalled(WAIT / 2, now=time.time() + WAIT + WAIT / 2 + 1)
    # a resume (the re-queued fetch was lost) fetches the same batch again with the job's state
    assert pipeline.resume_plan(hid) == [pipeline.ResumeFetch(0, fetched.next, None)]
    page = pipeline.fetch(hid, 0, fetched.next, None)
    assert page.wait is None and page.next is not None and staging.exists(hid, 0, "raw")
    assert pipeline.resume_plan(hid) == [pipeline.ResumeBatch(0, "normalize"), pipeline.ResumeFetch(1, page.next, None)]
    pipeline.release_lock(conn.id, hid)


def test_a_sync_of_jobs_completes_with_every_record(sim, make_connector, job_pages):
    conn = make_connector(sim, "okta", page_size=100)
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS" and report["records"]["new"] == 450
    assert {r.source_id for r in raw_rows(conn.tenant_id)} == set(sim.truth("okta"))
    waits = sum(1 for s in job_pages if not (s or {}).get("job_ready"))
    assert report["pages"] == waits == len(job_pages) / 2 and waits >= 5  # a wait is not a page


def test_the_fetch_task_requeues_the_same_batch_with_the_wait_as_countdown(sim, make_connector, job_pages,
                                                                           monkeypatch):
    """The real tasks, run eagerly in this process on the real stack: each job page re-queues its fetch."""
    from nexus_sync.celery_app import app
    from tasks import sync as sync_tasks

    conn = make_connector(sim, "okta", page_size=150)
    requeued: list[tuple[dict[str, Any], float | None]] = []
    real_apply = sync_tasks.fetch.apply_async

    def apply_async(*args: Any, **kwargs: Any) -> Any:
        requeued.append((dict(kwargs.get("kwargs") or {}), kwargs.get("countdown")))
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(sync_tasks.fetch, "apply_async", apply_async)
    eager = ("task_always_eager", "task_eager_propagates")
    saved = {k: app.conf[k] for k in eager}
    app.conf.update(dict.fromkeys(eager, True))
    hid = str(uuid.uuid4())
    try:
        sync_tasks.start_sync.delay(connector=conn.name, sync_hid=hid, trigger="test")
    finally:
        app.conf.update(saved)
    report = runs.wait(hid, timeout=10)
    assert report["status"] == "SUCCESS" and report["records"]["new"] == 450
    waits = [(k, c) for k, c in requeued if c is not None]
    assert [(k["batch_no"], c) for k, c in waits] == [(n, WAIT) for n in range(report["pages"])]
    assert all(k["sync_hid"] == hid and k["state"]["job_ready"] for k, _ in waits)
