"""The small chaos run (make chaos is the big one): 7 connectors against a faulty simulator, two worker
SIGKILLs, a Redis restart and a PostgreSQL restart mid-sync; then the data is compared with the truth."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_chaos_run_loses_nothing_doubles_nothing_and_leaves_nothing_stuck(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "chaos", "--crowdstrike", "800", "--okta", "400",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
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
    served = report["faults_served"]["faulty"]
    assert served["crowdstrike"]["rate_limit"] + served["okta"]["rate_limit"] > 0
