"""Findings 2 (secret hygiene on load), 9, 10, 12, 13, 14: configuration never leaks or mixes up secrets."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from connectors.okta import CONNECTOR as OktaUsers
from nexus_sync import catalog, credentials, logs
from nexus_sync.errors import ConfigError
from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.util import drain, make

ROOT = Path(__file__).resolve().parents[2]
TENANT = uuid.uuid4()


@pytest.fixture(scope="module")
def okta_sim():
    s = Simulator(SimConfig(seed=5, sizes={"okta": 3})).start()
    yield s
    s.stop()


def _connectors_yaml(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(yaml.safe_dump({"connectors": [
        {"type": "okta", "tenant_id": str(TENANT), **e} for e in entries]}))
    return path


# ---------------------------------------------------------------- finding 2: secrets stripped, CR/LF refused
def test_a_secret_with_a_trailing_newline_is_stripped_and_works(okta_sim, tmp_path):
    # e25ee79: requests raised InvalidHeader with the token in its repr
    records, _ = drain(make(OktaUsers, okta_sim.base_url("okta"), {"token": "sim-okta-token\n"}, tmp_path))
    assert len(records) == 3


def test_an_env_secret_with_surrounding_whitespace_is_stripped(monkeypatch):
    monkeypatch.setenv("NEXUS_SECRET_STRIP_ME_TOKEN", "  t0k3n-value \r\n")
    got = credentials.CredentialStore(None).get("strip-me", ("token",))
    assert got["token"].get_secret_value() == "t0k3n-value"


@pytest.mark.parametrize("inner", ["\r\n", "\n", "\r", "\x00"])
def test_a_control_character_inside_a_secret_is_a_config_error_naming_the_field(tmp_path, monkeypatch, inner):
    value = f"canary-first-half{inner}canary-second-half"
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({"acme": {"client_secret": value}}))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        credentials.CredentialStore(path).get("acme", ("client_secret",))
    msg = str(err.value)
    assert "'acme'" in msg and "'client_secret'" in msg and str(path) in msg
    assert "canary" not in msg
    if inner == "\x00":
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("NEXUS_SECRET_ACME_ENV_TOKEN", value)
    with pytest.raises(ConfigError, match="NEXUS_SECRET_ACME_ENV_TOKEN") as err:
        credentials.CredentialStore(None).get("acme-env", ("token",))
    assert "'token'" in str(err.value) and "canary" not in str(err.value)


def test_a_broken_credentials_file_is_named_without_quoting_its_lines(tmp_path):
    path = tmp_path / "secrets.yaml"
    path.write_text('acme:\n  token: "canary-unterminated\n  other: [x\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        credentials.CredentialStore(path).get("acme", ("token",))
    assert str(path) in str(err.value) and "line" in str(err.value) and "canary" not in str(err.value)


# ---------------------------------------------------------------- finding 14: credentials file mode
def _warnings_while_loading(path: Path, monkeypatch) -> list[dict]:
    """Load a secret twice through the process store with the JSON logs on; the warnings logged."""
    store = credentials.CredentialStore(path, cache_seconds=0)
    monkeypatch.setattr(credentials, "_store", store)  # so the log redactor reads this store too
    out = io.StringIO()
    logs.setup("INFO", stream=out)
    try:
        loader = threading.Thread(target=lambda: [store.get("acme", ("token",)) for _ in range(2)], daemon=True)
        loader.start()
        loader.join(20)
        assert not loader.is_alive(), "loading a secret deadlocked (the warning's redactor waits on the store)"
    finally:
        logging.getLogger().handlers.clear()
    return [line for line in map(json.loads, out.getvalue().splitlines()) if line["level"] == "warning"]


def test_a_group_or_world_readable_credentials_file_is_warned_about_once(tmp_path, monkeypatch):
    path = tmp_path / "secrets.yaml"
    path.write_text("acme: {token: t0k3n-value}\n")
    path.chmod(0o644)
    warnings = _warnings_while_loading(path, monkeypatch)
    assert len(warnings) == 1 and str(path) in warnings[0]["event"] and "0644" in warnings[0]["event"]
    assert "t0k3n-value" not in json.dumps(warnings)

    private = tmp_path / "private.yaml"
    private.write_text("acme: {token: t0k3n-value}\n")
    private.chmod(0o600)
    assert _warnings_while_loading(private, monkeypatch) == []


# ---------------------------------------------------------------- finding 9: names that share secrets
def test_names_that_map_to_one_secret_prefix_are_refused_in_a_file(tmp_path):
    path = _connectors_yaml(tmp_path, {"name": "okta-prod", "config": {"base_url": "https://a.okta.test"}},
                            {"name": "okta.prod", "config": {"base_url": "https://b.example.test"}})
    with pytest.raises(ConfigError) as err:
        catalog.load_file(path)
    msg = str(err.value)
    assert "'okta-prod'" in msg and "'okta.prod'" in msg and "NEXUS_SECRET_OKTA_PROD_" in msg


def test_a_name_sharing_secrets_with_a_connector_in_the_table_is_refused(stack):
    first = f"okta-{uuid.uuid4().hex[:8]}"
    twin = first.replace("-", "_")
    catalog.apply([catalog.ConnectorSpec(name=first, type="okta", tenant_id=TENANT,
                                         config={"base_url": "https://a.okta.test"})])
    with pytest.raises(ConfigError) as err:
        catalog.apply([catalog.ConnectorSpec(name=twin, type="okta", tenant_id=TENANT,
                                             config={"base_url": "https://evil.example.test"})])
    assert repr(first) in str(err.value) and repr(twin) in str(err.value)
    assert first in {c.name for c in catalog.list_all()} and twin not in {c.name for c in catalog.list_all()}
    catalog.apply([catalog.ConnectorSpec(name=first, type="okta", tenant_id=TENANT,  # re-applying itself is fine
                                         config={"base_url": "https://a.okta.test"})])


# ---------------------------------------------------------------- finding 10: ${VAR} of a credential
@pytest.mark.parametrize("var, value", [("NEXUS_SECRET_OKTA_PROD_TOKEN", "canary-token-value"),
                                        ("NEXUS_FLOWER_PASSWORD", "canary-flower"),
                                        ("NEXUS_REDIS_URL", "redis://:canary-pw@10.0.0.5:6379/0"),
                                        ("AWS_SECRET_ACCESS_KEY", "canary-aws-secret"),
                                        ("PROXY_URL", "https://user:canary-pw@proxy.example.test")])
def test_a_credential_variable_is_never_expanded_into_connectors_yaml(tmp_path, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    path = tmp_path / "connectors.yaml"
    path.write_text(f"connectors:\n  - name: okta-a\n    type: okta\n    tenant_id: {TENANT}\n"
                    f"    config: {{base_url: 'https://a.okta.test/?t=${{{var}}}'}}\n")
    with pytest.raises(ConfigError) as err:
        catalog.load_file(path)
    msg = str(err.value)
    assert str(path) in msg and var in msg and "credential store" in msg and "canary" not in msg


def test_a_plain_url_variable_still_expands(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXUS_SIM_URL", "http://127.0.0.1:8999")
    specs = catalog.load_file(ROOT / "examples" / "connectors.yaml")
    assert all(str(s.config["base_url"]).startswith("http://127.0.0.1:8999/") for s in specs)


# ---------------------------------------------------------------- finding 12: https except loopback
@pytest.mark.parametrize("vendor, field, extra", [("okta", "base_url", {}),
                                                   ("wiz", "token_url", {"base_url": "https://api.wiz.test"})])
def test_cleartext_http_to_a_remote_host_is_refused_naming_the_field(tmp_path, vendor, field, extra):
    config = {"base_url": "http://okta.example.test", **extra, field: "http://vendor.example.test/x"}
    path = _connectors_yaml(tmp_path, {"name": "v-1", "type": vendor, "config": config})
    with pytest.raises(ConfigError) as err:
        catalog.load_file(path)
    assert f"config.{field}" in str(err.value) and "https" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8900/okta", "http://127.9.9.9/okta", "http://[::1]:8900/okta",
                                 "http://localhost:8900/okta", "https://acme.okta.test"])
def test_loopback_http_and_any_https_are_accepted(url):
    OktaUsers.Config.model_validate({"base_url": url})  # the simulator and local test servers keep working


def test_the_per_connector_opt_out_allows_cleartext_http(tmp_path):
    path = _connectors_yaml(tmp_path, {"name": "okta-lab", "config": {
        "base_url": "http://okta.lab.internal", "allow_insecure_http": True}})
    assert catalog.load_file(path)[0].config["allow_insecure_http"] is True


# ---------------------------------------------------------------- finding 13: userinfo masked in errors
def test_a_bad_setting_is_echoed_with_its_userinfo_masked():
    out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "connectors", "list"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "NEXUS_CLICKHOUSE_URL": "tcp://nexus:canary-PASSWORD@db.internal:9000"})
    assert out.returncode == 2 and "NEXUS_CLICKHOUSE_URL" in out.stderr
    assert "canary-PASSWORD" not in out.stderr and "db.internal" in out.stderr


def test_a_stored_bad_config_is_reported_without_its_credentials():
    row = catalog.ConnectorRow(uuid.uuid4(), "okta-x", "okta", TENANT, True, "1h", "NORMAL",
                               {"base_url": "ftp://admin:canary-pw@okta.test/?api_key=canary-key"})
    with pytest.raises(ConfigError) as err:
        row.instance()
    assert "okta-x" in str(err.value) and "config.base_url" in str(err.value) and "canary" not in str(err.value)
