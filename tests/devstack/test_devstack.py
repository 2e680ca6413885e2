"""The embedded dev stack: real PostgreSQL, Redis, Kafka-protocol broker and chdb server.

One stack is shared by the tests of this module (they run in file order); the
module fixture always calls ``down`` so no server outlives the run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis
import requests
import sqlalchemy as sa
from confluent_kafka.admin import AdminClient

from nexus_sync.dev import devstack

pytestmark = pytest.mark.timeout(180)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"pid {pid} still alive"


def _pg(info: dict):
    return psycopg2.connect(info["postgres"]["dsn"], connect_timeout=5)


def _ch(info: dict, sql: str, body: bytes | str | None = None, **params) -> requests.Response:
    return requests.post(info["clickhouse"]["url"], params={"query": sql, **params}, data=body, timeout=30)


@pytest.fixture(scope="module")
def state_dir():
    # short path under /tmp: the postgres unix socket lives in the state dir
    root = Path(tempfile.mkdtemp(prefix="nx", dir="/tmp"))
    state = root / ".nexus"
    try:
        yield state
    finally:
        try:
            devstack.down(state)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(state_dir):
    t0 = time.perf_counter()
    info = devstack.up(state_dir)
    print(f"\n[devstack] cold up: {time.perf_counter() - t0:.2f} s")
    return info


# ---------------------------------------------------------------------------------
def test_up_writes_stack_json(state_dir, stack):
    on_disk = json.loads((state_dir / "stack.json").read_text())
    assert on_disk == stack == devstack.stack_info(state_dir)
    assert stack["state_dir"] == str(state_dir.resolve())
    assert stack["postgres"]["url"].startswith("postgresql+psycopg2://postgres@/nexus?host=/")
    assert stack["postgres"]["dsn"].startswith("postgresql://postgres@/nexus?host=/")
    for name in ("redis", "kafka", "clickhouse"):
        assert isinstance(stack[name]["port"], int)
    redis_pw, ch_pw = stack["redis"]["password"], stack["clickhouse"]["password"]
    assert len(redis_pw) >= 32 and len(ch_pw) >= 32 and redis_pw != ch_pw
    assert stack["redis"]["url"] == f"redis://:{redis_pw}@127.0.0.1:{stack['redis']['port']}/0"
    assert stack["kafka"]["bootstrap"] == f"127.0.0.1:{stack['kafka']['port']}"
    assert stack["clickhouse"]["url"] == f"http://default:{ch_pw}@127.0.0.1:{stack['clickhouse']['port']}"
    assert oct((state_dir / "stack.json").stat().st_mode & 0o777) == oct(0o600)
    assert Path(stack["clickhouse"]["path"]).is_dir()
    assert len({stack[n]["port"] for n in ("redis", "kafka", "clickhouse")}) == 3
    for name in devstack.SERVICES:
        assert _alive(stack[name]["pid"]), name


def test_postgres_answers(stack):
    with _pg(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1, current_database(), split_part(version(), ' ', 2)")
        one, db, version = cur.fetchone()
    assert (one, db) == (1, "nexus") and version.startswith("16.")
    engine = sa.create_engine(stack["postgres"]["url"])
    try:
        with engine.begin() as c:
            c.execute(sa.text("CREATE TABLE keepme (id int primary key, v text)"))
            c.execute(sa.text("INSERT INTO keepme VALUES (1, 'survives restarts')"))
    finally:
        engine.dispose()


def test_redis_answers(stack):
    r = redis.Redis.from_url(stack["redis"]["url"])
    assert r.ping()
    assert r.config_get("appendonly")["appendonly"] == "yes"
    assert r.config_get("appendfsync")["appendfsync"] == "everysec"
    assert r.config_get("bind")["bind"] == "127.0.0.1"
    assert r.config_get("save")["save"] == ""


def test_kafka_answers(stack):
    admin = AdminClient({"bootstrap.servers": stack["kafka"]["bootstrap"]})
    md = admin.list_topics(timeout=5)
    assert md.brokers and all(b.port == stack["kafka"]["port"] for b in md.brokers.values())


def test_clickhouse_mergetree(stack):
    url = stack["clickhouse"]["url"]
    assert requests.get(f"{url}/ping", timeout=5).text == "Ok.\n"
    r = _ch(stack, """
        CREATE TABLE events (ts DateTime, id UInt64, vendor LowCardinality(String), payload String)
        ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (vendor, id)
        TTL ts + INTERVAL 2 YEAR DELETE""")
    assert r.status_code == 200, r.text
    rows = [{"ts": "2026-11-01 10:00:00", "id": 1, "vendor": "a", "payload": "x"},
            {"ts": "2026-10-01 10:00:00", "id": 2, "vendor": "b", "payload": "y"}]
    r = _ch(stack, "INSERT INTO events FORMAT JSONEachRow", "\n".join(json.dumps(x) for x in rows))
    assert r.status_code == 200, r.text
    r = _ch(stack, "SELECT id, vendor, toYYYYMM(ts) AS m FROM events ORDER BY id FORMAT JSONEachRow")
    assert [json.loads(line) for line in r.text.splitlines()] == [
        {"id": 1, "vendor": "a", "m": 202611}, {"id": 2, "vendor": "b", "m": 202610}]
    r = _ch(stack, "SELECT count() FROM system.parts WHERE table = 'events' AND active")
    assert r.text == "2\n"  # two monthly partitions


# -- the chdb HTTP server ------------------------------------------------------------
def test_chdb_server_bulk_insert_and_roundtrip(stack):
    assert _ch(stack, "CREATE TABLE bulk (ts DateTime, id UInt64, name String, score Float64) "
                      "ENGINE = MergeTree ORDER BY id").status_code == 200
    rows = [{"ts": "2026-11-22 12:00:00", "id": i, "name": f"asset-{i}\t\"q\"", "score": i / 7}
            for i in range(10_000)]
    body = "\n".join(json.dumps(x) for x in rows).encode()
    t0 = time.perf_counter()
    r = _ch(stack, "INSERT INTO bulk FORMAT JSONEachRow", body)
    elapsed = time.perf_counter() - t0
    print(f"\n[chdb_server] 10,000-row JSONEachRow insert ({len(body) / 1e6:.2f} MB): "
          f"{elapsed * 1000:.0f} ms")
    assert r.status_code == 200, r.text
    assert elapsed < 5
    assert _ch(stack, "SELECT count() FROM bulk").text == "10000\n"  # default TabSeparated
    r = _ch(stack, "SELECT ts, id, name, score FROM bulk ORDER BY id FORMAT JSONEachRow")
    back = [json.loads(line) for line in r.text.splitlines()]
    assert back == rows
    # query in the body or in ?query=, default_format and {name:Type} parameters
    assert requests.post(stack["clickhouse"]["url"], data="SELECT 1 + 1", timeout=5).text == "2\n"
    assert requests.post(stack["clickhouse"]["url"], params={"query": "SELECT 'a' AS x"}, timeout=5).text == "a\n"
    r = _ch(stack, "SELECT {n:UInt32} * 2 AS y", default_format="JSONEachRow", param_n="21")
    assert r.json() == {"y": 42}


def test_chdb_server_error_is_500_with_message(stack):
    r = _ch(stack, "SELECT * FROM no_such_table")
    assert r.status_code == 500
    assert r.text.startswith("Code: 60. DB::Exception:") and "no_such_table" in r.text
    assert r.headers["X-ClickHouse-Exception-Code"] == "60"
    r = _ch(stack, "SELEC 1")
    assert r.status_code == 500 and "Syntax error" in r.text
    r = _ch(stack, "INSERT INTO bulk FORMAT JSONEachRow", b'{"id": "not a number"')
    assert r.status_code == 500 and r.text.startswith("Code: ")
    # the server is still fine
    assert requests.get(f"{stack['clickhouse']['url']}/ping", timeout=5).text == "Ok.\n"


def test_chdb_server_concurrent_requests(stack):
    assert _ch(stack, "CREATE TABLE conc (t UInt8, i UInt32) ENGINE = MergeTree ORDER BY (t, i)").ok
    errors: list[str] = []

    def worker(t: int) -> None:
        with requests.Session() as s:
            for i in range(15):
                r = s.post(stack["clickhouse"]["url"],
                           params={"query": "INSERT INTO conc FORMAT JSONEachRow"},
                           data=json.dumps({"t": t, "i": i}), timeout=30)
                if r.status_code != 200:
                    errors.append(r.text)
                r = s.post(stack["clickhouse"]["url"], data=f"SELECT count() FROM conc WHERE t = {t}", timeout=30)
                if r.status_code != 200 or int(r.text) != i + 1:
                    errors.append(f"t={t} i={i}: {r.status_code} {r.text!r}")
                r = s.post(stack["clickhouse"]["url"], data="SELECT nope", timeout=30)
                if r.status_code != 500:
                    errors.append("bad query did not fail")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert _ch(stack, "SELECT count(), uniqExact(t) FROM conc").text == "120\t8\n"


# -- lifecycle ------------------------------------------------------------------------
def test_up_is_idempotent(state_dir, stack):
    t0 = time.perf_counter()
    again = devstack.up(state_dir)
    print(f"\n[devstack] warm up: {(time.perf_counter() - t0) * 1000:.0f} ms")
    for name in ("redis", "kafka", "clickhouse"):
        assert again[name]["port"] == stack[name]["port"]
    for name in devstack.SERVICES:
        assert again[name]["pid"] == stack[name]["pid"]
    assert again["postgres"]["url"] == stack["postgres"]["url"]


def test_status_reports_running(state_dir, stack):
    st = {s.name: s for s in devstack.status(state_dir)}
    assert list(st) == list(devstack.SERVICES)
    for name, s in st.items():
        assert s.running and s.pid == stack[name]["pid"], s
    assert st["redis"].url == f"redis://***@127.0.0.1:{stack['redis']['port']}/0"  # the password masked
    assert st["clickhouse"].url == f"http://***@127.0.0.1:{stack['clickhouse']['port']}"
    assert st["kafka"].url == stack["kafka"]["bootstrap"]


def test_killed_redis_is_restarted_by_up(state_dir, stack):
    old = devstack.stack_info(state_dir)["redis"]
    os.kill(old["pid"], signal.SIGKILL)
    _wait_gone(old["pid"])
    st = {s.name: s for s in devstack.status(state_dir)}
    assert not st["redis"].running and st["postgres"].running
    info = devstack.up(state_dir)
    assert info["redis"]["port"] == old["port"] and info["redis"]["pid"] != old["pid"]
    assert redis.Redis.from_url(info["redis"]["url"]).ping()


def test_a_killed_servers_port_held_a_moment_longer_is_waited_for(state_dir, stack):
    """A SIGKILLed redis whose forked child (an AOF rewrite) still holds the listener: up waits for the
    port clients know rather than moving redis to another one (seen in CI: 38249 != 46041)."""
    old = devstack.stack_info(state_dir)["redis"]
    os.kill(old["pid"], signal.SIGKILL)
    _wait_gone(old["pid"])
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("127.0.0.1", old["port"]))
        holder.listen()
        threading.Timer(0.5, holder.close).start()  # the child exits a moment later
    except OSError:  # redis's own forked child still holds it: the very case
        holder.close()
    info = devstack.up(state_dir)
    assert info["redis"]["port"] == old["port"] and info["redis"]["pid"] != old["pid"]
    assert redis.Redis.from_url(info["redis"]["url"]).ping()


def test_stale_pid_files_are_handled(state_dir, stack):
    info = devstack.stack_info(state_dir)
    run = state_dir / "run"
    # kafka: pid file naming a pid that does not exist
    os.kill(info["kafka"]["pid"], signal.SIGTERM)
    _wait_gone(info["kafka"]["pid"])
    (run / "kafka.pid").write_text("4194000\n")
    # clickhouse: pid file naming a live but unrelated process (a reused pid)
    os.kill(info["clickhouse"]["pid"], signal.SIGTERM)
    _wait_gone(info["clickhouse"]["pid"])
    (run / "clickhouse.pid").write_text(f"{os.getpid()}\n")
    st = {s.name: s for s in devstack.status(state_dir)}
    assert not st["kafka"].running and not st["clickhouse"].running
    # postgres: killed hard, postmaster.pid left behind
    os.kill(info["postgres"]["pid"], signal.SIGKILL)
    _wait_gone(info["postgres"]["pid"])
    assert (state_dir / "pg" / "postmaster.pid").exists()

    new = devstack.up(state_dir)
    assert all(s.running for s in devstack.status(state_dir))
    assert new["kafka"]["port"] == info["kafka"]["port"]
    assert new["clickhouse"]["port"] == info["clickhouse"]["port"]
    assert AdminClient({"bootstrap.servers": new["kafka"]["bootstrap"]}).list_topics(timeout=5).brokers
    assert _ch(new, "SELECT count() FROM bulk").text == "10000\n"  # chdb data kept
    with _pg(new) as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM keepme")
        assert cur.fetchone() == ("survives restarts",)


def test_port_taken_by_someone_else_is_replaced(state_dir):
    info = devstack.stack_info(state_dir)
    os.kill(info["kafka"]["pid"], signal.SIGTERM)
    _wait_gone(info["kafka"]["pid"])
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", info["kafka"]["port"]))
    squatter.listen()
    try:
        new = devstack.up(state_dir)
    finally:
        squatter.close()
    assert new["kafka"]["port"] != info["kafka"]["port"]
    assert devstack.stack_info(state_dir)["kafka"]["port"] == new["kafka"]["port"]
    assert AdminClient({"bootstrap.servers": new["kafka"]["bootstrap"]}).list_topics(timeout=5).brokers


def test_restart_redis_keeps_data_and_port(state_dir):
    before = devstack.stack_info(state_dir)["redis"]
    r = redis.Redis.from_url(before["url"])
    r.set("chaos:key", "kept")
    r.rpush("chaos:list", *range(100))
    devstack.restart_service(state_dir, "redis")
    after = devstack.stack_info(state_dir)["redis"]
    assert after["port"] == before["port"] and after["pid"] != before["pid"]
    assert not _alive(before["pid"])
    r = redis.Redis.from_url(after["url"])
    assert r.get("chaos:key") == b"kept" and r.llen("chaos:list") == 100


def test_restart_postgres_keeps_data(state_dir):
    before = devstack.stack_info(state_dir)["postgres"]
    devstack.restart_service(state_dir, "postgres")
    after = devstack.stack_info(state_dir)["postgres"]
    assert after["pid"] != before["pid"] and after["url"] == before["url"]
    with psycopg2.connect(after["dsn"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM keepme")
        assert cur.fetchone() == (1,)


def test_stack_from_before_passwords_is_upgraded(state_dir):
    # a stack.json without passwords (older versions wrote none) while its servers run: `up` gives Redis and
    # the chdb server new passwords and restarts them with those, on their ports, with their data
    info = devstack.stack_info(state_dir)
    old = json.loads((state_dir / "stack.json").read_text())
    for name in ("redis", "clickhouse"):
        old[name].pop("password")
    (state_dir / "stack.json").write_text(json.dumps(old))
    new = devstack.up(state_dir)
    for name in ("redis", "clickhouse"):
        assert new[name]["password"] != info[name]["password"], name
        assert new[name]["port"] == info[name]["port"] and new[name]["pid"] != info[name]["pid"], name
    assert new["postgres"]["pid"] == info["postgres"]["pid"] and new["kafka"]["pid"] == info["kafka"]["pid"]
    assert redis.Redis.from_url(new["redis"]["url"]).get("chaos:key") == b"kept"
    assert _ch(new, "SELECT count() FROM bulk").text == "10000\n"
    assert requests.post(info["clickhouse"]["url"], data="SELECT 1", timeout=5).status_code == 401
    assert devstack.up(state_dir)["redis"]["password"] == new["redis"]["password"]  # kept from now on


def test_down_then_up_keeps_data(state_dir):
    info = devstack.stack_info(state_dir)
    pids = [info[n]["pid"] for n in devstack.SERVICES]
    devstack.down(state_dir)
    for pid in pids:
        assert not _alive(pid)
    for name in ("redis", "kafka", "clickhouse"):
        assert not _listening(info[name]["port"]), name
    assert not list(Path(info["postgres"]["socket_dir"]).glob(".s.PGSQL.*[0-9]"))
    assert not any(s.running for s in devstack.status(state_dir))
    kept = devstack.stack_info(state_dir)
    assert all(kept[n]["pid"] is None for n in devstack.SERVICES)
    assert kept["redis"]["port"] == info["redis"]["port"]
    devstack.down(state_dir)  # idempotent

    t0 = time.perf_counter()
    new = devstack.up(state_dir)
    print(f"\n[devstack] up after down (existing data): {time.perf_counter() - t0:.2f} s")
    for name in ("redis", "kafka", "clickhouse"):
        assert new[name]["port"] == info[name]["port"]
    for name in ("redis", "clickhouse"):
        assert new[name]["password"] == info[name]["password"]
    with _pg(new) as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM keepme")
        assert cur.fetchone() == ("survives restarts",)
    assert _ch(new, "SELECT count() FROM events").text == "2\n"
    assert redis.Redis.from_url(new["redis"]["url"]).get("chaos:key") == b"kept"


def test_down_without_stack_is_a_noop(tmp_path):
    devstack.down(tmp_path / "never-created")
    assert not (tmp_path / "never-created").exists()
    assert devstack.stack_info(tmp_path / "never-created") is None
    assert not any(s.running for s in devstack.status(tmp_path / "never-created"))


def test_long_state_dir_path_uses_short_socket_dir():
    root = Path(tempfile.mkdtemp(prefix="nx", dir="/tmp"))
    state = root / ("x" * 60) / ("y" * 60) / ".nexus"
    try:
        info = devstack.up(state)
        sock = info["postgres"]["socket_dir"]
        assert len(sock) + len("/.s.PGSQL.5432") < 107 and not sock.startswith(str(root))
        engine = sa.create_engine(info["postgres"]["url"])
        try:
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT current_database()")).scalar() == "nexus"
        finally:
            engine.dispose()
    finally:
        devstack.down(state)
        shutil.rmtree(root, ignore_errors=True)
