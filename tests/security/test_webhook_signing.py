"""Findings 12 and 15: webhook deliveries carry a signed delivery id, replays are refusable, malformed
signatures fail verification instead of raising, redirects are not followed, cleartext needs an opt-out."""
from __future__ import annotations

import time
import uuid

import pytest
import yaml

import nexus_sync.credentials as credentials
from nexus_sync import webhooks
from nexus_sync.config import get_settings
from nexus_sync.errors import ConfigError, TransientError
from tests.notify.test_notifications import Receiver

SECRET = "whsec-canary-0123456789"
EVENT = {"event_type": "connector.sync.complete", "sync_id": "sync-1", "status": "SUCCESS"}


@pytest.fixture
def subscribers(tmp_path, monkeypatch):
    """Write a webhooks file for the given receivers; secrets come from the environment."""
    def write(**urls: str) -> None:
        path = tmp_path / "webhooks.yaml"
        path.write_text(yaml.safe_dump({"subscribers": [{"name": n, "url": u} for n, u in urls.items()]}))
        monkeypatch.setenv("NEXUS_WEBHOOKS_FILE", str(path))
        for name in urls:
            monkeypatch.setenv(credentials.env_prefix(f"webhook-{name}") + "SECRET", SECRET)
        get_settings.cache_clear()

    monkeypatch.setattr(credentials, "_store", None)
    yield write
    get_settings.cache_clear()


def test_a_delivery_carries_a_signed_id_that_stays_the_same_across_retries(subscribers):
    hook = Receiver()
    try:
        subscribers(dash=hook.url, audit=hook.url)
        webhooks.deliver("dash", EVENT)
        webhooks.deliver("dash", EVENT)  # a retry of the same delivery
        webhooks.deliver("audit", EVENT)
    finally:
        hook.close()
    (h1, b1), (h2, b2), (h3, b3) = hook.got
    ids = [h["X-Nexus-Delivery"] for h in (h1, h2, h3)]
    assert str(uuid.UUID(ids[0])) == ids[0] and ids[0] == ids[1] and ids[2] != ids[0]
    assert webhooks.verify(SECRET, h1["X-Nexus-Timestamp"], ids[0], b1, h1["X-Nexus-Signature"])
    # the id is part of what is signed: swapping in another one breaks the signature
    assert not webhooks.verify(SECRET, h1["X-Nexus-Timestamp"], ids[2], b1, h1["X-Nexus-Signature"])


def test_the_replay_guard_accepts_a_delivery_once():
    guard = webhooks.ReplayGuard(SECRET)
    ts, delivery, body = str(int(time.time())), str(uuid.uuid4()), b'{"a":1}'
    sig = webhooks.sign(SECRET, ts, delivery, body)
    assert guard.accept(ts, delivery, body, sig)
    assert not guard.accept(ts, delivery, body, sig)  # the replay inside the window
    other = str(uuid.uuid4())
    assert not guard.accept(ts, other, body, sig)  # a new id needs a new signature
    assert guard.accept(ts, other, body, webhooks.sign(SECRET, ts, other, body))


def test_the_replay_guard_forgets_ids_only_after_their_window_and_is_bounded():
    guard = webhooks.ReplayGuard(SECRET, tolerance=300, max_ids=2)
    now = 1_700_000_000

    def send(at: int) -> tuple[str, str, bytes, str]:
        d = str(uuid.uuid4())
        return str(at), d, b"{}", webhooks.sign(SECRET, str(at), d, b"{}")

    first, second, third = send(now), send(now), send(now)
    assert guard.accept(*first, now=now) and guard.accept(*second, now=now)
    assert not guard.accept(*third, now=now)  # full: refused rather than forgetting a live id
    assert not guard.accept(*first, now=now + 300)  # still inside the window: still a replay
    assert not guard.accept(*first, now=now + 301)  # past it: stale, refused by the timestamp
    late = send(now + 301)
    assert guard.accept(*late, now=now + 301)  # expired ids made room


@pytest.mark.parametrize("timestamp", ["abc", "", "1e3", "nan", "inf", " 1700000000", None, "１７００"])
def test_a_malformed_timestamp_fails_verification_instead_of_raising(timestamp):
    delivery, body = str(uuid.uuid4()), b"{}"
    sig = webhooks.sign(SECRET, str(int(time.time())), delivery, body)
    assert webhooks.verify(SECRET, timestamp, delivery, body, sig) is False


@pytest.mark.parametrize("delivery, signature", [(None, "sha256=00"), ("not-a-uuid", "sha256=00"),
                                                 ("UUID", None), ("UUID", "sha256=é")])
def test_a_malformed_delivery_id_or_signature_fails_verification(delivery, signature):
    ts = str(int(time.time()))
    delivery = str(uuid.uuid4()) if delivery == "UUID" else delivery
    assert webhooks.verify(SECRET, ts, delivery, b"{}", signature) is False


def test_a_redirect_is_not_followed(subscribers):
    target = Receiver()
    hop = Receiver(status=307, location=target.url)
    try:
        subscribers(dash=hop.url)
        with pytest.raises(TransientError, match="307"):
            webhooks.deliver("dash", EVENT)
    finally:
        hop.close()
        target.close()
    assert len(hop.got) == 1 and target.got == []  # the signed body never reached the Location


def test_cleartext_http_webhooks_need_loopback_or_an_opt_out(tmp_path):
    path = tmp_path / "webhooks.yaml"
    remote = "http://hooks.example.test/T0/B0/canary-hook-path"
    path.write_text(yaml.safe_dump({"subscribers": [{"name": "dash", "url": remote}]}))
    with pytest.raises(ConfigError) as err:
        webhooks.load(path)
    assert "subscribers[0]" in str(err.value) and "url" in str(err.value) and "https" in str(err.value)
    assert "canary" not in str(err.value)
    path.write_text(yaml.safe_dump({"subscribers": [{"name": "dash", "url": remote, "allow_insecure_http": True},
                                                    {"name": "local", "url": "http://127.0.0.1:9/hook"}]}))
    assert [s.name for s in webhooks.load(path)] == ["dash", "local"]
