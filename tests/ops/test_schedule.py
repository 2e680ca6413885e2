"""Schedules from the connectors table: staggered, distinct, priorities, enable/disable and changes without a
beat restart (RedBeat re-reads Redis on every tick, so what is checked here is what a running beat sends)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nexus_sync import catalog
from tests.ops.conftest import connector

ROOT = Path(__file__).resolve().parents[2]
SIX = [("ops-six-crowdstrike-a", "crowdstrike", "15m", "HIGH"), ("ops-six-crowdstrike-b", "crowdstrike", "15m", "LOW"),
       ("ops-six-okta-a", "okta", "1h", "NORMAL"), ("ops-six-okta-b", "okta", "1h", "HIGH"),
       ("ops-six-crowdstrike-c", "crowdstrike", "24h", "NORMAL"), ("ops-six-okta-c", "okta", "24h", "LOW")]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_sync.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60, cwd=ROOT)


@pytest.fixture
def six(sim, secrets_file):
    return [connector(sim, vendor, secrets_file, name=name, interval=interval, priority=priority)
            for name, vendor, interval, priority in SIX]


def test_six_connectors_three_intervals_get_staggered_distinct_next_runs(six):
    from nexus_sync import schedule
    from nexus_sync.catalog import interval_seconds

    names = [s.name for s in six]
    before = datetime.now(timezone.utc)
    result = schedule.reconcile(names=names)
    assert sorted(result.created) == sorted(names) and not result.errors
    rows = {r.connector: r for r in schedule.show() if r.connector in names}
    assert set(rows) == set(names)
    for spec in six:
        r, every = rows[spec.name], interval_seconds(spec.interval)
        cid = catalog.get(spec.name).id
        assert r.offset == schedule.offset_for(cid, every) and 0 <= r.offset < every  # deterministic
        assert r.enabled and r.state == "scheduled" and r.priority == spec.priority
        # the first run is the next slot of the connector's grid (not "now"): inside one interval, on the grid
        assert before < r.next_run <= before + timedelta(seconds=every + 1)
        assert (int(r.next_run.timestamp()) - r.offset) % every == 0
    assert len({r.next_run for r in rows.values()}) == 6  # distinct next runs
    for interval in ("15m", "1h", "24h"):  # same interval, different moments
        assert len({rows[s.name].offset for s in six if s.interval == interval}) == 2

    app = schedule._app()
    entry = schedule.load_entry(app, "connector:ops-six-crowdstrike-b")
    assert entry.task == "tasks.sync.start_sync"
    assert entry.args == ["ops-six-crowdstrike-b"] and entry.kwargs == {"trigger": "schedule"}
    assert entry.options == {"priority": 6, "expires": 900}  # LOW; a stale trigger expires after one interval
    assert schedule.load_entry(app, "connector:ops-six-crowdstrike-a").options["priority"] == 0  # HIGH
    assert schedule.load_entry(app, "connector:ops-six-okta-a").options["priority"] == 3  # NORMAL

    # the same table gives the same schedule: reconcile is idempotent, offsets survive everything
    again = schedule.reconcile(names=names)
    assert sorted(again.unchanged) == sorted(names) and not again.created and not again.updated
    assert {r.connector: r.next_run for r in schedule.show() if r.connector in names} == \
        {n: r.next_run for n, r in rows.items()}

    from typer.testing import CliRunner

    from nexus_sync.cli import app as cli_app

    as_json = CliRunner().invoke(cli_app, ["schedule", "show", "--json"])
    assert as_json.exit_code == 0, as_json.output
    by_name = {r["connector"]: r for r in json.loads(as_json.output)}
    assert by_name["ops-six-okta-a"]["offset_seconds"] == rows["ops-six-okta-a"].offset
    assert by_name["ops-six-okta-a"]["next_run"] == str(rows["ops-six-okta-a"].next_run)

    out = cli("schedule", "show")
    assert out.returncode == 0, out.stderr
    header, *lines = out.stdout.splitlines()
    assert header.split()[:5] == ["connector", "interval", "offset", "priority", "enabled"]
    assert "next run (UTC)" in header
    for name in names:
        line = next(ln for ln in lines if ln.split()[0] == name)
        assert schedule.format_offset(rows[name].offset) in line and f"{rows[name].next_run:%Y-%m-%d %H:%M:%S}" in line
        assert " yes " in line and line.rstrip().endswith("scheduled")


def test_disable_removes_the_entry_and_enable_brings_it_back(sim, secrets_file):
    from nexus_sync import schedule

    spec = connector(sim, "okta", secrets_file, interval="1h")
    app = schedule._app()
    schedule.reconcile(names=[spec.name])
    entry = schedule.load_entry(app, f"connector:{spec.name}")
    assert entry is not None
    first_next = schedule.next_run(entry)

    connector(sim, "okta", secrets_file, name=spec.name, interval="1h", enabled=False)
    assert schedule.reconcile(names=[spec.name]).removed == [spec.name]
    assert schedule.load_entry(app, f"connector:{spec.name}") is None
    key = schedule.key_of(app, f"connector:{spec.name}")
    assert schedule._redis(app).zscore(app.redbeat_conf.schedule_key, key) is None  # beat never loads it
    row = next(r for r in schedule.show() if r.connector == spec.name)
    assert not row.enabled and row.next_run is None and row.state == "disabled"

    connector(sim, "okta", secrets_file, name=spec.name, interval="1h", enabled=True)
    assert schedule.reconcile(names=[spec.name]).created == [spec.name]
    assert schedule.next_run(schedule.load_entry(app, f"connector:{spec.name}")) == first_next  # same slot


def test_interval_priority_and_cron_changes_are_applied_in_place(sim, secrets_file):
    from nexus_sync import schedule

    spec = connector(sim, "crowdstrike", secrets_file, interval="15m", priority="NORMAL")
    app, name = schedule._app(), f"connector:{spec.name}"
    cid = catalog.get(spec.name).id
    schedule.reconcile(names=[spec.name])

    connector(sim, "crowdstrike", secrets_file, name=spec.name, interval="1h", priority="NORMAL")
    now = datetime.now(timezone.utc)
    assert schedule.reconcile(names=[spec.name]).updated == [spec.name]
    entry = schedule.load_entry(app, name)
    nxt = schedule.next_run(entry)
    assert now < nxt <= now + timedelta(seconds=3601)
    assert (int(nxt.timestamp()) - schedule.offset_for(cid, 3600)) % 3600 == 0  # on the 1h grid now
    assert entry.options["expires"] == 3600
    score = schedule._redis(app).zscore(app.redbeat_conf.schedule_key, schedule.key_of(app, name))
    assert int(score) == int(nxt.timestamp())  # beat loads it exactly when due

    connector(sim, "crowdstrike", secrets_file, name=spec.name, interval="1h", priority="HIGH")
    assert schedule.reconcile(names=[spec.name]).updated == [spec.name]
    entry = schedule.load_entry(app, name)
    assert entry.options["priority"] == 0 and schedule.next_run(entry) == nxt  # same run time, new priority

    connector(sim, "crowdstrike", secrets_file, name=spec.name, interval="*/5 * * * *", priority="HIGH")
    now = datetime.now(timezone.utc)
    assert schedule.reconcile(names=[spec.name]).updated == [spec.name]
    entry = schedule.load_entry(app, name)
    nxt = schedule.next_run(entry)
    assert nxt.minute % 5 == 0 and nxt.second == 0 and now < nxt <= now + timedelta(minutes=5, seconds=1)
    assert "expires" not in entry.options
    row = next(r for r in schedule.show() if r.connector == spec.name)
    assert row.offset is None and row.interval == "*/5 * * * *" and row.state == "scheduled"


def test_a_cron_beat_cannot_parse_is_reported_and_not_scheduled(sim, secrets_file):
    from nexus_sync import schedule

    spec = connector(sim, "okta", secrets_file, interval="99 * * * *")  # five fields: the catalog takes it
    result = schedule.reconcile(names=[spec.name])
    assert spec.name in result.errors and "99" in result.errors[spec.name]
    assert schedule.load_entry(schedule._app(), f"connector:{spec.name}") is None
    row = next(r for r in schedule.show() if r.connector == spec.name)
    assert row.state.startswith("error: bad cron")


def test_full_reconcile_drops_entries_of_connectors_that_are_gone(sim, secrets_file):
    from nexus_sync import schedule

    spec = connector(sim, "okta", secrets_file, interval="1h")
    app = schedule._app()
    ghost = schedule.Plan("ops-ghost", spec.tenant_id, "1h", "NORMAL", True, every=3600, offset=5)
    now = datetime.now(timezone.utc)
    schedule._write(app, schedule._entry_of(ghost, app, now), now, now)
    assert schedule.load_entry(app, "connector:ops-ghost") is not None
    result = schedule.reconcile()
    assert "ops-ghost" in result.removed and spec.name in result.created
    assert schedule.load_entry(app, "connector:ops-ghost") is None


def test_connectors_apply_updates_the_schedules(sim, secrets_file, tmp_path):
    from nexus_sync import schedule
    from tests.conftest import SIM_SECRETS, add_secrets

    name = f"ops-apply-{os.getpid()}"
    add_secrets(secrets_file, name, SIM_SECRETS["okta"])
    path = tmp_path / "connectors.yaml"
    path.write_text(f"""connectors:
  - name: {name}
    type: okta
    tenant_id: 6f1c2a9e-3b7d-4c11-9a0e-2d5f8b7c6a10
    interval: 1h
    priority: LOW
    config: {{base_url: "{sim.base_url('okta')}"}}
""")
    out = cli("connectors", "apply", str(path))
    assert out.returncode == 0, out.stderr
    assert "schedules:" in out.stdout and "created" in out.stdout
    entry = schedule.load_entry(schedule._app(), f"connector:{name}")
    assert entry is not None and entry.options["priority"] == 6

    path.write_text(path.read_text().replace("interval: 1h", "interval: 24h"))
    out = cli("connectors", "apply", str(path))
    assert out.returncode == 0 and "1 updated" in out.stdout, out.stdout + out.stderr
    assert schedule.load_entry(schedule._app(), f"connector:{name}").options["expires"] == 86400


def test_the_periodic_reconcile_runs_on_a_worker(sim, secrets_file, ops_worker):
    from nexus_sync import schedule
    from nexus_sync.celery_app import app as celery

    conf = celery.conf.beat_schedule["reconcile-schedules"]
    assert conf["task"] == "tasks.schedule.reconcile" and conf["schedule"] == 60
    assert celery.conf.beat_scheduler == "redbeat.RedBeatScheduler" and celery.conf.task_inherit_parent_priority

    spec = connector(sim, "okta", secrets_file, interval="24h")  # in the table, not in Redis yet
    app = schedule._app()
    assert schedule.load_entry(app, f"connector:{spec.name}") is None
    celery.send_task("tasks.schedule.reconcile")
    deadline = time.monotonic() + 20
    while schedule.load_entry(app, f"connector:{spec.name}") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert schedule.load_entry(app, f"connector:{spec.name}") is not None


def test_reconcile_interval_setting_is_validated(monkeypatch):
    from nexus_sync import schedule
    from nexus_sync.config import ConfigError, get_settings

    monkeypatch.setenv("NEXUS_SCHEDULE_RECONCILE_SECONDS", "0")
    get_settings.cache_clear()
    assert schedule.reconcile_every() == 0
    monkeypatch.setenv("NEXUS_SCHEDULE_RECONCILE_SECONDS", "soon")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="NEXUS_SCHEDULE_RECONCILE_SECONDS"):
        schedule.reconcile_every()
    monkeypatch.delenv("NEXUS_SCHEDULE_RECONCILE_SECONDS")
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [["schedule"], ["schedule", "show"], ["schedule", "reconcile"], ["beat"],
                                     ["flower"]])
def test_operate_commands_have_help(command):
    from typer.testing import CliRunner

    from nexus_sync.cli import app

    out = CliRunner().invoke(app, [*command, "--help"])
    assert out.exit_code == 0 and "Usage" in out.output and len(out.output) > 200, out.output


def test_an_old_anchor_is_moved_forward_on_the_same_grid(sim, secrets_file):
    """rrule walks from its dtstart: reconcile keeps dtstart within a day, without moving any run."""
    from nexus_sync import schedule

    spec = connector(sim, "okta", secrets_file, interval="15m")
    app, name = schedule._app(), f"connector:{spec.name}"
    plan = schedule.plan_for(catalog.get(spec.name))
    now = datetime.now(timezone.utc)
    schedule._write(app, schedule._entry_of(plan, app, now - timedelta(days=3)), now, now)  # 3-day-old anchor
    before = schedule.next_run(schedule.load_entry(app, name))
    assert now - schedule.load_entry(app, name).schedule.dtstart > timedelta(days=2)

    assert schedule.reconcile(names=[spec.name]).unchanged == [spec.name]
    entry = schedule.load_entry(app, name)
    assert now - entry.schedule.dtstart <= timedelta(seconds=900)
    assert schedule.next_run(entry) == before and entry.last_run_at is not None
