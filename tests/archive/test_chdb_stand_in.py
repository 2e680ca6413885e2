"""The archive's HTTP client against the dev stack's ClickHouse stand-in (nexus_sync.dev.chdb_server), which
wants a password: the credentials of the URL go as HTTP Basic auth, the archive's own statements run, and a
wrong password is an error that does not show the password."""
from __future__ import annotations

import secrets
import sys
import uuid
from datetime import datetime
from typing import Iterator

import pytest
import requests

from nexus_sync.archive import TABLE, HttpArchive, archive_row
from nexus_sync.dev import procs
from nexus_sync.dev.chdb_server import PASSWORD_ENV
from nexus_sync.errors import TransientError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    folder = tmp_path_factory.mktemp("chdb")
    port, password = procs.free_port(), secrets.token_urlsafe(32)
    proc = procs.Proc("chdb", [sys.executable, "-m", "nexus_sync.dev.chdb_server", "--path", str(folder / "data"),
                               "--port", str(port)], folder / "chdb.log", {PASSWORD_ENV: password},
                      credentials=False)
    try:
        procs.wait_until(lambda: proc.alive() and requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).ok,
                         60, "chdb server", folder / "chdb.log")
        yield port, password
    finally:
        proc.stop()


def test_archive_round_trip_with_the_password_in_the_url(stand_in: tuple[int, str]) -> None:
    port, password = stand_in
    archive = HttpArchive(f"http://default:{password}@127.0.0.1:{port}")
    archive.ensure_schema()
    tenant, at = str(uuid.uuid4()), datetime(2026, 11, 22, 12, 0, 0)
    rows = [archive_row(str(uuid.uuid4()), tenant, "okta-prod", "asset", {"n": i, "s": "a\tb\\c\nd"}, at)
            for i in range(50)]
    assert archive.insert_new(rows) == 50
    assert archive.insert_new(rows) == 0  # ids of this fetch time are found again
    assert archive.ids_ingested_at(tenant, "okta-prod", "2026-11-22 12:00:00") == {r["id"] for r in rows}
    got = archive.query(f"SELECT data FROM {TABLE} WHERE tenant_id = toUUID('{tenant}') ORDER BY data")
    assert sorted(r["data"] for r in rows) == [g["data"] for g in got]


def test_a_wrong_password_is_an_error_without_the_password(stand_in: tuple[int, str]) -> None:
    port, _ = stand_in
    wrong = secrets.token_urlsafe(16)
    with pytest.raises(TransientError) as err:
        HttpArchive(f"http://default:{wrong}@127.0.0.1:{port}").version()
    assert "401" in str(err.value) and wrong not in str(err.value)

