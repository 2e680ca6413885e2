"""`make chaos`, the stores we only write to (issue 16): ClickHouse stopped for a stretch, the Kafka broker
stopped for a stretch, a webhook subscriber answering 503 for a stretch. Meanwhile syncs close in PostgreSQL
and their work waits in the outbox; afterwards the relay drains it and the run counts what arrived: every new
or updated record archived once, every sync's event on Kafka once per event id, every webhook delivered."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import yaml

from nexus_sync import names

HOOK = "chaos-hook"
HOOK_SECRET_NAME = f"webhook-{HOOK}"
RELAY_EVERY = 2.0  # how often the run asks for the relays (beat: NEXUS_OUTBOX_RELAY_SECONDS)


class Subscriber:
    """The webhook subscriber: answers 503 while `down`, otherwise checks the signature and keeps the
    delivery id of each POST it takes."""

    def __init__(self, secret: str) -> None:
        self.down = False
        self.taken: list[str] = []
        self.refused = 0
        self.forged = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from nexus_sync.webhooks import verify

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.down:
                    outer.refused += 1
                    code = 503
                elif verify(secret, self.headers.get("X-Nexus-Timestamp"), self.headers.get("X-Nexus-Delivery"),
                            body, self.headers.get("X-Nexus-Signature")):
                    outer.taken.append(str(self.headers.get("X-Nexus-Delivery")))
                    code = 200
                else:
                    outer.forged += 1
                    code = 401
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure(state: Path, env: dict[str, str], secrets: dict[str, dict[str, str]]) -> Subscriber:
    """The webhook subscriber, its YAML (NEXUS_WEBHOOKS_FILE in `env`) and its secret (in `secrets`)."""
    secret = uuid.uuid4().hex
    sub = Subscriber(secret)
    hooks = state / "webhooks.yaml"
    hooks.write_text(yaml.safe_dump({"subscribers": [{"name": HOOK, "url": sub.url,
                                                      "events": ["connector.sync.complete"]}]}))
    env["NEXUS_WEBHOOKS_FILE"] = str(hooks)
    secrets[HOOK_SECRET_NAME] = {"secret": secret}
    return sub


@dataclass
class Outages:
    """The stretches as they happened, and the owed work seen at its peak."""

    stretches: dict[str, dict[str, Any]] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    drained_seconds: float | None = None
    status_at_peak: list[str] = field(default_factory=list)  # what `nexus-sync status` showed then

    def begin(self, target: str) -> None:
        self.stretches[target] = {"from": time.strftime("%H:%M:%S"), "t0": time.monotonic(), "since": time.time()}

    def end(self, target: str) -> None:
        s = self.stretches[target]
        s["to"], s["seconds"] = time.strftime("%H:%M:%S"), round(time.monotonic() - s.pop("t0"), 1)
        s["until"] = time.time()

    def over(self) -> bool:
        return bool(self.stretches) and all("to" in s for s in self.stretches.values())

    def sample(self) -> int:
        """Note what is owed now (per target and in all); returns the total."""
        from nexus_sync.outbox import lag

        lags = lag.owed()
        owed = {x.target: x.owed for x in lags}
        for target, n in owed.items():
            self.peak[target] = max(self.peak.get(target, 0), n)
        total = sum(owed.values())
        if total > self.peak_total:
            self.peak_total = total
            self.status_at_peak = [f"{x.target}: {x.owed} owed, oldest {x.oldest_seconds:.0f} s, down since "
                                   f"{x.down_since:%H:%M:%S} — {(x.last_error or '')[:90]}" if x.down_since else
                                   f"{x.target}: {x.owed} owed, oldest {x.oldest_seconds:.0f} s" for x in lags]
            self.status_at_peak += [f"ALERT {sev}: {msg}" for sev, msg in lag.alerts(lags)]
        return total


def stop_kafka(state: Path, outages: Outages, log: Callable[[str], None]) -> None:
    """Before the syncs start: the broker is in-memory, so it must be down before anything is published."""
    from nexus_sync.dev import devstack

    devstack.stop_service(state, "kafka")
    outages.begin("kafka")
    log("kafka stopped")


def run_stretches(state: Path, outages: Outages, seconds: float, sub: Subscriber,
                  log: Callable[[str], None]) -> None:
    """The chaos thread of the stores we write to: ClickHouse down from +2 s, the subscriber 503 from +4 s;
    Kafka (stopped before the syncs started) back after `seconds`, then the others after theirs."""
    from nexus_sync.dev import devstack

    t0 = time.monotonic()
    time.sleep(2)
    devstack.stop_service(state, "clickhouse")
    outages.begin("clickhouse")
    log("clickhouse stopped")
    time.sleep(2)
    sub.down = True
    outages.begin("webhook")
    log("webhook subscriber answers 503")
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    devstack.start_service(state, "kafka")
    outages.end("kafka")
    log("kafka back (empty: in-memory)")
    time.sleep(2)
    devstack.start_service(state, "clickhouse")
    outages.end("clickhouse")
    log("clickhouse back")
    time.sleep(2)
    sub.down = False
    outages.end("webhook")
    log("webhook subscriber answers 200")


def ask_relays(app: Any) -> None:
    """What beat does every few seconds."""
    for task in (names.RELAY_ARCHIVE, names.RELAY_EVENTS):
        app.send_task(task, expires=RELAY_EVERY)


def drain(outages: Outages, timeout: float) -> None:
    """After the syncs ended and the stretches are over: the relays run until nothing is owed."""
    import kombu.exceptions
    import redis
    import sqlalchemy as sa

    from nexus_sync.celery_app import app

    deadline = time.monotonic() + timeout
    while not outages.over() and time.monotonic() < deadline:  # beat goes on while the targets are down
        try:
            outages.sample()
            ask_relays(app)
        except (sa.exc.DBAPIError, redis.RedisError, kombu.exceptions.OperationalError):
            pass
        time.sleep(RELAY_EVERY)
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            if outages.sample() == 0:
                outages.drained_seconds = round(time.monotonic() - started, 1)
                return
            ask_relays(app)
        except (sa.exc.DBAPIError, redis.RedisError, kombu.exceptions.OperationalError):
            pass  # a restart of the chaos thread's: ask again
        time.sleep(RELAY_EVERY)


def exactly_once(hids: dict[str, str], sub: Subscriber, conns: list[dict[str, Any]],
                 outages: Outages) -> dict[str, Any]:
    """What reached each target, against what the syncs owed it."""
    out: dict[str, Any] = {"kafka": _kafka(hids), "webhook": _webhook(hids, sub), "archive": _archive(hids, conns)}
    out["ok"] = all(v["ok"] for v in out.values())
    out["closed_while_down"] = _closed_while_down(hids, outages)
    return out


def _closed_while_down(hids: dict[str, str], outages: Outages) -> dict[str, int]:
    """How many syncs closed (in PostgreSQL) while each target was down."""
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from nexus_sync import db

    with db.get_engine().connect() as conn:
        closed = [c.replace(tzinfo=timezone.utc).timestamp() for c in conn.execute(
            sa.select(db.sync_history.c.completed_at).where(
                db.sync_history.c.id.in_([uuid.UUID(h) for h in hids.values()]))).scalars() if isinstance(c, datetime)]
    return {t: sum(1 for c in closed if s["since"] <= c <= s.get("until", time.time()))
            for t, s in outages.stretches.items()}


def _kafka(hids: dict[str, str]) -> dict[str, Any]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from nexus_sync.config import get_settings

    s = get_settings()
    wanted = set(_sync_ids(hids))
    consumer = Consumer({"bootstrap.servers": s.kafka, "group.id": "chaos-count", "enable.auto.commit": False})
    seen: dict[str, int] = {}
    per_sync: set[str] = set()
    try:
        parts = consumer.list_topics(s.kafka_topic, timeout=30).topics[s.kafka_topic].partitions
        consumer.assign([TopicPartition(s.kafka_topic, p, OFFSET_BEGINNING) for p in parts])
        quiet = time.monotonic() + 5
        while time.monotonic() < quiet:
            msg = consumer.poll(0.5)
            value = None if msg is None or msg.error() else msg.value()
            if value is None:
                continue
            quiet = time.monotonic() + 3
            event = json.loads(value)
            if event.get("sync_id") in wanted:
                seen[event["event_id"]] = seen.get(event["event_id"], 0) + 1
                per_sync.add(event["sync_id"])
    finally:
        consumer.close()
    messages = sum(seen.values())
    return {"syncs": len(wanted), "syncs_with_event": len(per_sync), "messages": messages, "event_ids": len(seen),
            "ok": len(per_sync) == len(wanted) and messages == len(seen)}


def _webhook(hids: dict[str, str], sub: Subscriber) -> dict[str, Any]:
    taken = len(sub.taken)
    distinct = len(set(sub.taken))
    return {"syncs": len(hids), "delivered": distinct, "repeats": taken - distinct, "answered_503": sub.refused,
            "forged": sub.forged, "ok": distinct == len(hids) and sub.forged == 0}


def _archive(hids: dict[str, str], conns: list[dict[str, Any]]) -> dict[str, Any]:
    import sqlalchemy as sa

    from nexus_sync import db
    from nexus_sync.archive import TABLE, get_archive

    sb = db.sync_batches.c
    with db.get_engine().connect() as conn:
        expected = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(sb.records_new + sb.records_updated), 0))
                                    .where(sb.sync_history_id.in_([uuid.UUID(h) for h in hids.values()]))
                                    ).scalar_one())
    tenants = ",".join(f"toUUID('{c['tenant_id']}')" for c in conns)
    got = get_archive().query(f"SELECT count() AS n, uniqExact(id) AS u FROM {TABLE} WHERE tenant_id IN ({tenants})")[0]
    rows, unique = int(got["n"]), int(got["u"])
    return {"new_or_updated": expected, "archived": rows, "distinct": unique, "duplicated": rows - unique,
            "ok": rows == unique == expected}


def _sync_ids(hids: dict[str, str]) -> list[str]:
    import sqlalchemy as sa

    from nexus_sync import db

    with db.get_engine().connect() as conn:
        return [str(x) for x in conn.execute(sa.select(db.sync_history.c.sync_id).where(
            db.sync_history.c.id.in_([uuid.UUID(h) for h in hids.values()]))).scalars()]


def lines(report: dict[str, Any]) -> list[str]:
    """The report's outbox part, as the run prints it."""
    o = report["outbox"]
    down = o["exactly_once"]["closed_while_down"]
    out = ["  outages: " + "; ".join(f"{t} {s.get('from')}–{s.get('to')} ({s.get('seconds')} s, "
                                     f"{down.get(t, 0)} syncs closed meanwhile)" for t, s in o["stretches"].items())]
    out.append(f"  owed at peak {o['peak_total']} {json.dumps(o['peak'])}; drained in {o['drained_seconds']} s "
               "after the last outage ended")
    out += ["  status at peak: " + line for line in o.get("status_at_peak", [])]
    k, w, a = o["exactly_once"]["kafka"], o["exactly_once"]["webhook"], o["exactly_once"]["archive"]
    out.append(f"  kafka: {k['syncs_with_event']}/{k['syncs']} syncs' events, {k['messages']} messages for "
               f"{k['event_ids']} event ids")
    out.append(f"  webhooks: {w['delivered']}/{w['syncs']} delivered ({w['repeats']} repeats, "
               f"{w['answered_503']} answered 503)")
    out.append(f"  archive: {a['archived']} rows, {a['distinct']} distinct, of {a['new_or_updated']} new or "
               f"updated records ({a['duplicated']} duplicated)")
    return out
