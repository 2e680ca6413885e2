"""A worker answers `inspect conf` (Flower asks for it) with its settings, through Redis: no setting in that
answer may carry the Redis password (it was in redbeat_redis_url, and so in the AOF)."""
from __future__ import annotations

import orjson

# nexus_sync.celery_app is imported inside the tests: importing it builds the module's app from the settings,
# and at collection time the test stack is not up yet (that app would keep the fallback broker)


def test_the_conf_a_worker_reports_holds_no_redis_password(monkeypatch):
    from nexus_sync.celery_app import make_app

    monkeypatch.setenv("NEXUS_REDIS_URL", "redis://:CANARY-redis-pw-7f3a@127.0.0.1:6390/0")
    from nexus_sync.config import get_settings

    get_settings.cache_clear()
    try:
        app = make_app(set_as_current=False)
        reply = orjson.dumps(app.conf.table(with_defaults=False, censored=True), default=str)
    finally:
        get_settings.cache_clear()
    assert b"CANARY-redis-pw-7f3a" not in reply


def test_the_password_moves_from_the_url_to_an_option():
    from nexus_sync.celery_app import _without_password

    assert _without_password("redis://:p%40ss@10.0.0.5:6379/2") == ("redis://10.0.0.5:6379/2", {"password": "p@ss"})
    assert _without_password("redis://user:pw@[::1]:6379/0") == ("redis://user@[::1]:6379/0", {"password": "pw"})
    assert _without_password("redis://127.0.0.1:6379/0") == ("redis://127.0.0.1:6379/0", {})
