"""Qualys VMDR host list detection, as in ../shared/vendor-apis.md §7.

Served under ``/qualys``:

* ``GET|POST /api/2.0/fo/asset/host/vm/detection/?action=list`` (parameters in the query string or as a
  form body) → ``HOST_LIST_VM_DETECTION_OUTPUT`` XML: hosts by ascending ``ID``, each with its
  ``DETECTION_LIST``. ``truncation_limit`` hosts per answer (default 1000); when more hosts remain a
  ``WARNING`` (CODE 1980) carries the ``URL`` of the next batch (same parameters, ``id_min`` = next host id).
  Filters: ``id_min``, ``status`` (default New,Active,Re-Opened: Fixed only when asked),
  ``detection_updated_since`` (on the detection's ``LAST_UPDATE_DATETIME``); a host without a matching
  detection is left out.
  A detection is one QID on one port/protocol of a host: a QID found on two ports is two detections.
* ``GET|POST /api/2.0/fo/knowledge_base/vuln/?action=list&ids=...`` → ``KNOWLEDGE_BASE_VULN_LIST_OUTPUT`` XML:
  one ``VULN`` (``QID``, ``VULN_TYPE``, ``SEVERITY_LEVEL``, ``TITLE``, ``CVE_LIST/CVE/{ID,URL}``) per known QID
  asked for (``ids``: QIDs and ``a-b`` ranges, comma-separated); a check that names no CVE has no
  ``CVE_LIST``. Detections carry QIDs only; this is where their CVEs come from. Each call is counted in
  the stats (``by_path``).
* HTTP Basic auth plus the mandatory ``X-Requested-With`` header.
* Errors are ``SIMPLE_RETURN/RESPONSE/{DATETIME,CODE,TEXT}``; over the rate limit → **409** with
  ``X-RateLimit-ToWait-Sec``; every answer has ``X-RateLimit-*`` and ``X-Concurrency-Limit-*`` headers.
"""
from __future__ import annotations

import base64
import math
import random
import time
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, register, route

PATH = "/api/2.0/fo/asset/host/vm/detection/"
KB_PATH = "/api/2.0/fo/knowledge_base/vuln/"
DEFAULT_STATUS = ("New", "Active", "Re-Opened")
STATUSES = ("New", "Active", "Fixed", "Re-Opened")
_CDATA = {"OS", "DNS", "NETBIOS", "RESULTS", "URL", "TEXT", "TITLE"}
_OS = ["Ubuntu 22.04", "Red Hat Enterprise Linux 8.9", "Windows Server 2019", "Windows 10 Enterprise",
       "Debian 12", "Amazon Linux 2"]
_QIDS = [105000, 105943, 38173, 38628, 90043, 91850, 45038, 86002, 11827, 376021, 370914, 150004]
_PORTS = [(443, "tcp"), (22, "tcp"), (80, "tcp"), (3389, "tcp"), (161, "udp"), (None, None)]
_TWO_PORTS = [(443, "tcp"), (8443, "tcp")]
# the KnowledgeBase: QID → (type, severity level, title, CVEs); made-up values, real shapes. Several checks
# (configuration, certificates, scan information) name no CVE, and one QID may name several.
KNOWLEDGE_BASE = {
    105000: ("Vulnerability", 3, "OpenSSH Multiple Vulnerabilities", ["CVE-2023-48795", "CVE-2023-51385"]),
    105943: ("Vulnerability", 5, "EOL/Obsolete Operating System", []),
    38173: ("Vulnerability", 2, "SSL Certificate - Signature Verification Failed Vulnerability", []),
    38628: ("Vulnerability", 3, "SSL/TLS Server supports TLSv1.0", ["CVE-2011-3389"]),
    90043: ("Vulnerability", 2, "SMB Signing Disabled or SMB Signing Not Required", []),
    91850: ("Vulnerability", 4, "Microsoft Windows Security Update", ["CVE-2021-34527", "CVE-2021-1675"]),
    45038: ("Information Gathered", 1, "Host Scan Time - Scanner", []),
    86002: ("Information Gathered", 1, "SSL Certificate - Information", []),
    11827: ("Vulnerability", 2, "HTTP Security Header Not Detected", ["CVE-2022-31629", "CVE-2022-31628"]),
    376021: ("Vulnerability", 5, "Apache Log4j Remote Code Execution (Log4Shell)", ["CVE-2021-44228"]),
    370914: ("Vulnerability", 4, "Sudo Heap-Based Buffer Overflow (Baron Samedit)", ["CVE-2021-3156"]),
    150004: ("Potential Vulnerability", 2, "Path-Based Vulnerability", []),
}
_ERRORS = {400: 1905, 401: 2000, 404: 1901, 405: 1901, 409: 1965, 500: 999, 503: 999}


@data.register_generator("qualys")
def generate_qualys(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "qualys", "records")
    out, host_id = [], 7000
    for i in range(size):
        host_id += 1 + rng.below(3)  # ascending, with gaps: id_min paging must not assume density
        scan = rng.between(data.DATA_EPOCH - 20 * data.DAY, data.DATA_EPOCH - 60)
        dets = []
        for n, qid in enumerate(rng.sample(_QIDS, 1 + rng.below(4))):
            ports = [rng.pick(_PORTS)]
            if n == 0 and i % 12 == 5:  # one QID on two ports (a TLS check on both TLS ports): two detections
                ports = _TWO_PORTS
            first = rng.between(data.DATA_START, scan)
            base = {"QID": qid, "TYPE": rng.pick(["Confirmed", "Confirmed", "Potential"]),
                    "SEVERITY": 1 + rng.below(5), "STATUS": rng.pick(STATUSES)}
            times_found = 1 + rng.below(40)
            for port, proto in ports:
                det = dict(base)
                if port is not None:
                    det.update(PORT=port, PROTOCOL=proto, SSL=int(port in (443, 8443)))
                det.update(RESULTS=f"QID {qid} evidence on host {i}", FIRST_FOUND_DATETIME=data.iso_z(first),
                           LAST_FOUND_DATETIME=data.iso_z(scan), LAST_UPDATE_DATETIME=data.iso_z(scan + 30),
                           TIMES_FOUND=times_found, IS_IGNORED=0, IS_DISABLED=0)
                dets.append(det)
        out.append({"ID": str(host_id), "IP": f"10.{i // 65536 % 256}.{i // 256 % 256}.{1 + i % 254}",
                    "TRACKING_METHOD": rng.pick(["IP", "DNS", "AGENT"]), "OS": rng.pick(_OS),
                    "DNS": f"host-{i:05d}.example.internal", "LAST_SCAN_DATETIME": data.iso_z(scan),
                    "LAST_VM_SCANNED_DATE": data.iso_z(scan), "DETECTION_LIST": dets})
    return out


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml(tag, v) for v in value)
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_xml(k, v) for k, v in value.items()) + f"</{tag}>"
    text = str(value)
    return f"<{tag}><![CDATA[{text}]]></{tag}>" if tag in _CDATA else f"<{tag}>{escape(text)}</{tag}>"


@register
class QualysSim(VendorSim):
    name = "qualys"
    id_field = "ID"
    default_credentials = {"username": "sim-qualys-user", "password": "sim-qualys-pass"}
    default_rate_limit = 300

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A rescan: one detection changes status (fixed / re-opened) or severity; its update time moves on."""
        ts = data.mutation_time(rng, round_no)
        dets = [dict(d) for d in record["DETECTION_LIST"]]
        d = dets[rng.randrange(len(dets))]
        if d["STATUS"] == "Fixed":
            d["STATUS"] = "Re-Opened"
        elif rng.random() < 0.5:
            d["STATUS"] = "Fixed"
        else:
            d["SEVERITY"] = 1 + (d["SEVERITY"] % 5)
        d["LAST_FOUND_DATETIME"] = d["LAST_UPDATE_DATETIME"] = data.iso_z(ts)
        d["TIMES_FOUND"] += 1
        return {**record, "LAST_SCAN_DATETIME": data.iso_z(ts), "LAST_VM_SCANNED_DATE": data.iso_z(ts),
                "DETECTION_LIST": dets}

    # ---- dialect -------------------------------------------------------------------

    def _doc(self, status: int, root: str, body: str, headers: list | None = None) -> Response:
        xml = f'<?xml version="1.0" encoding="UTF-8" ?>\n<{root}>{body}</{root}>'
        return Response(status, xml.encode(), list(headers or []), content_type="text/xml;charset=UTF-8")

    def error(self, status: int, message: str) -> Response:
        response = {"DATETIME": data.iso_z(int(time.time())), "CODE": _ERRORS.get(status, 999), "TEXT": message}
        return self._doc(status, "SIMPLE_RETURN", _xml("RESPONSE", response))

    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        wait = max(1, math.ceil(reset_epoch - time.time())) if remaining == 0 else 0
        return [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Window-Sec", "60"),
                ("X-RateLimit-Remaining", str(remaining)), ("X-RateLimit-ToWait-Sec", str(wait)),
                ("X-Concurrency-Limit-Limit", "2"), ("X-Concurrency-Limit-Running", "1")]

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(409, "This API cannot be run again until the rate limit window frees up.")
        resp.headers.extend(self.rate_limit_headers(limit, 0, reset_epoch))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        if not req.headers.get("X-Requested-With"):
            return self.error(400, "X-Requested-With header is required for all API requests.")
        scheme, _, b64 = (req.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(b64).decode().partition(":")
        except ValueError:
            user = password = ""
        if scheme == "Basic" and (user, password) == (self.credentials["username"], self.credentials["password"]):
            return None
        return self.error(401, "Bad Login/Password")

    # ---- detections ----------------------------------------------------------------------

    @route("GET", PATH)
    def list_get(self, req: Request) -> Response:
        return self._list(req, req.query)

    @route("POST", PATH)
    def list_post(self, req: Request) -> Response:
        return self._list(req, {**parse_qs(req.body.decode(), keep_blank_values=True), **req.query})

    def _list(self, req: Request, query: dict[str, list[str]]) -> Response:
        args = {k: v[0] for k, v in query.items()}
        if args.get("action") != "list":
            raise BadRequest("Missing or unsupported value for parameter action")
        limit = _int(args, "truncation_limit", 1000)
        id_min = _int(args, "id_min", 0)
        statuses = set(args.get("status", ",".join(DEFAULT_STATUS)).split(","))
        since = args.get("detection_updated_since")
        if since:
            try:
                since = data.iso_z(int(data.parse_iso(since).timestamp()))
            except ValueError:
                raise BadRequest(f"invalid value for detection_updated_since: {since}") from None
        with self.lock:
            hosts = sorted(self.records.values(), key=lambda h: int(h["ID"]))
        page: list[dict] = []
        more_from = None
        for host in hosts:
            if int(host["ID"]) < id_min:
                continue
            dets = [d for d in host["DETECTION_LIST"] if d["STATUS"] in statuses
                    and (not since or d["LAST_UPDATE_DATETIME"] >= since)]
            if not dets:
                continue
            if limit and len(page) == limit:
                more_from = host["ID"]
                break
            page.append({**host, "DETECTION_LIST": {"DETECTION": dets}})
        body = _xml("DATETIME", data.iso_z(int(time.time())))
        if page:
            body += _xml("HOST_LIST", {"HOST": page})
        if more_from is not None:
            url = f"{req.base_url}{PATH}?{urlencode({**args, 'id_min': more_from})}"
            body += _xml("WARNING", {"CODE": 1980, "TEXT": f"{limit} record limit exceeded. Use URL to get next "
                                                           "batch of results.", "URL": url})
        return self._doc(200, "HOST_LIST_VM_DETECTION_OUTPUT", f"<RESPONSE>{body}</RESPONSE>")

    # ---- KnowledgeBase -------------------------------------------------------------------

    @route("GET", KB_PATH)
    def kb_get(self, req: Request) -> Response:
        return self._kb(req.query)

    @route("POST", KB_PATH)
    def kb_post(self, req: Request) -> Response:
        return self._kb({**parse_qs(req.body.decode(), keep_blank_values=True), **req.query})

    def _kb(self, query: dict[str, list[str]]) -> Response:
        args = {k: v[0] for k, v in query.items()}
        if args.get("action") != "list":
            raise BadRequest("Missing or unsupported value for parameter action")
        vulns = []
        for qid in _qids(args.get("ids", "")):
            vuln_type, level, title, cves = KNOWLEDGE_BASE[qid]
            vuln: dict[str, Any] = {"QID": qid, "VULN_TYPE": vuln_type, "SEVERITY_LEVEL": level, "TITLE": title}
            if cves:
                vuln["CVE_LIST"] = {"CVE": [{"ID": c, "URL": f"https://nvd.nist.gov/vuln/detail/{c}"} for c in cves]}
            vulns.append(vuln)
        body = _xml("DATETIME", data.iso_z(int(time.time())))
        if vulns:
            body += _xml("VULN_LIST", {"VULN": vulns})
        return self._doc(200, "KNOWLEDGE_BASE_VULN_LIST_OUTPUT", f"<RESPONSE>{body}</RESPONSE>")


def _qids(ids: str) -> list[int]:
    """The known QIDs that `ids` names: QIDs and `a-b` ranges, comma-separated."""
    try:
        spans = [(int(lo), int(hi or lo)) for lo, _, hi in
                 (part.strip().partition("-") for part in ids.split(",") if part.strip())]
    except ValueError:
        raise BadRequest(f"invalid value for ids: {ids}") from None
    return [q for q in sorted(KNOWLEDGE_BASE) if any(lo <= q <= hi for lo, hi in spans)]


def _int(args: dict[str, str], name: str, default: int) -> int:
    try:
        return int(args.get(name) or default)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {args[name]}") from None
