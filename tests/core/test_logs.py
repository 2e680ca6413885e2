"""Log lines are JSON and never carry a secret the credential store has handed out."""
from __future__ import annotations

import io
import json
import logging

import nexus_sync.credentials as credentials
from nexus_sync import logs


def test_a_leaked_secret_is_redacted_from_json_logs(tmp_path, monkeypatch):
    path = tmp_path / "secrets.yaml"
    path.write_text("acme: {token: canary-s3cr3t-value}\n")
    monkeypatch.setattr(credentials, "_store", credentials.CredentialStore(path))
    credentials.get_store().get("acme", ("token",))
    out = io.StringIO()
    logs.setup("INFO", stream=out)
    try:
        logging.getLogger("x").info("calling vendor with token canary-s3cr3t-value")
        logs.get("y").warning("bad", detail="Authorization: SSWS canary-s3cr3t-value")
    finally:
        logging.getLogger().handlers.clear()
    text = out.getvalue()
    assert "canary-s3cr3t-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "calling vendor with token ***" and lines[0]["level"] == "info"
    assert lines[1]["detail"] == "Authorization: SSWS ***"


def test_secret_values_print_masked():
    s = credentials.CredentialStore(None)
    import os

    os.environ["NEXUS_SECRET_MASK_TEST_TOKEN"] = "abc123456"
    try:
        value = s.get("mask-test", ("token",))["token"]
        assert "abc123456" not in repr(value) and "abc123456" not in str(value)
    finally:
        del os.environ["NEXUS_SECRET_MASK_TEST_TOKEN"]
