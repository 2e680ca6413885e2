"""Webhooks (signed; an outage waited out, a refusal retried then dead-lettered), alert events and Prometheus
metrics, with a real worker."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml

from nexus_sync import alerts, db, webhooks
from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from nexus_sync.outbox.store import unpack
from tests.conftest import STATE, add_secrets, worker_env

SECRET = "whsec-test-0123456789"


class Receiver:
    """A webhook endpoint over real HTTP answering `status` (and `location`); keeps what it got."""

    def __init__(self, status: int = 200, location: str | None = None):
        self.status, self.got = status, []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                self.send_response(outer.status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receivers():
    ok, slack, broken, gone = Receiver(), Receiver(), Receiver(status=503), Receiver(status=410)
    yield {"ok": ok, "slack": slack, "broken": broken, "gone": gone}
    for r in (ok, slack, broken, gone):
        r.server.shutdown()


@pytest.fixture(scope="module")
def notify_worker(stack, secrets_file, receivers, tmp_path_factory):
    hooks = tmp_path_factory.mktemp("hooks") / "webhooks.yaml"
    hooks.write_text(yaml.safe_dump({"subscribers": [
        {"name": "dash", "url": receivers["ok"].url, "events": ["connector.sync.complete", "connector.sync.alert"]},
        {"name": "slack", "url": receivers["slack"].url, "events": ["connector.sync.alert"], "format": "slack"},
        {"name": "down", "url": receivers["broken"].url, "events": ["connector.sync.complete"]},
        {"name": "gone", "url": receivers["gone"].url, "events": ["connector.sync.complete"]},
    ]}))
    for name in ("dash", "slack", "down", "gone"):
        add_secrets(secrets_file, f"webhook-{name}", {"secret": SECRET})
    port = procs.free_port()
    env = {**worker_env(), "NEXUS_WEBHOOKS_FILE": str(hooks), "NEXUS_METRICS_PORT": str(port)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ["NEXUS_WEBHOOKS_FILE"] = str(hooks)
    from nexus_sync.config import get_settings

    get_settings.cache_clear()
    proc = procs.start_worker(STATE / "logs" / "notify-worker.log", env=env, concurrency=2, name="notify")
    proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield proc
    proc.stop()
    os.environ.pop("NEXUS_WEBHOOKS_FILE", None)
    get_settings.cache_clear()


def _wait(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_signature_verifies_and_rejects_tampering_and_old_deliveries():
    body, ts, delivery = b'{"a":1}', str(int(time.time())), str(uuid.uuid4())
    sig = webhooks.sign(SECRET, ts, delivery, body)
    assert webhooks.verify(SECRET, ts, delivery, body, sig)
    assert not webhooks.verify(SECRET, ts, delivery, b'{"a":2}', sig)
    assert not webhooks.verify("other", ts, delivery, body, sig)
    old = str(int(time.time()) - 3600)
    assert not webhooks.verify(SECRET, old, delivery, body, webhooks.sign(SECRET, old, delivery, body))


def test_a_sync_is_announced_to_subscribers_signed(sim, make_connector, notify_worker, receivers):
    conn = make_connector(sim, "okta", page_size=200)
    report = wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
    ok = receivers["ok"]
    assert _wait(lambda: any(json.loads(b).get("sync_id") == report["sync_id"] for _, b in ok.got))
    headers, body = next((h, b) for h, b in ok.got if json.loads(b).get("sync_id") == report["sync_id"])
    event = json.loads(body)
    assert event["event_type"] == "connector.sync.complete" and event["records"]["new"] == 450
    assert headers["X-Nexus-Event"] == "connector.sync.complete"
    assert webhooks.verify(SECRET, headers["X-Nexus-Timestamp"], headers["X-Nexus-Delivery"], body,
                           headers["X-Nexus-Signature"])
    # the subscriber that refuses (410) ends in the dead-letter queue after its retries (the relay runs as
    # beat would start it); the one answering 503 is away: its delivery waits in the outbox, never dead-lettered
    from tasks.outbox import relay_events  # here: the Celery app is made with the stack's broker

    beat = {"at": 0.0}

    def mine() -> list:  # this sync's dead letters (a sync of another test may have closed under these hooks)
        return [x for x in _letters("tasks.notify.webhook") if x.args[1].get("sync_id") == report["sync_id"]]

    def relayed_then_letters() -> list:  # the relay every 2 s, as beat would start it
        if time.monotonic() - beat["at"] > 2:
            relay_events.delay()
            beat["at"] = time.monotonic()
        return mine()

    assert _wait(relayed_then_letters, 120)
    [letter] = mine()
    assert letter.args[0] == "gone" and "410" in letter.error and letter.retries == 3
    # first try + 3 retries, each refused; one more only if an answer was lost on the way (then counted as an
    # outage, not a refusal): at least once, always the same delivery
    gone = [(h, b) for h, b in receivers["gone"].got if json.loads(b).get("sync_id") == report["sync_id"]]
    assert len(gone) >= 4 and len({h["X-Nexus-Delivery"] for h, _ in gone}) == 1
    assert len(receivers["broken"].got) >= 2
    with db.get_engine().connect() as c:
        waiting = c.execute(sa.select(db.outbox.c.payload).where(
            db.outbox.c.target == "webhook:down", db.outbox.c.done_at.is_(None))).scalars().all()
    assert report["sync_id"] in [unpack(p)["sync_id"] for p in waiting]


MINE = {"dash", "slack", "down", "gone"}  # this module's subscribers (another module may share the stack's DLQ)


def _letters(task: str) -> list:
    with db.get_engine().connect() as c:
        rows = c.execute(sa.select(db.dead_letters).where(db.dead_letters.c.task_name == task)).all()
    return [r for r in rows if task != "tasks.notify.webhook" or r.args[0] in MINE]


def test_failed_sync_alerts_on_kafka_webhook_and_slack(stack, secrets_file, make_connector, notify_worker,
                                                     receivers):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=3, sizes={"okta": 50})).start()
    try:
        conn = make_connector(s, "okta")
        add_secrets(secrets_file, conn.name, {"token": "wrong-token"})  # every call is refused: auth failure
        report = wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
        assert report["status"] == "FAILED"
        slack = receivers["slack"]
        assert _wait(lambda: sum(conn.name in json.loads(b)["text"] for _, b in slack.got) >= 2, 60)
        texts = [json.loads(b)["text"] for _, b in slack.got if conn.name in json.loads(b)["text"]]
        assert any("FAILED" in t for t in texts) and any("authentication" in t for t in texts)
        def dash_alerts() -> list[dict]:  # delivered by tasks of their own: wait for them too
            return [json.loads(b) for _, b in receivers["ok"].got
                    if json.loads(b).get("event_type") == "connector.sync.alert"
                    and json.loads(b).get("connector") == conn.name]

        assert _wait(lambda: len(dash_alerts()) >= 2, 60)
        assert {a["severity"] for a in dash_alerts()} == {"critical"}
    finally:
        s.stop()


def test_metrics_after_a_sync(sim, make_connector, notify_worker):
    conn = make_connector(sim, "crowdstrike", page_size=400)
    wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
    want = [f'nexus_syncs_total{{connector="{conn.name}",status="SUCCESS"}}',
            f'nexus_sync_duration_seconds_count{{connector="{conn.name}"}}',
            f'nexus_records_total{{connector="{conn.name}",outcome="new"}}',
            'nexus_stage_seconds_count{stage="notify"}', "nexus_archive_lag_seconds_count"]
    # notify's stage time is written after its task returns, so wait for every line, not only the first
    assert _wait(lambda: all(w in requests.get(notify_worker.metrics_url, timeout=5).text for w in want))
    text = requests.get(notify_worker.metrics_url, timeout=5).text
    assert f'nexus_sync_duration_seconds_count{{connector="{conn.name}"}} 1.0' in text
    assert f'nexus_records_total{{connector="{conn.name}",outcome="new"}} 1200.0' in text
    for stage in ("fetch", "normalize", "dedup", "persist", "notify"):
        assert f'nexus_stage_seconds_count{{stage="{stage}"}}' in text
    assert "nexus_db_write_seconds_bucket" in text and "nexus_outbox_owed" in text
    assert _wait(lambda: "nexus_archive_lag_seconds_count" in requests.get(notify_worker.metrics_url, timeout=5).text)
    assert 'nexus_queue_depth{queue="sync"}' in text and 'nexus_dedup_lookups_total{source="redis"}' in text


def test_alert_rules_file_uses_real_metrics():
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy/prometheus/alerts.yml").read_text())
    exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
    assert len(rules["groups"][0]["rules"]) == 9
    for metric in ("nexus_sync_duration_seconds_bucket", "nexus_syncs_total", "nexus_task_errors_total",
                   "nexus_stage_seconds_bucket", "nexus_db_write_seconds_bucket", "nexus_outbox_owed",
                   "nexus_outbox_oldest_seconds"):
        assert metric in exprs


def test_alert_rules_on_a_report():
    slow = {"connector": "x", "status": "SUCCESS", "duration_ms": 301_000,
            "records": {"processed": 100, "invalid": 20}, "pages_failed": 0, "errors": []}
    found = alerts.evaluate(slow)
    assert ("warning", "sync of x took 301s (> 5 min)") in found
    assert ("warning", "error rate of x is 17% (> 10%)") in found and len(found) == 2

