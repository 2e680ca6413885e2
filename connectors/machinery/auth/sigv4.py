"""AWS Signature V4 by botocore: a signature over the whole request, so this kind sends its own requests
(Auth.send) instead of adding a header. The keys come from connectors.machinery.auth.aws_credentials: the
secrets store (access_key_id, secret_access_key[, session_token]) or botocore's chain (`aws_credentials:
chain`, `aws_profile`), optionally an assumed role's (`role_arn`, `external_id`, `sts_url`)."""
from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

import orjson
import requests
from pydantic import Field

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.auth.aws_credentials import AwsCredentials
from nexus_sync.errors import ConfigError
from nexus_sync.http import HttpClient


class SigV4(AuthSpec):
    kind: Literal["sigv4"] = "sigv4"
    service: str
    region_field: str | None = "region"  # the config field that names the region (declare it in config_fields)
    region: str | None = None  # or the one signing region of a global endpoint (IAM: us-east-1)

    def config_used(self) -> set[str]:
        return {self.region_field} if self.region_field and not self.region else set()

    def config_fields(self) -> dict[str, Any]:
        return {"aws_credentials": (Literal["secrets", "chain"], "secrets"),  # chain: env, profile, instance role
                "aws_profile": (str | None, None),  # a shared-config profile, for the chain
                "role_arn": (str | None, None),  # assume this role (the customer's grant to us) ...
                "external_id": (str | None, Field(None, min_length=2, max_length=1224)),  # ... with this id
                "sts_url": (str | None, None)}  # default https://sts.<region>.amazonaws.com

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        region = self.region or getattr(config, self.region_field or "region")
        creds = AwsCredentials(secrets, http, source=getattr(config, "aws_credentials", "secrets"),
                               profile=getattr(config, "aws_profile", None),
                               role_arn=getattr(config, "role_arn", None),
                               external_id=getattr(config, "external_id", None),
                               sts_url=getattr(config, "sts_url", None), sts_region=region)
        return SigV4Signer(creds, self, region)


class SigV4Signer(Auth):
    """Signs each attempt of a request, its JSON body serialized once (the signature covers those bytes)."""

    def __init__(self, creds: AwsCredentials, spec: SigV4, region: str):
        self.creds, self.spec, self.region = creds, spec, region

    def send(self, http: HttpClient, method: str, url: str, *, params: Any = None, json: Any = None,
             data: Any = None, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """A JSON body (rest-json, AWS JSON 1.1) or a form (the Query protocol: IAM, STS)."""
        if data is not None and json is not None:
            raise ConfigError(f"{self.spec.service}: a SigV4 request carries a JSON body or a form, not both")
        prepared = requests.Request(method, url, params=params).prepare()
        assert prepared.url is not None  # prepare() always sets it
        if data is not None:
            body: bytes | None = urlencode(data, doseq=True).encode() if isinstance(data, dict) else data
            kind = "application/x-www-form-urlencoded; charset=utf-8"
        else:
            body, kind = (orjson.dumps(json) if json is not None else None), "application/json"
        all_headers = {"Content-Type": kind, **(headers or {})}
        signed = _Signed(self, method, prepared.url, all_headers, body)
        return http.request(method, prepared.url, auth=signed, data=body, headers=all_headers, **kwargs)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(self.creds.frozen(), self.spec.service, self.region).add_auth(aws)
        return dict(aws.headers.items())

    def refresh(self) -> None:
        self.creds.refresh()


class _Signed(Auth):
    """One request's signing, as the HTTP client's auth: signed afresh on every attempt."""

    def __init__(self, signer: SigV4Signer, method: str, url: str, headers: dict[str, str], body: bytes | None):
        self.signer, self.method, self.url, self.headers, self.body = signer, method, url, headers, body

    def apply(self, headers: dict[str, str]) -> None:
        headers.update(self.signer.sign(self.method, self.url, dict(self.headers), self.body))

    def refresh(self) -> None:
        self.signer.refresh()
