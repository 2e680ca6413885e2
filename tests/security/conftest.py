"""Fixtures of the hostile-vendor tests: the canaries, the hostile vendor (plain and TLS), the attacker's
server, a webhook receiver, and a real Celery worker with console spans whose log the canary scan reads."""
from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import certifi
import pytest
import yaml

from nexus_sync import catalog
from nexus_sync.dev import procs
from tests.conftest import STATE, add_secrets, worker_env
from tests.security import hostile
from tests.security.canary import Canaries

# what the worker of these tests may spend on one vendor answer: small, so a bomb or a drip shows quickly
MAX_RESPONSE_MB = 16
DEADLINE_SECONDS = 3
READ_TIMEOUT = 2


@pytest.fixture(scope="session")
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture(scope="session")
def attacker() -> Iterator[hostile.HostileServer]:
    """The server a hostile vendor points at: another host (127.0.0.2); it must never see a credential."""
    server = hostile.HostileServer("attacker", host="127.0.0.2", fallback=hostile.attacker_answer).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vendor() -> Iterator[hostile.HostileServer]:
    server = hostile.HostileServer("vendor").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(cert, key, CA bundle = the public roots + this cert) for the TLS vendor."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = hostile.self_signed_cert(folder)
    bundle = folder / "ca-bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text() + "\n" + cert.read_text())
    return cert, key, bundle


@pytest.fixture(scope="session")
def tls_vendor(tls_cert: tuple[Path, Path, Path]) -> Iterator[hostile.HostileServer]:
    server = hostile.HostileServer("tls-vendor", tls=(tls_cert[0], tls_cert[1])).start()
    yield server
    server.stop()


class WebhookReceiver:
    """A webhook subscriber over real HTTP: answers 200 and keeps every body it got."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="session")
def webhooks(secrets_file: Path, canaries: Canaries,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebhookReceiver, Path]]:
    """A JSON subscriber of both events and a Slack-format one of alerts, signing secrets being canaries."""
    receiver = WebhookReceiver()
    path = tmp_path_factory.mktemp("security-hooks") / "webhooks.yaml"
    path.write_text(yaml.safe_dump({"subscribers": [
        {"name": "sec-dash", "url": receiver.url, "events": ["connector.sync.complete", "connector.sync.alert"]},
        {"name": "sec-slack", "url": receiver.url, "events": ["connector.sync.alert"], "format": "slack"},
    ]}))
    for name in ("sec-dash", "sec-slack"):
        add_secrets(secrets_file, f"webhook-{name}", {"secret": canaries.new(f"webhook {name} signing secret")})
    yield receiver, path
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def security_worker(stack: Any, secrets_file: Path, webhooks: tuple[WebhookReceiver, Path],
           tls_cert: tuple[Path, Path, Path]) -> Iterator[procs.Proc]:
    """A real worker, spans printed to its log (NEXUS_TRACING=console), small bounds on vendor answers,
    one retry per task (a hostile answer is the same the second time)."""
    env = {**worker_env(), "NEXUS_TRACING": "console", "NEXUS_METRICS_PORT": "0", "NEXUS_TASK_MAX_RETRIES": "1",
           "NEXUS_HTTP_TIMEOUT": str(READ_TIMEOUT), "NEXUS_HTTP_DEADLINE_SECONDS": str(DEADLINE_SECONDS),
           "NEXUS_HTTP_MAX_RESPONSE_MB": str(MAX_RESPONSE_MB), "NEXUS_WEBHOOKS_FILE": str(webhooks[1]),
           "REQUESTS_CA_BUNDLE": str(tls_cert[2])}
    proc = procs.start_worker(STATE / "logs" / f"security-worker-{uuid.uuid4().hex[:6]}.log", env=env,
                              concurrency=2, name="security")
    yield proc
    proc.stop()


@pytest.fixture
def register(stack: Any, secrets_file: Path) -> Callable[..., catalog.ConnectorRow]:
    """Register a connector of a real type at a hostile base URL, its secrets in the credentials file."""

    def make(vendor_type: str, base_url: str, secrets: dict[str, str], **config: Any) -> catalog.ConnectorRow:
        name = f"sec-{vendor_type}-{uuid.uuid4().hex[:8]}"
        add_secrets(secrets_file, name, secrets)
        catalog.apply([catalog.ConnectorSpec(name=name, type=vendor_type, tenant_id=uuid.uuid4(), interval="15m",
                                             config={"base_url": base_url, **config})])
        return catalog.get(name)

    return make
