"""Greenbone gvmd results, as in ../shared/vendor-apis-2.md §33: GMP over TLS, not HTTP.

The GMP server, its commands, failure modes and the demo's environment are in nexus_sync/simulator/gmp.py
(shared with greenbone_hosts); this module serves ``<get_results filter=".." details="1"/>``: results in the fact sheet's
XML (host with the IP as text beside ``<asset asset_id>`` and ``<hostname>``, CVEs as
``<nvt><refs><ref type="cve" id>``, severity a float, threat a label, qod value and type), gvmd's default
``min_qod=70`` when the filter names none, ``levels`` (h m l g f) and ``min_qod`` honoured.
"""
from __future__ import annotations

import random
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from nexus_sync.simulator import data, register
from nexus_sync.simulator.gmp import GmpSim, uuid

THREAT_LEVEL = {"High": "h", "Medium": "m", "Low": "l", "Log": "g", "False Positive": "f"}
# (oid, name, CVEs, CVSS, threat): real-shaped NVTs
NVTS = [
    ("1.3.6.1.4.1.25623.1.0.142265", "Apache Tomcat RCE Vulnerability - April19 (Windows)", ["CVE-2019-0232"],
     "8.1", "High"),
    ("1.3.6.1.4.1.25623.1.0.108031", "SSL/TLS: Report Vulnerable Cipher Suites for HTTPS",
     ["CVE-2016-2183", "CVE-2016-6329", "CVE-2020-12872"], "7.5", "High"),
    ("1.3.6.1.4.1.25623.1.0.150712", "OpenSSH < 9.3p2 Remote Code Execution Vulnerability", ["CVE-2023-38408"],
     "9.8", "High"),
    ("1.3.6.1.4.1.25623.1.0.117274", "SSL/TLS: Deprecated TLSv1.0 and TLSv1.1 Protocol Detection",
     ["CVE-2011-3389", "CVE-2015-0204"], "4.3", "Medium"),
    ("1.3.6.1.4.1.25623.1.0.80091", "TCP Timestamps Information Disclosure", [], "2.6", "Low"),
    ("1.3.6.1.4.1.25623.1.0.10330", "Services", [], "0.0", "Log"),
    ("1.3.6.1.4.1.25623.1.0.810676", "Microsoft Windows SMB Server Multiple Vulnerabilities (4013389)",
     ["CVE-2017-0143", "CVE-2017-0144", "CVE-2017-0145"], "8.8", "High"),
]
QOD_TYPES = [("80", "remote_banner"), ("97", "package"), ("98", "remote_app"), ("70", "remote_banner_unreliable"),
             ("99", "remote_vul")]
PORTS = ["8080/tcp", "443/tcp", "22/tcp", "445/tcp", "general/tcp", "general/icmp", "3389/tcp"]


# ---------------------------------------------------------------- the results (fake data)

@data.register_generator("greenbone")
def generate_greenbone(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "greenbone", "records")
    hosts = []
    for i in range(size // 3 + 1):
        ip = f"10.0.{i // 250}.{i % 250 + 2}"
        asset = uuid(rng) if rng.random() < 0.9 else None  # a host gvmd has not linked to an asset yet
        name = f"app-{i % 250 + 2}" if rng.random() < 0.7 else None
        hosts.append((ip, asset, name))
    out = []
    for _ in range(size):
        oid, name, cves, score, threat = rng.pick(NVTS)
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        modified = min(data.DATA_EPOCH - 1, created + rng.below(20 * data.DAY))
        qod, qod_type = rng.pick(QOD_TYPES)
        out.append(result(uuid(rng), name, created, modified, rng.pick(hosts), rng.pick(PORTS),
                          (oid, name, cves), score, threat, qod, qod_type))
    return out


def result(rid: str, name: str, created: int, modified: int, host: tuple[str, str | None, str | None], port: str,
           nvt: tuple[str, str, list[str]], score: str, threat: str, qod: str, qod_type: str) -> dict:
    """One result as the connector reads the XML back (attributes as keys, mixed text under "#text")."""
    ip, asset, hostname = host
    host_el: Any = {"#text": ip, **({"asset": {"asset_id": asset}} if asset else {}),
                    **({"hostname": hostname} if hostname else {})}
    oid, nvt_name, cves = nvt
    refs = [{"type": "cve", "id": c} for c in cves]
    nvt_el: dict[str, Any] = {"oid": oid, "type": "nvt", "name": nvt_name}
    if refs:
        nvt_el["refs"] = {"ref": refs if len(refs) > 1 else refs[0]}
    return {"id": rid, "name": name, "owner": {"name": "admin"}, "modification_time": data.iso_z(modified),
            "creation_time": data.iso_z(created), "host": host_el if len(host_el) > 1 else ip, "port": port,
            "nvt": nvt_el, "threat": threat, "severity": score, "qod": {"value": qod, "type": qod_type}}


def render_result(rec: dict) -> str:
    host = rec["host"]
    if isinstance(host, dict):
        asset = host.get("asset")
        host_xml = (escape(host["#text"]) + (f"<asset asset_id={quoteattr(asset['asset_id'])}/>" if asset else "")
                    + (f"<hostname>{escape(host['hostname'])}</hostname>" if host.get("hostname") else ""))
    else:
        host_xml = escape(host)
    nvt = rec["nvt"]
    refs = nvt.get("refs", {}).get("ref", [])
    refs_xml = "".join(f"<ref type={quoteattr(r['type'])} id={quoteattr(r['id'])}/>"
                       for r in (refs if isinstance(refs, list) else [refs]))
    return (f"<result id={quoteattr(rec['id'])}><name>{escape(rec['name'])}</name>"
            f"<owner><name>{escape(rec['owner']['name'])}</name></owner>"
            f"<modification_time>{rec['modification_time']}</modification_time>"
            f"<creation_time>{rec['creation_time']}</creation_time>"
            f"<host>{host_xml}</host><port>{escape(rec['port'])}</port>"
            f"<nvt oid={quoteattr(nvt['oid'])}><type>{nvt['type']}</type><name>{escape(nvt['name'])}</name>"
            + (f"<refs>{refs_xml}</refs>" if refs_xml else "") + "</nvt>"
            f"<threat>{escape(rec['threat'])}</threat><severity>{rec['severity']}</severity>"
            f"<qod><value>{rec['qod']['value']}</value><type>{rec['qod']['type']}</type></qod></result>")


# ---------------------------------------------------------------- the vendor

@register
class GreenboneSim(GmpSim):
    name = "greenbone"
    command = "get_results"
    element = "result"
    default_terms = {"min_qod": "70"}

    def render_record(self, rec: dict) -> str:
        return render_result(rec)

    def matches(self, rec: dict, terms: dict[str, Any]) -> bool:
        if int(rec["qod"]["value"]) < int(terms["min_qod"]):
            return False
        return "levels" not in terms or THREAT_LEVEL.get(rec["threat"], "") in terms["levels"]

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A re-scan changed it: new modification time, and now and then an override moved its severity."""
        new = dict(record)
        new["modification_time"] = data.iso_z(data.mutation_time(rng, round_no))
        if rng.random() < 0.3:
            new["threat"], new["severity"] = rng.choice([("High", "7.5"), ("Medium", "5.0"), ("Low", "2.6"),
                                                         ("Log", "0.0")])
        return new
