"""CrowdStrike Falcon hosts as fake data (../shared/vendor-apis.md §1): the generator and the mutator.

Profiles (platform, OS, domain, tags) come from factory-boy; every record draws its unique and varying
fields from the vendor's seeded generator, in order (see nexus_sync.simulator.data for the guarantees).
"""
from __future__ import annotations

import random
from typing import Any

import factory
import factory.fuzzy
import factory.random

from nexus_sync.simulator.data import (
    DATA_EPOCH,
    DATA_START,
    DAY,
    FastRandom,
    build_profiles,
    iso_z,
    mutation_time,
    register_generator,
    vendor_rng,
)

CS_PLATFORMS = {
    # platform_name: (platform_id, weight, os versions, kernel versions)
    "Windows": ("0", 60, ["Windows 10", "Windows 11", "Windows Server 2016", "Windows Server 2019", "Windows Server 2022"],
                ["10.0.19045", "10.0.22631", "10.0.14393", "10.0.17763", "10.0.20348"]),
    "Mac": ("1", 20, ["Ventura (13)", "Sonoma (14)", "Sequoia (15)"], ["22.6.0", "23.5.0", "24.1.0"]),
    "Linux": ("3", 20, ["Ubuntu 20.04", "Ubuntu 22.04", "RHEL 8.9", "RHEL 9.3", "Amazon Linux 2", "Debian 12"],
              ["5.4.0-182-generic", "5.15.0-112-generic", "4.18.0-513.el8.x86_64", "5.14.0-362.el9.x86_64",
               "5.10.217-205.860.amzn2.x86_64", "6.1.0-21-amd64"]),
}
CS_AGENT_VERSIONS = ["7.10.17706.0", "7.11.18110.0", "7.12.18306.0", "7.13.18505.0", "7.14.18605.0",
                     "7.15.18707.0", "7.16.18913.0", "7.17.19108.0"]
CS_LINUX_AGENT_VERSIONS = ["7.10.17605", "7.11.17912", "7.13.18305", "7.14.18404", "7.16.18712", "7.17.18908"]
CS_MANUFACTURERS = {
    "Windows": [("Dell Inc.", "Latitude 7440"), ("LENOVO", "ThinkPad T14 Gen 4"), ("HP", "EliteBook 840 G9"),
                ("VMware, Inc.", "VMware7,1"), ("Microsoft Corporation", "Virtual Machine")],
    "Mac": [("Apple Inc.", "MacBookPro18,3"), ("Apple Inc.", "MacBookAir10,1"), ("Apple Inc.", "Mac14,2")],
    "Linux": [("Amazon EC2", "m5.large"), ("Amazon EC2", "t3.medium"), ("VMware, Inc.", "VMware Virtual Platform"),
              ("Google", "Google Compute Engine"), ("Dell Inc.", "PowerEdge R650")],
}
CS_MAC_OUIS = ["00-50-56", "3c-22-fb", "f8-75-a4", "a4-83-e7", "00-15-5d", "0a-1b-2c", "b8-ca-3a", "dc-a6-32"]
CS_SERVER_ROLES = ["web", "api", "db", "cache", "queue", "batch", "etl", "dc", "file", "mail", "vpn", "k8s-node", "jenkins", "git"]
CS_ENVS = ["prod", "stg", "dev", "qa"]


def _cs_product_type(o: Any) -> str:
    if o.platform_name == "Mac":
        return "Workstation"
    if o.platform_name == "Linux":
        return "Server"
    return factory.random.randgen.choice(["Workstation", "Workstation", "Server"])


def _cs_os_version(o: Any) -> str:
    versions = CS_PLATFORMS[o.platform_name][2]
    if o.platform_name == "Windows":
        versions = [v for v in versions if ("Server" in v) == (o.product_type_desc == "Server")]
    return factory.random.randgen.choice(versions)


class CrowdStrikeHostProfileFactory(factory.DictFactory):
    """The realistic, slowly-varying part of a Falcon host (one of PROFILE_COUNT per dataset)."""

    platform_name = factory.fuzzy.FuzzyChoice(
        [name for name, (_, weight, _, _) in CS_PLATFORMS.items() for _ in range(weight // 10)])
    product_type_desc = factory.LazyAttribute(_cs_product_type)
    os_version = factory.LazyAttribute(_cs_os_version)
    env = factory.fuzzy.FuzzyChoice(CS_ENVS)
    role = factory.fuzzy.FuzzyChoice(CS_SERVER_ROLES)
    department = factory.Faker("random_element", elements=["eng", "sales", "finance", "hr", "it", "ops", "legal"])
    machine_domain = factory.LazyAttribute(
        lambda o: "" if o.platform_name == "Mac" else f"{o.company_word}.{'corp' if o.platform_name == 'Windows' else 'internal'}")
    company_word = factory.Faker("domain_word")
    site_name = factory.Faker("city")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    bios_version = factory.Faker("numerify", text="#.##.#")


def _hex32(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _mac(rng: FastRandom) -> str:
    b = rng.getrandbits(24)
    return f"{rng.pick(CS_MAC_OUIS)}-{b >> 16:02x}-{(b >> 8) & 255:02x}-{b & 255:02x}"


def _private_ip(rng: random.Random) -> str:
    r = rng.random()
    b = rng.getrandbits(24)
    last = 1 + (b & 255) % 254
    if r < 0.6:
        return f"10.{b >> 16}.{(b >> 8) & 255}.{last}"
    if r < 0.85:
        return f"172.{16 + (b >> 16) % 16}.{(b >> 8) & 255}.{last}"
    return f"192.168.{(b >> 8) & 255}.{last}"


_UPPER_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_UPPER_PAIRS = [a + b for a in _UPPER_ALNUM for b in _UPPER_ALNUM]


def _upper_code(rng: FastRandom, k: int) -> str:
    """k chars of [A-Z0-9] (no I/O), two at a time."""
    pairs, n, R = _UPPER_PAIRS, len(_UPPER_PAIRS), rng.random
    if k == 7:
        return pairs[int(R() * n)] + pairs[int(R() * n)] + pairs[int(R() * n)] + _UPPER_ALNUM[int(R() * 34)]
    if k == 10:
        return pairs[int(R() * n)] + pairs[int(R() * n)] + pairs[int(R() * n)] + pairs[int(R() * n)] + pairs[int(R() * n)]
    return "".join([pairs[int(R() * n)] for _ in range((k + 1) // 2)])[:k]


def _profile_constants(p: dict) -> dict:
    """A factory-built profile plus what every host of that profile shares (computed once per profile)."""
    platform = p["platform_name"]
    pid, _, versions, kernels = CS_PLATFORMS[platform]
    kernel = kernels[versions.index(p["os_version"])]
    server = p["product_type_desc"] == "Server"
    return {
        **p,
        "platform_id": pid,
        "kernel": kernel,
        "major": kernel.split(".")[0],
        "minor": kernel.split(".")[1],
        "product_type": "3" if server else "1",
        "config_id_platform": "3" if platform == "Windows" else ("4" if platform == "Mac" else "8"),
        "agents": CS_LINUX_AGENT_VERSIONS if platform == "Linux" else CS_AGENT_VERSIONS,
        "hw": CS_MANUFACTURERS[platform],
        "tags": [f"SensorGroupingTags/{p['env']}", f"FalconGroupingTags/{p['department']}"],
        "ou": [p["department"].upper(), "Computers"] if platform == "Windows" else None,
        "win_server": platform == "Windows" and server,
        "role_env_up": f"{p['role'].upper()}-{p['env'].upper()}",
        "role_env": f"{p['role']}-{p['env']}",
    }


def _hostname(rng: FastRandom, p: dict, i: int) -> str:
    platform = p["platform_name"]
    if platform == "Windows":
        if p["win_server"]:
            return f"{p['role_env_up']}-{i:05d}"
        return ("DESKTOP-" if rng.random() < 0.5 else "LAPTOP-") + _upper_code(rng, 7)
    if platform == "Mac":
        return f"{p['first_name']}s-MacBook-Pro-{i}"
    return f"{p['role_env']}-{i:05d}"


def _host(rng: FastRandom, p: dict, i: int, device_id: str, tenant: tuple[str, list[str], list[str]]) -> dict:
    """Host number ``i`` of profile ``p``; the draws happen in a fixed order (the data depends on it)."""
    R, below, between, pick = rng.random, rng.below, rng.between, rng.pick
    cid, group_ids, egress = tenant
    hostname = _hostname(rng, p, i)
    first_seen = between(DATA_START, DATA_EPOCH - 30 * DAY)
    last_seen = between(max(first_seen, DATA_EPOCH - 45 * DAY), DATA_EPOCH - 60)
    modified = min(DATA_EPOCH - 1, last_seen + 1 + below(600))
    manufacturer, model = pick(p["hw"])
    local_ip = _private_ip(rng)
    mac = _mac(rng)
    agent = pick(p["agents"])
    last_seen_s = iso_z(last_seen)
    return {
        "device_id": device_id,
        "cid": cid,
        "agent_load_flags": "0",
        "agent_local_time": last_seen_s,
        "agent_version": agent,
        "bios_manufacturer": manufacturer,
        "bios_version": p["bios_version"],
        "config_id_base": "65994763",
        "config_id_build": agent.split(".")[2],
        "config_id_platform": p["config_id_platform"],
        "external_ip": pick(egress),
        "connection_ip": local_ip,
        "connection_mac_address": mac,
        "default_gateway_ip": local_ip.rsplit(".", 1)[0] + ".1",
        "mac_address": mac,
        "hostname": hostname,
        "local_ip": local_ip,
        "first_seen": iso_z(first_seen),
        "last_seen": last_seen_s,
        "modified_timestamp": iso_z(modified),
        "machine_domain": p["machine_domain"],
        "major_version": p["major"],
        "minor_version": p["minor"],
        "os_version": p["os_version"],
        "kernel_version": p["kernel"],
        "platform_id": p["platform_id"],
        "platform_name": p["platform_name"],
        "product_type": p["product_type"],
        "product_type_desc": p["product_type_desc"],
        "provision_status": "Provisioned",
        "reduced_functionality_mode": "no",
        "serial_number": _upper_code(rng, 10),
        "site_name": p["site_name"],
        "status": "normal",
        "system_manufacturer": manufacturer,
        "system_product_name": model,
        "tags": p["tags"][: below(3)],
        "groups": [pick(group_ids)] if R() < 0.6 else [],
        "ou": list(p["ou"]) if p["ou"] else [],
        "meta": {"version": str(1 + below(40))},
    }


@register_generator("crowdstrike")
def generate_crowdstrike(seed: int, size: int) -> list[dict]:
    profiles = [_profile_constants(p) for p in build_profiles(CrowdStrikeHostProfileFactory, seed, "crowdstrike")]
    rng = vendor_rng(seed, "crowdstrike", "records")
    cid = _hex32(rng)  # one customer tenant
    group_ids = [_hex32(rng) for _ in range(12)]
    egress = [f"{net}.{rng.randrange(1, 255)}" for net in ("198.51.100", "203.0.113", "192.0.2") for _ in range(6)]
    tenant = (cid, group_ids, egress)
    seen: set[str] = set()
    out: list[dict] = []
    append, pick = out.append, rng.pick
    for i in range(size):
        p = pick(profiles)
        device_id = _hex32(rng)
        while device_id in seen:  # 2^-128 collisions: practically never, but ids must be unique
            device_id = _hex32(rng)
        seen.add(device_id)
        append(_host(rng, p, i, device_id, tenant))
    return out


def mutate_crowdstrike(rec: dict, rng: random.Random, round_no: int) -> dict:
    """A changed copy of a host: OS/agent/IP drift, seen again, modified_timestamp bumped."""
    new = dict(rec)
    new["meta"] = dict(rec.get("meta") or {})
    platform = rec["platform_name"]
    changes = rng.sample(["os_version", "agent_version", "local_ip"], rng.randrange(1, 4))
    if "os_version" in changes:
        versions, kernels = CS_PLATFORMS[platform][2], CS_PLATFORMS[platform][3]
        if platform == "Windows":  # stay a server / a workstation
            pairs = [(v, k) for v, k in zip(versions, kernels) if ("Server" in v) == ("Server" in rec["os_version"])]
        else:
            pairs = list(zip(versions, kernels))
        pairs = [pk for pk in pairs if pk[0] != rec["os_version"]] or pairs
        new["os_version"], new["kernel_version"] = rng.choice(pairs)
        new["major_version"], new["minor_version"] = new["kernel_version"].split(".")[:2]
    if "agent_version" in changes:
        pool = CS_LINUX_AGENT_VERSIONS if platform == "Linux" else CS_AGENT_VERSIONS
        others = [v for v in pool if v != rec["agent_version"]]
        new["agent_version"] = rng.choice(others)
        new["config_id_build"] = new["agent_version"].split(".")[2]
    if "local_ip" in changes:
        ip = _private_ip(rng)
        while ip == rec["local_ip"]:
            ip = _private_ip(rng)
        new["local_ip"] = new["connection_ip"] = ip
        new["default_gateway_ip"] = ip.rsplit(".", 1)[0] + ".1"
    ts = mutation_time(rng, round_no)
    new["last_seen"] = iso_z(ts - rng.randrange(0, 60))
    new["agent_local_time"] = new["last_seen"]
    new["modified_timestamp"] = iso_z(ts)
    new["meta"]["version"] = str(int(new["meta"].get("version", "0")) + 1)
    return new
