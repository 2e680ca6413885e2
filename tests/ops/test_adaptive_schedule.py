"""Issue 13 item 6: `interval: adaptive(15m..24h)` moves a connector's schedule between its bounds with the
changed fraction of its recent syncs (real syncs through every stage, real RedBeat entries); bad syntax
fails at `connectors apply` naming the file and the field."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from nexus_sync import adaptive
from nexus_sync.simulator import Simulator
from tests.ops.conftest import connector
from tests.pipeline.helpers import run_inline, small_simulator

ROOT = Path(__file__).resolve().parents[2]
M, H = 60, 3600


@pytest.fixture
def cs_sim() -> Iterator[Simulator]:
    with small_simulator(41, crowdstrike=40) as s:
        yield s


def entry_every(name: str) -> int | None:
    """The interval beat runs the connector at, in seconds (its RedBeat entry's rrule)."""
    from nexus_sync import schedule

    entry = schedule.load_entry(schedule._app(), f"connector:{name}")
    return None if entry is None else entry.schedule.interval * 60


def show_row(name: str) -> Any:
    from nexus_sync import schedule

    return next(r for r in schedule.show() if r.connector == name)


def test_quiet_syncs_move_the_schedule_up_and_a_burst_of_changes_brings_it_down(cs_sim, secrets_file):
    from nexus_sync import schedule

    spec = connector(cs_sim, "crowdstrike", secrets_file, interval="adaptive(15m..24h)")
    assert schedule.reconcile(names=[spec.name]).created == [spec.name]
    assert entry_every(spec.name) == 15 * M  # no sync yet: the lower bound
    assert show_row(spec.name).state == "scheduled, adaptive 15m..24h: 15m, no finished sync yet"

    run_inline(spec.name)  # the first load: all 40 records new
    for _ in range(4):  # nothing changes, but the first load is still among the last five syncs
        run_inline(spec.name)
        schedule.reconcile(names=[spec.name])
        assert entry_every(spec.name) == 15 * M
    _, report = run_inline(spec.name)
    assert report["records"]["unchanged"] == 40
    row = show_row(spec.name)  # before the reconcile: beat still runs the old step, and the row says so
    assert row.state == "moves at the next reconcile, adaptive 15m..24h: 24h, changed 0 % over the last 5 syncs"
    assert schedule.reconcile(names=[spec.name]).updated == [spec.name]
    assert entry_every(spec.name) == 24 * H  # five quiet syncs: the upper bound, never past it
    assert show_row(spec.name).state == "scheduled, adaptive 15m..24h: 24h, changed 0 % over the last 5 syncs"
    assert schedule.reconcile(names=[spec.name]).unchanged == [spec.name]  # applying the rule again: no move

    cs_sim.mutate("crowdstrike", 0.5)  # half the hosts change: 10 % over the window
    _, report = run_inline(spec.name)
    assert report["records"]["updated"] == 20
    assert schedule.reconcile(names=[spec.name]).updated == [spec.name]
    assert entry_every(spec.name) == 30 * M
    entry = schedule.load_entry(schedule._app(), f"connector:{spec.name}")
    assert entry.options["expires"] == 30 * M
    assert show_row(spec.name).state == "scheduled, adaptive 15m..24h: 30m, changed 10 % over the last 5 syncs"
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "schedule", "show"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60, cwd=ROOT)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith(spec.name))
    assert "adaptive(15m..24h)" in line and "scheduled, adaptive 15m..24h: 30m, changed 10 % over the last 5 " \
        "syncs" in line, out.stdout


def test_the_rule_keeps_to_the_bounds_and_holds_near_a_boundary():
    assert adaptive.steps(15 * M, 24 * H) == [15 * M, 30 * M, H, 2 * H, 4 * H, 8 * H, 16 * H, 24 * H]
    assert adaptive.steps(H, 3 * H) == [H, 2 * H, 3 * H]

    def every(current: int | None, *fractions: float) -> int:
        return adaptive.decide(15 * M, 24 * H, current, adaptive.Recent(fractions)).every

    assert every(None, 1.0, 1.0) == 15 * M and every(24 * H, 1.0) == 15 * M  # all changed: the lower bound
    assert every(15 * M, 0.0, 0.0) == 24 * H and every(None, 0.0) == 24 * H  # nothing changed: the upper
    assert every(None, 0.03) == 2 * H  # 3 % → 2h; each halving of the change doubles the interval
    assert every(None, 0.06) == H and every(None, 0.015) == 4 * H
    assert every(2 * H, 0.02) == 2 * H and every(2 * H, 0.04) == 2 * H  # within half a step of 2h's band
    assert every(2 * H, 0.005) == 8 * H and every(2 * H, 0.1) == 30 * M  # past it: straight to the fraction's step
    assert every(4 * H, 0.02) == 4 * H and every(4 * H, 0.03) == 2 * H
    assert every(3 * H, 0.03) == 2 * H  # an interval that is no step (bounds changed): no hysteresis
    steps = set(adaptive.steps(15 * M, 24 * H))
    for current in [None, *steps]:
        for fraction in (0.0, 1e-6, 0.001, 0.01, 0.1, 0.5, 1.0):
            assert every(current, fraction) in steps
    text = adaptive.decide(15 * M, 24 * H, 2 * H, adaptive.Recent((0.03, 0.02, 0.04, 0.03, 0.03))).text
    assert text == "adaptive 15m..24h: 2h, changed 3 % over the last 5 syncs"


@pytest.mark.parametrize("interval, says", [
    ("adaptive(24h..15m)", "the lower bound 24h must be shorter than the upper bound 15m"),
    ("adaptive(15x..24h)", "bound '15x' is not an interval"),
    ("adaptive(15m-24h)", "write adaptive(LOW..HIGH)"),
])
def test_bad_adaptive_syntax_fails_at_apply_naming_the_file_and_the_field(tmp_path, interval, says):
    path = tmp_path / "connectors.yaml"
    path.write_text(f"""connectors:
  - name: adaptive-bad
    type: okta
    tenant_id: 6f1c2a9e-3b7d-4c11-9a0e-2d5f8b7c6a10
    interval: {interval}
    config: {{base_url: "http://127.0.0.1:9"}}
""")
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "connectors", "apply", str(path)],
                         capture_output=True, text=True, env=dict(os.environ), timeout=60, cwd=ROOT)
    assert out.returncode != 0
    assert f"{path}: connectors[0] (adaptive-bad): interval:" in out.stderr and says in out.stderr, out.stderr
