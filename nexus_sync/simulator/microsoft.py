"""What the Microsoft simulators share (vendor-apis.md §2, §6): the Entra ID token endpoint and OData answers.

The real token endpoint lives on ``login.microsoftonline.com``; a simulated vendor serves it under its own
prefix as ``POST /{tenant}/oauth2/v2.0/token`` (form ``grant_type=client_credentials``, ``client_id``,
``client_secret``, ``scope``) → ``{"token_type": "Bearer", "expires_in", "access_token"}``. Errors follow
AAD: 400 ``invalid_scope`` / ``unsupported_grant_type`` / tenant not found, 401 ``invalid_client``.
Data requests need ``Authorization: Bearer <token>`` issued for this vendor's scope and tenant.
API errors are OData: ``{"error": {"code", "message"}}``; 429 carries ``Retry-After`` (seconds).
"""
from __future__ import annotations

import math
import secrets
import threading
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from nexus_sync.simulator.messages import Request, Response, json_response
from nexus_sync.simulator.tokens import bearer_alive
from nexus_sync.simulator.vendor import SimHost, VendorSim, route

TENANT = "7d3c1a2b-0000-4000-8000-00000000cafe"  # the one simulated directory


class MicrosoftSim(VendorSim):
    """Base of the Microsoft vendors (not registered itself)."""

    scope: ClassVar[str]  # the `.default` scope the token must be asked for
    error_codes: ClassVar[dict[int, str]] = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
                                             404: "NotFound", 405: "MethodNotAllowed", 429: "TooManyRequests",
                                             500: "InternalServerError", 503: "ServiceUnavailable"}

    def __init__(self, sim: SimHost):
        self.tokens: dict[str, list[float]] = {}  # token → [expires, uses]
        self._tokens_lock = threading.Lock()
        super().__init__(sim)

    def on_faults_changed(self) -> None:
        with self._tokens_lock:
            for tok in self.tokens.values():
                tok[1] = 0

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"error": {"code": self.error_codes.get(status, "UnknownError"),
                                                "message": message}})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "Rate limit is exceeded. Try again later.")
        resp.headers.append(("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))))
        return resp

    # ---- Entra ID token endpoint
    @staticmethod
    def _aad_error(status: int, error: str, code: int, text: str) -> Response:
        return json_response(status, {"error": error, "error_description": f"AADSTS{code}: {text}",
                                      "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ")})

    @route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", data_request=False)
    def token(self, req: Request, tenant: str) -> Response:
        form = req.form()
        if tenant != TENANT:
            return self._aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != self.credentials["client_id"]:
            return self._aad_error(400, "unauthorized_client", 700016, "Application not found in the directory.")
        if form.get("client_secret") != self.credentials["client_secret"]:
            return self._aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != self.scope:
            return self._aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} "
                                   "is not valid. Client credential flows must have a scope value with /.default.")
        ttl = int(self.sim.config.token_ttl)
        token = secrets.token_urlsafe(64)
        now = time.time()
        with self._tokens_lock:
            self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
            self.tokens[token] = [now + ttl, 0]
        return json_response(200, {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                                   "access_token": token})

    def authenticate(self, req: Request) -> Response | None:
        return None if bearer_alive(self, req) else self.error(401, "Access token validation failure. Invalid audience "
                                                            "or the token is missing or expired.")

    # ---- OData
    @staticmethod
    def next_link(req: Request, **params: Any) -> str:
        return f"{req.base_url}{req.path}?{urlencode({k: v for k, v in params.items() if v not in (None, '')})}"
