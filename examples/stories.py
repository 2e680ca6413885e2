"""What a security team asks of synced records, told through the CLI on the embedded stack (issue 13).

    .venv/bin/python examples/stories.py [STATE_DIR]

Starts a dev stack in STATE_DIR (default /tmp/nexus-stories), a vendor simulator in this process (so a story
can change the vendor's data between syncs, as a real console would), and one worker; then runs each story
with the `nexus-sync` commands an operator would type, printing what they print. Stops everything at the end.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

STATE = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/nexus-stories")
TENANT = "6f1c2a9e-3b7d-4c11-9a0e-2d5f8b7c6a10"
ENV = {**os.environ, "NEXUS_STATE_DIR": str(STATE), "NEXUS_CREDENTIALS_FILE": str(STATE / "secrets.yaml")}


def cli(*args: str, show: bool = True) -> str:
    line = "$ nexus-sync " + " ".join(args)
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", *args], env=ENV, capture_output=True, text=True,
                         timeout=600)
    text = (out.stdout + out.stderr).rstrip()
    if show:
        print(line + "\n" + text + "\n")
    return out.stdout


def say(title: str) -> None:
    print("\n" + "=" * 100 + f"\n{title}\n" + "=" * 100)


def events(topic: str, since: float) -> list[dict[str, Any]]:
    from confluent_kafka import Consumer

    from nexus_sync.config import get_settings

    c = Consumer({"bootstrap.servers": get_settings().kafka, "group.id": f"stories-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "session.timeout.ms": 2000, "heartbeat.interval.ms": 300})
    c.subscribe([topic])
    found, quiet = [], time.monotonic() + 40  # joining the group takes a while; then 2 s without a message ends it
    while time.monotonic() < quiet:
        msg = c.poll(0.5)
        if msg is None or msg.error() or msg.value() is None:
            continue
        if (msg.timestamp()[1] or 0) / 1000 >= since:
            found.append(json.loads(msg.value()))
            quiet = time.monotonic() + 2
    c.close()
    return found


def edit(sim: Any, vendor: str, record_id: Any, **fields: Any) -> None:
    v = sim.vendor(vendor)
    with v.lock:
        rec = copy.deepcopy(v.records[record_id])
        rec.update(fields)
        v.records[record_id] = rec
        v.version += 1
        v.on_data_changed()


def setup(sim: Any) -> Any:
    from nexus_sync.simulator import discover

    cli("dev", "up", show=False)
    cli("db", "upgrade", show=False)
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("NEXUS_")})
    specs, secrets = [], {}
    for vendor, name, interval in (("sentinelone", "s1-prod", "1h"), ("okta", "okta-prod", "1h"),
                                   ("crowdstrike", "falcon-prod", "adaptive(15m..24h)"),
                                   ("servicenow", "cmdb-prod", "4h")):
        specs.append({"name": name, "type": vendor, "tenant_id": TENANT, "interval": interval,
                      "config": {"base_url": sim.base_url(vendor), "page_size": 100}})
        secrets[name] = dict(discover()[vendor].default_credentials)
    (STATE / "secrets.yaml").write_text(yaml.safe_dump(secrets))
    (STATE / "secrets.yaml").chmod(0o600)
    (STATE / "connectors.yaml").write_text(yaml.safe_dump({"connectors": specs}))
    cli("connectors", "apply", str(STATE / "connectors.yaml"))
    log = open(STATE / "worker.log", "w")
    return subprocess.Popen([sys.executable, "-m", "nexus_sync.cli", "worker", "-c", "2"], env=ENV, stdout=log,
                            stderr=subprocess.STDOUT)


def complete_and_gone(sim: Any) -> None:
    say("1-2. Is it complete? Is it gone? (SentinelOne states a total; 300 agents)")
    cli("sync", "run", "s1-prod", "--wait")
    sim.set_faults("sentinelone", short_listing=30)
    print("# the vendor now lists 270 agents while its total still says 300: nothing may be marked missing")
    cli("sync", "run", "s1-prod", "--wait")
    sim.set_faults("sentinelone", short_listing=0)
    sim.set_faults("sentinelone", broken_paths=["/web/api/v2.1/agents"])
    print("# the vendor is down: the sync fails, and again nothing may be marked missing")
    cli("sync", "run", "s1-prod", "--wait", "--timeout", "120")
    sim.set_faults("sentinelone", broken_paths=[])
    removed = sim.vendor("sentinelone").remove_agents(5)
    print(f"# 5 agents are decommissioned at the vendor: {removed}")
    began = time.time()
    cli("sync", "run", "s1-prod", "--wait")
    cli("records", "stale", "--connector", "s1-prod", "--days", "0")
    for e in events("connector.records.lifecycle", began):
        print("event on connector.records.lifecycle:\n" + json.dumps(e, indent=1) + "\n")


def changed(sim: Any) -> None:
    say("3. What changed? (an Okta user is deprovisioned)")
    cli("sync", "run", "okta-prod", "--wait")
    v = sim.vendor("okta")
    rid = next(r for r, rec in v.records.items() if rec.get("status") == "ACTIVE")
    edit(sim, "okta", rid, status="DEPROVISIONED", statusChanged="2026-12-07T04:00:00.000Z",
         lastUpdated="2026-12-07T04:00:00.000Z")
    began = time.time()
    cli("sync", "run", "okta-prod", "--wait")
    for e in events("record.changed", began):
        print("event on record.changed:\n" + json.dumps(e, indent=1) + "\n")
    began = time.time()
    cli("sync", "run", "okta-prod", "--wait")
    print(f"# the same data again: {len(events('record.changed', began))} record.changed events\n")


def same_machine(sim: Any) -> None:
    say("4. Is it the same machine? (a CrowdStrike host and a ServiceNow CI share a serial number and MAC)")
    host_id, host = next(iter(sim.vendor("crowdstrike").records.items()))
    ci_id = next(iter(sim.vendor("servicenow").records))
    edit(sim, "crowdstrike", host_id, serial_number="PF3KX9QZ", mac_address="00-50-56-AB-CD-EF",
         hostname="web-07", machine_domain="acme.corp")
    edit(sim, "servicenow", ci_id, serial_number="PF3KX9QZ", mac_address="00:50:56:ab:cd:ef", name="web-07",
         fqdn="web-07.acme.corp")
    cli("sync", "run", "falcon-prod", "--wait")
    cli("sync", "run", "cmdb-prod", "--wait")
    found = json.loads(cli("entities", "find", "PF3KX9QZ", "--json"))
    cli("entities", "show", found[0]["id"])


def adaptive() -> None:
    say("6. Adaptive frequency (falcon-prod: adaptive(15m..24h))")
    cli("schedule", "reconcile")
    cli("schedule", "show")


def main() -> int:
    from nexus_sync.simulator import SimConfig, Simulator

    STATE.mkdir(parents=True, exist_ok=True)
    sim = Simulator(SimConfig(seed=11, sizes={"sentinelone": 300, "okta": 120, "crowdstrike": 300,
                                              "servicenow": 200})).start()
    worker = setup(sim)
    try:
        complete_and_gone(sim)
        changed(sim)
        same_machine(sim)
        adaptive()
    finally:
        worker.terminate()
        worker.wait(30)
        sim.stop()
        cli("dev", "down", show=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
