"""Credential store: secrets per connector from env vars or a secrets file, cached 5 minutes.

Env: NEXUS_SECRET_<CONNECTOR_NAME>_<FIELD>, e.g. NEXUS_SECRET_CROWDSTRIKE_PROD_CLIENT_SECRET
(connector name upper-cased, '-' and '.' become '_'). File (NEXUS_CREDENTIALS_FILE, YAML or JSON):
``{connector-name: {field: value}}``, mode 0600 (a warning is logged when group/world can read it).
Env wins over the file. Values are stripped of surrounding whitespace; a control character inside
one (CR, LF, NUL ...) is a ConfigError naming the connector and field, never the value. Values are
SecretStr: they print as '**********' and never reach logs, broker messages or the database.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
import unicodedata
from pathlib import Path

import yaml
from pydantic import SecretStr

from nexus_sync.errors import ConfigError
from nexus_sync.urls import mask

CACHE_SECONDS = 300
log = logging.getLogger(__name__)
_warned_modes: set[tuple[str, int]] = set()


def env_prefix(connector_name: str) -> str:
    """NEXUS_SECRET_<NAME>_: names that differ only in '-', '_' or '.' share it (catalog refuses such pairs)."""
    return "NEXUS_SECRET_" + re.sub(r"[^A-Z0-9]", "_", connector_name.upper()) + "_"


def _clean(connector_name: str, field: str, value: str, source: str) -> str:
    """The value without surrounding whitespace; ConfigError (naming field and source, not value) on a
    control character inside, which would otherwise surface as a header error quoting the secret."""
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ConfigError(f"connector {connector_name!r}: secret {field!r} ({source}) contains a control "
                          "character (CR, LF, NUL ...) inside its value; store it on one line")
    return value


def _warn_if_readable(path: Path) -> None:
    """Log once per file and mode when group or others may read the secrets file."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077 and (str(path), mode) not in _warned_modes:
        _warned_modes.add((str(path), mode))
        log.warning("credentials file %s has mode %04o: group/others can read it; chmod 600 %s", path, mode, path)


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
        except yaml.YAMLError as exc:  # its own text quotes the offending line, which may hold a secret
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"credentials file {self.file} is not valid YAML/JSON{at}: "
                              f"{getattr(exc, 'problem', None) or type(exc).__name__}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"credentials file {self.file}: top level must map connector names to fields")
        entry = doc.get(name) or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"credentials file {self.file}: entry {name!r} must be a mapping of fields")
        where = f"file {self.file}"
        return {str(k): _clean(name, str(k), str(v), where) for k, v in entry.items() if v is not None}

    def _from_env(self, name: str) -> dict[str, str]:
        prefix = env_prefix(name)
        return {k[len(prefix):].lower(): _clean(name, k[len(prefix):].lower(), v, f"env {k}")
                for k, v in os.environ.items() if k.startswith(prefix)}

    def get(self, connector_name: str, fields: tuple[str, ...], refresh: bool = False) -> dict[str, SecretStr]:
        """The secrets a connector needs; ConfigError naming the missing ones (never their values)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(connector_name)
            loaded = hit is None or refresh or now - hit[0] >= self.cache_seconds
            if hit is not None and not loaded:
                values = hit[1]
            else:
                merged = {**self._from_file(connector_name), **self._from_env(connector_name)}
                values = {k: SecretStr(v) for k, v in merged.items()}
                self._cache[connector_name] = (now, values)
        if loaded and self.file is not None:  # outside the lock: logging redacts, which takes it
            _warn_if_readable(Path(self.file))
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
    """Replace every known secret value (stored or ever sent as a credential) in text by '***', and mask
    credentials written inside URLs (userinfo, password-looking query parameters)."""
    values = set(_sent)
    if _store is not None:
        values.update(_store.all_secret_values())
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= MIN_REDACTED:
            text = text.replace(value, "***")
    return mask(text)
