"""The keys one real machine or person is known by across sources, made canonical, and how sure a match on
each is (the spec's `metadata.confidence`).

| key type         | what                                              | confidence | kind  |
|------------------|---------------------------------------------------|-----------:|-------|
| instance_id      | cloud instance id (AWS `i-…`), lower-cased         | 0.98       | asset |
| cloud_resource   | a cloud resource's ARN (Security Hub, Wiz)         | 0.98       | asset |
| serial           | hardware serial, upper-cased, placeholders dropped | 0.95       | asset |
| mac              | a globally unique unicast MAC (see `mac_key`)      | 0.90       | asset |
| fqdn             | hostname + domain, lower-cased (see `fqdn_key`)    | 0.70       | asset |
| email            | canonical email / UPN, lower-cased                 | 0.90       | user  |
| asset_id/user_id | the source's own id of the thing (`source|id`)     | 1.00       | both  |

A row joins its entity by all of its keys; its link records the strongest one (PRIORITY order) with that
key's confidence. The source-scoped ids (asset_id, user_id) never match across sources: they keep all rows
of one source about one thing together (a Qualys host's detections) and keep a row on its entity when its
other keys change. A bare hostname (no domain) is no key at all: DESKTOP-1A2B3C, ubuntu or localhost name
many machines, and a wrong merge is worse than a missed link.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from nexus_sync.models import canonical_mac

CONFIDENCE = {"instance_id": 0.98, "cloud_resource": 0.98, "serial": 0.95, "mac": 0.9, "fqdn": 0.7,
              "email": 0.9, "asset_id": 1.0, "user_id": 1.0}
# the order a link's `matched_on` is chosen in: cross-source keys first, strongest first
PRIORITY = ("instance_id", "cloud_resource", "serial", "mac", "email", "fqdn", "asset_id", "user_id")


class Key(NamedTuple):
    type: str
    value: str


def strongest(keys: list[Key]) -> Key:
    return min(keys, key=lambda k: PRIORITY.index(k.type))


def mac_key(value: str | None) -> str | None:
    """A MAC that names one network card: not all-zero, not broadcast/multicast (I/G bit, 0x01 of the first
    octet), not locally administered (U/L bit, 0x02: randomized Wi-Fi MACs, VM and container bridges, VPN
    adapters), and not one a whole product line shares (Cisco AnyConnect's virtual adapter)."""
    if value and _CANONICAL_MAC.fullmatch(value):  # the normalized data's macs are canonical already
        mac: str | None = value
    else:
        try:
            mac = canonical_mac(value)
        except ValueError:
            return None
    if mac is None or mac == "00:00:00:00:00:00" or mac in _SHARED_MACS:
        return None
    return None if int(mac[:2], 16) & 0x03 else mac


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_SHARED_MACS = frozenset({"00:05:9a:3c:7a:00"})  # Cisco AnyConnect virtual adapter: the same on every laptop

_SERIAL_PLACEHOLDERS = frozenset({
    "NONE", "NULL", "N/A", "NA", "UNKNOWN", "DEFAULT STRING", "TO BE FILLED BY O.E.M.", "SYSTEM SERIAL NUMBER",
    "NOT SPECIFIED", "NOT APPLICABLE", "INVALID", "CHASSIS SERIAL NUMBER", "0123456789", "123456789",
    "1234567890", "SERIAL", "O.E.M.", "OEM", "XXXXXXXXXX"})


def serial_key(value: str | None) -> str | None:
    """A hardware serial, upper-cased without surrounding blanks; None for the BIOS placeholders that many
    machines share and for anything shorter than 4 characters or of one repeated character (000000)."""
    if not value:
        return None
    serial = " ".join(str(value).split()).upper()
    if len(serial) < 4 or serial in _SERIAL_PLACEHOLDERS or len(set(serial.replace(" ", ""))) < 2:
        return None
    return serial


# zones whose names are made from private IPs: ip-10-0-1-5.ec2.internal names a machine in every VPC
_NON_UNIQUE_ZONES = (".ec2.internal", ".compute.internal", ".internal.cloudapp.net", ".localdomain")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def fqdn_key(hostname: str | None, domain: str | None = None) -> str | None:
    """hostname + domain, lower-cased, without a trailing dot: a hostname that already holds a dot is an FQDN
    itself (Defender's computerDnsName, ServiceNow's fqdn); a bare one takes the domain, and without one it
    is no key. None for an IP address, localhost, and names in cloud zones made from private IPs."""
    if not hostname:
        return None
    name = hostname.strip().rstrip(".").lower()
    if "." not in name:
        dom = (domain or "").strip().strip(".").lower()
        if not dom:
            return None
        name = f"{name}.{dom}"
    labels = name.split(".")
    if (len(labels) < 2 or labels[-1].isdigit() or labels[0] == "localhost" or name.endswith(_NON_UNIQUE_ZONES)
            or not all(_LABEL.fullmatch(label) for label in labels)):
        return None
    return name


def email_key(value: str | None) -> str | None:
    """An email address or an email-shaped UPN, lower-cased; None for anything else."""
    if not value:
        return None
    text = str(value).strip().lower()
    local, at, domain = text.partition("@")
    return text if at and local and "." in domain and " " not in text else None


_INSTANCE = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?")
_INSTANCE_ARN = re.compile(r"arn:aws[a-z-]*:ec2:[^:]*:[0-9]*:instance/(i-[0-9a-fA-F]{8,17})")


def instance_key(value: str | None) -> str | None:
    """An AWS EC2 instance id (i- and 8 or 17 hex digits), lower-cased; None for anything else."""
    text = (value or "").strip().lower()
    return text if _INSTANCE.fullmatch(text) else None


def instance_of_arn(arn: str | None) -> str | None:
    """The instance id an EC2 instance ARN names (arn:aws:ec2:region:account:instance/i-…)."""
    match = _INSTANCE_ARN.fullmatch((arn or "").strip())
    return match.group(1).lower() if match else None
