"""The HTTP client against a hostile vendor on a real socket (issue 10: findings 1, 2, 4 and 6): credentials
stay on the connector's origin, redirects never carry them elsewhere, errors never carry the vendor's body or a
secret, and an answer is bounded in size and in wall-clock time."""
from __future__ import annotations

import base64
import functools
import io
import json
import logging
import threading
import time
import tracemalloc
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import orjson
import pytest

import nexus_sync.credentials as credentials
from connectors.base import SecretsProvider
from nexus_sync import errors, logs
from nexus_sync.errors import AuthError, ConfigError, SyncError, TransientError, VendorDataError
from nexus_sync.http import HttpClient


# ----------------------------------------------------------------------------- a vendor on a real socket
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Vendor:
    """A real HTTP server on 127.0.0.1: routes are functions of the request handler; records every request."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                vendor.seen.append(Seen(self.command, self.path, dict(self.headers),
                                        self.rfile.read(length) if length else b""))
                route = vendor.routes.get(urlsplit(self.path).path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            do_GET = do_POST = handle_any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads, self.server.block_on_close = True, False
        self.server.handle_error = lambda request, address: None  # a client hanging up early is the point
        self.host = host
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.server.server_port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def reply(status: int, body: bytes | dict | str = b"", headers: dict[str, str] | None = None):
    data = orjson.dumps(body) if isinstance(body, dict) else body.encode() if isinstance(body, str) else body

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


@pytest.fixture
def vendor():
    v = Vendor()
    yield v
    v.close()


@pytest.fixture
def elsewhere():
    """Another origin (another port): whatever it receives has leaked."""
    v = Vendor()
    yield v
    v.close()


class Header:
    """Auth that sets one header (like connectors.machinery's HeaderAuth at run time)."""

    def __init__(self, name: str, value: str):
        self.name, self.value = name, value

    def apply(self, headers: dict[str, str]) -> None:
        headers[self.name] = self.value

    def refresh(self) -> None:
        pass


def basic(user: str, password: str) -> Header:
    return Header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def client(vendor: Vendor, **attrs: object) -> HttpClient:
    http = HttpClient(timeout=5, sleep=lambda s: None)
    http.label = "acme-prod"
    for k, v in attrs.items():
        setattr(http, k, v)
    return http


def oauth(vendor: Vendor, tmp_path, name: str, token_path: str = "/oauth/token", secret: str = "c-secret-1"):
    from connectors.machinery import OAuth2ClientCredentials

    (tmp_path / "creds.yaml").write_text(json.dumps({name: {"client_id": "cid", "client_secret": secret}}))
    (tmp_path / "creds.yaml").chmod(0o600)
    secrets = SecretsProvider(credentials.CredentialStore(tmp_path / "creds.yaml"), name)
    return OAuth2ClientCredentials(secrets, vendor.url(token_path), {"grant_type": "client_credentials"}, timeout=5)


# ----------------------------------------------------------------------------- finding 1: origins
def test_client_refuses_a_url_off_its_origin_before_sending(vendor, elsewhere):
    elsewhere.routes["/next"] = reply(200, {"items": []})
    http = client(vendor, origin=vendor.origin)
    with pytest.raises(errors.ConfigError) as err:
        http.request("GET", elsewhere.url("/next?after=tok-in-query"), auth=Header("Authorization", "SSWS okta-c4n4ry"))
    assert isinstance(err.value, errors.ForeignOriginError)
    assert elsewhere.seen == []
    text = str(err.value)
    assert "acme-prod" in text and elsewhere.origin in text and "refused" in text
    assert "tok-in-query" not in text and "/next" not in text and "okta-c4n4ry" not in text


@pytest.mark.parametrize("url,origin", [
    ("https://Vendor.Example/api?x=1", "https://vendor.example:443"),
    ("http://vendor.example/", "http://vendor.example:80"),
    ("https://vendor.example:8443/a", "https://vendor.example:8443"),
    ("https://[::1]:9/a", "https://[::1]:9"),
])
def test_origin_makes_default_ports_explicit(url, origin):
    from nexus_sync.http import origin_of

    assert origin_of(url) == origin


@pytest.mark.parametrize("link", [
    "https://evil.example/api/v1/users?after=1",  # another host
    "http://vendor.example/api/v1/users?after=1",  # a downgrade to cleartext
    "https://vendor.example:8443/api/v1/users",  # another port
    "//evil.example/api",  # scheme-relative
    "https://vendor.example\\@evil.example/x",  # the parsers disagree on the host
    "https://user:pw@vendor.example/x",  # user info
])
def test_vendor_urls_off_the_base_origin_are_refused(link):
    from nexus_sync.http import resolve_vendor_url

    with pytest.raises(errors.ForeignOriginError) as err:
        resolve_vendor_url("https://vendor.example/api/v1", link, "okta-prod")
    assert "okta-prod" in str(err.value) and "refused" in str(err.value)
    assert "after=1" not in str(err.value) and "/users" not in str(err.value)


def test_vendor_urls_on_the_base_origin_resolve():
    from nexus_sync.http import resolve_vendor_url

    base = "https://vendor.example/api/v1/users"
    assert resolve_vendor_url(base, "?after=2", "okta") == "https://vendor.example/api/v1/users?after=2"
    assert resolve_vendor_url(base, "/api/v1/users?after=3", "okta") == "https://vendor.example/api/v1/users?after=3"
    assert resolve_vendor_url(base, "https://VENDOR.example:443/x", "okta") == "https://VENDOR.example:443/x"


# ----------------------------------------------------------------------------- finding 4: redirects
def test_a_cross_origin_redirect_is_refused_with_no_header_reaching_the_other_host(vendor, elsewhere):
    vendor.routes["/vulns"] = reply(307, headers={"Location": elsewhere.url("/steal")})
    elsewhere.routes["/steal"] = reply(200, {"ok": True})
    with pytest.raises(SyncError) as err:
        client(vendor).request("GET", vendor.url("/vulns"),
                               auth=Header("X-ApiKeys", "accessKey=ak-c4n4ry;secretKey=sk-c4n4ry"))
    assert isinstance(err.value, errors.ForeignOriginError)
    assert elsewhere.seen == [], "Tenable's X-ApiKeys followed a cross-host 307"


def test_same_origin_redirects_are_followed_and_303_becomes_a_get(vendor):
    vendor.routes["/old"] = reply(308, headers={"Location": "/new"})
    vendor.routes["/new"] = reply(303, headers={"Location": vendor.url("/done")})
    vendor.routes["/done"] = reply(200, {"ok": True})
    resp = client(vendor).request("POST", vendor.url("/old"), json={"q": 1}, auth=Header("Authorization", "Bearer t"))
    assert resp.json() == {"ok": True}
    assert [(s.method, s.path) for s in vendor.seen] == [("POST", "/old"), ("POST", "/new"), ("GET", "/done")]
    assert json.loads(vendor.seen[1].body) == {"q": 1} and vendor.seen[2].body == b""
    assert all(s.headers.get("Authorization") == "Bearer t" for s in vendor.seen)


def test_a_redirect_loop_ends(vendor):
    vendor.routes["/a"] = reply(302, headers={"Location": "/a"})
    with pytest.raises(TransientError, match="redirects"):
        client(vendor).request("GET", vendor.url("/a"))
    assert len(vendor.seen) == 6


def test_the_token_post_follows_no_redirect(vendor, elsewhere, tmp_path):
    vendor.routes["/oauth/token"] = reply(307, headers={"Location": elsewhere.url("/oauth/token")})
    elsewhere.routes["/oauth/token"] = reply(200, {"access_token": "stolen", "expires_in": 60})
    auth = oauth(vendor, tmp_path, "redirected-oauth", secret="cs-c4n4ry-307")
    with pytest.raises(AuthError) as err:
        auth.apply({})
    assert elsewhere.seen == [], "client_secret followed a 307 to another host"
    assert "not followed" in str(err.value) and elsewhere.origin in str(err.value)
    assert "cs-c4n4ry-307" not in str(err.value)


def test_a_session_login_follows_no_redirect_even_on_its_own_origin(vendor):
    from nexus_sync.http import post_credentials

    vendor.routes["/login"] = reply(302, headers={"Location": "/elsewhere"})
    with pytest.raises(AuthError, match="redirected to http://127.0.0.1:.*: not followed"):
        post_credentials(None, vendor.url("/login"), data={"user": "u", "password": "pw"}, what="session login",
                         connector="acme")
    assert [s.path for s in vendor.seen] == ["/login"]


# ----------------------------------------------------------------------------- finding 2: error text
def echo_authorization(h: BaseHTTPRequestHandler) -> None:
    """A careless vendor: its 500 repeats the request's Authorization header in the body and in a header."""
    auth = h.headers.get("Authorization", "")
    reply(500, f"internal error; request had Authorization: {auth}", {"X-Echo": auth})(h)


def test_a_500_echoing_basic_credentials_leaves_them_out_of_errors_and_logs(vendor):
    vendor.routes["/api"] = echo_authorization
    pair = base64.b64encode(b"svc-user:pw-c4n4ry-basic").decode()
    with pytest.raises(TransientError) as err:
        client(vendor).request("GET", vendor.url("/api"), auth=basic("svc-user", "pw-c4n4ry-basic"))
    text = str(err.value)
    assert "500" in text and "Internal Server Error" in text
    assert pair not in text and "pw-c4n4ry-basic" not in text and "internal error" not in text
    out = io.StringIO()
    logs.setup("INFO", stream=out)
    try:  # what the echoed header would look like in a log line
        logging.getLogger("vendor").warning("vendor said X-Echo: Basic %s (%s)", pair, "svc-user:pw-c4n4ry-basic")
    finally:
        logging.getLogger().handlers.clear()
    assert pair not in out.getvalue() and "pw-c4n4ry-basic" not in out.getvalue()


def test_a_500_echoing_the_oauth_access_token_leaves_it_out_of_errors_and_logs(vendor, tmp_path):
    vendor.routes["/oauth/token"] = reply(200, {"access_token": "at-c4n4ry-0auth", "expires_in": 3600})
    vendor.routes["/api"] = echo_authorization
    with pytest.raises(TransientError) as err:
        client(vendor).request("GET", vendor.url("/api"), auth=oauth(vendor, tmp_path, "echo-oauth"))
    assert "at-c4n4ry-0auth" not in str(err.value)
    assert "at-c4n4ry-0auth" not in credentials.redact("the vendor echoed Bearer at-c4n4ry-0auth")


def test_every_part_of_a_key_header_is_known_to_the_redactor(vendor):
    vendor.routes["/api"] = reply(200, {})
    client(vendor).request("GET", vendor.url("/api"),
                           auth=Header("X-ApiKeys", "accessKey=ak-c4n4ry-tenable;secretKey=sk-c4n4ry-tenable"))
    assert credentials.redact("sk-c4n4ry-tenable / ak-c4n4ry-tenable") == "*** / ***"


def test_errors_carry_the_declared_code_and_a_short_single_line_message(vendor):
    message = "Invalid filter\r\n\x1b[31mnear 'status eq'\x00 " + "x" * 400
    vendor.routes["/api"] = reply(400, {"errors": [{"code": "E0000031", "message": message}], "echo": "RAW-BODY"})
    with pytest.raises(VendorDataError) as err:
        client(vendor).request("GET", vendor.url("/api"), error_paths=("errors.0.code", "errors.0.message"))
    text = str(err.value)
    assert "400 Bad Request [E0000031]: Invalid filter" in text and "near 'status eq'" in text
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\x00" not in text
    assert "RAW-BODY" not in text and len(text.split(": ", 2)[-1]) <= 160


def test_without_declared_paths_an_error_is_the_status_and_its_standard_phrase(vendor):
    vendor.routes["/api"] = reply(502, "<html>upstream said SECRET-ISH DETAIL</html>")
    with pytest.raises(TransientError) as err:
        client(vendor).request("GET", vendor.url("/api"))
    assert str(err.value).endswith("/api: 502 Bad Gateway")


def test_a_secret_with_a_newline_is_a_config_error_without_the_secret(vendor):
    vendor.routes["/api"] = reply(200, {})
    with pytest.raises(SyncError) as err:
        client(vendor).request("GET", vendor.url("/api"), auth=Header("Authorization", "SSWS tok-c4n4ry-nl\n"))
    assert isinstance(err.value, ConfigError)
    assert "tok-c4n4ry-nl" not in str(err.value) and "tok-c4n4ry-nl" not in repr(err.value)
    assert "InvalidHeader" in str(err.value) and vendor.seen == []


def test_a_refused_token_request_says_the_oauth_error_code_only(vendor, tmp_path):
    vendor.routes["/oauth/token"] = reply(401, {"error": "invalid_client",
                                                "error_description": "client secret 'cs-wrong' is not valid"})
    with pytest.raises(AuthError) as err:
        oauth(vendor, tmp_path, "refused-oauth", secret="cs-wrong").apply({})
    assert "401 Unauthorized [invalid_client]" in str(err.value) and "cs-wrong" not in str(err.value)


def test_json_that_nests_too_deep_is_a_clean_data_error(vendor):
    vendor.routes["/api"] = reply(200, b"[" * 5000 + b"]" * 5000)
    with pytest.raises(VendorDataError, match="nests deeper than 1024 levels"):
        client(vendor).json("GET", vendor.url("/api"))


# ----------------------------------------------------------------------------- finding 6: bounds
@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~400 KB of gzip that inflates to 400 MB of zeros."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(z.compress(zeros) for _ in range(400)) + z.flush()


def test_a_gzip_bomb_stops_at_the_decoded_cap_without_inflating(vendor):
    bomb = gzip_bomb()
    assert len(bomb) < 500_000
    vendor.routes["/export"] = reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    tracemalloc.start()
    try:
        with pytest.raises(VendorDataError) as err:
            client(vendor, max_response_mb=1).request("GET", vendor.url("/export?page=1"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "acme-prod" in str(err.value) and "/export" in str(err.value)
    assert "larger than 1 MB decoded" in str(err.value)
    assert errors.rule_for_exception(err.value).action is errors.Action.FAIL  # asking again gets the same bomb
    assert peak < 32 * 2**20, f"held {peak / 2**20:.0f} MB for a 1 MB cap"


def drip(vendor: Vendor, head: bytes, body: bytes):
    """Send head at once, then body one byte a second (at most 8 s, then hang up)."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.wfile.write(head)
            for i in range(min(len(body), 8)):
                if vendor.stop.wait(1.0 if i else 0.0):
                    return
                h.wfile.write(body[i:i + 1])
        except OSError:  # the client hung up: what we want
            pass

    return route


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_server_is_cut_at_the_deadline(vendor, phase):
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
    if phase == "headers":
        vendor.routes["/slow"] = drip(vendor, b"", response)
    else:
        vendor.routes["/slow"] = drip(vendor, response, b"[" + b" " * 38 + b"]")
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        client(vendor, deadline_seconds=2).request("GET", vendor.url("/slow"))
    elapsed = time.monotonic() - started
    assert "exceeded its 2 s deadline" in str(err.value) and "acme-prod" in str(err.value)
    assert elapsed < 4, f"a 2 s deadline held the request {elapsed:.1f} s"


def test_settings_set_the_bounds(monkeypatch):
    from nexus_sync.config import get_settings

    monkeypatch.setenv("NEXUS_HTTP_MAX_RESPONSE_MB", "3")
    monkeypatch.setenv("NEXUS_HTTP_DEADLINE_SECONDS", "45")
    get_settings.cache_clear()
    try:
        http = HttpClient()
        assert (http.max_response_mb, http.deadline_seconds) == (3, 45)
    finally:
        get_settings.cache_clear()
