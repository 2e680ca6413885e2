"""Access tokens a simulated vendor issues (OAuth2 client credentials and the like): each lives for the
configured TTL, dies early after `token_expire_after_requests` data requests (a fault knob), and may carry
what it was issued for (an environment, a scope)."""
from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from typing import Any

from nexus_sync.simulator.messages import Request


class IssuedTokens:
    """The tokens one vendor has issued and not yet seen expire."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[float, dict[str, Any]]] = {}  # token → (expires, what it was issued for)
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float, prefix: str = "", **claims: Any) -> str:
        """A new token (`prefix` + random text) good for `ttl` seconds."""
        token, now = prefix + secrets.token_urlsafe(48), time.time()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._uses = {t: n for t, n in self._uses.items() if t in self._tokens}
            self._tokens[token], self._uses[token] = (now + ttl, claims), 0
        return token

    def check(self, token: str, expire_after: int = 0) -> tuple[dict[str, Any] | None, bool]:
        """(the token's claims, or None when unknown or dead; whether it died now of `expire_after` uses)."""
        with self._lock:
            hit = self._tokens.get(token)
            if hit is None:
                return None, False
            self._uses[token] += 1
            worn = bool(expire_after) and self._uses[token] > expire_after
            if hit[0] <= time.time() or worn:
                del self._tokens[token]
                return None, worn
            return hit[1], False

    def restart_uses(self) -> None:
        """The fault knobs changed: count uses from now."""
        with self._lock:
            self._uses = dict.fromkeys(self._uses, 0)


class TokenIssuer:
    """Mixed in before VendorSim by a vendor that issues bearer tokens: `self.tokens`, their use counts
    restarted when the fault knobs change, and the checks of a data request's token and a grant's client."""

    faults: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.tokens = IssuedTokens()
        super().__init__(*args, **kwargs)

    def on_faults_changed(self) -> None:
        self.tokens.restart_uses()

    def bearer_claims(self, req: Request) -> dict[str, Any] | None:
        """The claims of the request's live `Authorization: Bearer` token; None without one."""
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.tokens.check(token.strip(), int(self.faults.get("token_expire_after_requests") or 0))[0]


def basic_client(req: Request) -> tuple[str, str] | None:
    """(client id, secret) of an `Authorization: Basic` header (client_secret_basic); None without one."""
    scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def bearer_alive(sim: Any, req: Request) -> bool:
    """Whether the request carries a live bearer token of `sim` (its `tokens`: token → [expiry, uses]). A token
    past its expiry, or past the `token_expire_after_requests` fault's count of uses, is dropped (and the fault
    counted). Shared by the Microsoft and Google token dialects."""
    scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
    limit = int(sim.faults.get("token_expire_after_requests") or 0)
    with sim._tokens_lock:
        hit = sim.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if hit is not None:
            hit[1] += 1
            if hit[0] <= time.time() or (limit and hit[1] > limit):
                if limit and hit[1] > limit:
                    sim.count_fault("token_expired")
                del sim.tokens[token.strip()]
                hit = None
    return hit is not None
