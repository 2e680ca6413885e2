"""The SQL text check of the ClickHouse stand-in (nexus_sync.dev.chdb_policy.SqlGuard): what it refuses however it
is spelled, and the archive's own statements, whose rows may say anything, that it lets through."""
from __future__ import annotations

import pytest

from nexus_sync.dev.chdb_policy import SqlGuard

GUARD = SqlGuard(["file", "url", "s3", "numbers", "format", "sftp"])  # as if the engine listed these

REFUSED = [
    "SELECT * FROM file('/etc/hostname')",
    "select * from FILE /* a comment */ ('/etc/hostname')",
    "SELECT file\n-- a comment\n('/etc/hostname')",
    "SELECT `file`('/etc/hostname')",
    'SELECT "file"(\'/etc/hostname\')',
    "SELECT `fi\\le`('/etc/hostname')",
    "INSERT INTO FUNCTION file('/tmp/x', 'TSV') SELECT 1",
    "SELECT * FROM url('http://example.com/', 'TSV')",
    "SELECT * FROM sftp('host')",  # a table function the engine knows and the safe list does not
    "CREATE TABLE f (s String) ENGINE = File(TSV, '/etc/hostname')",
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "INSERT INTO t FROM INFILE '/etc/hostname' FORMAT TSV",
    "ATTACH TABLE x FROM '/var/lib' (a Int8) ENGINE = MergeTree ORDER BY a",
    "CREATE TABLE d (a Int8) ENGINE = MergeTree ORDER BY a SETTINGS disk = disk(type = local, path = '/x/')",
    "SELECT * FROM python('frame')",
    "SELECT 1; SELECT file('/etc/hostname')",
    # rows of the Values format are expressions, and a statement may follow them
    "INSERT INTO t VALUES (file('/etc/hostname'))",
    "INSERT INTO t FORMAT Values (file('/etc/hostname'))",
    "INSERT INTO t VALUES ('a'); SELECT file('/etc/hostname')",
    # after INSERT ... SELECT ... FORMAT the next statement runs (measured on chdb 4.4)
    "INSERT INTO t SELECT 'x' FORMAT TSV; SELECT file('/etc/hostname')",
    "INSERT INTO t WITH 1 AS a SELECT 'y' FORMAT TSV; SELECT file('/etc/hostname')",
    # what the pattern cannot read as a comment or a string is read as code
    "SELECT 1 /* unterminated file('/etc/hostname')",
    "SELECT 1 #file('/etc/hostname')",
]

ALLOWED = [
    "SELECT 'file(' AS a, 'it''s url(' AS b, 'a\\'file(' AS c",
    "SELECT 1 -- file('/etc/hostname')",
    "SELECT 1 /* file('/etc/hostname') */",
    "SELECT 1 # file('/etc/hostname')",
    "SELECT url, domain(url) FROM t",
    "SELECT * FROM numbers(3)",
    "SELECT format('{}', 1)",
    # the archive: DDL, its lookups, and rows whose JSON may hold anything
    "CREATE TABLE IF NOT EXISTS raw_data_archive (id UUID, data String, ingested_at DateTime) ENGINE = MergeTree() "
    "PARTITION BY toYYYYMM(ingested_at) ORDER BY (id) TTL ingested_at + INTERVAL 2 YEAR DELETE",
    "SELECT toString(id) AS archived_id FROM raw_data_archive WHERE id IN (toUUID('x')) FORMAT JSONEachRow",
    "INSERT INTO raw_data_archive (id, data) FORMAT TabSeparated\n1\t{\"h\": \"file('/etc/hostname')\"}\n"
    "2\t;SELECT file('/etc/hostname') INTO OUTFILE '/tmp/x'\n",
    "INSERT INTO t FORMAT JSONEachRow\n{\"a\": \"url('http://x') attach\"}",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused(sql: str) -> None:
    assert GUARD.refusal(sql), sql


@pytest.mark.parametrize("sql", ALLOWED)
def test_allowed(sql: str) -> None:
    assert GUARD.refusal(sql) is None, sql


def test_the_reason_names_what_was_refused() -> None:
    assert GUARD.refusal("SELECT * FROM FILE('/x')") == \
        "file() reaches files, URLs or other servers and is refused here"
    assert "INTO OUTFILE" in (GUARD.refusal("SELECT 1 INTO OUTFILE '/x'") or "")
