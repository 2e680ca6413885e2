"""AWS Signature V4 by botocore (secrets access_key_id, secret_access_key[, session_token]): a signature over
the whole request, so this kind sends its own requests (Auth.send) instead of adding a header."""
from __future__ import annotations

from typing import Any, Literal

import orjson
import requests

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from nexus_sync.errors import ConfigError
from nexus_sync.http import HttpClient


class SigV4(AuthSpec):
    kind: Literal["sigv4"] = "sigv4"
    service: str
    region_field: str = "region"  # the config field that names the region (declare it in config_fields)

    def config_used(self) -> set[str]:
        return {self.region_field}

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return SigV4Signer(secrets, self, getattr(config, self.region_field))


class SigV4Signer(Auth):
    """Signs each attempt of a request, its JSON body serialized once (the signature covers those bytes)."""

    def __init__(self, secrets: SecretsProvider, spec: SigV4, region: str):
        self.secrets, self.spec, self.region = secrets, spec, region
        self._refresh = False

    def send(self, http: HttpClient, method: str, url: str, *, params: Any = None, json: Any = None,
             data: Any = None, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        if data is not None:
            raise ConfigError(f"{self.spec.service}: SigV4 requests carry JSON bodies only")
        prepared = requests.Request(method, url, params=params).prepare()
        assert prepared.url is not None  # prepare() always sets it
        body = orjson.dumps(json) if json is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        signed = _Signed(self, method, prepared.url, all_headers, body)
        return http.request(method, prepared.url, auth=signed, data=body, headers=all_headers, **kwargs)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        s = self.secrets.get(("access_key_id", "secret_access_key"), self._refresh)
        self._refresh = False
        try:
            token = self.secrets.get(("session_token",))["session_token"].get_secret_value()
        except ConfigError:  # no session token: long-term keys
            token = None
        creds = Credentials(s["access_key_id"].get_secret_value(), s["secret_access_key"].get_secret_value(), token)
        aws = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(creds, self.spec.service, self.region).add_auth(aws)
        return dict(aws.headers.items())

    def refresh(self) -> None:
        self._refresh = True


class _Signed(Auth):
    """One request's signing, as the HTTP client's auth: signed afresh on every attempt."""

    def __init__(self, signer: SigV4Signer, method: str, url: str, headers: dict[str, str], body: bytes | None):
        self.signer, self.method, self.url, self.headers, self.body = signer, method, url, headers, body

    def apply(self, headers: dict[str, str]) -> None:
        headers.update(self.signer.sign(self.method, self.url, dict(self.headers), self.body))

    def refresh(self) -> None:
        self.signer.refresh()
