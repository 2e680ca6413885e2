"""The next page's fetch goes out as soon as this page's answer is in, before the page is staged
(pipeline.ahead): sent once however often the task is retried, the frontier never moves back, a page whose
successor went out but that was never staged is fetched again by a resume (not lost), and a fetch that keeps
failing after its successor went out fails its own batch only."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from nexus_sync import pipeline, staging
from nexus_sync.pipeline import fetching

PAGE = 100


def started(sim: Any, make_connector: Any) -> tuple[Any, str]:
    conn = make_connector(sim, "okta", page_size=PAGE)
    hid = str(uuid.uuid4())
    assert not pipeline.start(conn.name, hid, "test").skipped
    return conn, hid


def test_the_successor_goes_out_before_the_page_is_staged_and_once(sim, make_connector):
    conn, hid = started(sim, make_connector)
    sent: list[tuple[dict[str, Any], bool]] = []
    ahead = lambda onward: sent.append((onward, staging.exists(hid, 0, "raw")))  # noqa: E731
    first = pipeline.fetch(hid, 0, None, None, ahead=ahead)
    assert sent == [(first.next, False)]  # sent, and the page not staged yet at that moment
    assert staging.exists(hid, 0, "raw")
    pipeline.fetch(hid, 0, None, None, ahead=ahead)  # the task again (its first run's ack was lost)
    assert len(sent) == 1
    second = pipeline.fetch(hid, 1, first.next, None, ahead=ahead)
    pipeline.fetch(hid, 0, None, None, ahead=ahead)  # a late retry of batch 0
    assert len(sent) == 2 and pipeline.frontier(hid) == pipeline.Frontier(2, second.next, None)
    pipeline.release_lock(conn.id, hid)


def test_a_page_whose_successor_went_out_but_never_staged_is_fetched_again(sim, make_connector, monkeypatch):
    conn, hid = started(sim, make_connector)
    real = fetching._stage

    def dying(*args: Any) -> None:  # the worker dies between sending the successor and staging the page
        raise SystemExit("killed")

    monkeypatch.setattr(fetching, "_stage", dying)
    sent: list[dict[str, Any]] = []
    with pytest.raises(SystemExit):
        pipeline.fetch(hid, 0, None, None, ahead=sent.append)
    monkeypatch.setattr(fetching, "_stage", real)
    assert len(sent) == 1 and not staging.exists(hid, 0, "raw")
    assert pipeline.resume_plan(hid) == [pipeline.ResumeFetch(0, None, None), pipeline.ResumeFetch(1, sent[0], None)]
    pipeline.release_lock(conn.id, hid)


def test_a_fetch_failing_after_its_successor_went_out_fails_its_batch_only(sim, make_connector, monkeypatch):
    conn, hid = started(sim, make_connector)

    def failing(*args: Any) -> None:  # Redis refused the page, every retry
        raise ConnectionError("redis down")

    monkeypatch.setattr(fetching, "_stage", failing)
    with pytest.raises(ConnectionError):
        pipeline.fetch(hid, 0, None, None, ahead=lambda onward: None)
    monkeypatch.undo()
    assert pipeline.fetch_failed(hid, 0, "fetch: redis down") is False  # not the sync's end: pages 1… are coming
    front = pipeline.frontier(hid)
    assert front is not None and front.batch == 1
    assert pipeline.resume_plan(hid) == [pipeline.ResumeFetch(1, front.state, None)]  # batch 0: FAILED
    pipeline.release_lock(conn.id, hid)
