"""The small chaos run (make chaos is the big one): 7 connectors against a faulty simulator, two worker
SIGKILLs, a Redis restart and a PostgreSQL restart mid-sync, ClickHouse, Kafka and a webhook subscriber down
for a stretch; then the data is compared with the truth, and what reached each store with what was owed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_chaos_run_loses_nothing_doubles_nothing_and_leaves_nothing_stuck(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "chaos", "--crowdstrike", "800", "--okta", "400",
                          "--out", str(tmp_path), "--outage-seconds", "30"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    [saved] = list(tmp_path.glob("chaos-*.json"))
    report = json.loads(saved.read_text())
    t = report["totals"]
    assert report["ok"] and t["expected"] == 3 * 800 + 3 * 400 and t["present"] == t["expected"]
    assert t["missing"] == 0 and t["duplicated"] == 0 and t["archive_duplicated"] == 0
    assert t["cursor_ahead_of_data"] == 0 and report["stuck_locks"] == []
    assert report["dlq"]["expected"] == report["dlq"]["found"] == 1
    assert report["syncs_by_status"] == {"SUCCESS": 6, "FAILED": 1}
    events = " ".join(report["chaos_events"])
    assert events.count("SIGKILL worker") == 2 and "redis restarted" in events and "postgres restarted" in events
    # the stores we only write to: each down for a stretch, then everything owed arrived once
    outbox = report["outbox"]
    assert set(outbox["stretches"]) == {"kafka", "clickhouse", "webhook"}
    assert all(s["seconds"] >= 10 for s in outbox["stretches"].values())
    assert outbox["peak_total"] > 0 and outbox["drained_seconds"] is not None
    once = outbox["exactly_once"]
    assert once["kafka"]["syncs_with_event"] == once["kafka"]["messages"] == once["kafka"]["event_ids"] == 7
    assert once["webhook"]["delivered"] == 7 and once["webhook"]["answered_503"] > 0
    assert once["archive"]["archived"] == once["archive"]["distinct"] == once["archive"]["new_or_updated"] == 3600
    served = report["faults_served"]["faulty"]
    assert served["crowdstrike"]["rate_limit"] + served["okta"]["rate_limit"] > 0
