"""Bad input fails fast and names what is wrong; --help everywhere; compose file is valid."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nexus_sync import catalog
from nexus_sync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_sync.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)


def test_bad_env_value_stops_startup_naming_the_variable():
    out = cli("connectors", "list", env={"NEXUS_LOG_LEVEL": "LOUD"})
    assert out.returncode == 2
    assert "NEXUS_LOG_LEVEL" in out.stderr


def test_bad_clickhouse_url_is_named():
    out = cli("connectors", "list", env={"NEXUS_CLICKHOUSE_URL": "mysql://x"})
    assert out.returncode == 2 and "NEXUS_CLICKHOUSE_URL" in out.stderr


@pytest.mark.parametrize("command", [[], ["dev"], ["db"], ["connectors"], ["sync"], ["dlq"], ["simulator"],
                                     ["sync", "run"], ["dlq", "replay"], ["worker"], ["demo"],
                                     ["connectors", "apply"], ["simulator", "serve"]])
def test_every_command_has_help(command):
    out = cli(*command, "--help")
    assert out.returncode == 0 and "Usage" in out.stdout and len(out.stdout) > 200


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(text)
    return path


def test_connectors_yaml_unknown_config_key_names_file_entry_and_field(tmp_path):
    path = _write(tmp_path, f"""connectors:
  - name: cs-1
    type: crowdstrike
    tenant_id: {uuid.uuid4()}
    config: {{base_url: "https://x/crowdstrike", page_sise: 10}}
""")
    with pytest.raises(ConfigError) as err:
        catalog.load_file(path)
    msg = str(err.value)
    assert str(path) in msg and "connectors[0] (cs-1)" in msg and "config.page_sise" in msg


def test_connectors_yaml_errors(tmp_path):
    cases = {
        "type: nosuch": "unknown connector type 'nosuch'",
        "type: okta\n    interval: sometimes": "interval",
        "type: okta\n    tenant_id_typo: 1": "tenant_id",
    }
    for body, needle in cases.items():
        path = _write(tmp_path, f"connectors:\n  - name: a\n    tenant_id: {uuid.uuid4()}\n    {body}\n"
                                f"    config: {{base_url: 'https://x'}}\n")
        with pytest.raises(ConfigError) as err:
            catalog.load_file(path)
        assert needle in str(err.value), (body, str(err.value))


def test_env_reference_without_value_is_named(tmp_path):
    path = _write(tmp_path, "connectors:\n  - name: a\n    type: okta\n    tenant_id: "
                            f"{uuid.uuid4()}\n    config: {{base_url: '${{NOT_SET_ANYWHERE}}/okta'}}\n")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        catalog.load_file(path)


def test_apply_refuses_names_that_would_share_secrets(tmp_path):
    tenant = uuid.uuid4()
    path = _write(tmp_path, "connectors:\n" + "".join(
        f"  - {{name: {n}, type: okta, tenant_id: {tenant}, config: {{base_url: 'https://{n}.okta.test'}}}}\n"
        for n in ("okta-prod", "okta.prod")))
    out = cli("connectors", "apply", str(path))
    assert out.returncode == 2 and "'okta-prod'" in out.stderr and "'okta.prod'" in out.stderr
    assert "applied" not in out.stdout


def test_example_connectors_file_is_valid():
    specs = catalog.load_file(ROOT / "examples" / "connectors.yaml")
    assert {s.type for s in specs} == {"crowdstrike", "okta"}


def test_docker_compose_is_valid_against_the_compose_spec():
    exe = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "docker-compose.yml").read_text()
    for service in ("postgres:", "redis:", "clickhouse:", "kafka:", "worker:", "beat:", "flower:", "migrate:"):
        assert f"\n  {service}" in text
    assert "KAFKA_PROCESS_ROLES" in text and "PASSWORD: change" not in text


def test_worker_on_unmigrated_database_says_so_and_exits(stack):
    import psycopg2

    dsn = stack["postgres"]["dsn"]
    name = f"empty_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    url = stack["postgres"]["url"].replace("/nexus?", f"/{name}?")
    out = cli("worker", env={"NEXUS_DATABASE_URL": url})
    assert out.returncode == 3
    assert "nexus-sync db upgrade" in out.stderr
    celery = subprocess.run([sys.executable, "-m", "celery", "-A", "nexus_sync.celery_app", "worker", "-P", "solo"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "NEXUS_DATABASE_URL": url})
    assert celery.returncode != 0 and "nexus-sync db upgrade" in celery.stderr
