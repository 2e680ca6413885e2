"""Greenbone gvmd host assets over GMP (vendor-apis-2.md §33: `<get_assets type="host"/>`), served by the GMP
server of nexus_sync/simulator/gmp.py (commands, failures, environment described there) on a port of
its own. A get_assets without type="host" is not served (400 Bogus command name, as for any other command).

Each host asset (GMP reference shape): id, owner, name (its IP), creation/modification time, writable, in_use,
`<identifiers><identifier id><name>ip|hostname|MAC|OS</name><value/>…<source id><type>Report Host
Detail</type></source></identifier>…`, `<type>host</type>`, and `<host><severity><value/></severity><detail>
<name>best_os_txt|best_os_cpe</name><value/></detail>…</host>`; one identifier or detail comes as one element.
"""
from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from nexus_sync.simulator import data, register
from nexus_sync.simulator.gmp import GmpSim, uuid

OSES = [("Microsoft Windows Server 2019", "cpe:/o:microsoft:windows_server_2019"),
        ("Ubuntu 22.04", "cpe:/o:canonical:ubuntu_linux:22.04"),
        ("Debian GNU/Linux 12", "cpe:/o:debian:debian_linux:12"),
        ("Red Hat Enterprise Linux 8", "cpe:/o:redhat:enterprise_linux:8")]


def _one_or_many(items: list[dict]) -> Any:
    return items[0] if len(items) == 1 else items


@data.register_generator("greenbone_hosts")
def generate_greenbone_hosts(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "greenbone_hosts", "records")
    out = []
    for i in range(size):
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        modified = min(data.DATA_EPOCH - 1, created + rng.below(20 * data.DAY))
        ip = f"10.0.{i // 250}.{i % 250 + 2}"
        report = uuid(rng)
        values = [("ip", ip)]
        if rng.random() < 0.7:
            values.append(("hostname", f"app-{i % 250 + 2}.corp.example.com"))
        if rng.random() < 0.8:
            values.append(("MAC", ":".join(f"{rng.below(256):02X}" for _ in range(6))))
        os_txt, os_cpe = rng.pick(OSES)
        if rng.random() < 0.9:
            values.append(("OS", os_cpe))
        idents = [{"id": uuid(rng), "name": name, "value": value, "creation_time": data.iso_z(created),
                   "modification_time": data.iso_z(modified), "source": {"id": report, "type": "Report Host Detail"}}
                  for name, value in values]
        details = [{"name": "best_os_cpe", "value": os_cpe}, {"name": "best_os_txt", "value": os_txt}]
        out.append({"id": uuid(rng), "owner": {"name": "admin"}, "name": ip,
                    "creation_time": data.iso_z(created), "modification_time": data.iso_z(modified),
                    "writable": "1", "in_use": "0", "identifiers": {"identifier": _one_or_many(idents)},
                    "type": "host", "host": {"severity": {"value": rng.pick(["0.0", "5.0", "8.1", "10.0"])},
                                             "detail": _one_or_many(details)}})
    return out


def render_host(rec: dict) -> str:
    idents = rec["identifiers"]["identifier"]
    idents_xml = "".join(
        f"<identifier id={quoteattr(i['id'])}><name>{escape(i['name'])}</name><value>{escape(i['value'])}</value>"
        f"<creation_time>{i['creation_time']}</creation_time>"
        f"<modification_time>{i['modification_time']}</modification_time>"
        f"<source id={quoteattr(i['source']['id'])}><type>{escape(i['source']['type'])}</type></source></identifier>"
        for i in (idents if isinstance(idents, list) else [idents]))
    details = rec["host"]["detail"]
    details_xml = "".join(f"<detail><name>{escape(d['name'])}</name><value>{escape(d['value'])}</value></detail>"
                          for d in (details if isinstance(details, list) else [details]))
    return (f"<asset id={quoteattr(rec['id'])}><owner><name>{escape(rec['owner']['name'])}</name></owner>"
            f"<name>{escape(rec['name'])}</name><creation_time>{rec['creation_time']}</creation_time>"
            f"<modification_time>{rec['modification_time']}</modification_time>"
            f"<writable>{rec['writable']}</writable><in_use>{rec['in_use']}</in_use>"
            f"<identifiers>{idents_xml}</identifiers><type>{rec['type']}</type>"
            f"<host><severity><value>{rec['host']['severity']['value']}</value></severity>{details_xml}</host>"
            "</asset>")


@register
class GreenboneHostsSim(GmpSim):
    name = "greenbone_hosts"
    command = "get_assets"
    element = "asset"

    def accepts(self, cmd: ET.Element) -> bool:
        return cmd.get("type") == "host"

    def render_record(self, rec: dict) -> str:
        return render_host(rec)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A new scan saw the host: new modification time and a new severity."""
        new = dict(record)
        new["modification_time"] = data.iso_z(data.mutation_time(rng, round_no))
        new["host"] = {**record["host"], "severity": {"value": rng.choice(["0.0", "5.0", "8.1", "10.0"])}}
        return new
