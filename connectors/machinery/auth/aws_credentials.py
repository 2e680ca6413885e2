"""AWS credentials for the SigV4 kind, from botocore: the connector's keys in the secrets store, or botocore's
own provider chain (environment, shared profile, container / instance role); optionally exchanged for an
assumed role's temporary keys — STS AssumeRole with an external id, the way AWS customers grant a vendor
access — held in botocore's RefreshableCredentials, which renews them before they expire.

The AssumeRole call is botocore's: its STS model serializes and validates the parameters, SigV4Auth signs,
its query parser reads the answer (after defusedxml has vetted it: no DTDs, no entities). It is sent through
the connector's own HTTP session within its bounds, never following a redirect. The STS URL is configured
(`sts_url`), so the simulator can serve it; like an OAuth token URL it may be off the connector's origin."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from connectors.base import SecretsProvider
from connectors.machinery.templates import vendor_text
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import AuthError, ConfigError, RateLimited, TransientError, VendorDataError
from nexus_sync.http import HttpClient
from nexus_sync.transport import exchange, path_of

ROLE_SECONDS = 3600  # the assumed role's session: botocore's default, and every role's default maximum
THROTTLED = ("Throttling", "ThrottlingException", "RequestLimitExceeded")


@lru_cache(maxsize=1)
def _assume_role_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sts").operation_model("AssumeRole")


class AwsCredentials:
    """The credentials one connector signs with. `source`: "secrets" (access_key_id, secret_access_key[,
    session_token] in the secrets store) or "chain" (botocore's default chain, `profile` naming a shared
    profile). With a `role_arn`, those are only the base that assumes the role; requests carry the role's
    temporary keys. Assumed keys are shared by the process per connector and role."""

    _assumed: dict[tuple[str, ...], RefreshableCredentials] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, http: HttpClient, *, source: str = "secrets",
                 profile: str | None = None, role_arn: str | None = None, external_id: str | None = None,
                 sts_url: str | None = None, sts_region: str = "us-east-1", session_name: str | None = None):
        self.secrets, self.http, self.source, self.profile = secrets, http, source, profile
        self.role_arn, self.external_id, self.sts_region = role_arn, external_id, sts_region
        self.sts_url = sts_url or f"https://sts.{sts_region}.amazonaws.com"
        self.session_name = session_name or f"nexus-sync-{secrets.connector_name}"[:64]
        self._key = (secrets.connector_name, role_arn or "", external_id or "", self.sts_url)
        self._refresh = False

    def frozen(self) -> ReadOnlyCredentials:
        """The keys to sign one request with (an assumed role's, renewed by botocore before expiry)."""
        if not self.role_arn:
            creds = self._base()
            return creds.get_frozen_credentials()
        with self._lock:
            held = None if self._refresh else self._assumed.get(self._key)
            if held is None:
                held = RefreshableCredentials.create_from_metadata(self._assume(), self._assume, "assume-role")
                self._assumed[self._key] = held
            self._refresh = False
        return held.get_frozen_credentials()

    def refresh(self) -> None:
        """The vendor refused the keys: re-read the secrets and assume the role afresh before the retry."""
        self._refresh = True

    # ---- the base credentials
    def _base(self) -> Credentials:
        refresh, self._refresh = self._refresh, False
        if self.source == "secrets":
            s = self.secrets.get(("access_key_id", "secret_access_key"), refresh)
            try:
                token = self.secrets.get(("session_token",))["session_token"].get_secret_value()
            except ConfigError:  # no session token: long-term keys
                token = None
            return Credentials(s["access_key_id"].get_secret_value(), s["secret_access_key"].get_secret_value(),
                               token)
        import botocore.exceptions
        import botocore.session

        try:  # environment, shared credentials/config files (profile), container and instance roles
            creds = botocore.session.Session(profile=self.profile).get_credentials()
        except botocore.exceptions.BotoCoreError as exc:  # an unknown profile, an unreadable config file
            raise ConfigError(f"connector {self.secrets.connector_name!r}: AWS credential chain: "
                              f"{type(exc).__name__}") from None
        if creds is None:
            raise ConfigError(f"connector {self.secrets.connector_name!r}: botocore's credential chain found no "
                              "AWS credentials (environment, shared profile, container or instance role)")
        return creds

    # ---- STS AssumeRole
    def _assume(self) -> dict[str, str]:
        """RefreshableCredentials metadata of a fresh AssumeRole (its refresh_using)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import create_request_object, prepare_request_dict
        from botocore.exceptions import ParamValidationError
        from botocore.serialize import create_serializer

        model = _assume_role_model()
        params: dict[str, Any] = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name,
                                  "DurationSeconds": ROLE_SECONDS}
        if self.external_id:
            params["ExternalId"] = self.external_id
        try:
            request = create_serializer("query").serialize_to_request(params, model)
        except ParamValidationError as exc:  # a malformed role ARN or external id: configuration
            raise ConfigError(f"connector {self.secrets.connector_name!r}: AssumeRole parameters: "
                              f"{vendor_text(exc, 240)}") from None
        prepare_request_dict(request, endpoint_url=self.sts_url)
        aws = create_request_object(request)
        SigV4Auth(self._base().get_frozen_credentials(), "sts", self.sts_region).add_auth(aws)
        prepared = aws.prepare()
        resp = exchange(self.http.session, "POST", prepared.url, self.http.limits(), headers=dict(prepared.headers),
                        follow=False, data=prepared.body)
        answer = self._parse(resp.status_code, resp.headers, resp.content, model)
        creds = answer.get("Credentials") or {}
        expiry = creds.get("Expiration")
        if not (creds.get("AccessKeyId") and creds.get("SecretAccessKey") and isinstance(expiry, datetime)):
            raise VendorDataError(f"{self._where()}: the AssumeRole answer holds no credentials")
        remember_sent(creds["SecretAccessKey"], *([creds["SessionToken"]] if creds.get("SessionToken") else []))
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds.get("SessionToken"), "expiry_time": expiry.astimezone(timezone.utc).isoformat()}

    def _parse(self, status: int, headers: Any, content: bytes, model: Any) -> dict[str, Any]:
        from botocore.parsers import create_parser

        from connectors.machinery.xml import parse as vet

        if 300 <= status < 400:
            raise AuthError(f"{self._where()} was redirected: not followed")
        vet(content)  # defusedxml refuses DTDs and entity expansion before botocore's parser sees the XML
        answer = create_parser("query").parse({"status_code": status, "headers": headers, "body": content},
                                              model.output_shape)
        if status < 300:
            return answer
        error = answer.get("Error") or {}
        text = f"{status} [{vendor_text(error.get('Code', ''), 64)}]: {vendor_text(error.get('Message', ''))}"
        if error.get("Code") in THROTTLED or status == 429:
            raise RateLimited(f"{self._where()}: {text}", 1.0)
        if status >= 500:
            raise TransientError(f"{self._where()}: {text}")
        raise AuthError(f"{self._where()} refused: {text}")

    def _where(self) -> str:
        return f"connector {self.secrets.connector_name!r}: AssumeRole at {path_of(self.sts_url)}"
