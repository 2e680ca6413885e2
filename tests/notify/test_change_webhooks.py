"""Issue 13 item 3 with a real worker: an Okta user going ACTIVE → DEPROVISIONED reaches the subscribers that
asked for record.changed — signed, past their kind / field / severity filters — and no one else; the same
event is on the Kafka topic."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import yaml

from nexus_sync import webhooks
from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from nexus_sync.simulator import Simulator
from tests.conftest import STATE, add_secrets, worker_env
from tests.notify.test_notifications import _wait
from tests.pipeline.helpers import small_simulator
from tests.pipeline.test_record_changes import consume, deprovision

SECRET = "whsec-changes-0123456789"
SUBSCRIBERS = [  # name → its entry; each posts to /<name> of one receiver
    {"name": "changes", "events": ["record.changed"]},
    {"name": "user-status", "events": ["record.changed"], "kinds": ["user"], "fields": ["status"]},
    {"name": "assets-only", "events": ["record.changed"], "kinds": ["asset"]},
    {"name": "severe", "events": ["record.changed"], "min_severity": 70},
    {"name": "groups-only", "events": ["record.changed"], "fields": ["groups"]},
    {"name": "sync-only", "events": ["connector.sync.complete"]},  # no record.changed unless asked for
]


class Receiver:
    """One webhook endpoint over real HTTP; keeps (subscriber path, headers, body) of each POST."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((self.path.strip("/"), dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def events(self, subscriber: str, event_type: str, sync_id: str) -> list[dict[str, Any]]:
        return [e for path, _, body in self.got if path == subscriber
                for e in [json.loads(body)] if e.get("event_type") == event_type and e.get("sync_id") == sync_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="module")
def changes_worker(stack, secrets_file, receiver, tmp_path_factory):
    hooks = tmp_path_factory.mktemp("change-hooks") / "webhooks.yaml"
    hooks.write_text(yaml.safe_dump({"subscribers": [
        {**entry, "url": f"{receiver.url}/{entry['name']}"} for entry in SUBSCRIBERS]}))
    for entry in SUBSCRIBERS:
        add_secrets(secrets_file, f"webhook-{entry['name']}", {"secret": SECRET})
    env = {**worker_env(), "NEXUS_WEBHOOKS_FILE": str(hooks), "NEXUS_METRICS_PORT": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ["NEXUS_WEBHOOKS_FILE"] = str(hooks)
    from nexus_sync.config import get_settings

    get_settings.cache_clear()
    proc = procs.start_worker(STATE / "logs" / "changes-worker.log", env=env, concurrency=2, name="changes")
    yield proc
    proc.stop()
    os.environ.pop("NEXUS_WEBHOOKS_FILE", None)
    get_settings.cache_clear()


@pytest.fixture
def okta_sim() -> Iterator[Simulator]:
    with small_simulator(17, okta=40) as s:
        yield s


def test_deprovisioned_user_reaches_the_subscribers_that_asked(okta_sim, make_connector, changes_worker, receiver,
                                                               stack):
    conn = make_connector(okta_sim, "okta")
    first = wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
    rid = deprovision(okta_sim)
    report = wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
    sync_id, change = report["sync_id"], "record.changed"
    assert report["records"]["updated"] == 1

    assert _wait(lambda: receiver.events("changes", change, sync_id) and receiver.events("user-status", change,
                                                                                          sync_id), 60)
    [event] = receiver.events("changes", change, sync_id)
    assert (event["kind"], event["source_id"], event["connector"]) == ("user", rid, conn.name)
    assert event["changes"] == {"status": {"before": "ACTIVE", "after": "DEPROVISIONED"}}
    assert (event["severity"], event["severity_label"]) == (0, "info")
    headers, body = next((h, b) for p, h, b in receiver.got if p == "changes" and json.loads(b) == event)
    assert headers["X-Nexus-Event"] == change
    assert webhooks.verify(SECRET, headers["X-Nexus-Timestamp"], headers["X-Nexus-Delivery"], body,
                           headers["X-Nexus-Signature"])
    assert receiver.events("user-status", change, sync_id) == [event]
    # the same event on Kafka, keyed by the record id, its event id in a header too
    [on_kafka] = consume(stack["kafka"]["bootstrap"], sync_id)
    assert on_kafka.pop("_key") == event["record_id"] and on_kafka.pop("_headers") == {"event_id": event["event_id"]}
    assert on_kafka == event

    # the others: sync-only got its sync events and nothing else; the filtered ones got nothing
    assert _wait(lambda: receiver.events("sync-only", "connector.sync.complete", sync_id), 60)
    assert receiver.events("sync-only", "connector.sync.complete", first["sync_id"])
    for name in ("assets-only", "severe", "groups-only", "sync-only"):
        assert [p for p, _, b in receiver.got if p == name and json.loads(b).get("event_type") == change] == [], name
    # the first sync (all new) changed nothing
    assert receiver.events("changes", change, first["sync_id"]) == []


def test_filters_need_record_changed_and_name_what_exists(tmp_path):
    from nexus_sync.errors import ConfigError

    def load(entry: dict[str, Any]) -> list[webhooks.Subscriber]:
        path = tmp_path / "hooks.yaml"
        path.write_text(yaml.safe_dump({"subscribers": [{"name": "x", "url": "https://h.example/x", **entry}]}))
        return webhooks.load(path)

    with pytest.raises(ConfigError, match="add record.changed to events"):
        load({"kinds": ["user"]})  # default events: a filter of an event it would never get
    with pytest.raises(ConfigError, match="kinds: unknown"):
        load({"events": ["record.changed"], "kinds": ["users"]})
    with pytest.raises(ConfigError, match="watched by no kind"):
        load({"events": ["record.changed"], "fields": ["last_login_time"]})
    with pytest.raises(ConfigError, match="min_severity"):
        load({"events": ["record.changed"], "min_severity": 101})
    [sub] = load({"events": ["record.changed"], "kinds": ["vulnerability"], "min_severity": 70})
    vuln = {"event_type": "record.changed", "kind": "vulnerability", "changes": {"severity": {}}, "severity": 80}
    assert sub.wants(vuln) and not sub.wants(vuln | {"severity": 69}) and not sub.wants(vuln | {"kind": "asset"})
