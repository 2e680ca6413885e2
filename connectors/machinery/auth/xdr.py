"""Palo Alto Cortex XDR's advanced API key (vendor-apis-2.md §21): every attempt is signed anew, never a
session's headers reused (the vendor refuses a reused nonce and a stale timestamp):

    x-xdr-auth-id: <key id>   x-xdr-nonce: <64 random alphanumerics>   x-xdr-timestamp: <epoch ms>
    Authorization: sha256_hex(api_key + nonce + timestamp)

Each derived hash is registered for redaction (nexus_sync.credentials.remember_sent): it is a credential for
as long as the vendor accepts its timestamp. The standard key (`advanced=False`) sends the key itself."""
from __future__ import annotations

import hashlib
import secrets as random_source
import string
import time
from typing import Any, Callable, Literal

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from nexus_sync.credentials import remember_sent
from nexus_sync.http import HttpClient

NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 64


class XdrAuth(AuthSpec):
    kind: Literal["xdr"] = "xdr"
    key_id: str = "api_key_id"  # the secret holding the key's id (x-xdr-auth-id)
    key: str = "api_key"  # the secret holding the key
    advanced: bool = True  # False: a standard key, sent as it is

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return XdrSigner(secrets, self)


def nonce() -> str:
    return "".join(random_source.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def signature(key: str, nonce_text: str, timestamp_ms: str) -> str:
    return hashlib.sha256(f"{key}{nonce_text}{timestamp_ms}".encode()).hexdigest()


class XdrSigner(Auth):
    """XdrAuth at run time: a fresh nonce, timestamp and hash on every attempt (a retry included)."""

    def __init__(self, secrets: SecretsProvider, spec: XdrAuth, clock: Callable[[], float] = time.time):
        self.secrets, self.spec, self.clock = secrets, spec, clock
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        got = self.secrets.get((self.spec.key_id, self.spec.key), self._refresh)
        self._refresh = False
        key_id, key = got[self.spec.key_id].get_secret_value(), got[self.spec.key].get_secret_value()
        headers["x-xdr-auth-id"] = key_id
        if not self.spec.advanced:
            headers["Authorization"] = key
            return
        once, stamp = nonce(), str(int(self.clock() * 1000))
        digest = signature(key, once, stamp)
        remember_sent(digest)
        headers.update({"x-xdr-nonce": once, "x-xdr-timestamp": stamp, "Authorization": digest})

    def refresh(self) -> None:
        self._refresh = True
