"""Greenbone gvmd's GMP dialect (vendor-apis-2.md §33), shared by the simulated results and hosts
(connectors/greenbone*/simulator.py): a TLS server on a loopback port beside the HTTP simulator, with a self-signed
certificate made at start (`cryptography`; SAN 127.0.0.1 and localhost), reading one XML command at a time and
answering it; and GmpSim, the VendorSim serving get_version, authenticate and one listing command.

* ``<get_version/>`` (no authentication needed) → version 22.7 (python-gvm negotiates with it, on a connection
  of its own that it closes).
* ``<authenticate><credentials><username/><password/></credentials></authenticate>`` → 200 with role and
  timezone, or ``status="400" status_text="Authentication failed"``. The session lives as long as the
  connection; any other command before it → ``status="401" status_text="Authenticate first"``.
* the listing command with ``filter=".."``: records, then ``<results start max/>`` and
  ``<result_count>N<filtered>F</filtered><page>P</page>`` (``assets``/``asset_count`` for get_assets). Filter
  terms: ``first`` (1-based), ``rows`` (-1 = all), ``sort``/``sort-reverse`` (``modified``, ``created``),
  ``modification_time>``/``<``, ``created>``/``<``, ``min_qod``, ``levels``, ``apply_overrides``. Without
  ``rows`` gvmd's default filter applies: rows=10 (and min_qod=70 for results; quirk 4). Another term → 400.
* An unknown command → ``status="400" status_text="Bogus command name"``.
* Busy: the fault knobs ``rate_limit_every`` / ``rate_limit_rate`` / ``error_5xx_every`` answer the listing with
  ``status="503" status_text="Service temporarily down"`` (gvmd has no rate limit and gives no wait).

Errors are status *attributes* on ``<..._response>``; the connection stays usable after one. Stats count
``gmp_connections`` opened and ``gmp_open`` still open (a client that never closes shows here), and
``gmp_commands`` by name. ``GET /<vendor>/gmp`` on the HTTP simulator says where GMP listens and gives the CA
PEM. For tools in another process (`demo --all`): $NEXUS_SIM_<VENDOR>_PORT fixes a vendor's GMP port
(NEXUS_SIM_GREENBONE_PORT, NEXUS_SIM_GREENBONE_HOSTS_PORT) and $NEXUS_SIM_GMP_CA_DIR names a folder its CA PEM
is written to, as <vendor>-ca.pem.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import random
import re
import shutil
import socketserver
import ssl
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, route
from nexus_sync.simulator.faults import every

log = logging.getLogger(__name__)

GMP_VERSION = "22.7"
GMP_PORT_ENV = "NEXUS_SIM_{vendor}_PORT"  # a vendor's GMP port (default: any free one)
GMP_CA_ENV = "NEXUS_SIM_GMP_CA_DIR"  # also write each self-signed CA PEM into this folder
MAX_COMMAND = 1 << 20
SORT_FIELDS = {"modified": "modification_time", "created": "creation_time"}
_TERM = re.compile(r"^(?P<key>[a-z_-]+)(?P<op>=|>|<|:)(?P<value>.*)$")


def uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def status(tag: str, code: int, text: str, body: str = "") -> bytes:
    return f"<{tag}_response status=\"{code}\" status_text={quoteattr(text)}>{body}</{tag}_response>".encode()


# ---------------------------------------------------------------- TLS

def self_signed(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1 and localhost, its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nexus-sim gvmd")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "gvmd-cert.pem", directory / "gvmd-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def read_command(sock: ssl.SSLSocket) -> ET.Element | None:
    """One complete GMP command (a root element and its children), None when the client closed."""
    parser: Any = ET.XMLPullParser(events=("start", "end"))
    depth, size = 0, 0
    while True:
        chunk = sock.recv(16384)
        if not chunk:
            return None
        size += len(chunk)
        if size > MAX_COMMAND:
            raise ET.ParseError("command too large")
        parser.feed(chunk)
        for event, el in parser.read_events():
            depth += 1 if event == "start" else -1
            if event == "end" and depth == 0:
                return el


class _Handler(socketserver.BaseRequestHandler):
    server: "_GmpServer"

    def handle(self) -> None:
        sim = self.server.sim
        try:
            tls = self.server.context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):  # the client refused our certificate (or went away): nothing to serve
            return
        tls.settimeout(30)
        session: dict[str, Any] = {"user": None}
        sim.connection(+1)
        try:
            while (cmd := read_command(tls)) is not None:
                tls.sendall(sim.answer(cmd, session))
        except (OSError, ET.ParseError):  # reset, timeout or garbage: gvmd drops such a connection too
            pass
        finally:
            sim.connection(-1)
            tls.close()


class _GmpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim: "GmpSim", context: ssl.SSLContext, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.sim, self.context = sim, context


def gmp_server(sim: "GmpSim", context: ssl.SSLContext) -> _GmpServer:
    """On $NEXUS_SIM_<VENDOR>_PORT where set (the demo names it before starting the simulator in another
    process), else on any free port; a taken port falls back to a free one (two simulators in one process)."""
    env = GMP_PORT_ENV.format(vendor=sim.name.upper())
    wanted = int(os.environ.get(env) or 0)
    try:
        return _GmpServer(sim, context, wanted)
    except OSError as exc:
        if not wanted:
            raise
        log.warning("%s simulator: %s=%s is taken (%s); serving GMP on a free port", sim.name, env, wanted, exc)
        return _GmpServer(sim, context, 0)


# ---------------------------------------------------------------- the vendor base

class GmpSim(VendorSim):
    """A gvmd serving one listing command over GMP/TLS; subclasses name it and render/filter its records."""

    id_field = "id"
    default_credentials = {"username": "sim-admin", "password": "sim-gvmd-password"}
    command: ClassVar[str]  # the listing command: get_results, get_assets
    element: ClassVar[str]  # its record element: result, asset
    default_terms: ClassVar[dict[str, str]] = {}  # gvmd's default filter terms for it besides rows=10

    def render_record(self, rec: dict) -> str:
        raise NotImplementedError

    def matches(self, rec: dict, terms: dict[str, Any]) -> bool:
        """Whether a record passes the filter's own terms (the time terms are checked by `listing`)."""
        return True

    def accepts(self, cmd: ET.Element) -> bool:
        """Whether this listing command asks for what is served (get_assets: type="host")."""
        return True

    def __init__(self, sim: Any):
        super().__init__(sim)
        self._dir = Path(tempfile.mkdtemp(prefix="nexus-sim-gvmd-"))
        self.ca_file, key_file = self_signed(self._dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server = gmp_server(self, context)
        if os.environ.get(GMP_CA_ENV):  # where the demo's connector config reads the CA from
            (Path(os.environ[GMP_CA_ENV]) / f"{self.name}-ca.pem").write_bytes(self.ca_file.read_bytes())
        self.port = int(self.server.server_address[1])
        self._thread: threading.Thread | None = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"nexus-sim-gmp:{self.port}",
            daemon=True)
        self._thread.start()

    def base_url(self, http_url: str) -> str:
        """gvmd's GMP-over-TLS address, not the HTTP prefix."""
        return f"https://127.0.0.1:{self.port}"

    def connector_config(self) -> dict[str, Any]:
        return {"base_url": self.base_url(""), "ca_file": str(self.ca_file)}

    def close(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: only once, while it runs
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats.update(gmp_connections=0, gmp_open=getattr(self, "_open", 0), gmp_commands={})

    def connection(self, delta: int) -> None:
        with self.lock:
            self._open = getattr(self, "_open", 0) + delta
            self.stats["gmp_open"] = self._open
            if delta > 0:
                self.stats["gmp_connections"] += 1

    @route("GET", "/gmp", data_request=False)
    def where(self, req: Request) -> Response:
        return Response(200, self.render({"base_url": self.base_url(""), "ca_pem": self.ca_file.read_text()}))

    # ---- GMP ---------------------------------------------------------------------------------

    def answer(self, cmd: ET.Element, session: dict[str, Any]) -> bytes:
        with self.lock:
            counts = self.stats["gmp_commands"]
            counts[cmd.tag] = counts.get(cmd.tag, 0) + 1
        if cmd.tag == "get_version":
            return status("get_version", 200, "OK", f"<version>{GMP_VERSION}</version>")
        if cmd.tag == "authenticate":
            user, password = cmd.findtext("credentials/username"), cmd.findtext("credentials/password")
            if user and user == self.credentials.get("username") and password == self.credentials.get("password"):
                session["user"] = user
                return status("authenticate", 200, "OK", "<role>Admin</role><timezone>UTC</timezone>")
            session["user"] = None
            return status("authenticate", 400, "Authentication failed")
        if session["user"] is None:
            return status(cmd.tag, 401, "Authenticate first")
        if cmd.tag == self.command and self.accepts(cmd):
            n = self.next_request()
            drawn = self.draw_fault()
            if (every(self.faults["rate_limit_every"], n) or every(self.faults["error_5xx_every"], n)
                    or drawn in ("rate_limit_rate", "error_5xx_rate")):
                self.count_fault("rate_limit")
                return status(cmd.tag, 503, "Service temporarily down")
            try:
                return self.listing(cmd.get("filter"))
            except BadRequest as exc:
                return status(cmd.tag, 400, exc.message)
        return status(cmd.tag, 400, "Bogus command name")

    def listing(self, filter_string: str | None) -> bytes:
        terms = parse_filter(filter_string or "", self.default_terms)
        with self.lock:
            self.stats["data_requests"] += 1
            rows = [self.records[rid] for rid in self.order]
        total = len(rows)
        rows = [r for r in rows if in_time(r, terms) and self.matches(r, terms)]
        by = terms.get("sort") or terms.get("sort-reverse")
        if by is not None:  # stable: ties keep gvmd's own (creation) order
            if by not in SORT_FIELDS:
                raise BadRequest(f"Bogus sort field {by!r}")
            rows.sort(key=lambda r: r[SORT_FIELDS[by]], reverse="sort-reverse" in terms)
        first, count = max(1, int(terms.get("first", 1))), int(terms.get("rows", 10))
        page = rows[first - 1:] if count < 0 else rows[first - 1:first - 1 + count]
        tag = self.element
        body = ("".join(self.render_record(r) for r in page)
                + f"<filters id=\"\"><term>{escape(filter_string or '')}</term></filters>"
                + f"<{tag}s start=\"{first}\" max=\"{count}\"/>"
                + f"<{tag}_count>{total}<filtered>{len(rows)}</filtered><page>{len(page)}</page></{tag}_count>")
        return status(self.command, 200, "OK", body)


def parse_filter(text: str, defaults: dict[str, str]) -> dict[str, Any]:
    """GMP filter terms → {key: value} ("modification_time>" keys keep their operator); BadRequest for a term
    the simulator does not know. gvmd's default filter fills what is missing (rows=10, `defaults`)."""
    terms: dict[str, Any] = dict(defaults)
    for token in text.split():
        m = _TERM.match(token)
        if not m:
            raise BadRequest(f"Bogus filter term {token!r}")
        key, op, value = m["key"], m["op"], m["value"]
        if key in ("modification_time", "created") and op in "<>":
            try:
                terms[key + op] = data.iso_z(int(data.parse_iso(value).timestamp()))
            except ValueError:
                raise BadRequest(f"Bad time in filter term {token!r}") from None
        elif key in ("first", "rows", "min_qod", "apply_overrides") and op == "=":
            if not re.fullmatch(r"-?\d+", value):
                raise BadRequest(f"Bad number in filter term {token!r}")
            terms[key] = value
        elif key in ("sort", "sort-reverse", "levels") and op == "=":
            terms[key] = value
        else:
            raise BadRequest(f"Bogus filter term {token!r}")
    return terms


def in_time(rec: dict, terms: dict[str, Any]) -> bool:
    for key, field in (("modification_time", "modification_time"), ("created", "creation_time")):
        if key + ">" in terms and not rec[field] > terms[key + ">"]:
            return False
        if key + "<" in terms and not rec[field] < terms[key + "<"]:
            return False
    return True
