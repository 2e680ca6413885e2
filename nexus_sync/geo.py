"""Geolocation of public IP addresses at normalize (the spec's enrichment "add geolocation data"), offline.

The data is iptocc's (MIT or Apache-2.0): the country each address block was assigned to by its Regional
Internet Registry, compiled into the wheel (no data file, no network at run time; a lookup is ~0.2 µs).
Registration country, not street address — it agrees with commercial geolocation for ~95 % of IPv4, and it
has no ASN or organisation, so a location here is {"country": "<ISO 3166-1 alpha-2>"}.

Only addresses reachable on the internet are located: private, loopback, link-local, CGNAT (100.64/10),
documentation, benchmarking, multicast and reserved ones get none (an IPv4-mapped IPv6 address is its IPv4).
A model declares which of its fields hold addresses (`IP_FIELDS`) and keeps the result in its `geo` field,
address → location. A lookup that fails leaves that address without a location: it never fails a record.
"""
from __future__ import annotations

import bisect
import ipaddress
import logging
import socket
from typing import Any, Callable

from iptocc import country_code

log = logging.getLogger(__name__)

Location = dict[str, str]
_UNSEEN: Any = object()  # a page's cache miss (None is a cached "no location")


# IPv4 blocks that are not on the internet (IANA's special-purpose registry, and what ipaddress's is_global
# leaves out) plus multicast and reserved: as integer ranges, searched by bisection — ipaddress's own
# properties test a list of networks one by one (~10 µs an address), this takes ~0.5 µs
_NOT_PUBLIC_V4 = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                  "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
                  "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")
_V4_RANGES = sorted((int(n.network_address), int(n.broadcast_address))
                    for n in map(ipaddress.IPv4Network, _NOT_PUBLIC_V4))
_V4_STARTS = [start for start, _ in _V4_RANGES]


def _first_octets() -> dict[str, bool | None]:
    """First octet → True (the whole /8 is public), False (none of it is), None (look closer)."""
    out: dict[str, bool | None] = {}
    for octet in range(256):
        lo, hi = octet << 24, (octet << 24) | 0xFFFFFF
        inside = sum(min(hi, end) - max(lo, start) + 1 for start, end in _V4_RANGES if start <= hi and end >= lo)
        out[str(octet)] = True if inside == 0 else False if inside == hi - lo + 1 else None
    return out


_V4_FIRST = _first_octets()  # a whole /8 decided without parsing the address: most addresses are


def public_address(ip: str) -> str | None:
    """`ip` (canonical) as the data knows it if it is an address on the internet, else None. An IPv4-mapped
    IPv6 address is its IPv4."""
    if ":" not in ip:
        whole = _V4_FIRST.get(ip[:ip.find(".")])
        if whole is not None:
            return ip if whole else None
        n = int.from_bytes(socket.inet_aton(ip), "big")
        i = bisect.bisect_right(_V4_STARTS, n) - 1
        return ip if i < 0 or n > _V4_RANGES[i][1] else None
    addr = ipaddress.IPv6Address(ip)
    if addr.ipv4_mapped is not None:
        return public_address(str(addr.ipv4_mapped))
    # is_global leaves out loopback, unique-local, link-local, documentation, …; multicast, reserved and
    # the deprecated site-local blocks count as global there but locate nowhere
    if not addr.is_global or addr.is_multicast or addr.is_reserved or addr.is_site_local:
        return None
    return ip


def locate(ip: str) -> Location | None:
    """The location of one address: None for an address that is not public or that the data does not hold."""
    public = public_address(ip)
    country = country_code(public) if public is not None else None
    return {"country": country} if country else None


def page_locator(model: type[Any]) -> Callable[[dict[str, Any]], None] | None:
    """For one page of a kind: a function that sets a validated record's `geo` from its address fields, with
    one lookup per distinct address in the page; None when the kind has no address fields."""
    fields: tuple[str, ...] = getattr(model, "IP_FIELDS", ())
    if not fields:
        return None
    seen: dict[str, Location | None] = {}
    failed: list[str] = []

    def lookup(ip: str) -> Location | None:
        try:  # locate(), one call less: this runs once per address of a page
            public = public_address(ip)
            country = country_code(public) if public is not None else None
            found = {"country": country} if country else None
        except Exception as exc:  # a bad address or a data error: that address has no location, the record lands
            if not failed:
                log.warning("geolocation of %r failed (%s: %s): left without a location", ip, type(exc).__name__, exc)
            failed.append(ip)
            found = None
        seen[ip] = found
        return found

    def enrich(record: dict[str, Any]) -> None:
        geo: dict[str, Location] | None = None
        for name in fields:
            value = record.get(name)
            if not value:
                continue
            for ip in value if type(value) is list else (value,):
                found = seen.get(ip, _UNSEEN)
                if found is _UNSEEN:
                    found = lookup(ip)
                if found is not None:
                    if geo is None:
                        geo = {}
                    geo[ip] = found
        if geo:
            record["geo"] = geo

    return enrich
