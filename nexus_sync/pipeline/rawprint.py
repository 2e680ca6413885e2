"""The raw fingerprint: xxh3-64 of a vendor record's JSON as staged, seeded by the connector's normalizer version.
A record whose fingerprint is the one in its dedup cache entry (pipeline.seen) is the same vendor record,
normalized by the same code, as the stored row: normalize skips it and calls it unchanged (bench/README.md,
round 5). A vendor that puts a per-request value in its records (a server time) never matches and is
normalized as before.

The normalizer version is the connector's declared `normalizer_version` when it has one, else a hash of the code
its normalize runs: the normalize function's module and the connectors/nexus_sync modules that module names,
with the record models (validation) and geolocation (module and data version) for every connector. A code
upgrade of any of them re-normalizes every record once (an unchanged result is still unchanged: no rewrite)."""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Callable

import xxhash

from connectors.base import Connector
from nexus_sync import geo, models

FORMAT = b"rawprint 1"  # what is hashed and how; a change here is a new version for every connector
_OWN_PACKAGES = ("connectors", "nexus_sync")
_SEEDS: dict[type[Connector], int] = {}


def fingerprinter(vendor: type[Connector]) -> Callable[[bytes], str]:
    """The raw fingerprint of one record's staged JSON bytes, for this connector: xxh3-64 seeded by its
    normalizer version (16 hex digits), then the version's tag (4 hex digits, see same_version)."""
    seed = _seed(vendor)
    tag, hexdigest = f"{seed & 0xFFFF:04x}", xxhash.xxh3_64_hexdigest
    return lambda record_json: hexdigest(record_json, seed) + tag


def same_version(a: str, b: str) -> bool:
    """Whether two fingerprints are of one normalizer version (by its tag: a new version, a different one
    with near certainty). An unchanged record's fingerprint of another version is learned at dedup; one of the
    same version is not (a vendor's per-request value would rewrite every entry in every sync)."""
    return a[16:] == b[16:]


def _seed(vendor: type[Connector]) -> int:
    """The connector's normalizer version as the fingerprint's seed (once per process)."""
    known = _SEEDS.get(vendor)
    if known is None:
        known = _SEEDS[vendor] = _version(vendor)
    return known


def _version(vendor: type[Connector]) -> int:
    digest = xxhash.xxh3_64(FORMAT)
    for part in (vendor.type, vendor.kind, "\x1f".join(vendor.volatile_fields), metadata.version("iptocc")):
        digest.update(part.encode() + b"\x1e")
    files = _code_files(models) | _code_files(geo)
    declared: str | None = getattr(vendor, "normalizer_version", None)
    if declared:
        digest.update(b"declared\x1e" + declared.encode() + b"\x1e")
    else:
        files |= _code_files(sys.modules[vendor.normalize.__module__])
    for path in sorted(files):
        digest.update(Path(path).read_bytes() + b"\x1e")
    return digest.intdigest()


def _code_files(module: ModuleType) -> set[str]:
    """The source files of a module and of the connectors/nexus_sync modules it names (one level: a helper it
    imports, the class of a value it holds)."""
    names = {module.__name__}
    for value in vars(module).values():
        owner = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(owner, str) and owner.split(".")[0] in _OWN_PACKAGES:
            names.add(owner)
    files = (getattr(sys.modules.get(name), "__file__", None) for name in names)
    return {f for f in files if f}
