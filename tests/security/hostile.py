"""A hostile vendor for the security tests: a threaded HTTP(S) server that speaks the shape of real declared
connectors (Okta, Entra ID, ServiceNow, Qualys, Tenable, a session-login API), so the real connector code talks
to it, and that misbehaves as each scenario says: foreign next links, cross-host redirects, error pages that
echo the credentials, gzip bombs, slow drips, NUL bytes, XML nested 50,000 deep.

Each scenario is mounted under `/s/<name>` of a server; every request any server receives is recorded (`Seen`),
so a second server playing the attacker can prove it was sent nothing. A TLS server also answers plain HTTP on
the same port and records such requests as cleartext (`Seen.tls` False): that is how an https → http downgrade
shows.
"""
from __future__ import annotations

import base64
import json
import select
import socket
import ssl
import subprocess
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as a server received it."""

    server: str
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes
    tls: bool
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    aborted: bool = False  # the client hung up before the answer was complete

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def held(self) -> float:
        """Seconds the request held a connection open (until now, while it still does)."""
        return (self.ended or time.monotonic()) - self.started

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(errors="replace")).items()}

    def text(self) -> str:
        """Everything the client sent, as one text (for canary searches)."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.target}\n{head}\n\n{self.body.decode('latin-1')}"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drip_every: float | None = None  # send the body one byte at a time, this many seconds apart


Answer = Callable[[Seen], Reply]
Routes = dict[tuple[str, str], Answer]  # (METHOD, path under the scenario) -> answer


def json_reply(doc: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(doc).encode())


class HostileServer:
    """A threaded HTTP (or HTTPS) server of scenarios; `fallback` answers paths no scenario claims."""

    def __init__(self, label: str, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None,
                 fallback: Answer | None = None):
        self.label, self.host, self.fallback = label, host, fallback
        self.scenarios: dict[str, Routes] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._tls = None
        if tls is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(str(tls[0]), str(tls[1]))
        self.httpd = _Httpd((host, 0), _Handler, owner=self)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"hostile-{label}", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def mount(self, name: str, routes: Routes) -> str:
        """Serve `routes` under /s/<name>; returns that base URL (the connector's base_url)."""
        self.scenarios[name] = routes
        return f"{self.url}/s/{name}"

    def requests_to(self, name: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(f"/s/{name}/")]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def answer(self, seen: Seen) -> Reply:
        parts = seen.path.split("/", 3)  # "", "s", name, rest
        routes = self.scenarios.get(parts[2]) if len(parts) > 3 and parts[1] == "s" else None
        if routes is not None:
            rest = "/" + parts[3]
            for (method, path), answer in routes.items():
                if method == seen.method and rest.rstrip("/") == path.rstrip("/"):
                    return answer(seen)
        if self.fallback is not None:
            return self.fallback(seen)
        return json_reply({"error": "not found"}, 404)


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, owner: HostileServer):
        self.owner = owner
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        """On a TLS server, a connection whose first byte is not a TLS handshake is served as plain HTTP
        (and recorded as cleartext): a downgraded request must be seen, not lost in a handshake error."""
        tls = False
        if self.owner._tls is not None:
            request.settimeout(10)
            try:
                first = request.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":
                try:
                    request = self.owner._tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                tls = True
            request.settimeout(None)
        handler = self.RequestHandlerClass(request, client_address, self, tls=tls)  # type: ignore[call-arg]
        del handler


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd

    def __init__(self, request: socket.socket, client_address: tuple[str, int], server: _Httpd, tls: bool = False):
        self.tls = tls
        super().__init__(request, client_address, server)

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(owner.label, self.command, self.path, dict(self.headers.items()), body, self.tls)
        owner.record(seen)
        try:
            reply = owner.answer(seen)
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.drip_every is None:
                self.wfile.write(reply.body)
            else:
                self._drip(reply.body, reply.drip_every, seen)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            seen.aborted = True
        finally:
            seen.ended = time.monotonic()

    def _drip(self, body: bytes, every: float, seen: Seen) -> None:
        self.wfile.flush()
        for i in range(len(body)):
            if self._peer_gone(every):
                seen.aborted = True
                return
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()

    def _peer_gone(self, wait: float) -> bool:
        """Wait `wait` seconds unless the client closes the connection first (then True)."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True


# ---------------------------------------------------------------------------------------------- TLS
def self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for `host` (openssl CLI): (cert, key). The cert is its own CA bundle."""
    cert, key = folder / "hostile-cert.pem", folder / "hostile-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}"],
                   check=True, capture_output=True)
    return cert, key


# ------------------------------------------------------------------------------------- misbehaviours
def redirect(location: str, status: int = 307) -> Answer:
    """A redirect to `location` (307 keeps the method and the body: a token POST goes on with its secret)."""
    return lambda seen: Reply(status, {"Location": location}, b"")


def echo_500(seen: Seen) -> Reply:
    """A 500 that echoes the request's credentials and body back (a debug page): first thing in its body, in
    its error message (where a client looks for the vendor's own words) and in its headers."""
    auth = seen.header("Authorization") or seen.header("X-ApiKeys") or ""
    body = seen.body.decode("latin-1")
    echoed = {"error": "internal_error", "echo": {"authorization": auth, "body": body},
              "message": f"upstream failure for Authorization: {auth} {body}"[:300],
              "request": {"headers": seen.headers}}
    return json_reply(echoed, 500, {"X-Debug-Authorization": auth, "X-Debug-Body": body[:500]})


_BOMBS: dict[int, bytes] = {}


def gzip_bomb(decoded_mb: int) -> Answer:
    """A gzip answer of about decoded_mb/1000 MB that decodes to `decoded_mb` MB: a valid, empty JSON list."""
    if decoded_mb not in _BOMBS:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
        chunk = b" " * (1 << 20)
        parts = [z.compress(b"[")] + [z.compress(chunk) for _ in range(decoded_mb)] + [z.compress(b"]"), z.flush()]
        _BOMBS[decoded_mb] = b"".join(parts)
    body = _BOMBS[decoded_mb]
    return lambda seen: Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body)


def drip(body: bytes, every: float = 1.0) -> Answer:
    """A valid answer sent one byte every `every` seconds: each read returns in time, the whole never does."""
    return lambda seen: Reply(200, {"Content-Type": "application/json"}, body, drip_every=every)


def deep_xml(depth: int = 50_000) -> Answer:
    """A Qualys-shaped XML document with an element nested `depth` deep inside its RESPONSE."""
    doc = ("<?xml version=\"1.0\" encoding=\"UTF-8\" ?><HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>"
           + "<X>" * depth + "</X>" * depth + "</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>").encode()
    return lambda seen: Reply(200, {"Content-Type": "text/xml"}, doc)


def attacker_answer(seen: Seen) -> Reply:
    """What a server an attacker controls answers: plausible enough that a sync would go on."""
    if seen.method == "POST" and seen.path.rstrip("/").endswith(("token", "login")):
        return json_reply({"access_token": "attacker-token", "token": "attacker-token", "expires_in": 3600})
    if "detection" in seen.path:
        return Reply(200, {"Content-Type": "text/xml"}, qualys_xml([], None))
    if seen.path.endswith("/vulns/export"):
        return json_reply({"export_uuid": str(uuid.uuid4())})
    return json_reply([])


def unauthorized(seen: Seen) -> Reply:
    return json_reply({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}, 401)


def guarded(check: Callable[[Seen], bool], answer: Answer) -> Answer:
    """`answer` for requests whose credentials pass `check`; 401 for the others."""
    return lambda seen: answer(seen) if check(seen) else unauthorized(seen)


def basic_ok(user: str, password: str) -> Callable[[Seen], bool]:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return lambda seen: seen.header("Authorization") == expected


# -------------------------------------------------------------------------------------- vendor shapes
ISO = "2024-05-01T10:00:00.000Z"


def okta_users(n: int, tag: str = "u") -> list[dict]:
    return [{"id": f"00u{tag}{i:014d}"[:20], "status": "ACTIVE", "created": ISO, "lastUpdated": ISO,
             "lastLogin": None, "profile": {"login": f"{tag}{i}@example.test", "email": f"{tag}{i}@example.test",
                                            "firstName": "Ada", "lastName": f"User{i}"}} for i in range(n)]


def entra_users(n: int) -> list[dict]:
    return [{"id": str(uuid.uuid4()), "userPrincipalName": f"e{i}@example.test", "displayName": f"E {i}",
             "mail": f"e{i}@example.test", "accountEnabled": True, "createdDateTime": "2024-05-01T10:00:00Z"}
            for i in range(n)]


def servicenow_cis(n: int) -> list[dict]:
    return [{"sys_id": uuid.uuid4().hex, "name": f"web{i:02d}", "host_name": f"web{i:02d}",
             "fqdn": f"web{i:02d}.example.test", "ip_address": f"10.9.0.{i + 1}", "sys_class_name": "cmdb_ci_server",
             "install_status": "1", "os": "Linux", "sys_updated_on": "2024-05-01 10:00:00"} for i in range(n)]


def qualys_xml(host_ids: list[int], next_url: str | None) -> bytes:
    hosts = "".join(
        f"<HOST><ID>{h}</ID><IP>10.8.0.{h % 250 + 1}</IP><DNS><![CDATA[q{h}.example.test]]></DNS><DETECTION_LIST>"
        f"<DETECTION><QID>105000</QID><TYPE>Confirmed</TYPE><SEVERITY>3</SEVERITY><STATUS>Active</STATUS>"
        f"<FIRST_FOUND_DATETIME>2024-05-01T10:00:00Z</FIRST_FOUND_DATETIME>"
        f"<LAST_FOUND_DATETIME>2024-05-01T10:00:00Z</LAST_FOUND_DATETIME>"
        f"<LAST_UPDATE_DATETIME>2024-05-01T10:00:30Z</LAST_UPDATE_DATETIME></DETECTION></DETECTION_LIST></HOST>"
        for h in host_ids)
    warning = (f"<WARNING><CODE>1980</CODE><TEXT>{len(host_ids)} record limit exceeded. Use URL to get next batch"
               f"</TEXT><URL><![CDATA[{next_url}]]></URL></WARNING>") if next_url else ""
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\" ?><HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>"
            f"<DATETIME>2024-05-01T10:01:00Z</DATETIME><HOST_LIST>{hosts}</HOST_LIST>{warning}</RESPONSE>"
            f"</HOST_LIST_VM_DETECTION_OUTPUT>").encode()


def link_next(url: str | None) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="next"'} if url else {}


def okta_page(users: list[dict], next_url: str | None = None) -> Answer:
    return lambda seen: json_reply(users, headers=link_next(next_url))


def entra_page(users: list[dict], next_url: str | None = None) -> Answer:
    doc: dict = {"value": users}
    if next_url:
        doc["@odata.nextLink"] = next_url
    return lambda seen: json_reply(doc)


def servicenow_page(cis: list[dict], next_url: str | None = None) -> Answer:
    return lambda seen: json_reply({"result": cis}, headers=link_next(next_url))


def qualys_page(host_ids: list[int], next_url: str | None = None) -> Answer:
    return lambda seen: Reply(200, {"Content-Type": "text/xml"}, qualys_xml(host_ids, next_url))


# ------------------------------------------------------------------------------------------ vendors
def okta(token: str, users: Answer) -> Routes:
    """Okta's users endpoint behind `Authorization: SSWS <token>`."""
    return {("GET", "/api/v1/users"): guarded(lambda s: s.header("Authorization") == f"SSWS {token}", users)}


def servicenow(user: str, password: str, cis: Answer) -> Routes:
    """ServiceNow's Table API (cmdb_ci) behind Basic auth."""
    return {("GET", "/api/now/table/cmdb_ci"): guarded(basic_ok(user, password), cis)}


def qualys(user: str, password: str, detections: Answer) -> Routes:
    """Qualys' host detection list behind Basic auth and the mandatory X-Requested-With header."""
    ok = basic_ok(user, password)
    return {("POST", "/api/2.0/fo/asset/host/vm/detection"):
            guarded(lambda s: ok(s) and bool(s.header("X-Requested-With")), detections)}


def tenable(access_key: str, secret_key: str, export: Answer) -> Routes:
    """Tenable's vulnerability export job behind the X-ApiKeys header."""
    keys = f"accessKey={access_key};secretKey={secret_key}"
    return {("POST", "/vulns/export"): guarded(lambda s: s.header("X-ApiKeys") == keys, export)}


def oauth_token(client_id: str, client_secret: str, issue: Callable[[], str]) -> Answer:
    """A client-credentials token endpoint that issues `issue()` to the right client."""
    def answer(seen: Seen) -> Reply:
        form = seen.form()
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return json_reply({"error": "invalid_client"}, 401)
        return json_reply({"token_type": "Bearer", "expires_in": 3599, "access_token": issue()})
    return answer


class Entra:
    """Entra ID: a token endpoint (the config's token_url) and Graph's users; a token is good once issued."""

    TOKEN_PATH = "/oauth2/v2.0/token"

    def __init__(self, client_id: str, client_secret: str, issue: Callable[[], str]):
        self.issued: list[str] = []
        self._issue = issue
        self.token = oauth_token(client_id, client_secret, self._remember)

    def _remember(self) -> str:
        value = self._issue()
        self.issued.append(value)
        return value

    def routes(self, users: Answer, token: Answer | None = None) -> Routes:
        check = lambda s: any(s.header("Authorization") == f"Bearer {t}" for t in self.issued)  # noqa: E731

        def latest(seen: Seen) -> Reply:  # a full sync first takes the delta link "from now on"
            base = seen.target.split("/v1.0/", 1)[0]
            return json_reply({"value": [], "@odata.deltaLink": f"{base}/v1.0/users/delta?$deltatoken=now"})

        return {("POST", self.TOKEN_PATH): token or self.token, ("GET", "/v1.0/users"): guarded(check, users),
                ("GET", "/v1.0/users/delta"): guarded(check, latest),
                ("GET", "/v1.0/directory/deletedItems/microsoft.graph.user"):
                    guarded(check, lambda seen: json_reply({"value": []}))}


class SessionVendor:
    """A session-login API: POST username/password to /login for a session token, then GET /items with it."""

    def __init__(self, username: str, password: str, issue: Callable[[], str]):
        self.username, self.password, self._issue = username, password, issue
        self.sessions: list[str] = []

    def login(self, seen: Seen) -> Reply:
        form = seen.form()
        if form.get("username") != self.username or form.get("password") != self.password:
            return json_reply({"error": "bad login"}, 401)
        self.sessions.append(self._issue())
        return json_reply({"session": {"token": self.sessions[-1]}})

    def routes(self, items: Answer, login: Answer | None = None) -> Routes:
        check = lambda s: any(s.header("Authorization") == f"Bearer {t}" for t in self.sessions)  # noqa: E731
        return {("POST", "/login"): login or self.login, ("GET", "/items"): guarded(check, items)}
