"""The embedded dev stack as a local user or a web page meets it (issue 10, findings 7 and 14).

Its own stack in a fresh state folder, started the way `nexus-sync dev up` starts it, with connector
credentials in the environment: the folder is private, Redis and the ClickHouse stand-in want the passwords
that only stack.json (0600) holds, the stand-in runs queries only for an authenticated POST and refuses
what reaches files or URLs, and no server inherits a connector credential.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from nexus_sync.archive import TABLE, HttpArchive, archive_row
from nexus_sync.dev import devstack

pytestmark = pytest.mark.timeout(180)

CANARY_ENV = {"NEXUS_SECRET_DEVSTACK_CANARY_TOKEN": f"canary-{uuid.uuid4().hex}",
              "NEXUS_CREDENTIALS_FILE": "/nonexistent/devstack-canary-secrets.yaml"}
SERVERS = ("postgres", "redis", "kafka", "clickhouse")


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="nxs", dir="/tmp"))  # short: the postgres socket lives in it
    os.chmod(root, 0o755)  # like a project folder: the stack must close its own folder
    try:
        yield root / ".nexus"
    finally:
        try:
            devstack.down(root / ".nexus")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(state: Path) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in CANARY_ENV}
    os.environ.update(CANARY_ENV)  # what `dev up` sees in a shell that also runs workers
    try:
        return devstack.up(state)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ch_url(stack: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{stack['clickhouse']['port']}/"


def _ch_auth(stack: dict[str, Any]) -> tuple[str, str]:
    return stack["clickhouse"].get("user", "default"), stack["clickhouse"].get("password") or ""


def _redis_says(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        return s.recv(200)


# -- the state folder ----------------------------------------------------------------------
def test_state_folder_is_private_to_its_owner(state: Path, stack: dict[str, Any]) -> None:
    # 0700; as root 0711: postgres then runs as the user "pgserver" and must pass through (not list)
    assert stat.S_IMODE(state.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
    loose = []
    for folder, dirnames, filenames in os.walk(state):
        for name in dirnames + filenames:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                loose.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(state)}")
    assert loose == [], "open to group or others:\n" + "\n".join(loose[:20])
    for must_exist in ("stack.json", "logs/redis.log", "logs/clickhouse.log", "redis/appendonly.aof",
                       "run/redis.pid", "chdb"):
        assert (state / must_exist).exists(), must_exist  # the walk above did see the stack's files


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as another user")
def test_another_local_user_reads_nothing(state: Path, stack: dict[str, Any]) -> None:
    for argv in (["ls", str(state)], ["cat", str(state / "stack.json")], ["cat", str(state / "logs/redis.log")],
                 ["cat", str(state / "redis/appendonly.aof")], ["ls", str(state / "chdb")]):
        res = subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True, timeout=10)
        assert res.returncode != 0 and "Permission denied" in res.stderr, (argv, res.stdout[:200])


# -- redis ------------------------------------------------------------------------------------
def test_redis_refuses_a_client_without_the_password(stack: dict[str, Any]) -> None:
    port = stack["redis"]["port"]
    assert _redis_says(port, b"PING\r\n").startswith(b"-NOAUTH")
    assert _redis_says(port, b"KEYS *\r\n").startswith(b"-NOAUTH")
    assert _redis_says(port, b"AUTH wrong-password\r\n").startswith(b"-WRONGPASS")
    import redis

    assert redis.Redis.from_url(stack["redis"]["url"]).ping()  # the URL of stack.json carries the password


def test_passwords_stay_out_of_status_and_command_lines(state: Path, stack: dict[str, Any]) -> None:
    passwords = [stack["redis"].get("password"), stack["clickhouse"].get("password")]
    assert all(pw and len(pw) >= 32 for pw in passwords) and passwords[0] != passwords[1]
    shown = " ".join(f"{s.url} {s.detail}" for s in devstack.status(state))
    assert "***" in shown and not any(pw in shown for pw in passwords)
    for name in SERVERS:
        cmdline = Path(f"/proc/{stack[name]['pid']}/cmdline").read_bytes().decode(errors="replace")
        assert not any(pw in cmdline for pw in passwords), name  # `ps` shows command lines to everyone


# -- the ClickHouse stand-in -----------------------------------------------------------------
def test_clickhouse_runs_no_query_on_get(stack: dict[str, Any]) -> None:
    url = _ch_url(stack)
    assert requests.get(f"{url}ping", timeout=5).text == "Ok.\n"  # the health check stays open
    for auth in (None, _ch_auth(stack)):
        r = requests.get(url, params={"query": "SELECT 'ran' AS x"}, auth=auth, timeout=5)
        assert r.status_code == 405 and "ran" not in r.text


def test_clickhouse_wants_the_password(stack: dict[str, Any]) -> None:
    url = _ch_url(stack)
    assert requests.post(url, data="SELECT 'ran'", timeout=5).status_code == 401
    assert requests.post(url, data="SELECT 'ran'", auth=("default", "wrong"), timeout=5).status_code == 401
    r = requests.post(url, data="SELECT 'ran'", headers={"X-ClickHouse-User": "default",
                                                          "X-ClickHouse-Key": "wrong"}, timeout=5)
    assert r.status_code == 401 and "ran" not in r.text
    assert requests.post(url, data="SELECT 'ran'", auth=_ch_auth(stack), timeout=5).text == "ran\n"
    r = requests.post(url, data="SELECT 'ran'", headers={"X-ClickHouse-User": "default",
                                                          "X-ClickHouse-Key": _ch_auth(stack)[1]}, timeout=5)
    assert r.text == "ran\n"


class _Hits(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"leak\n")

    do_POST = do_PUT = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def listener() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _reaching(secret: Path, target: Path, listener: str) -> list[str]:
    return [
        f"SELECT * FROM file('{secret}', 'LineAsString')",
        f"SELECT file('{secret}')",
        f"SELECT * FROM FiLe /* a comment */ ('{secret}', 'LineAsString')",
        f"SELECT * FROM `file`('{secret}', 'LineAsString')",
        f"SELECT * FROM '{secret}'",
        f"INSERT INTO FUNCTION file('{target}', 'LineAsString') SELECT 'written'",
        f"SELECT 'written' INTO OUTFILE '{target}'",
        f"CREATE TABLE reach_file (s String) ENGINE = File(LineAsString, '{target}')",
        f"SELECT * FROM url('{listener}/url', 'LineAsString')",
        f"INSERT INTO FUNCTION url('{listener}/insert', 'LineAsString') SELECT 'x'",
        f"CREATE TABLE reach_url (s String) ENGINE = URL('{listener}/engine', LineAsString)",
        f"SELECT * FROM s3('{listener}/bucket/key.tsv', 'LineAsString')",
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        f"SELECT 1 SETTINGS format_template_row = '{secret}' FORMAT Template",
        "SYSTEM FLUSH LOGS",
        f"SELECT 1; SELECT file('{secret}')",
    ]


def test_clickhouse_refuses_what_reaches_files_or_urls(stack: dict[str, Any], listener: str,
                                                       tmp_path: Path) -> None:
    secret, target = tmp_path / "secret.txt", tmp_path / "written.txt"
    marker = f"marker-{uuid.uuid4().hex}"
    secret.write_text(marker + "\n")
    allowed = []
    for sql in _reaching(secret, target, listener):
        r = requests.post(_ch_url(stack), data=sql, auth=_ch_auth(stack), timeout=10)
        if r.ok or marker in r.text:
            allowed.append(f"{r.status_code} {sql!r}: {r.text[:120]!r}")
    assert allowed == [], "not refused:\n" + "\n".join(allowed)
    assert not target.exists() and _Hits.hits == []


def test_the_archive_still_works_through_the_stand_in(stack: dict[str, Any]) -> None:
    archive = HttpArchive(stack["clickhouse"]["url"])  # credentials from the URL, sent as HTTP Basic auth
    archive.ensure_schema()
    tenant, at = str(uuid.uuid4()), datetime(2026, 11, 22, 12, 0, 0)
    data = {"hostname": "file('/etc/hostname')\tINTO OUTFILE '/tmp/x'\n", "note": "url('http://x')"}
    rows = [archive_row(str(uuid.uuid4()), tenant, "okta-prod", "asset", data, at) for _ in range(3)]
    assert archive.insert_new(rows) == 3 and archive.insert_new(rows) == 0
    assert archive.existing_ids([r["id"] for r in rows], tenant, "okta-prod") == {r["id"] for r in rows}
    back = archive.query(f"SELECT data FROM {TABLE} WHERE tenant_id = toUUID('{tenant}') LIMIT 1")
    assert back == [{"data": rows[0]["data"]}]


# -- the servers' environment ------------------------------------------------------------------
def test_servers_get_no_connector_credentials(stack: dict[str, Any]) -> None:
    for name in SERVERS:
        environ = Path(f"/proc/{stack[name]['pid']}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0].decode() for item in environ if item}
        assert not {n for n in names if n.startswith("NEXUS_SECRET_") or n == "NEXUS_CREDENTIALS_FILE"}, name
        assert not any(CANARY_ENV["NEXUS_SECRET_DEVSTACK_CANARY_TOKEN"].encode() in item for item in environ), name


def test_the_vendor_simulator_gets_no_connector_credentials(tmp_path: Path) -> None:
    from nexus_sync.dev import procs

    sim = procs.start_simulator(tmp_path / "sim.log", procs.free_port(), {"okta": 5}, env=CANARY_ENV)
    try:
        environ = Path(f"/proc/{sim.pid}/environ").read_bytes()
    finally:
        sim.stop()
    assert b"NEXUS_SECRET_" not in environ and b"NEXUS_CREDENTIALS_FILE" not in environ
    assert (tmp_path / "sim.log").stat().st_mode & 0o077 == 0
