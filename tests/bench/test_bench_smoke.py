"""The benchmark harness end to end on tiny sizes: every section of the results is there and the checks
pass. No speed is asserted here: speed is measured by `make bench`, whose results are committed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from nexus_sync.dev import bench


@pytest.mark.timeout(300)
def test_bench_runs_every_phase_and_writes_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}  # its own stack, nothing shared
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_sync.cli", "bench", "--records", "1500", "--small", "600", "--page-size",
         "500", "--cycle-records", "50", "--copy-reps", "1", "--no-profile", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=290)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    [result_file] = (out / "results").glob("*.json")
    r = orjson.loads(result_file.read_bytes())
    main = r["main"]
    assert main["first"]["records"]["new"] == 1500
    assert main["unchanged"]["records"]["unchanged"] == 1500
    assert main["changed"]["records"]["updated"] == 150
    assert main["touch_due"]["touched"] == 1500  # seen_resolution 0: every row's last_seen written
    assert main["unchanged"]["touched"] < 1500 // 10  # within the hour: (nearly) none written
    steady = main["steady"]["touched"]  # 15 minutes apart at 1 h: about a quarter each, none twice in the hour
    assert len(steady) == 4 and all(200 <= t <= 600 for t in steady), steady
    assert {k: v["records"] for k, v in main["loader"].items()} == {"first": 1500, "unchanged": 1500,
                                                                      "changed": 1500}
    assert main["loader"]["first"]["rows_written"] == 1500 and main["loader"]["unchanged"]["rows_written"] == 0
    assert main["loader"]["changed"]["rows_written"] == 150
    assert main["copy_limit"]["rows"] == 1500 and main["copy_limit"]["records_per_s"] > 0
    assert main["fetch_only"]["records"] == 1500
    for round_name in ("new", "unchanged", "changed"):
        assert set(main["stages"][round_name]["us_per_record"]) >= {"normalize", "dedup", "persist", "archive"}
    assert main["first"]["meter"]["rss_mb"]["peak_any"] > 0
    # CrowdStrike pages: 3 of hosts + 1 of its hidden-hosts pass; 600 records: 2 + 1 fetches
    assert main["first"]["worker_log"]["tasks"]["persist"]["tasks"] == 4
    assert r["rss"]["600"]["broker"]["by_task"]["fetch"]["messages"] == 3
    assert {"crowdstrike", "okta"} <= set(r["full_cycle"]["ran"])
    core = {k: ok for k, ok in r["checks"].items() if not k.startswith("full cycle")}
    assert core and all(core.values()), core  # counts, last_seen and archive rows are right
    assert set(r["headline"]) >= {"first_sync_vs_copy", "unchanged_rps", "touch_due_rps", "steady_rps",
                                  "vs_loader_first", "vs_loader_changed", "normalize_us", "worker_rss_mb"}
    summary = (out / "SUMMARY.md").read_text()
    for target in bench.TARGETS.values():
        assert target[2] in summary
    assert not Path(r["state_dir"]).exists()  # the benchmark removed its own stack


@pytest.mark.parametrize("stages_py", ["nexus_sync/pipeline.py", "nexus_sync/pipeline/normalizing.py"])
def test_profile_summary_attributes_samples_to_stages(tmp_path: Path, stages_py: str) -> None:
    pipeline_py = Path(bench.__file__).parents[3] / stages_py  # the stage functions: a module or a package
    raw = tmp_path / "profile.txt"
    raw.write_text(
        f'process 1:"celery worker";trace (celery/app/trace.py:1);normalize ({pipeline_py}:10);'
        f"utc_iso (/x/nexus_sync/models.py:38) 30\n"
        f'process 1:"celery worker";trace (celery/app/trace.py:1);persist ({pipeline_py}:20) 10\n'
        f'process 1:"celery worker";_epoll (kombu/utils/eventio.py:83) 10\n')
    out = bench.summarize_profile(raw)
    assert out["samples"] == 50
    assert out["stages"]["normalize"]["share"] == 0.6
    assert out["stages"]["normalize"]["self"][0]["where"].endswith("utc_iso")
    assert out["stages"]["persist"]["share"] == 0.2


def test_verdicts_say_by_how_much() -> None:
    assert bench.verdict("normalize_us", 10.0)[0] is True
    ok, how = bench.verdict("unchanged_rps", 20_000)
    assert ok is False and "50%" in how
    ok, how = bench.verdict("write_1000_ms", 140.0)
    assert ok is False and "2.00×" in how
