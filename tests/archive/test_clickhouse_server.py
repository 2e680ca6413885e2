"""The archive against a real ClickHouse server (Debian's clickhouse-server 18.16 in CI), over both of the
code paths production can use: the native protocol (clickhouse-driver, NativeArchive) and the HTTP interface
(HttpArchive). The test starts its own server on free ports with its data in a temporary folder.

Without the binary the test is skipped, except under CI (`CI` set), where a missing binary is a failure:
.ci/run installs it.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timedelta
from typing import Iterator

import orjson
import pytest
import requests

from nexus_sync.archive import (
    TABLE,
    Archive,
    HttpArchive,
    NativeArchive,
    archive_for,
    archive_row,
    ddl,
    server_supports_ttl,
)
from nexus_sync.dev import procs

USER, PASSWORD = "nexus", "archive-test-pw"
_opened: list[Archive] = []  # closed before the server stops: it waits ~10 s for open client connections


def _server_argv() -> list[str] | None:
    for name in ("clickhouse-server", "/usr/sbin/clickhouse-server"):  # /usr/sbin: not on a user's PATH
        if path := shutil.which(name):
            return [path]
    if path := shutil.which("clickhouse"):  # newer packages: one binary with sub-commands
        return [path, "server"]
    return None


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>{d}/log/server.log</log>
    <errorlog>{d}/log/error.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <{user}>
      <password>{password}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{user}>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    argv = _server_argv()
    if argv is None:
        if _ci():
            pytest.fail("clickhouse-server is not installed, and CI is set: .ci/run must install it "
                        "(apt-get install -y clickhouse-server)")
        pytest.skip("clickhouse-server not installed (apt-get install -y clickhouse-server); CI runs this test")
    d = tmp_path_factory.mktemp("clickhouse")
    ports = {"tcp": procs.free_port(), "http": procs.free_port()}
    (d / "config.xml").write_text(CONFIG.format(d=d, **ports))
    (d / "users.xml").write_text(USERS.format(user=USER, password=PASSWORD))
    log = d / "log" / "stdout.log"
    proc = procs.Proc("clickhouse-server", [*argv, f"--config-file={d / 'config.xml'}"], log)
    try:
        procs.wait_until(lambda: proc.alive() and requests.get(f"http://127.0.0.1:{ports['http']}/ping",
                                                               timeout=1).content.strip() == b"Ok.",
                         30, "clickhouse-server", d / "log" / "error.log")
        for db in ("nexus_native", "nexus_http"):
            requests.post(f"http://127.0.0.1:{ports['http']}/", params={"query": f"CREATE DATABASE {db}"},
                          timeout=10).raise_for_status()
        yield ports
    finally:
        for archive in _opened:
            if isinstance(archive, NativeArchive):
                archive.client.disconnect()
            elif isinstance(archive, HttpArchive):
                archive.session.close()
        _opened.clear()
        archive_for.cache_clear()
        proc.stop()


def _opens(archive: Archive) -> Archive:
    _opened.append(archive)
    return archive


def _archive(kind: str, ports: dict[str, int]) -> Archive:
    if kind == "native":
        return _opens(NativeArchive(f"clickhouse://{USER}:{PASSWORD}@127.0.0.1:{ports['tcp']}/nexus_native"))
    return _opens(HttpArchive(f"http://{USER}:{PASSWORD}@127.0.0.1:{ports['http']}/nexus_http"))


def _rows(tenant: str, n: int, start: datetime) -> list[dict]:
    return [archive_row(str(uuid.uuid4()), tenant, "crowdstrike", "asset",
                        {"hostname": f"host-{i}", "ips": [f"10.0.0.{i % 250}"], "note": "ünïcode ✓"},
                        start + timedelta(days=31 * (i % 6), seconds=i))  # six monthly partitions
            for i in range(n)]


def _count(archive: Archive, tenant: str) -> int:
    rows = archive.query(f"SELECT count() AS n FROM {TABLE} WHERE tenant_id = toUUID('{tenant}')")
    return int(rows[0]["n"])  # the HTTP JSON formats quote 64-bit integers


@pytest.mark.parametrize("kind", ["native", "http"])
def test_archive_on_a_real_server(clickhouse: dict[str, int], kind: str) -> None:
    archive = _archive(kind, clickhouse)
    version = archive.version()
    archive.ensure_schema()
    archive.ensure_schema()  # idempotent (CREATE TABLE IF NOT EXISTS)
    statement = archive.query(f"SHOW CREATE TABLE {TABLE}")[0]["statement"]
    assert "MergeTree" in statement and "toYYYYMM(ingested_at)" in statement
    assert ("TTL" in statement) == server_supports_ttl(version)  # 18.16 rejects TTL: the DDL leaves it out
    if version.startswith("18."):
        assert "TTL" not in statement

    tenant = str(uuid.uuid4())
    rows = _rows(tenant, 300, datetime(2026, 1, 3, 12, 30, 5))
    assert archive.insert_new(rows) == 300
    assert archive.insert_new(rows) == 0  # the same batch archived again: no double rows
    more = _rows(tenant, 5, datetime(2026, 11, 1))
    assert archive.insert_new(rows[:10] + more) == 5
    assert _count(archive, tenant) == 305

    unknown = str(uuid.uuid4())
    assert archive.existing_ids([rows[0]["id"], rows[299]["id"], unknown]) == {rows[0]["id"], rows[299]["id"]}
    assert archive.existing_ids([]) == set()

    got = archive.query(f"SELECT data, ingested_at, ingestion_year, ingestion_month FROM {TABLE} "
                        f"WHERE id = toUUID('{rows[7]['id']}')")
    assert len(got) == 1
    assert got[0]["data"] == rows[7]["data"] and "ünïcode ✓" in got[0]["data"]
    assert int(got[0]["ingestion_year"]) == rows[7]["ingestion_year"]
    assert int(got[0]["ingestion_month"]) == rows[7]["ingestion_month"]
    parts = archive.query(f"SELECT DISTINCT partition FROM system.parts WHERE table = '{TABLE}' AND active "
                          f"AND database = '{'nexus_native' if kind == 'native' else 'nexus_http'}'")
    months = {r["ingested_at"][:7].replace("-", "") for r in rows + more}  # PARTITION BY toYYYYMM(ingested_at)
    assert {p["partition"] for p in parts} == months and len(months) > 6


def test_archive_for_picks_the_protocol_and_creates_the_table(clickhouse: dict[str, int]) -> None:
    """archive_for() is what the pipeline's archive stage uses: clickhouse:// → native, http:// → HTTP."""
    native = _opens(archive_for(f"clickhouse://{USER}:{PASSWORD}@127.0.0.1:{clickhouse['tcp']}/default"))
    http = _opens(archive_for(f"http://{USER}:{PASSWORD}@127.0.0.1:{clickhouse['http']}/default"))
    assert isinstance(native, NativeArchive) and isinstance(http, HttpArchive)
    tenant = str(uuid.uuid4())
    rows = _rows(tenant, 20, datetime(2026, 5, 1))
    assert native.insert_new(rows[:10]) == 10
    assert http.insert_new(rows) == 10  # both protocols see the same table
    assert _count(native, tenant) == _count(http, tenant) == 20


def test_wrong_password_is_an_error_not_an_empty_archive(clickhouse: dict[str, int]) -> None:
    from nexus_sync.errors import TransientError

    for archive in (_opens(NativeArchive(f"clickhouse://{USER}:wrong@127.0.0.1:{clickhouse['tcp']}/default")),
                    _opens(HttpArchive(f"http://{USER}:wrong@127.0.0.1:{clickhouse['http']}/default"))):
        with pytest.raises(TransientError):
            archive.version()


def test_ttl_ddl_follows_the_server_version() -> None:
    assert not server_supports_ttl("18.16.1") and not server_supports_ttl("19.5.2.6")
    assert server_supports_ttl("19.6.1") and server_supports_ttl("24.8.4.13") and server_supports_ttl("26.9.1")
    assert "TTL" not in ddl(False) and "TTL ingested_at + INTERVAL 2 YEAR DELETE" in ddl(True)


def test_no_server_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip rule itself: absent binary → skip locally, failure when CI is set."""
    monkeypatch.setenv("CI", "true")
    assert _ci()
    for value in ("", "0", "false"):
        monkeypatch.setenv("CI", value)
        assert not _ci()
    monkeypatch.delenv("CI")
    assert not _ci()


@pytest.mark.parametrize("kind", ["native", "http"])
def test_a_pipeline_batch_is_archived_once_with_its_json_intact(clickhouse: dict[str, int], kind: str) -> None:
    """The pipeline's batches share one fetch time: the re-run check reads that range of the sort key, and
    the data JSON (backslashes, escaped tabs and quotes, unicode) goes in and comes out byte for byte."""
    archive = _archive(kind, clickhouse)
    tenant, at = str(uuid.uuid4()), datetime(2026, 3, 4, 5, 6, 7)
    data = [orjson.dumps({"path": f"C:\\Windows\\host-{i}", "cmd": "a\tb\nc", "q": 'say "hi"', "u": "ü ✓"})
            for i in range(50)]
    rows = [archive_row(str(uuid.uuid4()), tenant, "crowdstrike", "asset", d, at) for d in data]
    assert archive.insert_new(rows[:20]) == 20
    assert archive.insert_new(rows) == 30  # a retried batch: only the rows the first attempt did not write
    assert archive.insert_new(rows) == 0
    assert _count(archive, tenant) == 50
    got = archive.query(f"SELECT data FROM {TABLE} WHERE tenant_id = toUUID('{tenant}')")
    assert sorted(r["data"].encode() for r in got) == sorted(data)
