"""Credential store: secrets per connector from env vars or a secrets file, cached 5 minutes.

Env: NEXUS_SECRET_<CONNECTOR_NAME>_<FIELD>, e.g. NEXUS_SECRET_CROWDSTRIKE_PROD_CLIENT_SECRET
(connector name upper-cased, '-' and '.' become '_'). File (NEXUS_CREDENTIALS_FILE, YAML or JSON):
``{connector-name: {field: value}}``. Env wins over the file. Values are SecretStr: they print as
'**********' and never reach logs, broker messages or the database.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import yaml
from pydantic import SecretStr

from nexus_sync.errors import ConfigError

CACHE_SECONDS = 300


def env_prefix(connector_name: str) -> str:
    return "NEXUS_SECRET_" + re.sub(r"[^A-Z0-9]", "_", connector_name.upper()) + "_"


class CredentialStore:
    def __init__(self, file: Path | None = None, cache_seconds: float = CACHE_SECONDS):
        self.file = file
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, SecretStr]]] = {}
        self._lock = threading.Lock()

    def _from_file(self, name: str) -> dict[str, str]:
        if self.file is None:
            return {}
        try:
            doc = yaml.safe_load(Path(self.file).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"credentials file {self.file} (NEXUS_CREDENTIALS_FILE) does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"credentials file {self.file} is not valid YAML/JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"credentials file {self.file}: top level must map connector names to fields")
        entry = doc.get(name) or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"credentials file {self.file}: entry {name!r} must be a mapping of fields")
        return {str(k): str(v) for k, v in entry.items()}

    def _from_env(self, name: str) -> dict[str, str]:
        prefix = env_prefix(name)
        return {k[len(prefix):].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}

    def get(self, connector_name: str, fields: tuple[str, ...], refresh: bool = False) -> dict[str, SecretStr]:
        """The secrets a connector needs; ConfigError naming the missing ones (never their values)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(connector_name)
            if hit and not refresh and now - hit[0] < self.cache_seconds:
                values = hit[1]
            else:
                merged = {**self._from_file(connector_name), **self._from_env(connector_name)}
                values = {k: SecretStr(v) for k, v in merged.items()}
                self._cache[connector_name] = (now, values)
        missing = [f for f in fields if not values.get(f) or not values[f].get_secret_value()]
        if missing:
            where = [f"env {env_prefix(connector_name)}{m.upper()}" for m in missing]
            if self.file:
                where.append(f"file {self.file} under {connector_name!r}")
            raise ConfigError(f"connector {connector_name!r}: missing secret(s) {', '.join(missing)} "
                              f"(set {' or '.join(where)})")
        return {f: values[f] for f in fields}

    def all_secret_values(self) -> list[str]:
        """Every cached secret value, for the log/traceback redactor."""
        with self._lock:
            return [s.get_secret_value() for _, vals in self._cache.values() for s in vals.values()]


_store: CredentialStore | None = None


def get_store() -> CredentialStore:
    global _store
    if _store is None:
        from nexus_sync.config import get_settings

        _store = CredentialStore(get_settings().credentials_file)
    return _store


# every value this process ever sent as a credential, derived ones included (a Basic pair's base64, an
# OAuth access token, a session token, a custom key header): the redactor knows them all, not only the
# stored secrets they came from
_sent: set[str] = set()
_sent_lock = threading.Lock()
MIN_REDACTED = 4  # shorter values would redact ordinary words


def remember_sent(*values: str) -> None:
    """Register values that were (or are about to be) sent as credentials, for `redact`."""
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_REDACTED}
    if fresh - _sent:
        with _sent_lock:
            _sent.update(fresh)


def redact(text: str) -> str:
    """Replace every known secret value (stored or ever sent as a credential) in text by '***'."""
    values = set(_sent)
    if _store is not None:
        values.update(_store.all_secret_values())
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= MIN_REDACTED:
            text = text.replace(value, "***")
    return text
