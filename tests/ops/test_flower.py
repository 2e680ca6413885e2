"""`nexus-sync flower`: basic auth on by default, the chain's tasks visible through Flower's API during a real
sync on a real worker, both queues (sync, archive) visible for the Redis broker."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import pytest
import requests

from nexus_sync.dev import procs
from tests.conftest import STATE, worker_env
from tests.ops.conftest import connector

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "ops", "flower-test-pw"
CHAIN = ["start_sync", "fetch", "normalize", "dedup", "persist", "notify"]


@pytest.fixture(scope="module")
def flower(stack: dict[str, Any], ops_worker: procs.Proc) -> Iterator[str]:
    port = procs.free_port()
    log = STATE / "logs" / "ops-flower.log"
    proc = procs.Proc("flower", procs.cli("flower", "--port", str(port)), log,
                      env={**worker_env(), "NEXUS_FLOWER_USER": USER, "NEXUS_FLOWER_PASSWORD": PASSWORD})
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_until(lambda: proc.alive() and requests.get(f"{url}/healthcheck", timeout=1).ok, 60,
                         "flower", log)
        worker = f"ops-{os.getpid()}@"
        # Flower follows the workers' events (heartbeats every 2 s): wait until it sees ours
        procs.wait_until(lambda: any(name.startswith(worker) for name in requests.get(
            f"{url}/api/workers", params={"status": "true"}, auth=(USER, PASSWORD), timeout=5).json()),
            30, "flower seeing the worker", log)
        yield url
    finally:
        proc.stop()


def test_the_chain_is_visible_in_flower_under_readable_names(flower, sim, secrets_file):
    from nexus_sync import runs

    spec = connector(sim, "okta", secrets_file, page_size=150)
    hid = runs.trigger(spec.name)
    assert runs.wait(hid, 120)["status"] == "SUCCESS"

    def chain_tasks() -> dict[str, dict]:
        tasks = requests.get(f"{flower}/api/tasks", params={"limit": 5000}, auth=(USER, PASSWORD), timeout=10).json()
        return {tid: t for tid, t in tasks.items() if tid == hid or t.get("root_id") == hid}

    deadline = time.monotonic() + 60  # a deadline: Flower reads the events a loaded machine sends late
    while time.monotonic() < deadline:
        mine = chain_tasks()
        if {t["name"] for t in mine.values() if t["state"] == "SUCCESS"} >= {f"tasks.sync.{n}" for n in CHAIN}:
            break
        time.sleep(0.3)
    names = sorted(t["name"] for t in mine.values())
    assert {f"tasks.sync.{n}" for n in CHAIN} <= set(names), names
    chain = [t for t in mine.values() if t["name"].startswith("tasks.sync.")]
    assert all(t["state"] == "SUCCESS" for t in chain), [(t["name"], t["state"]) for t in chain]
    assert mine[hid]["name"] == "tasks.sync.start_sync" and spec.name in mine[hid]["kwargs"]
    # 450 users, 150 a page, + the page of the DEPROVISIONED pass: one fetch and one batch chain per page,
    # one notify, sent by the first persist to find the sync finished (pipeline.close_due)
    pages = 4
    for stage, count in [("fetch", pages), ("normalize", pages), ("persist", pages)]:
        assert names.count(f"tasks.sync.{stage}") == count, (stage, names)
    notifies = [t for t in mine.values() if t["name"] == "tasks.sync.notify"]
    assert len(notifies) == 1 and notifies[0]["result"] not in (None, "None"), notifies
    # the archive: the outbox relay persist kicks, on the archive queue
    archive = next(t for t in mine.values() if t["name"] == "tasks.outbox.relay_archive")
    assert archive["routing_key"] == "archive" or archive.get("exchange") in (None, "", "archive")

    types = requests.get(f"{flower}/api/task/types", auth=(USER, PASSWORD), timeout=10).json()["task-types"]
    assert {f"tasks.sync.{n}" for n in CHAIN} <= set(types)


def test_both_queues_are_visible_for_the_redis_broker(flower):
    queues = requests.get(f"{flower}/api/queues/length", auth=(USER, PASSWORD), timeout=10).json()["active_queues"]
    assert {"sync", "archive"} <= {q["name"] for q in queues}, queues
    page = requests.get(f"{flower}/broker", auth=(USER, PASSWORD), timeout=10)
    assert page.status_code == 200 and ">sync<" in page.text and ">archive<" in page.text


@pytest.mark.parametrize("path", ["/api/tasks", "/api/workers", "/api/queues/length", "/api/task/types", "/",
                                  "/tasks", "/broker"])
def test_everything_but_the_healthcheck_needs_the_password(flower, path):
    assert requests.get(f"{flower}{path}", timeout=10).status_code == 401
    assert requests.get(f"{flower}{path}", auth=(USER, "wrong"), timeout=10).status_code == 401
    assert requests.get(f"{flower}{path}", auth=(USER, PASSWORD), timeout=10).status_code == 200
    assert requests.get(f"{flower}/healthcheck", timeout=10).status_code == 200


def test_flower_refuses_to_start_without_a_password(stack):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_FLOWER_", "FLOWER_"))}
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "flower", "--port", str(procs.free_port())],
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and "NEXUS_FLOWER_PASSWORD" in out.stderr and "--no-auth" in out.stderr


def _settings(environ: dict[str, str]):
    """Settings as the process would read them with exactly these NEXUS_FLOWER_* variables."""
    from nexus_sync.config import Settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_FLOWER_")}
    with mock.patch.dict(os.environ, {**clean, **environ}, clear=True):
        return Settings()


def test_flower_launch_keeps_credentials_off_the_command_line():
    from nexus_sync.config import ConfigError
    from nexus_sync.flower import launch

    spec = launch(5555, "0.0.0.0", False, ["--url_prefix=flower"],
                  settings=_settings({"NEXUS_FLOWER_USER": "ops", "NEXUS_FLOWER_PASSWORD": "s3:cret"}))
    assert spec.argv == ["flower", "--port=5555", "--address=0.0.0.0", "--url_prefix=flower"]
    assert spec.env == {"FLOWER_BASIC_AUTH": "ops:s3:cret"} and not any("s3:cret" in a for a in spec.argv)
    assert launch(5555, "127.0.0.1", False, settings=_settings({"NEXUS_FLOWER_PASSWORD": "pw"})).env == \
        {"FLOWER_BASIC_AUTH": "admin:pw"}  # user defaults to admin
    no_auth = launch(5555, "127.0.0.1", True, settings=_settings({}))
    assert not no_auth.auth and no_auth.env == {}
    for environ, extra in [({}, []), ({"NEXUS_FLOWER_PASSWORD": "a,b"}, []),
                           ({"NEXUS_FLOWER_PASSWORD": "pw"}, ["--basic-auth=x:y"]),
                           ({"NEXUS_FLOWER_PASSWORD": "pw"}, ["--basic_auth=x:y"])]:
        with pytest.raises(ConfigError):
            launch(5555, "127.0.0.1", False, extra, settings=_settings(environ))


def test_the_flower_password_is_a_setting_never_echoed():
    """NEXUS_FLOWER_PASSWORD is read with the other settings: a secret, so its repr hides it."""
    s = _settings({"NEXUS_FLOWER_PASSWORD": "canary-flower-pw"})
    assert "canary-flower-pw" not in repr(s) and s.flower_password.get_secret_value() == "canary-flower-pw"
