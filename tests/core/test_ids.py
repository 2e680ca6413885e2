"""The pipeline's fast id helpers give exactly what the uuid module gives (archive ids must stay stable:
a batch archived again after a deploy must find its rows under the same ids)."""
from __future__ import annotations

import uuid

from nexus_sync.pipeline import ARCHIVE_NS, uuid4_texts, uuid5_text


def test_uuid4_texts_are_distinct_version_4_uuids():
    ids = uuid4_texts(5000)
    assert len(set(ids)) == 5000
    for text in ids[:500]:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122
    assert uuid4_texts(0) == []


def test_uuid5_text_is_uuid5():
    sync = "5b0d4a38-3f7e-4b8e-9a0e-0c1d2e3f4a5b"
    for ident in ("0cc175b9c0f1b6a831c399e269772661", "é∆✓", ""):
        assert uuid5_text(ARCHIVE_NS.bytes + f"{sync}:".encode(), ident) == str(uuid.uuid5(ARCHIVE_NS, f"{sync}:{ident}"))
