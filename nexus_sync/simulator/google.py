"""What the Google simulators share (vendor-apis.md §27, §31): the service-account key they accept, the OAuth
token endpoint's JWT-bearer grant, Bearer checks and Google's JSON error envelope.

The real token endpoint is ``https://oauth2.googleapis.com/token``; a simulated vendor serves it under its own
prefix as ``POST /token`` (the connector's ``token_url`` points there). The grant: form
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``; the JWT is RS256, signed with the
service account's private key, claims ``iss`` = ``client_email``, ``scope`` (space-separated), ``aud`` =
``https://oauth2.googleapis.com/token`` (Google's own token URL, wherever the grant is posted), ``iat``, ``exp`` (at most 3600 s after ``iat``). The simulator verifies the signature with the key's public
half → ``{"access_token", "expires_in", "token_type": "Bearer"}``; a bad grant is 400 ``invalid_grant`` /
``invalid_scope`` / ``unsupported_grant_type`` (OAuth's ``{"error", "error_description"}``).

API errors are ``{"error": {"code", "message", "status"}}`` (``UNAUTHENTICATED``, ``PERMISSION_DENIED``,
``INVALID_ARGUMENT``, ``RESOURCE_EXHAUSTED`` …). Over quota: 429 ``RESOURCE_EXHAUSTED`` with **no** rate-limit or
Retry-After header (Google APIs send none).
"""
from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from typing import Any, ClassVar

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nexus_sync.simulator.messages import Request, Response, json_response
from nexus_sync.simulator.tokens import bearer_alive
from nexus_sync.simulator.vendor import SimHost, VendorSim, route

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"
MAX_LIFETIME, MAX_SKEW = 3600, 300
# the simulator's service-account key (simulator only: it grants nothing anywhere else)
SIM_PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCfvhwcTY5QjJSn\n"
    "1+C7Cw+1rHBR8z1SGd6cRmZySNBEWCwDURocDOVq4Z/QnWJXEkZsz3a4KpEsT1aR\n"
    "/v6HAf0DUjjF6tDieBuqajpPmTGl2EVPGt7iwIEOTi6hk38hrk6vIyT6wcKsypwu\n"
    "B+NrWLADbx3QCTd+7qKEcsYlYKIQj4g8n/AHvrh5pgez+cfVb1tN8SEWASErZy2i\n"
    "USAt6XhfK8DTKNpTLFrr9UBGLOGI+/0u3IlpxEvJRjARAihtW6S2B/qw9uMEQm3G\n"
    "XLQd6DLWaxISU/aR8lGWfyOlwwnhbcM5FWhaB/bnvOgk3Osn+zWoFoqe31vqiDit\n"
    "wo+hM8Z7AgMBAAECggEAQ0WtEfBJaDuj2QFtZ2fToFcz4Bc3Mk2ptZdiSmvGpZma\n"
    "Q3VSsRBvRzEofBLjmLaeCPHf1dQ7WfU5iHdiGloogs8MELGAcXdSc1SUJPRnd6fa\n"
    "HGO9DLI0R2F+etYiWn1NLq12w9F4mgsjdbElwY3SZkfTvso64E5AC9ZIAvKsnZsh\n"
    "oq8bl3a/OL+cjEd+ekH6yOsFKiy5IIfGnPmrt3ATjtns7HVVVdGxKXEwU5n6KdgI\n"
    "7BsIB7hpa745S9tRKQiOUqIUtKx5BuOrLiBhjhcYgvW9MZgcgRVtAJSp9FAM8K5J\n"
    "pXLYYOwJ0+CXJiEpBzlRkGHGF0tQx4m3PKARiH2LAQKBgQDdnS6uFv2Xfzidw2dF\n"
    "ZUm7o7cFizmBnJmf5SJUTWRsen5s5946H/pRr/bCmJ03znkIqa4k8yantxSJ+LCh\n"
    "p6233eIvdjKTl592uDUZU2vlSqW2MQcMwnkFwA/Hq0WXR6o3G33HGxZJjR+mgwuV\n"
    "CFKbUSSAn4hsdiHL8qDqnz/jewKBgQC4h09TO+gAN5Pv3sDtMUS/UZLB+JzEfGpE\n"
    "XgIyp0421cMdDQBECXIvkaG/Pncgc86V2lXtmYeIB5rFzXpQwLz4rssnpglkfYjn\n"
    "ocnB/od3Dt+jwylSe6WYapY8wwumAhQ5DRA6LteuH+ajtaL8MZ9BT6zJxxRpG/jM\n"
    "oKWetrC5AQKBgQDIvyeX34+b+kxo7KbRv+zIooaZ6QIQnLC0nLU6NFjxwwxezrMJ\n"
    "aAoykPkwUVqpQMl2xW3QXsn3Ruq+CJ7H8MJ2OfI4GBO8iq6Stk6zQFQOgk4V+ddv\n"
    "AYLraI1iy4zgerR/8tE+2RSZT9MJ3M9TExTxSNGOCfVkeqYmvwRxRAx1nQKBgANR\n"
    "G1Hpr7/hP9196YXZ7txpgPPPnjHB8r8L2YpDi5pcuUcaZrjSWqUUPw4K92Uz77Ct\n"
    "3gGJUvBVAqkvilVNQZhOvAQYbe7Ket1/APtlsdWoBMkSxvlek5lrwQuSjfEL9IUa\n"
    "AQKquOG+XQzwRN+3nJ816WsvEuTYxd4XvSJfMkoBAoGAJ1Mnc4/lxDDU9hpy74K8\n"
    "xIZ8wYSEiX4mNq/EdooHjik0C5mfXBjT/AR/0YQdXLugisg8cy7AtBdNG1fnhmim\n"
    "da5V7qJPvSnwpdDoEGjaK1P/rpWvG2icsRyB8/1CsiY4oJpA6xT7dovRkaYO5+up\n"
    "vQHXW7dcEgKI7+DioaErvzA=\n"
    "-----END PRIVATE KEY-----\n"
)
SIM_SERVICE_ACCOUNT = {
    "type": "service_account", "project_id": "nexus-sim-prod", "private_key_id": "5f1c0d2e9a7b4c3d8e6f00112233445566778899",
    "private_key": SIM_PRIVATE_KEY, "client_email": "nexus-sync@nexus-sim-prod.iam.gserviceaccount.com",
    "client_id": "108123456789012345678", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": "https://oauth2.googleapis.com/token",
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/nexus-sync%40nexus-sim-prod.iam.gserviceaccount.com",
    "universe_domain": "googleapis.com",
}
# the secret a connector stores: the key file's JSON on one line
SIM_CREDENTIALS = {"service_account_json": orjson.dumps(SIM_SERVICE_ACCOUNT).decode()}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          405: "METHOD_NOT_ALLOWED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class GoogleSim(VendorSim):
    """Base of the Google vendors (not registered itself)."""

    scopes: ClassVar[tuple[str, ...]] = (CLOUD_PLATFORM,)  # a token must be asked for one of these
    default_credentials: ClassVar[dict] = SIM_CREDENTIALS

    def __init__(self, sim: SimHost):
        self.tokens: dict[str, list[float]] = {}  # token → [expires, uses]
        self._tokens_lock = threading.Lock()
        super().__init__(sim)
        account = orjson.loads(self.credentials["service_account_json"])
        self.client_email = account["client_email"]
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.public_key = key.public_key()

    def on_faults_changed(self) -> None:
        with self._tokens_lock:
            for tok in self.tokens.values():
                tok[1] = 0

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"error": {"code": status, "message": message,
                                                "status": STATUS.get(status, "UNKNOWN")}})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        # Google: the quota error in the body only, no Retry-After, no rate-limit headers
        return self.error(429, "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per "
                               "minute' of service for consumer 'project_number:123456789012'.")

    # ---- the OAuth token endpoint (JWT-bearer grant)
    @staticmethod
    def _grant_error(error: str, description: str) -> Response:
        return json_response(400, {"error": error, "error_description": description})

    def _claims(self, assertion: str) -> dict[str, Any] | None:
        """The JWT's claims if its RS256 signature verifies with the service account's public key."""
        try:
            head, body, sig = assertion.split(".")
            header = orjson.loads(_b64url(head))
            if header.get("alg") != "RS256":
                return None
            self.public_key.verify(_b64url(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            claims = orjson.loads(_b64url(body))
        except (ValueError, binascii.Error, InvalidSignature, orjson.JSONDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    @route("POST", "/token", data_request=False)
    def token(self, req: Request) -> Response:
        form = req.form()
        if form.get("grant_type") != JWT_BEARER:
            return self._grant_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        claims = self._claims(form.get("assertion", ""))
        if claims is None:
            return self._grant_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or not (iat - MAX_SKEW <= now < exp) \
                or exp - iat > MAX_LIFETIME:
            return self._grant_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) "
                                                      "and in a reasonable timeframe.")
        if claims.get("iss") != self.client_email:
            return self._grant_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != AUDIENCE:
            return self._grant_error("invalid_grant", "Invalid JWT: Failed audience check.")
        if not set(str(claims.get("scope", "")).split()) & set(self.scopes):
            return self._grant_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        ttl = int(self.sim.config.token_ttl)
        token = "ya29.c." + secrets.token_urlsafe(96)
        with self._tokens_lock:
            self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
            self.tokens[token] = [now + ttl, 0]
        return json_response(200, {"access_token": token, "expires_in": ttl, "token_type": "Bearer"})

    def authenticate(self, req: Request) -> Response | None:
        if bearer_alive(self, req):
            return None
        return self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                               "login cookie or other valid authentication credential.")
