"""The one reader of a task message's sync (pipeline.task_ref): keyword arguments as sent now, positional ones
as the previous release sent (and stored in the DLQ), beat's start with only the connector."""
from __future__ import annotations

from nexus_sync import names
from nexus_sync.pipeline import TaskRef, task_ref

HID = "7d0c4a5e-0b7e-4c59-9a43-5b1f0e6f1a11"


def test_keyword_and_positional_messages_read_the_same():
    kw = task_ref(names.PERSIST, (), {"sync_hid": HID, "batch_no": 3}, "task-1")
    assert kw == task_ref(names.PERSIST, (HID, 3), {}, "task-1") == TaskRef(HID, 3)
    fetch = {"sync_hid": HID, "batch_no": 0, "state": None, "since": None}
    assert task_ref(names.FETCH, (), fetch, "t") == task_ref(names.FETCH, (HID, 0, None, None), {}, "t")
    assert task_ref(names.NOTIFY, (HID,), {}, "t") == task_ref(names.NOTIFY, (), {"sync_hid": HID}, "t")


def test_a_start_without_a_sync_id_is_the_sync_of_its_task_id():
    beat = task_ref(names.START_SYNC, ["okta-prod"], {"trigger": "schedule"}, HID)  # how beat sends it
    assert beat == TaskRef(HID, None, "okta-prod")
    sent = task_ref(names.START_SYNC, (), {"connector": "okta-prod", "sync_hid": HID, "trigger": "manual"}, "x")
    assert sent == beat
    assert task_ref(names.START_SYNC, ("okta-prod", HID, "manual"), {}, "x") == beat  # previous release


def test_a_task_of_no_sync_has_none():
    assert task_ref(names.RESUME_STALLED, (0.0,), {}, "t") == TaskRef()
    assert task_ref(names.WEBHOOK, ("dash", {"event_type": "x"}), {}, "t") == TaskRef()
