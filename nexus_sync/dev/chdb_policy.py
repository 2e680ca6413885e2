"""What a query may do in the dev stack's ClickHouse stand-in (nexus_sync.dev.chdb_server).

Two layers, both needed (measured on chdb 4.4 / ClickHouse 26.9):

* ClickHouse's own access control. The engine runs as a user whose grants leave out every source
  (READ/WRITE ON FILE, URL, S3, REMOTE, MYSQL, ...), SYSTEM, dictionaries, functions, access management and
  backups, and whose profile pins the settings that name a file or a URL. That refuses ``file()``, ``url()``,
  ``s3()``, ``INSERT INTO FUNCTION``, ``ENGINE = File/URL/...`` and ``CREATE DATABASE ... Filesystem``.
  clickhouse-local's ``default`` database is an Overlay over the file system (``SELECT * FROM
  '/etc/hostname'`` works there) that stops working without READ ON FILE, so ``default`` is made a plain
  Atomic database: its on-disk form is what clickhouse-server itself writes, and the data stays where it is.
* A check of the SQL text for what access control does not cover in an embedded engine: the scalar
  ``file()``, ``INTO OUTFILE`` and ``FROM INFILE`` (client-side file I/O), ``ATTACH ... FROM '<dir>'``,
  ``disk(...)``, chdb's ``python()``/``arrowstream()``, ``executable``; and, as a floor, every table function
  the engine knows except a list of harmless local ones. Names are compared case-insensitively, quoted or
  not, with comments and whitespace allowed before the parenthesis.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Iterable, Iterator
from xml.sax.saxutils import escape

ACCESS_DIR = "nexus-access"  # inside the chdb data dir: config.xml and users.xml of the engine

# what the archive and the dev tools need; everything else (sources, SYSTEM, dictionaries, CREATE DATABASE,
# CREATE FUNCTION, BACKUP, access management, introspection) is left out on purpose
GRANTS = "SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW, TRUNCATE, OPTIMIZE, SHOW ON *.*"

# settings that name a file, a URL or a query language that could carry SQL the text check cannot see
PINNED_SETTINGS = (
    "format_schema", "format_schema_source", "format_template_resultset", "format_template_row",
    "output_format_schema", "input_format_record_errors_file_path", "format_avro_schema_registry_url",
    "allow_introspection_functions", "allow_experimental_eval_table_function", "dialect",
    "allow_experimental_kusto_dialect", "allow_experimental_prql_dialect",
)

# table functions that read nothing outside the engine's own tables
SAFE_TABLE_FUNCTIONS = frozenset(name.lower() for name in (
    "numbers", "numbers_mt", "zeros", "zeros_mt", "values", "SQLStandardValues", "format", "input", "null",
    "generateRandom", "generateSeries", "generate_series", "primes", "merge", "loop", "view", "viewIfPermitted",
    "viewExplain", "fuzzJSON", "fuzzQuery",
))

# refused as calls whatever the engine registers (the floor when its list is unknown)
DENIED_CALLS = frozenset(name.lower() for name in (
    "file", "fileCluster", "filesystem", "url", "urlCluster", "s3", "s3Cluster", "gcs", "oss", "cosn", "hdfs",
    "hdfsCluster", "azureBlobStorage", "azureBlobStorageCluster", "remote", "remoteSecure", "cluster",
    "clusterAllReplicas", "mysql", "postgresql", "jdbc", "odbc", "sqlite", "mongodb", "redis", "executable",
    "executablePool", "python", "arrowstream", "eval", "disk", "bigquery", "ytsaurus", "iceberg", "deltaLake",
    "hudi", "paimon", "dictionary",
))
DENIED_WORDS = {"outfile": "INTO OUTFILE", "infile": "FROM INFILE"}  # files read/written by the client side
DENIED_STATEMENTS = {"attach": "ATTACH"}  # ATTACH TABLE ... FROM '<dir>' adopts any directory

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>--[^\r\n]*|\#[ !][^\r\n]*|/\*.*?\*/)
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of each token, comments and whitespace left out; a quoted identifier comes unquoted.
    Anything the pattern does not know as a string or a comment (an unterminated quote, a nested comment) is
    read on as code: the check then sees more, never less, than ClickHouse runs."""
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind in ("space", "comment"):
            continue
        text = m.group()
        if kind == "quoted":
            text = text[1:-1].replace("\\", "")
        yield kind, text


def _tokens_until_data(sql: str) -> Iterator[tuple[str, str]]:
    """The tokens of ``sql`` up to the inline rows of an ``INSERT ... FORMAT <name>``: ClickHouse reads
    everything after the format's name as data (measured: even ``;SELECT 1`` becomes a row), except for the
    Values format, whose rows are expressions, and for ``INSERT ... SELECT ... FORMAT``, where FORMAT is the
    SELECT's and a following statement runs."""
    first, selecting, previous = "", False, ""
    for kind, text in _tokens(sql):
        yield kind, text
        if kind == "other" and text == ";":
            first, selecting, previous = "", False, ""
            continue
        word = text.lower() if kind == "word" else ""
        if first == "insert" and previous == "format" and kind in ("word", "quoted") and word != "values" \
                and not selecting:
            return
        first = first or word or "?"
        selecting = selecting or word in ("select", "with")
        previous = word


class SqlGuard:
    """Refuses SQL text that reaches files, URLs or other servers."""

    def __init__(self, table_functions: Iterable[str] = ()):
        engine_sources = {name.lower() for name in table_functions} - SAFE_TABLE_FUNCTIONS
        self.denied_calls = DENIED_CALLS | engine_sources
        self._needles = tuple(self.denied_calls | set(DENIED_WORDS) | set(DENIED_STATEMENTS))

    def refusal(self, sql: str) -> str | None:
        """Why ``sql`` is refused, or None when it may run."""
        # most queries name none of the refused words: skip tokenizing them (an IN list of 5,000 ids takes
        # ~60 ms to tokenize). Backslashes go first, as in a quoted identifier: `fi\le` is `file`.
        text = sql.lower().replace("\\", "")
        if not any(needle in text for needle in self._needles):
            return None
        tokens = list(_tokens_until_data(sql))
        statement_start = True
        for i, (kind, text) in enumerate(tokens):
            if kind == "other" and text == ";":
                statement_start = True
                continue
            word = text.lower() if kind == "word" else ""
            if statement_start and word in DENIED_STATEMENTS:
                return f"{DENIED_STATEMENTS[word]} statements are refused here"
            statement_start = False
            if word in DENIED_WORDS:
                return f"{DENIED_WORDS[word]} reaches the server's files and is refused here"
            name = text.lower() if kind in ("word", "quoted") else ""
            if name in self.denied_calls and i + 1 < len(tokens) and tokens[i + 1] == ("other", "("):
                return f"{name}() reaches files, URLs or other servers and is refused here"
        return None


# ---------------------------------------------------------------------------------------------------------
# engine configuration
# ---------------------------------------------------------------------------------------------------------
def connection_string(data_dir: Path) -> str:
    """Prepare ``data_dir`` for a restricted engine (access config, ``default`` as Atomic) and return the
    chdb connection string that opens it."""
    access = data_dir / ACCESS_DIR
    access.mkdir(mode=0o700, parents=True, exist_ok=True)
    users, config = access / "users.xml", access / "config.xml"
    _write_private(users, _users_xml())
    _write_private(config, _config_xml(users))
    _adopt_default_database(data_dir)
    return f"{data_dir}?config-file={config}"


def _users_xml() -> str:
    pinned = "".join(f"<{name}><const/></{name}>" for name in PINNED_SETTINGS)
    return (
        "<clickhouse>\n"
        f"  <profiles><default><constraints>{pinned}</constraints></default></profiles>\n"
        "  <users><default>\n"
        "    <no_password/><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>\n"
        f"    <grants><query>GRANT {escape(GRANTS)}</query></grants>\n"
        "  </default></users>\n"
        "  <quotas><default/></quotas>\n"
        "</clickhouse>\n"
    )


def _config_xml(users: Path) -> str:
    # an empty default_database keeps clickhouse-local from mounting its file-system Overlay as `default`
    return (
        "<clickhouse>\n"
        f"  <users_config>{escape(str(users))}</users_config>\n"
        "  <default_database></default_database>\n"
        "  <database>default</database>\n"
        "</clickhouse>\n"
    )


def _adopt_default_database(data_dir: Path) -> None:
    """Give ``default`` the metadata file of an Atomic database, with the UUID clickhouse-local's Overlay
    already uses for it (metadata/default links to store/<uuid>), so existing tables stay where they are."""
    sql = data_dir / "metadata" / "default.sql"
    if sql.exists():
        return
    link = data_dir / "metadata" / "default"
    db_uuid = Path(link.readlink()).name if link.is_symlink() else str(uuid.uuid4())
    uuid.UUID(db_uuid)  # a link that is not store/<uuid> is not ours to interpret
    sql.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(sql, f"ATTACH DATABASE _ UUID '{db_uuid}'\nENGINE = Atomic\n")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
