"""`nexus-sync flower`: Celery's Flower dashboard with basic auth on by default.

The credentials come from NEXUS_FLOWER_USER (default `admin`) and NEXUS_FLOWER_PASSWORD and reach Flower
through its own environment option FLOWER_BASIC_AUTH, never through the command line (where `ps` would show
them). Without a password Flower does not start, unless `--no-auth` says so explicitly.

What operators see: the chain's tasks under their names (tasks.sync.start_sync, tasks.sync.fetch, …,
tasks.sync.notify; workers send task events: `-E` / worker_send_task_events), and on the Broker tab the
queues `sync` and `archive` with their lengths: for Redis Flower reads them itself (LLEN of each queue and
of its priority lists, `sync\\x06\\x163`, …); `--broker_api` is for RabbitMQ's management API only.
/api/* answers 401 without the credentials; /healthcheck is open (for probes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from nexus_sync.config import ConfigError, Settings, get_settings


@dataclass(frozen=True)
class FlowerLaunch:
    argv: list[str]  # for Celery's CLI: ["flower", "--port=…", …]
    env: dict[str, str]  # to add to the environment of the Flower process
    auth: bool


def launch(port: int, address: str, no_auth: bool, extra: Sequence[str] = (),
           settings: Settings | None = None) -> FlowerLaunch:
    settings = settings or get_settings()
    for arg in extra:
        if arg.lstrip("-").replace("-", "_").split("=", 1)[0] in ("basic_auth", "auth"):
            raise ConfigError("give Flower's credentials as NEXUS_FLOWER_USER / NEXUS_FLOWER_PASSWORD, "
                              "not on the command line (`ps` shows command lines)")
    argv = ["flower", f"--port={port}", f"--address={address}", *extra]
    if no_auth:
        return FlowerLaunch(argv, {}, False)
    default_user = Settings.model_fields["flower_user"].default
    user = settings.flower_user.strip() or default_user
    password = settings.flower_password.get_secret_value() if settings.flower_password else ""
    if not password:
        raise ConfigError("NEXUS_FLOWER_PASSWORD is not set: Flower runs with basic auth "
                          "(user NEXUS_FLOWER_USER, default admin); pass --no-auth to run it open on purpose")
    if ":" in user or "," in user or "," in password:
        raise ConfigError("NEXUS_FLOWER_USER must not contain ':' or ',' and NEXUS_FLOWER_PASSWORD must not "
                          "contain ',' (Flower splits its credential list on commas)")
    return FlowerLaunch(argv, {"FLOWER_BASIC_AUTH": f"{user}:{password}"}, True)


def run(port: int, address: str, no_auth: bool, extra: Sequence[str] = ()) -> None:
    """Start Flower in this process on the nexus-sync Celery app (returns when Flower stops)."""
    spec = launch(port, address, no_auth, extra)
    if not spec.auth:
        os.environ.pop("FLOWER_BASIC_AUTH", None)  # --no-auth means no auth, whatever the environment holds
    os.environ.update(spec.env)
    from nexus_sync.celery_app import app

    app.start(spec.argv)
