"""A finished sync's notify is sent once: the last two batches persisting together, or a persist task run
twice (its first ack lost), each find the sync finished, and only the first to claim it sends notify. The
claim never stands in the way of a stalled sync's resume, which closes a finished sync whose notify was lost."""
from __future__ import annotations

import uuid
from typing import Any

from nexus_sync import pipeline

PAGE = 150


def test_the_last_persist_run_twice_sends_notify_once_and_resume_still_closes(sim, make_connector, monkeypatch):
    import tasks.sync as sync_tasks

    sent: list[str] = []
    monkeypatch.setattr(sync_tasks.notify, "delay", lambda sync_hid: sent.append(sync_hid))
    conn = make_connector(sim, "okta", page_size=PAGE)
    hid = str(uuid.uuid4())
    started = pipeline.start(conn.name, hid, "test")
    batch, state = 0, None
    while True:
        fetched = pipeline.fetch(hid, batch, state, started.since)
        pipeline.normalize(hid, batch)
        pipeline.dedup(hid, batch)
        if fetched.next is None:
            break
        batch, state = batch + 1, fetched.next
    last = batch
    assert last >= 2
    for n in range(last + 1):
        sync_tasks.persist(sync_hid=hid, batch_no=n)
    assert sent == [hid]
    for n in (last, last - 1):  # redelivered persists of a finished sync
        sync_tasks.persist(sync_hid=hid, batch_no=n)
    assert sent == [hid]
    # that notify was lost (its worker died): the stall resume closes the sync all the same
    assert pipeline.resume_plan(hid) == [pipeline.CloseSync()]
    closed: Any = pipeline.close_sync(hid)
    assert closed is not None and closed.report["status"] == "SUCCESS"
