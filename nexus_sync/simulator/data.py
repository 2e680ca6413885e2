"""Deterministic fake vendor data for the simulator.

Shape comes from factory-boy factories (Faker-backed): a few hundred "profiles" per
vendor (platform/OS/agent/domain/tags for hosts, names for users). Volume comes from a
``random.Random`` seeded from (seed, vendor): every record draws its unique and varying
fields (ids, IPs, MACs, timestamps) from that generator, which keeps 100k records within
about a second or two.

Guarantees:

* ``generate(vendor, seed, size)`` is a pure function of its arguments: the same inputs
  give byte-identical records (for the installed Faker version).
* Vendors are independent: each vendor's generator is seeded from (seed, vendor), so the
  size of one vendor never changes another's data.
* For a given (vendor, seed), record ``i`` of a size-N dataset equals record ``i`` of any
  larger dataset (records are drawn in order and the profile pool does not depend on size).
* Record order is the generation order and is stable.

Values follow ../shared/vendor-apis.md (§1 CrowdStrike hosts, §5 Okta users).

Later vendors register their own generator with :func:`register_generator` from their own
simulator module; nothing here needs to change.
"""
from __future__ import annotations

import gc
import hashlib
import random
import re
import threading
import time
from calendar import timegm
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

import factory
import factory.fuzzy
import factory.random
import orjson

# The dataset's "now": generated timestamps lie before this instant; mutation round r
# stamps changed records inside [DATA_EPOCH + r days, DATA_EPOCH + r days + 1 h), so
# modification times only ever grow and are reproducible (no wall clock involved).
DATA_EPOCH = timegm((2024, 6, 1, 0, 0, 0))
DATA_START = timegm((2021, 1, 1, 0, 0, 0))
DAY = 86_400

PROFILE_COUNT = 256  # factory-built profiles per vendor (independent of size)

Generator = Callable[[int, int], list[dict]]
_GENERATORS: dict[str, Generator] = {}
_factory_lock = threading.Lock()  # factory-boy/Faker randomness is process-global


def register_generator(vendor: str) -> Callable[[Generator], Generator]:
    """Decorator: ``generate(seed, size) -> list[record]`` for a vendor."""

    def deco(fn: Generator) -> Generator:
        _GENERATORS[vendor] = fn
        return fn

    return deco


def vendor_seed(seed: int, vendor: str, *extra: Any) -> int:
    """A stable 64-bit seed for (seed, vendor, extra...): not Python's randomized hash()."""
    key = ":".join([str(seed), vendor, *map(str, extra)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def vendor_rng(seed: int, vendor: str, *extra: Any) -> "FastRandom":
    return FastRandom(vendor_seed(seed, vendor, *extra))


def generate(vendor: str, seed: int, size: int) -> list[dict]:
    """A private, mutable copy of the dataset (the shared cached one is read-only)."""
    return orjson.loads(orjson.dumps(records(vendor, seed, size)))


_cache: dict[tuple[str, int, int], tuple[dict, ...]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 8


def records(vendor: str, seed: int, size: int) -> tuple[dict, ...]:
    """The dataset for (vendor, seed, size), generated once per process and shared.

    READ-ONLY by convention: the simulator never edits these dicts in place (a mutation
    replaces a record by a changed copy), so many Simulator instances can share them.
    """
    key = (vendor, seed, size)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        if vendor not in _GENERATORS:
            raise KeyError(f"no data generator registered for vendor {vendor!r}")
        if size < 0:
            raise ValueError("size must be >= 0")
        was_enabled = gc.isenabled()
        gc.disable()  # millions of fresh containers: the cyclic GC would only slow this down
        try:
            result = tuple(_GENERATORS[vendor](seed, size))
        finally:
            if was_enabled:
                gc.enable()
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = result
        return result


def build_profiles(factory_cls: type[factory.Factory], seed: int, vendor: str, n: int = PROFILE_COUNT) -> list[dict]:
    """Build ``n`` factory-boy objects with factory-boy's and Faker's random reseeded for (seed, vendor)."""
    with _factory_lock:
        state = factory.random.get_random_state()
        try:
            factory.random.reseed_random(vendor_seed(seed, vendor, "profiles"))
            return [dict(p) for p in factory_cls.build_batch(n)]
        finally:
            factory.random.set_random_state(state)


# ---------------------------------------------------------------- time helpers

@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))


def _hms(ts: int) -> str:
    s = ts % DAY
    return f"{_day(ts // DAY)}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def iso_z(ts: int) -> str:
    """CrowdStrike style: 2022-03-15T07:42:07Z."""
    return _hms(int(ts)) + "Z"


def iso_ms_z(ts: int, ms: int = 0) -> str:
    """Okta style: 2022-04-01T10:00:00.000Z."""
    return f"{_hms(int(ts))}.{ms:03d}Z"


class FastRandom(random.Random):
    """random.Random plus cheap integer draws (randrange is ~10x slower; fine for fake data)."""

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, lo: int, hi: int) -> int:
        """lo <= x < hi (lo if the range is empty)."""
        return lo + int(self.random() * (hi - lo)) if hi > lo else lo

    def pick(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]


def parse_iso(value: str) -> datetime:
    """ISO-8601 with Z / offset / date only → aware UTC datetime (ValueError if not ISO)."""
    v = value.strip()
    if v.endswith("Z") or v.endswith("z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def mutation_time(rng: random.Random, round_no: int) -> int:
    """Modification instant for mutation round ``round_no`` (>= 1): later than every earlier round."""
    return DATA_EPOCH + round_no * DAY + 600 + rng.randrange(3000)


# ================================================================ CrowdStrike hosts

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


def _private_ip(rng: FastRandom) -> str:
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


@register_generator("crowdstrike")
def generate_crowdstrike(seed: int, size: int) -> list[dict]:
    profiles = build_profiles(CrowdStrikeHostProfileFactory, seed, "crowdstrike")
    rng = vendor_rng(seed, "crowdstrike", "records")
    R, below, between, pick = rng.random, rng.below, rng.between, rng.pick
    cid = _hex32(rng)  # one customer tenant
    group_ids = [_hex32(rng) for _ in range(12)]
    egress = [f"{net}.{rng.randrange(1, 255)}" for net in ("198.51.100", "203.0.113", "192.0.2") for _ in range(6)]
    # per-profile constants, computed once
    prof = []
    for p in profiles:
        platform = p["platform_name"]
        pid, _, versions, kernels = CS_PLATFORMS[platform]
        kernel = kernels[versions.index(p["os_version"])]
        server = p["product_type_desc"] == "Server"
        prof.append({
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
        })
    seen: set[str] = set()
    out: list[dict] = []
    append = out.append
    for i in range(size):
        p = pick(prof)
        platform = p["platform_name"]
        device_id = _hex32(rng)
        while device_id in seen:  # 2^-128 collisions: practically never, but ids must be unique
            device_id = _hex32(rng)
        seen.add(device_id)
        if platform == "Windows":
            if p["win_server"]:
                hostname = f"{p['role_env_up']}-{i:05d}"
            else:
                hostname = ("DESKTOP-" if R() < 0.5 else "LAPTOP-") + _upper_code(rng, 7)
        elif platform == "Mac":
            hostname = f"{p['first_name']}s-MacBook-Pro-{i}"
        else:
            hostname = f"{p['role_env']}-{i:05d}"
        first_seen = between(DATA_START, DATA_EPOCH - 30 * DAY)
        last_seen = between(max(first_seen, DATA_EPOCH - 45 * DAY), DATA_EPOCH - 60)
        modified = min(DATA_EPOCH - 1, last_seen + 1 + below(600))
        manufacturer, model = pick(p["hw"])
        local_ip = _private_ip(rng)
        mac = _mac(rng)
        agent = pick(p["agents"])
        last_seen_s = iso_z(last_seen)
        append({
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
            "platform_name": platform,
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
        })
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


# ================================================================ Okta users

OKTA_STATUSES = ["ACTIVE", "STAGED", "PROVISIONED", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED", "SUSPENDED", "DEPROVISIONED"]
OKTA_STATUS_WEIGHTS = [80, 3, 3, 2, 2, 3, 4, 3]
# placeholder org URL in generated _links; the simulator rewrites it to its own base URL
OKTA_ORG_URL = "https://nexus-sim.okta.com"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_CLEAN = re.compile(r"[^a-z0-9]")


class OktaUserProfileFactory(factory.DictFactory):
    """Name material for Okta users (first/last names are recombined per record)."""

    firstName = factory.Faker("first_name")
    lastName = factory.Faker("last_name")
    domain = factory.Faker("random_element", elements=["example.com", "example.com", "example.com", "corp.example.com"])


@register_generator("okta")
def generate_okta(seed: int, size: int) -> list[dict]:
    profiles = build_profiles(OktaUserProfileFactory, seed, "okta")
    rng = vendor_rng(seed, "okta", "records")
    below, between, pick = rng.below, rng.between, rng.pick
    names = [(p["firstName"], _NAME_CLEAN.sub("", p["firstName"].lower()),
              p["lastName"], _NAME_CLEAN.sub("", p["lastName"].lower()), p["domain"]) for p in profiles]
    # cumulative weights → status by one uniform draw
    cum, acc = [], 0
    for w in OKTA_STATUS_WEIGHTS:
        acc += w
        cum.append(acc)
    status_table = [OKTA_STATUSES[next(k for k, c in enumerate(cum) if c > x)] for x in range(acc)]
    seen_ids: set[str] = set()
    emails: set[str] = set()  # Okta logins/emails are unique within an org
    out: list[dict] = []
    append = out.append
    for _ in range(size):
        uid = _okta_id(rng)
        while uid in seen_ids:
            uid = _okta_id(rng)
        seen_ids.add(uid)
        first, first_l, _, _, _ = pick(names)
        _, _, last, last_l, _ = pick(names)
        domain = pick(names)[4]
        local = f"{first_l}.{last_l}"
        email, k = f"{local}@{domain}", 1
        while email in emails:
            k += 1
            email = f"{local}{k}@{domain}"
        emails.add(email)
        status = pick(status_table)
        created = between(DATA_START, DATA_EPOCH - 60 * DAY)
        if status in ("STAGED", "PROVISIONED"):
            activated = None
            status_changed = created if status == "STAGED" else created + between(60, 3 * DAY)
            last_login = None
            password_changed = None
        else:
            activated = created + between(60, 2 * DAY)
            status_changed = activated if status == "ACTIVE" else between(activated, DATA_EPOCH - DAY)
            last_login = between(activated, DATA_EPOCH - 60)
            password_changed = between(activated, DATA_EPOCH - 120)
        last_updated = max(x for x in (created, activated, status_changed, password_changed) if x is not None)
        last_updated = min(DATA_EPOCH - 1, last_updated + below(7 * DAY))
        append({
            "id": uid,
            "status": status,
            "created": iso_ms_z(created, below(1000)),
            "activated": None if activated is None else iso_ms_z(activated, below(1000)),
            "statusChanged": iso_ms_z(status_changed, below(1000)),
            "lastLogin": None if last_login is None else iso_ms_z(last_login, below(1000)),
            "lastUpdated": iso_ms_z(last_updated, below(1000)),
            "passwordChanged": None if password_changed is None else iso_ms_z(password_changed, below(1000)),
            "transitioningToStatus": None,
            "type": {"id": "oty1a2b3c4d5e6f7g8h9"},
            "profile": {"firstName": first, "lastName": last, "mobilePhone": None, "secondEmail": None,
                        "login": email, "email": email},
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}} if status != "STAGED" else {},
            "_links": {"self": {"href": f"{OKTA_ORG_URL}/api/v1/users/{uid}"}},
        })
    return out


_BASE62_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


def _okta_id(rng: FastRandom) -> str:
    """'00u' + 17 base62 chars (20 in all), like 00u1abcdEFGH2ijkl3m4."""
    pairs, n = _BASE62_PAIRS, len(_BASE62_PAIRS)
    R = rng.random
    return "00u" + "".join([pairs[int(R() * n)] for _ in range(9)])[:17]


def mutate_okta(rec: dict, rng: random.Random, round_no: int) -> dict:
    """A changed copy of a user: status change and/or a new login; lastUpdated always bumped."""
    new = dict(rec)
    ts = mutation_time(rng, round_no)
    ms = rng.randrange(1000)
    if rec["status"] in ("STAGED", "PROVISIONED"):
        new["status"] = "ACTIVE"
        new["activated"] = new["statusChanged"] = iso_ms_z(ts - 5, ms)
        new["credentials"] = {"provider": {"type": "OKTA", "name": "OKTA"}}
    elif rng.random() < 0.4:
        targets = [s for s in ("ACTIVE", "SUSPENDED", "LOCKED_OUT", "PASSWORD_EXPIRED", "RECOVERY", "DEPROVISIONED")
                   if s != rec["status"]]
        new["status"] = rng.choice(targets)
        new["statusChanged"] = iso_ms_z(ts - 5, ms)
    if new["status"] not in ("STAGED", "PROVISIONED", "DEPROVISIONED"):
        new["lastLogin"] = iso_ms_z(ts - rng.randrange(10, 600), rng.randrange(1000))
    new["lastUpdated"] = iso_ms_z(ts, ms)
    return new


MUTATORS: dict[str, Callable[[dict, random.Random, int], dict]] = {
    "crowdstrike": mutate_crowdstrike,
    "okta": mutate_okta,
}
