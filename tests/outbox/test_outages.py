"""Issue 16 on the real stack (stages in process, the relay run as beat would): ClickHouse, Kafka or a webhook
subscriber down loses nothing and blocks nothing. The sync closes in PostgreSQL; what it owes waits in the
outbox and goes out once, after the target is back."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa
import yaml

from nexus_sync import db, names
from nexus_sync.config import get_settings
from nexus_sync.outbox import drain, lag, relay
from nexus_sync.outbox.store import ARCHIVE, KAFKA
from nexus_sync.redis_client import get_redis
from tests.conftest import add_secrets
from tests.kafka import read_events
from tests.pipeline.helpers import archive_count, owed, relay_events, run_inline, small_simulator
from tests.pipeline.test_lifecycle import later
from tests.pipeline.test_record_changes import deprovision

DEAD = "127.0.0.1:9"  # the discard port: nothing listens there


def until(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {check}")


def owed_rows(sync_hid: str, target: str) -> int:
    o = db.outbox.c
    with db.get_engine().connect() as c:
        return int(c.execute(sa.select(sa.func.count()).where(
            o.sync_history_id == uuid.UUID(sync_hid), o.target == target, o.done_at.is_(None))).scalar_one())


def status_of(sync_hid: str) -> str:
    with db.get_engine().connect() as c:
        return str(c.execute(sa.select(db.sync_history.c.status).where(
            db.sync_history.c.id == uuid.UUID(sync_hid))).scalar())


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "outbox_backoff_max_seconds", 0.3)
    monkeypatch.setattr(get_settings(), "outbox_kafka_timeout_seconds", 2.0)


def test_clickhouse_down_the_sync_closes_and_its_archive_drains_after(sim, make_connector, monkeypatch, stack,
                                                                     fast_backoff):
    conn = make_connector(sim, "okta", page_size=100)
    monkeypatch.setattr(get_settings(), "clickhouse_url", f"http://default:x@{DEAD}")  # ClickHouse is away
    hid, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS" and status_of(hid) == "SUCCESS"  # closed in PostgreSQL regardless
    sb = db.sync_batches.c
    with db.get_engine().connect() as c:
        batches = c.execute(sa.select(sa.func.count()).where(
            sb.sync_history_id == uuid.UUID(hid), sb.records_new + sb.records_updated > 0)).scalar_one()
    assert batches >= 5 and owed_rows(hid, ARCHIVE) == batches  # each batch's rows, owed durably
    assert not any(get_redis().scan_iter(names.stage_key(hid, "*", "*")))  # Redis staging is gone
    [archive] = [x for x in lag.owed() if x.target == ARCHIVE]
    assert archive.owed >= 5 and archive.down_since is not None and "ClickHouse" in (archive.last_error or "")

    monkeypatch.setattr(get_settings(), "clickhouse_url", None)  # back
    until(lambda: relay.run_archive() and owed_rows(hid, ARCHIVE) == 0)
    assert archive_count(conn.tenant_id) == 450
    assert ARCHIVE not in {x.target for x in lag.owed() if x.owed}  # caught up: no longer shown as owed


def test_the_same_archive_work_sent_twice_leaves_one_copy(sim, make_connector, monkeypatch, stack):
    """A relay that dies after ClickHouse took the insert and before the work is marked done: the next relay
    sends it again, and the insert's deduplication token keeps query results at one copy."""
    conn = make_connector(sim, "crowdstrike", page_size=400)
    monkeypatch.setattr(get_settings(), "clickhouse_url", f"http://default:x@{DEAD}")
    hid, report = run_inline(conn.name)
    monkeypatch.setattr(get_settings(), "clickhouse_url", None)
    with db.get_engine().begin() as c:  # forget the backoff of the outage above
        c.execute(db.outbox_targets.delete().where(db.outbox_targets.c.target == ARCHIVE))
    real_settle = drain._settle

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("relay killed after the insert, before marking the work done")

    monkeypatch.setattr(drain, "_settle", crash)
    with pytest.raises(RuntimeError):
        relay.run_archive()
    assert owed_rows(hid, ARCHIVE) == 3 and archive_count(conn.tenant_id) > 0  # inserted, still owed
    monkeypatch.setattr(drain, "_settle", real_settle)
    until(lambda: relay.run_archive() and owed_rows(hid, ARCHIVE) == 0)
    assert archive_count(conn.tenant_id) == 1200  # not 1200 + what the killed relay inserted


def test_kafka_down_at_close_events_go_out_once_after_it_returns(make_connector, monkeypatch, stack,
                                                                  fast_backoff):
    with small_simulator(16, okta=60) as okta:
        conn = make_connector(okta, "okta", page_size=25)
        run_inline(conn.name)
        deprovision(okta)  # a record.changed event
        vendor = okta.vendor("okta")
        with vendor.lock:  # a user gone from the vendor: a records.lifecycle event (missing)
            gone = vendor.order.pop()
            del vendor.records[gone]
            vendor.version += 1
            vendor.on_data_changed()
        later(conn)  # the first sync a minute ago (lifecycle.seen_from allows for clock skew)
        bootstrap = get_settings().kafka
        monkeypatch.setattr(get_settings(), "kafka_bootstrap", DEAD)  # the broker is away at close
        hid, report = run_inline(conn.name)
        assert report["status"] == "SUCCESS" and report["lifecycle"]["missing"] == 1
        kinds = sorted(e["event_type"] for _, e in owed(hid, KAFKA))
        assert kinds == ["connector.sync.complete", "record.changed", "records.lifecycle"]
        ids = {e["event_type"]: e["event_id"] for _, e in owed(hid, KAFKA)}

        monkeypatch.setattr(get_settings(), "kafka_bootstrap", None)  # back
        until(lambda: relay_events() and owed_rows(hid, KAFKA) == 0)
        s = get_settings()
        for topic, kind in ((s.kafka_topic, "connector.sync.complete"), (s.changes_topic, "record.changed"),
                            (s.lifecycle_topic, "records.lifecycle")):
            got = read_events(bootstrap, topic, lambda e: e["sync_id"] == report["sync_id"], linger=3, keys=True)
            assert [(e["event_id"], e["_headers"]["event_id"]) for e in got] == [(ids[kind], ids[kind])], kind


class FlakyReceiver:
    """A webhook endpoint answering `answer` (503 while it is 'down'); keeps the delivery ids of the POSTs it
    took (2xx)."""

    def __init__(self) -> None:
        self.answer = 503
        self.taken: list[str] = []
        self.refused = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.answer
                if code < 300:
                    outer.taken.append(self.headers["X-Nexus-Delivery"])
                else:
                    outer.refused += 1
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receivers(monkeypatch, secrets_file, tmp_path) -> Iterator[dict[str, FlakyReceiver]]:
    made = {"flaky": FlakyReceiver(), "gone": FlakyReceiver()}
    made["gone"].answer = 410  # deliberately broken: answers, refuses every delivery
    hooks = tmp_path / "webhooks.yaml"
    hooks.write_text(yaml.safe_dump({"subscribers": [
        {"name": f"outage-{name}", "url": r.url, "events": ["connector.sync.complete"]}
        for name, r in made.items()]}))
    for name in made:
        add_secrets(secrets_file, f"webhook-outage-{name}", {"secret": "whsec-outage-0123456789"})
    import nexus_sync.credentials as creds

    creds._store = None
    monkeypatch.setattr(get_settings(), "webhooks_file", hooks)
    yield made
    for r in made.values():
        r.server.shutdown()
        r.server.server_close()


def test_webhook_503_stretch_waits_and_delivers_after_a_refusing_one_is_dead_lettered(
        sim, make_connector, receivers, fast_backoff, stack):
    conn = make_connector(sim, "okta", page_size=200)
    hid, report = run_inline(conn.name)
    flaky, gone = receivers["flaky"], receivers["gone"]
    [(_, event)] = owed(hid, "webhook:outage-flaky")
    until(lambda: relay_events() is not None and flaky.refused >= 3 and gone.refused >= 4)  # a stretch of 503s
    assert flaky.taken == [] and owed_rows(hid, "webhook:outage-flaky") == 1  # still owed, never given up
    with db.get_engine().connect() as c:
        letters = c.execute(sa.select(db.dead_letters.c.task_name, db.dead_letters.c.args, db.dead_letters.c.error)
                            .where(db.dead_letters.c.sync_history_id == uuid.UUID(hid))).all()
    # the refusing endpoint: its tries used up, dead-lettered as the webhook task `dlq replay` sends again
    assert [(r.task_name, r.args[0], r.error) for r in letters] == [
        ("tasks.notify.webhook", "outage-gone", "webhook outage-gone: HTTP 410")]
    assert letters[0].args[1]["event_id"] == event["event_id"]

    flaky.answer = 200  # back
    until(lambda: relay_events() is not None and flaky.taken)
    relay_events()
    assert len(flaky.taken) == 1 and owed_rows(hid, "webhook:outage-flaky") == 0  # delivered once


def test_a_refusing_subscribers_backoff_starts_again_with_each_delivery(stack):
    """A subscriber that refuses (410) every delivery: each is tried task_max_retries + 1 times, waiting 1 s,
    2 s, 4 s… between tries; a delivery given up ends the streak, so the next one waits 1 s again, not the cap
    (a backlog behind a refusing subscriber would otherwise wait outbox_backoff_max_seconds per try)."""
    from datetime import timedelta

    from nexus_sync.outbox.drain import Outcome, Row
    from nexus_sync.outbox.store import Owed, owe

    target = f"webhook:refusing-{uuid.uuid4().hex[:8]}"
    with db.get_engine().begin() as c:
        owe(c, [Owed(target, str(uuid.uuid4()), str(uuid.uuid4()), {"n": i}) for i in range(3)])
    tries = get_settings().task_max_retries + 1

    def refusing(_target: str, rows: list[Row]) -> Outcome:
        out = Outcome()
        for row in rows:
            if row.attempts + 1 < tries:
                out.down, out.attempt = "HTTP 410", True
                return out
            out.given_up.append(row.id)
        return out

    clock = drain.utcnow()
    streaks: list[int] = []
    t = db.outbox_targets.c
    try:
        while owed_rows_of(target):
            clock += timedelta(hours=1)  # past any backoff
            drain.drain(target, refusing, batch=10, now=lambda: clock)
            with db.get_engine().connect() as c:
                streaks.append(int(c.execute(sa.select(t.failures).where(t.target == target)).scalar() or 0))
        # each delivery's refusals count 1, 2, 3: the one refused right after another was given up counts 1
        assert streaks == list(range(1, tries)) * 3 + [0]
    finally:
        with db.get_engine().begin() as c:
            c.execute(db.outbox.delete().where(db.outbox.c.target == target))
            c.execute(db.outbox_targets.delete().where(t.target == target))


def owed_rows_of(target: str) -> int:
    o = db.outbox.c
    with db.get_engine().connect() as c:
        return int(c.execute(sa.select(sa.func.count()).where(o.target == target, o.done_at.is_(None))).scalar_one())


def test_lag_alerts_at_15_minutes_and_past_the_bound(monkeypatch, stack):
    target = f"webhook:lag-{uuid.uuid4().hex[:8]}"
    from nexus_sync.outbox.store import Owed, owe

    with db.get_engine().begin() as c:
        owe(c, [Owed(target, str(uuid.uuid4()), str(uuid.uuid4()), {"event_type": "x"}) for _ in range(3)])
        created = c.execute(sa.select(sa.func.max(db.outbox.c.created_at)).where(
            db.outbox.c.target == target)).scalar_one()
    try:
        from datetime import timedelta

        def tripped(minutes: float) -> list[str]:
            lags = [x for x in lag.owed(now=created + timedelta(minutes=minutes)) if x.target == target]
            assert [(x.owed, round(x.oldest_seconds / 60)) for x in lags] == [(3, round(minutes))]
            return [m for _, m in lag.alerts(lags)]

        assert tripped(14) == []
        assert tripped(16) == [f"outbox: {target} is 16 min behind, 3 owed"]
        monkeypatch.setattr(get_settings(), "outbox_max_rows", 2)
        assert "outbox: 3 rows owed (bound 2)" in tripped(1)
        gauges = {(m.name, s.labels["target"]): s.value for m in lag.OutboxLag().collect() for s in m.samples
                  if s.labels.get("target") == target}
        assert gauges[("nexus_outbox_owed", target)] == 3 and gauges[("nexus_outbox_oldest_seconds", target)] >= 0

        from typer.testing import CliRunner

        from nexus_sync.cli import app

        out = CliRunner().invoke(app, ["status", "--json"])
        assert out.exit_code == 0, out.output
        shown = {t["target"]: t for t in json.loads(out.output)["targets"]}
        assert shown[target]["owed"] == 3
        text = CliRunner().invoke(app, ["status"]).output
        assert target in text and "ALERT critical: outbox: " in text
    finally:
        with db.get_engine().begin() as c:
            c.execute(db.outbox.delete().where(db.outbox.c.target == target))


def test_two_relays_never_send_the_same_row_and_keep_each_connectors_order(stack):
    from nexus_sync.outbox.drain import Outcome, Row
    from nexus_sync.outbox.store import Owed, owe

    target = f"test-concurrency-{uuid.uuid4().hex[:8]}"
    connectors = [str(uuid.uuid4()) for _ in range(3)]
    with db.get_engine().begin() as c:
        owe(c, [Owed(target, str(uuid.uuid4()), connectors[i % 3], {"n": i}) for i in range(90)])
    sent: list[tuple[str, int]] = []
    lock = threading.Lock()

    def slow(_target: str, rows: list[Row]) -> Outcome:
        for r in rows:
            time.sleep(0.01)
            with lock:
                sent.append((r.connector_id, r.payload["n"]))
        return Outcome(done=[r.id for r in rows])

    relays = [threading.Thread(target=drain.drain, args=(target, slow), kwargs={"batch": 7, "rounds": 100})
              for _ in range(2)]
    for t in relays:
        t.start()
    for t in relays:
        t.join(60)
    assert sorted(n for _, n in sent) == list(range(90))  # every row, none twice
    for cid in connectors:  # in order per connector
        mine = [n for c, n in sent if c == cid]
        assert mine == sorted(mine)
    with db.get_engine().begin() as c:
        c.execute(db.outbox.delete().where(db.outbox.c.target == target))


def test_dedup_tokens_only_where_the_server_has_them() -> None:
    from nexus_sync.archive import ddl, server_supports_dedup_token

    assert not server_supports_dedup_token("18.16.1") and not server_supports_dedup_token("22.1.3")
    assert server_supports_dedup_token("22.2.1") and server_supports_dedup_token("26.9.1.1")
    assert "non_replicated_deduplication_window" in ddl(True, dedup=True)
    assert "SETTINGS" not in ddl(False)  # 18.16's table as before


def test_concurrent_inserts_of_the_same_work_leave_one_copy(stack, monkeypatch) -> None:
    """What doubled a page in the chaos run of 2026-12-02: two inserts of one batch racing past a check of the
    ids already archived (made certain here: a check waits for the other). With the work's token there is no
    such check: the engine itself drops the second insert."""
    from datetime import datetime

    from nexus_sync.archive import TABLE, archive_row, get_archive

    archive = get_archive()
    assert archive.dedup_token  # the embedded engine (ClickHouse 26) has tokens
    both_checked = threading.Barrier(2, timeout=5)
    real_check = type(archive).ids_ingested_at

    def racing_check(self: Any, *args: Any) -> set[str]:
        found = real_check(self, *args)
        both_checked.wait()
        return found

    monkeypatch.setattr(type(archive), "ids_ingested_at", racing_check)
    tenant = str(uuid.uuid4())
    for round_ in range(3):
        both_checked.reset()
        rows = [archive_row(str(uuid.uuid4()), tenant, "crowdstrike", "asset", {"i": i}, datetime(2026, 3, 4))
                for i in range(200)]
        token = str(uuid.uuid4())
        racers = [threading.Thread(target=archive.insert_once, args=(rows, token)) for _ in range(2)]
        for t in racers:
            t.start()
        for t in racers:
            t.join(30)
        archive.insert_once(rows, token)  # and once more, after
        got = archive.query(f"SELECT count() AS n FROM {TABLE} WHERE tenant_id = toUUID('{tenant}')")[0]
        assert int(got["n"]) == 200 * (round_ + 1)
