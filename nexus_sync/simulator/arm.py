"""What the Azure Resource Manager simulators share (vendor-apis-2.md §26, §30; part 1 §19): ARM's scope, its
api-version check, its nextLink paging, its token-bucket throttle, on top of the Entra ID token endpoint of
nexus_sync.simulator.microsoft.

* Every ARM path is under one subscription, ``/subscriptions/{SUBSCRIPTION}/...``; another subscription is
  404 ``SubscriptionNotFound``.
* ``api-version`` is required on every request: missing → 400 ``MissingApiVersionParameter``; one the
  resource type does not have → 400 ``NoRegisteredProviderFound`` naming the supported versions.
* Lists answer ``{"value": [...], "nextLink": <absolute URL with $skipToken>}``; ``nextLink`` is absent on the
  last page; a ``$skipToken`` the service did not issue → 400.
* Throttling (ARM token bucket since 2024): a bucket of 250 reads refilled 25/s per subscription and
  principal; over it → 429 ``SubscriptionRequestsThrottled`` with ``Retry-After`` (seconds). Every answer
  carries ``x-ms-ratelimit-remaining-subscription-reads``. The simulator's per-minute limit L is served as a
  bucket of L/6 refilled L/60 per second (ARM's 250 / 25 per s is L = 1500).
* A missing or unknown bearer token → 401 ``InvalidAuthenticationToken`` (``AuthenticationFailed`` without an
  Authorization header), with ``WWW-Authenticate``.
"""
from __future__ import annotations

import base64
import math
import threading
import time
from typing import ClassVar
from urllib.parse import urlencode

from nexus_sync.simulator.messages import BadRequest, Request, Response, json_response
from nexus_sync.simulator.microsoft import MicrosoftSim
from nexus_sync.simulator.vendor import SimHost

SUBSCRIPTION = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"  # the one simulated subscription
ARM_SCOPE = "https://management.azure.com/.default"
REMAINING = "x-ms-ratelimit-remaining-subscription-reads"


class TokenBucket:
    """ARM's throttle: `capacity` requests, refilled `rate` per second (the RateLimiter interface)."""

    def __init__(self, per_minute: int):
        self.limit = max(6, int(per_minute)) // 6  # capacity: ten seconds of refill, as ARM's 250 at 25/s
        self.rate = max(1, int(per_minute)) / 60.0
        self._tokens, self._at = float(self.limit), time.time()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.limit), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def hit(self, now: float | None = None) -> tuple[bool, int, float]:
        now = time.time() if now is None else now
        with self._lock:
            self._refill(now)
            if self._tokens < 1:
                return False, 0, now + (1 - self._tokens) / self.rate
            self._tokens -= 1
            return True, int(self._tokens), now

    def peek(self, now: float | None = None) -> tuple[int, float]:
        now = time.time() if now is None else now
        with self._lock:
            self._refill(now)
            return int(self._tokens), now + max(0.0, 1 - self._tokens) / self.rate

    def clear(self) -> None:
        with self._lock:
            self._tokens, self._at = float(self.limit), time.time()


class ArmSim(MicrosoftSim):
    """Base of the ARM vendors (not registered itself): set `api_versions` (the resource type's versions)."""

    scope = ARM_SCOPE
    api_versions: ClassVar[tuple[str, ...]]
    resource_type: ClassVar[str]  # for NoRegisteredProviderFound's message, e.g. "alerts"
    default_rate_limit = 1500  # 25 reads/s refill (bucket 250)
    error_codes: ClassVar[dict[int, str]] = {**MicrosoftSim.error_codes, 401: "InvalidAuthenticationToken",
                                             429: "SubscriptionRequestsThrottled"}

    def __init__(self, sim: SimHost):
        super().__init__(sim)
        self.limiter = TokenBucket(sim.config.rate_limit.get(self.name, self.default_rate_limit))  # type: ignore[assignment]

    # ---- dialect
    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        return [(REMAINING, str(remaining))]

    def handle(self, req: Request) -> Response:
        resp = super().handle(req)
        seen, headers = False, []
        for k, v in resp.headers:  # the framework adds the budget header twice on data requests: keep the first
            if k == REMAINING:
                if seen:
                    continue
                seen = True
            headers.append((k, v))
        resp.headers = headers
        return resp

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        wait = max(1, math.ceil(reset_epoch - time.time()))
        resp = self.error(429, f"Number of 'read' requests for subscription '{SUBSCRIPTION}' actor "
                               f"'{self.credentials['client_id']}' exceeded. Please try again after '{wait}' seconds "
                               "after additional tokens are available. Refer to https://aka.ms/arm-throttling for "
                               "additional information.")
        resp.headers += [("Retry-After", str(wait)), (REMAINING, "0")]
        return resp

    def authenticate(self, req: Request) -> Response | None:
        if super().authenticate(req) is None:
            return None
        header = bool(req.headers.get("Authorization"))
        code, message = (("InvalidAuthenticationToken", "The access token is invalid.") if header else
                         ("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."))
        return json_response(401, {"error": {"code": code, "message": message}},
                             [("WWW-Authenticate", 'Bearer authorization_uri="https://login.windows.net/", '
                                                   'error="invalid_token"')])

    # ---- ARM request checks
    def check_arm(self, req: Request, subscription: str) -> str:
        """The request's api-version, after ARM's checks of it and of the subscription (BadRequest)."""
        version = req.arg("api-version")
        if not version:
            raise BadRequest("The api-version query parameter (?api-version=) is required for all requests.")
        if version not in self.api_versions:
            raise BadRequest(f"No registered resource provider found for location 'global' and API version "
                             f"'{version}' for type '{self.resource_type}'. The supported api-versions are "
                             f"'{', '.join(self.api_versions)}'.")
        if subscription.lower() != SUBSCRIPTION:
            raise BadRequest(f"The subscription '{subscription}' could not be found.", status=404)
        return version

    def error(self, status: int, message: str) -> Response:
        code = self.error_codes.get(status, "UnknownError")
        if message.startswith("The api-version query parameter"):
            code = "MissingApiVersionParameter"
        elif message.startswith("No registered resource provider"):
            code = "NoRegisteredProviderFound"
        elif message.startswith("The subscription '"):
            code = "SubscriptionNotFound"
        return json_response(status, {"error": {"code": code, "message": message}})

    # ---- nextLink paging
    @staticmethod
    def skip_of(req: Request) -> int:
        """The offset inside a $skipToken this service issued (0 without one); BadRequest for any other."""
        token = req.arg("$skipToken") or req.arg("$skiptoken")
        if not token:
            return 0
        try:
            text = base64.urlsafe_b64decode(token.encode() + b"==").decode()
            if not text.startswith("skip:"):
                raise ValueError(text)
            return int(text[5:])
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The skip token is invalid or has expired.") from None

    def page(self, req: Request, items: list[dict], top: int, token_param: str = "$skipToken",
             **keep: str) -> Response:
        """One ARM list page of `items` from the request's skip token, `top` per page, with its nextLink (the
        same query, `keep`, plus a new skip token)."""
        skip = self.skip_of(req)
        body: dict = {"value": items[skip:skip + top]}
        if skip + top < len(items):
            token = base64.urlsafe_b64encode(f"skip:{skip + top}".encode()).decode().rstrip("=")
            query = urlencode({**keep, token_param: token}, safe="$")  # ARM's links spell `$skipToken` plainly
            body["nextLink"] = f"{req.base_url}{req.path}?{query}"
        return json_response(200, body)
