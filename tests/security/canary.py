"""The canary scan: after hostile syncs, search every place a secret could have landed for each canary secret and
every form derived from it.

Forms searched for each canary value: the value itself (stripped; header forms such as `SSWS <v>`,
`Bearer <v>` contain it), its random core (a truncated copy still shows), its URL-encoded and JSON-escaped
forms, and its base64 at the three byte alignments (so it is found inside any base64 blob: a Basic pair, a
broker message body). For a Basic pair, the base64 of `user:password`, its URL-encoded form and its first 16
characters (a truncated header). Tokens the hostile vendor issued (OAuth access tokens, session tokens) are
canaries of their own.

Places: every table of every schema in PostgreSQL, every Redis key (all types; zstd-compressed staged pages and
base64 broker message bodies decoded), the Redis AOF/RDB files on disk (commands parsed, zstd frames and LZF
strings decoded), both Kafka topics from the beginning, the ClickHouse archive, span output and log files, and
whatever else a test hands in (what webhook receivers and the attacker server got).
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_DECODED = 256 << 20  # a planted zstd bomb must not take the scan down
KAFKA_TOPICS = ("connector.sync.complete", "connector.sync.alert")


# ------------------------------------------------------------------------------------------- canaries
@dataclass(frozen=True)
class Hit:
    store: str
    item: str  # which row, key, message, line ...
    canary: str  # the canary's label, never its value
    form: str  # which derived form matched


class Canaries:
    """Canary secrets of a test run and the forms derived from them."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}  # value -> label
        self._pairs: list[tuple[str, str, str]] = []  # (label, user, password)
        self._lock = threading.Lock()

    def new(self, label: str) -> str:
        """A fresh canary value, e.g. CANARY-okta-token-3f9a…, registered under `label`."""
        value = f"CANARY-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}-{uuid.uuid4().hex[:20]}"
        self.add(label, value)
        return value

    def add(self, label: str, value: str) -> None:
        with self._lock:
            self._values[value] = label

    def basic(self, label: str, user: str, password: str) -> None:
        """A Basic-auth pair: base64('user:password') is a secret of its own."""
        with self._lock:
            self._pairs.append((label, user, password))

    def value(self, label: str) -> str:
        """The canary value registered under `label`."""
        with self._lock:
            return next(v for v, known in self._values.items() if known == label)

    @property
    def values(self) -> list[str]:
        with self._lock:
            return list(self._values)

    def forms(self) -> dict[str, tuple[str, str]]:
        """Every searched form -> (canary label, form kind)."""
        out: dict[str, tuple[str, str]] = {}
        with self._lock:
            values, pairs = dict(self._values), list(self._pairs)
        for value, label in values.items():
            for kind, form in _value_forms(value):
                out.setdefault(form, (label, kind))
        for label, user, password in pairs:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            for kind, form in (("base64 user:password", pair), ("url-encoded base64 pair", quote(pair, safe="")),
                               ("truncated base64 pair", pair[:16])):
                out.setdefault(form, (f"{label} (Basic pair)", kind))
        return out

    def finder(self) -> Finder:
        return Finder(self.forms())


def _value_forms(value: str) -> Iterator[tuple[str, str]]:
    v = value.strip()
    yield "raw", v
    core = re.search(r"[0-9a-f]{16,}$", v)
    if core:
        yield "random core", core.group(0)
    for kind, form in (("url-encoded", quote(value, safe="")), ("json-escaped", json.dumps(value)[1:-1])):
        if form != v:
            yield kind, form
    for offset in range(3):
        inner = _base64_inner(v.encode(), offset)
        if len(inner) >= 12:
            yield f"base64 (alignment {offset})", inner


def _base64_inner(data: bytes, offset: int) -> str:
    """The base64 characters that depend only on `data` when it sits `offset` bytes into a 3-byte group."""
    enc = base64.b64encode(b"\0" * offset + data).decode()
    first_group = -(-offset // 3)  # groups wholly inside data start here ...
    last_group = (offset + len(data)) // 3  # ... and end before this one
    return enc[4 * first_group:4 * last_group]


class Finder:
    """One regex over all forms; `find` names each canary found in a text once."""

    def __init__(self, forms: dict[str, tuple[str, str]]):
        self.forms = forms
        ordered = sorted(forms, key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None

    def find(self, text: str | bytes) -> list[tuple[str, str]]:
        if self._re is None:
            return []
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        found: dict[str, str] = {}
        for m in self._re.finditer(text):
            label, kind = self.forms[m.group(0)]
            found.setdefault(label, kind)
        return sorted(found.items())


# ---------------------------------------------------------------------------------------- results
@dataclass
class StoreScan:
    store: str
    items: int
    unit: str
    hits: list[Hit] = field(default_factory=list)
    note: str = ""

    def add(self, finder: Finder, item: str, text: str | bytes) -> None:
        for label, kind in finder.find(text):
            self.hits.append(Hit(self.store, item, label, kind))


def table(scans: list[StoreScan]) -> str:
    """The result as a Markdown table (store, items scanned, canary hits), hits listed below it."""
    rows = [("store", "items scanned", "canary hits")]
    rows += [(s.store + (f" ({s.note})" if s.note else ""), f"{s.items:,} {s.unit}", str(len(s.hits))) for s in scans]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    line = lambda r: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(r, widths))) + " |"
    out = [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows[1:]]
    total = sum(len(s.hits) for s in scans)
    out.append(f"\n{len(scans)} places, {total} canary hit(s)")
    for s in scans:
        for h in s.hits[:20]:
            out.append(f"  HIT {h.store} :: {h.item} :: {h.canary} as {h.form}")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------- decoding
def expand(blob: bytes) -> list[bytes]:
    """The blob and what it holds: a zstd-compressed staged page decompressed, a broker message's base64 body."""
    out = [blob]
    if blob[:4] == ZSTD_MAGIC:
        decoded = _unzstd(blob)
        if decoded is not None:
            out += expand(decoded)
    elif blob[:1] == b"{" and b"body_encoding" in blob:
        try:
            doc = json.loads(blob)
            if isinstance(doc, dict) and doc.get("properties", {}).get("body_encoding") == "base64":
                out.append(base64.b64decode(doc["body"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return out


def _unzstd(data: bytes) -> bytes | None:
    try:
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)[:MAX_DECODED]
    except zstandard.ZstdError:
        return None


def embedded_zstd(raw: bytes) -> Iterator[bytes]:
    """Every zstd frame found anywhere inside raw bytes (an RDB file, an unparsable AOF), decompressed."""
    start = raw.find(ZSTD_MAGIC)
    while start != -1:
        decoded = _unzstd(raw[start:start + MAX_DECODED])
        if decoded:
            yield decoded
        start = raw.find(ZSTD_MAGIC, start + 4)


def resp_commands(raw: bytes) -> list[list[bytes]] | None:
    """The commands of an AOF (RESP arrays); None when the file is not one."""
    out, i, n = [], 0, len(raw)
    try:
        while i < n:
            if raw[i:i + 1] == b"#":  # an annotation line (#TS:...)
                i = raw.index(b"\r\n", i) + 2
                continue
            if raw[i:i + 1] != b"*":
                return None
            end = raw.index(b"\r\n", i)
            argc, i = int(raw[i + 1:end]), end + 2
            args = []
            for _ in range(argc):
                end = raw.index(b"\r\n", i)
                size = int(raw[i + 1:end])
                args.append(raw[end + 2:end + 2 + size])
                i = end + 2 + size + 2
            out.append(args)
    except ValueError:
        return None
    return out


def rdb_lzf_strings(raw: bytes) -> Iterator[bytes]:
    """LZF-compressed strings of an RDB file (0xC3 <compressed len> <plain len> <data>), decompressed."""
    pos = raw.find(b"\xc3")
    while pos != -1:
        try:
            clen, i = _rdb_length(raw, pos + 1)
            ulen, i = _rdb_length(raw, i)
            if 0 < clen <= len(raw) - i and 0 < ulen <= MAX_DECODED:
                plain = lzf_decompress(raw[i:i + clen], ulen)
                if plain is not None:
                    yield plain
        except IndexError:
            pass
        pos = raw.find(b"\xc3", pos + 1)


def _rdb_length(raw: bytes, i: int) -> tuple[int, int]:
    b = raw[i]
    kind = b >> 6
    if kind == 0:
        return b & 0x3F, i + 1
    if kind == 1:
        return ((b & 0x3F) << 8) | raw[i + 1], i + 2
    if b == 0x80:
        return int.from_bytes(raw[i + 1:i + 5], "big"), i + 5
    if b == 0x81:
        return int.from_bytes(raw[i + 1:i + 9], "big"), i + 9
    return -1, i + 1


def lzf_decompress(data: bytes, expected: int) -> bytes | None:
    """liblzf's format (what Redis uses in RDB files); None unless it decodes to exactly `expected` bytes."""
    out, i = bytearray(), 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            run = data[i:i + ctrl + 1]
            if len(run) != ctrl + 1:
                return None
            out += run
            i += ctrl + 1
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0:
                return None
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
        if len(out) > expected:
            return None
    return bytes(out) if len(out) == expected else None


# ------------------------------------------------------------------------------------------- stores
def scan_postgres(finder: Finder, engine: Any, batch: int = 2000) -> list[StoreScan]:
    """Every base table of every schema, each row as text (`t::text`), streamed and searched here: one regex
    over a batch of rows is ~300x faster than a few hundred strpos() per row in the database."""
    scans = []
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
                        "'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
            tables = cur.fetchall()
        for schema, name in tables:
            scan = StoreScan(f"postgres {schema}.{name}", 0, "rows")
            with raw.cursor(name=f"canary_{uuid.uuid4().hex[:8]}") as rows:  # server side: streamed
                rows.itersize = batch
                rows.execute(f'SELECT t::text FROM "{schema}"."{name}" t')
                while True:
                    texts = [r[0] for r in rows.fetchmany(batch)]
                    if not texts:
                        break
                    scan.items += len(texts)
                    if finder.find("\n".join(texts)):
                        for text in texts:
                            scan.add(finder, text[:120], text)
            scans.append(scan)
        raw.rollback()
    finally:
        raw.close()
    return scans


def scan_redis(finder: Finder, redis: Any) -> StoreScan:
    """Every key, whatever its type; staged pages decompressed, broker message bodies decoded."""
    scan = StoreScan("redis keys (live)", 0, "keys")
    for key in redis.scan_iter(count=1000):
        scan.items += 1
        name = key.decode(errors="replace")
        scan.add(finder, name, key)
        for blob in _redis_values(redis, key):
            for part in expand(blob):
                scan.add(finder, name, part)
    return scan


def _redis_values(redis: Any, key: bytes) -> list[bytes]:
    kind = redis.type(key).decode()
    if kind == "string":
        value = redis.get(key)
        return [] if value is None else [value]
    if kind == "hash":
        return [b for kv in redis.hgetall(key).items() for b in kv]
    if kind == "list":
        return list(redis.lrange(key, 0, -1))
    if kind == "set":
        return list(redis.smembers(key))
    if kind == "zset":
        return list(redis.zrange(key, 0, -1))
    if kind == "stream":
        return [b for _, fields in redis.xrange(key) for kv in fields.items() for b in kv]
    return []


def scan_redis_files(finder: Finder, redis_dir: Path) -> StoreScan:
    """The AOF and RDB files on disk: every command argument (deleted keys live on there), decoded. An AOF
    that Redis rewrote starts with an RDB preamble: that part is read as an RDB file."""
    scan = StoreScan("redis AOF/RDB files", 0, "commands")
    files = sorted(p for p in redis_dir.rglob("*") if p.is_file() and p.suffix != ".log")
    for path in files:
        preamble, commands = split_aof(path.read_bytes())
        if preamble:
            scan.items += 1
            _scan_rdb(scan, finder, path.name, preamble)
        if commands:
            scan.items += len(commands)
            _scan_commands(scan, finder, path.name, commands)
    scan.note = f"{len(files)} files"
    return scan


def split_aof(raw: bytes) -> tuple[bytes, list[list[bytes]]]:
    """(RDB part, AOF commands) of a file: an AOF, an RDB file, or an AOF with an RDB preamble."""
    commands = resp_commands(raw) if raw[:1] in (b"*", b"#") else None
    if commands is not None:
        return b"", commands
    if raw.startswith(b"REDIS"):  # the preamble ends with the EOF opcode 0xFF and an 8-byte checksum
        end = raw.find(b"\xff")
        while end != -1:
            tail = raw[end + 9:]
            commands = resp_commands(tail) if tail[:1] == b"*" else None
            if commands is not None:
                return raw[:end + 9], commands
            end = raw.find(b"\xff", end + 1)
    return raw, []


def _scan_commands(scan: StoreScan, finder: Finder, name: str, commands: list[list[bytes]]) -> None:
    plain_hit = bool(finder.find(b"\n".join(a for args in commands for a in args)))  # one pass; then, which one
    for n, args in enumerate(commands):
        for arg in args:
            parts = expand(arg)
            for part in parts if plain_hit else parts[1:]:
                scan.add(finder, f"{name} command {n}", part)


def _scan_rdb(scan: StoreScan, finder: Finder, name: str, raw: bytes) -> None:
    """Raw bytes, LZF-compressed strings and zstd frames of an RDB file (or of anything unparsable)."""
    scan.add(finder, name, raw)
    for plain in rdb_lzf_strings(raw):
        for part in expand(plain):
            scan.add(finder, f"{name} (LZF string)", part)
    for plain in embedded_zstd(raw):
        scan.add(finder, f"{name} (zstd frame)", plain)


def scan_kafka(finder: Finder, bootstrap: str, topics: Iterable[str] = KAFKA_TOPICS,
               timeout: float = 20.0) -> list[StoreScan]:
    """Each topic from its first offset to its end (the high watermark when the scan starts)."""
    from confluent_kafka import Consumer, TopicPartition

    scans = []
    for topic in topics:
        scan = StoreScan(f"kafka {topic}", 0, "messages")
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"canary-{uuid.uuid4()}",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            parts = sorted(meta.partitions) if meta is not None and meta.error is None else []
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout) for p in parts}
            todo = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
            consumer.assign([TopicPartition(topic, p, lo) for p, (lo, hi) in ends.items() if hi > lo])
            deadline = time.monotonic() + timeout
            while todo and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                scan.items += 1
                scan.add(finder, f"partition {msg.partition()} offset {msg.offset()}",
                         (msg.key() or b"") + b"\n" + (msg.value() or b""))
                if msg.offset() + 1 >= todo.get(msg.partition(), 0):
                    todo.pop(msg.partition(), None)
            if todo:
                scan.note = f"INCOMPLETE: partitions {sorted(todo)} not read to their end"
        finally:
            consumer.close()
        scans.append(scan)
    return scans


def scan_clickhouse(finder: Finder, archive: Any, table_name: str = "raw_data_archive") -> StoreScan:
    """The archive table: every column of every row, matched in ClickHouse (multiSearchAny), attributed here."""
    scan = StoreScan(f"clickhouse {table_name}", int(archive.query(f"SELECT count() AS n FROM {table_name}")[0]["n"]),
                     "rows")
    forms = list(finder.forms)
    row_text = ("concat(toString(id), '\\t', toString(tenant_id), '\\t', source, '\\t', type, '\\t', data, '\\t', "
                "toString(ingested_at))")
    for i in range(0, len(forms), 200):  # multiSearchAny takes at most 255 needles
        needles = ", ".join("'" + f.replace("\\", "\\\\").replace("'", "\\'") + "'" for f in forms[i:i + 200])
        for row in archive.query(f"SELECT {row_text} AS t FROM {table_name} WHERE multiSearchAny({row_text}, "
                                 f"[{needles}])"):
            scan.add(finder, row["t"][:120], row["t"])
    return scan


def scan_log_files(finder: Finder, paths: Iterable[Path]) -> list[StoreScan]:
    """Log files: console-exported spans (multi-line JSON with a trace_id) and log lines, counted apart."""
    spans = StoreScan("spans (console exporter)", 0, "spans")
    logs = StoreScan("logs", 0, "lines")
    files = sorted({p for p in paths if p.is_file()})
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for n, chunk in enumerate(re.split(r"\n(?=\{)", text)):
            if '"trace_id"' in chunk and '"span_id"' in chunk:
                spans.items += 1
                spans.add(finder, f"{path.name} span {n}", chunk)
            else:
                lines = chunk.splitlines()
                logs.items += len(lines)
                for line in lines:
                    logs.add(finder, f"{path.name}: {line[:100]}", line)
    logs.note = f"{len(files)} files"
    return [spans, logs]


def scan_texts(finder: Finder, store: str, unit: str, items: Iterable[tuple[str, str | bytes]]) -> StoreScan:
    """Anything a test collected itself (webhook bodies, requests an attacker server received)."""
    scan = StoreScan(store, 0, unit)
    for name, text in items:
        scan.items += 1
        scan.add(finder, name, text)
    return scan


def log_files(state_dir: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """The embedded stack's logs (services, workers, PostgreSQL's own log) and any extra files."""
    found = [p for p in (state_dir / "logs").rglob("*") if p.is_file()]
    pg_log = state_dir / "pg" / "log"
    if pg_log.is_file():
        found.append(pg_log)
    return found + [p for p in extra if p.is_file()]
