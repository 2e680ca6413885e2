"""Greenbone / OpenVAS (gvmd) hosts as assets (vendor-apis-2.md §33): `<get_assets type="host" filter=".."/>`
over GMP (python-gvm's get_hosts), the same connection-per-page fetch path as the results
(connectors/greenbone/listing.py). The host asset's XML is GMP's (identifiers of the scans that saw it: ip,
hostname, MAC, OS; host details best_os_txt / best_os_cpe); the fact sheet names only the command, so the
shape follows the GMP reference (medium confidence). A host's identity is gvmd's asset id, the `asset_id`
a result's `<host>` links to."""
from __future__ import annotations

import builtins
import ipaddress
from typing import Any, ClassVar

from connectors.base import ConnectorConfig
from connectors.greenbone.listing import GmpListing, GreenboneConfig
from connectors.greenbone.results import text_of
from connectors.machinery.xml import as_list
from nexus_sync.models import canonical_mac, utc_iso


class GreenboneHostsConnector(GmpListing):
    type: ClassVar[str] = "greenbone_hosts"
    title: ClassVar[str] = "Greenbone / OpenVAS hosts"
    category: ClassVar[str] = "vulnerability"
    kind: ClassVar[str] = "asset"
    stream: ClassVar[str] = "hosts"
    command: ClassVar[str] = "get_hosts"  # python-gvm: <get_assets type="host" filter=".." details="1"/>
    element: ClassVar[str] = "asset"
    count_element: ClassVar[str] = "asset_count"
    Config: ClassVar[builtins.type[ConnectorConfig]] = GreenboneConfig


def identifiers(raw: dict[str, Any]) -> dict[str, list[str]]:
    """Identifier values by lower-case name (ip, hostname, mac, os), newest first as gvmd lists them."""
    idents = raw.get("identifiers")
    out: dict[str, list[str]] = {}
    for ident in as_list(idents.get("identifier") if isinstance(idents, dict) else None):
        if isinstance(ident, dict):
            name, value = text_of(ident.get("name")), text_of(ident.get("value"))
            if name and value:
                out.setdefault(name.lower(), []).append(value)
    return out


def details(raw: dict[str, Any]) -> dict[str, str]:
    """`<host><detail><name>best_os_txt</name><value>…` as name → value (the first of each name)."""
    host = raw.get("host")
    out: dict[str, str] = {}
    for detail in as_list(host.get("detail") if isinstance(host, dict) else None):
        if isinstance(detail, dict):
            name, value = text_of(detail.get("name")), text_of(detail.get("value"))
            if name and value:
                out.setdefault(name, value)
    return out


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:  # not an address (gvmd names some hosts by name): kept in raw_data only
        return None


def _mac(value: str) -> str | None:
    try:
        return canonical_mac(value)
    except ValueError:  # not a MAC: kept in raw_data only
        return None


def _time(value: Any) -> str | None:
    try:
        return utc_iso(text_of(value))
    except ValueError:
        return None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    ids = identifiers(raw)
    info = details(raw)
    name = text_of(raw.get("name"))
    ips = [ip for ip in (_ip(v) for v in [*ids.get("ip", []), *([name] if name else [])]) if ip]
    return {
        "uid": raw["id"],
        "hostname": next(iter(ids.get("hostname", [])), None),
        "name": name,
        "os_name": info.get("best_os_txt") or next(iter(ids.get("os", [])), None),
        "ips": list(dict.fromkeys(ips)),
        "macs": list(dict.fromkeys(m for m in (_mac(v) for v in ids.get("mac", [])) if m)),
        "first_seen_time": _time(raw.get("creation_time")),
        "last_seen_time": _time(raw.get("modification_time")),
        "modified_time": _time(raw.get("modification_time")),
    }


GreenboneHostsConnector.normalize = staticmethod(normalize)  # type: ignore[method-assign]  # defined below the class
CONNECTOR = GreenboneHostsConnector
