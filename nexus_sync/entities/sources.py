"""Where each source's record names the machine or person it is about, as entity keys (nexus_sync.entities.keys).

Assets (CrowdStrike, SentinelOne, Defender, Rapid7, ServiceNow, any asset connector) are read from their
normalized data: serial_number, macs, hostname + domain, and their own uid; CrowdStrike adds `instance_id`,
the cloud instance a sensor runs on (cartography's CrowdStrike schema; absent on hardware).
A vulnerability names its asset in the vendor record: Qualys `HOST` (ID, DNS; `EC2_INSTANCE_ID` where the
host is tracked as an EC2 instance), Tenable `asset` (uuid, fqdn, hostname: ipv4 is no key, addresses move),
Security Hub `Resources[0]` (its ARN; an EC2 instance's ARN names the instance id). A Wiz issue names its
resource in `entitySnapshot` (externalId / providerId: the ARN on AWS). Users are known by email and an
email-shaped login or UPN (Okta profile.login/email, Entra userPrincipalName/mail); a Jira issue links to its
assignee where Jira shows the assignee's email (privacy settings often hide it).
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import orjson

from nexus_sync.entities.keys import Key, email_key, fqdn_key, instance_key, instance_of_arn, mac_key, serial_key

_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")


class RowKeys(NamedTuple):
    """What a row says about its entity: the entity's kind, the row's keys, a label for a new entity, and
    (a vulnerability) the CVE it reports."""

    kind: str
    keys: list[Key]
    label: str
    cve: str | None = None


def asset_keys(source: str, data: dict[str, Any], instance: str | None = None) -> RowKeys:
    keys = [Key("asset_id", f"{source}|{data['uid']}")]
    fqdn = fqdn_key(data.get("hostname"), data.get("domain"))
    found = {"instance_id": instance_key(instance), "serial": serial_key(data.get("serial_number")), "fqdn": fqdn}
    keys += [Key(t, v) for t, v in found.items() if v]
    keys += [Key("mac", m) for m in sorted({m for m in map(mac_key, data.get("macs") or ()) if m})]
    return RowKeys("asset", keys, fqdn or data.get("hostname") or data.get("name") or str(data["uid"]))


def user_keys(source: str, data: dict[str, Any]) -> RowKeys:
    emails = {e for e in (email_key(data.get("email")), email_key(data.get("username"))) if e}
    keys = [Key("user_id", f"{source}|{data['uid']}"), *(Key("email", e) for e in sorted(emails))]
    return RowKeys("user", keys, email_key(data.get("email")) or data.get("username") or str(data["uid"]))


def _cve(data: dict[str, Any]) -> str | None:
    cve = str(data.get("cve") or "").strip().upper()
    return cve if _CVE.fullmatch(cve) else None


def _qualys(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    host = raw.get("HOST") or {}
    keys = [Key("asset_id", f"{source}|{data['asset_uid']}")]
    fqdn, instance = fqdn_key(host.get("DNS")), instance_key(host.get("EC2_INSTANCE_ID"))
    keys += [Key(t, v) for t, v in (("fqdn", fqdn), ("instance_id", instance)) if v]
    return RowKeys("asset", keys, fqdn or host.get("IP") or str(data["asset_uid"]), _cve(data))


def _tenable(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    asset = raw.get("asset") or {}
    keys = [Key("asset_id", f"{source}|{data['asset_uid']}")]
    fqdn = fqdn_key(asset.get("fqdn")) or fqdn_key(asset.get("hostname"))
    keys += [Key("fqdn", fqdn)] if fqdn else []
    return RowKeys("asset", keys, fqdn or asset.get("hostname") or str(data["asset_uid"]), _cve(data))


def _cloud_resource(source: str, resource_id: str, fallback: str) -> list[Key]:
    """An ARN is the resource's own name in every tool (Security Hub, Wiz, Config): a cross-source key; an EC2
    instance's ARN also names the instance id an EDR sensor reports. Anything else stays source-scoped."""
    if not resource_id.startswith("arn:"):
        return [Key("asset_id", f"{source}|{fallback}")]
    instance = instance_of_arn(resource_id)
    return [Key("cloud_resource", resource_id), *([Key("instance_id", instance)] if instance else [])]


def _securityhub(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    resource_id = str(data["asset_uid"])
    keys = _cloud_resource(source, resource_id, resource_id)
    return RowKeys("asset", keys, instance_of_arn(resource_id) or resource_id, _cve(data))


def _wiz(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    snap = raw.get("entitySnapshot") or {}
    if not snap.get("id"):
        return None
    arn = next((v for v in (snap.get("externalId"), snap.get("providerId")) if str(v or "").startswith("arn:")), "")
    keys = _cloud_resource(source, str(arn), str(snap["id"]))
    instance = instance_key(snap.get("providerId"))
    keys += [Key("instance_id", instance)] if instance and Key("instance_id", instance) not in keys else []
    return RowKeys("asset", keys, str(snap.get("name") or arn or snap["id"]))


def _jira(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    assignee = (raw.get("fields") or {}).get("assignee") or {}
    email = email_key(assignee.get("emailAddress")) if isinstance(assignee, dict) else None
    if not email:
        return None
    keys = [Key("email", email)] + ([Key("user_id", f"{source}|{assignee['accountId']}")]
                                    if assignee.get("accountId") else [])
    return RowKeys("user", keys, email)


def _crowdstrike(source: str, data: dict[str, Any], raw: dict[str, Any]) -> RowKeys | None:
    return asset_keys(source, data, raw.get("instance_id"))


# connector type → reader of (source, normalized data, vendor record); a type not here is read by its kind
BY_VENDOR: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], RowKeys | None]] = {
    "crowdstrike": _crowdstrike, "qualys": _qualys, "tenable": _tenable, "securityhub": _securityhub,
    "wiz": _wiz, "jira": _jira,
}

# a vendor record parsed only when it holds this text (most CrowdStrike hosts run on no cloud instance)
ONLY_WITH = {"crowdstrike": b'"instance_id"'}


def row_keys(vendor: str, kind: str, source: str, line: bytes) -> RowKeys | None:
    """The keys of one staged row (`data JSON <TAB> raw JSON`); None for a row about no machine or person.
    The vendor record is parsed only for the vendors whose keys live there."""
    head, _, tail = line.partition(b"\t")
    data = orjson.loads(head)
    reader = BY_VENDOR.get(vendor)
    if reader is not None:
        hint = ONLY_WITH.get(vendor)
        return reader(source, data, orjson.loads(tail) if tail and (hint is None or hint in tail) else {})
    if kind == "asset":
        return asset_keys(source, data)
    if kind == "user":
        return user_keys(source, data)
    if kind == "vulnerability":
        return RowKeys("asset", [Key("asset_id", f"{source}|{data['asset_uid']}")], str(data["asset_uid"]), _cve(data))
    return None
