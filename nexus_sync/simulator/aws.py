"""What the AWS simulators share (vendor-apis-2.md §29 CloudTrail, §36 IAM): SigV4 verified with botocore,
the STS AssumeRole endpoint and the temporary keys it issues (they expire), and AWS's two error dialects.

* Every data request needs a SigV4 ``Authorization`` header scoped to the vendor's service and region; the
  signature is recomputed with botocore over the signed headers, the URL the client addressed and the body.
  Keys: the long-term pair in the vendor's credentials, or temporary keys issued by AssumeRole, which also
  need their ``X-Amz-Security-Token`` and are refused once expired (``ExpiredToken``).
* STS ``AssumeRole`` is served under the vendor's own prefix as ``POST /sts`` (Query protocol: form
  ``Action=AssumeRole&Version=2011-06-15&RoleArn&RoleSessionName[&ExternalId][&DurationSeconds]``, signed
  for service ``sts``) → ``<AssumeRoleResponse>`` XML as AWS gives it. The role's trust policy requires the
  external id :data:`EXTERNAL_ID`: a missing or wrong one is 403 ``AccessDenied``, as is another role.
  Issued keys (``ASIA…``) live DurationSeconds (900-3600, default 3600), cut to the simulator's token_ttl.
* Errors: JSON 1.1 services answer ``{"__type", "message"}`` plus ``x-amzn-ErrorType``, auth failures as
  HTTP **400** with the coral-namespaced type (``com.amazon.coral.service#UnrecognizedClientException``);
  Query services (IAM, STS) answer ``<ErrorResponse><Error><Type/><Code/><Message/></Error>`` with 403.
"""
from __future__ import annotations

import calendar
import hmac
import re
import secrets
import string
import threading
import time
import uuid
from typing import Any, ClassVar, Literal
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nexus_sync.simulator.messages import Request, Response, json_response
from nexus_sync.simulator.vendor import SimHost, VendorSim, route

ACCOUNT = "111122223333"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/NexusSyncReadOnly"
EXTERNAL_ID = "nexus-sync-7d3c1a2b"  # what the role's trust policy requires (sts:ExternalId)
MAX_SKEW = 900  # AWS refuses signatures more than 15 minutes off
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
                   r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
                   r"Signature=(?P<sig>[0-9a-f]{64})$")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
Dialect = Literal["json", "query"]

# why a request's signature is refused → (JSON 1.1 __type, Query code, message)
REFUSALS = {
    "missing": ("com.amazon.coral.service#MissingAuthenticationTokenException", "MissingAuthenticationToken",
                "Request is missing Authentication Token"),
    "incomplete": ("com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature",
                   "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature', and X-Amz-Date"),
    "token": ("com.amazon.coral.service#UnrecognizedClientException", "InvalidClientTokenId",
              "The security token included in the request is invalid."),
    "signature": ("com.amazon.coral.service#InvalidSignatureException", "SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided."),
    "expired": ("com.amazon.coral.service#ExpiredTokenException", "ExpiredToken",
                "The security token included in the request is expired"),
}


def xml_response(status: int, root: str, inner: str, xmlns: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{xmlns}">{inner}</{root}>'
    return Response(status, body.encode(), [("x-amzn-RequestId", str(uuid.uuid4()))], content_type="text/xml")


def tag(name: str, value: Any) -> str:
    """<name>value</name>, the value escaped; an absent value leaves the element out (as AWS does)."""
    return "" if value is None else f"<{name}>{escape(str(value))}</{name}>"


class AwsSim(VendorSim):
    """Base of the AWS vendors (not registered itself)."""

    service: ClassVar[str]  # signing name
    region: ClassVar[str] = "us-east-1"
    dialect: ClassVar[Dialect]
    xmlns: ClassVar[str] = ""  # a Query service's namespace
    error_codes: ClassVar[dict[int, str]] = {}  # status → default error code
    throttle_code: ClassVar[str] = "ThrottlingException"

    def __init__(self, sim: SimHost):
        self.sessions: dict[str, tuple[str, str, float]] = {}  # temporary key id → (secret, token, expires)
        self.assumed: list[str] = []  # every key id AssumeRole issued, in order
        self.signed_by: dict[str, int] = {}  # key id → data requests it signed
        self.require_role = False  # True: data requests must be signed with an assumed role's keys
        self._keys = threading.Lock()
        super().__init__(sim)

    # ---- the error dialects
    def error(self, status: int, message: str, code: str | None = None) -> Response:
        code = code or self.error_codes.get(status) or ("InternalFailure" if status >= 500 else "ValidationException")
        if self.dialect == "query":
            return self.query_error(status, code, message, self.xmlns)
        resp = json_response(status, {"__type": code, "message": message})
        resp.headers += [("x-amzn-ErrorType", code.rpartition("#")[2]), ("x-amzn-RequestId", str(uuid.uuid4()))]
        resp.content_type = "application/x-amz-json-1.1"
        return resp

    @staticmethod
    def query_error(status: int, code: str, message: str, xmlns: str) -> Response:
        kind = "Receiver" if status >= 500 else "Sender"
        inner = f"<Error>{tag('Type', kind)}{tag('Code', code)}{tag('Message', message)}</Error>" \
                f"{tag('RequestId', uuid.uuid4())}"
        return xml_response(status, "ErrorResponse", inner, xmlns)

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        """AWS throttles with HTTP 400 and its throttling code, no rate-limit headers (vendor-apis-2 §29, §36)."""
        return self.error(400, "Rate exceeded", self.throttle_code)

    def refusal(self, why: str, dialect: Dialect, xmlns: str) -> Response:
        json_type, query_code, message = REFUSALS[why]
        if dialect == "query":
            return self.query_error(400 if why == "expired" and xmlns == STS_XMLNS else 403, query_code, message,
                                    xmlns)
        return self.error(400, message, json_type)

    # ---- SigV4
    def authenticate(self, req: Request) -> Response | None:
        why, akid = self.check_signature(req, self.service)
        if why is None and self.require_role and akid not in self.sessions:
            why = "token"  # the account grants this reader only through the role
        if why is not None:
            return self.refusal(why, self.dialect, self.xmlns)
        with self._keys:
            self.signed_by[akid] = self.signed_by.get(akid, 0) + 1
        return None

    def check_signature(self, req: Request, service: str) -> tuple[str | None, str]:
        """(None, key id) for a good signature; else (why, key id) with why a REFUSALS key."""
        header = req.headers.get("Authorization")
        if not header:
            return "missing", ""
        m = _AUTH.match(header.strip())
        amz_date = req.headers.get("X-Amz-Date") or ""
        if not m:
            return "incomplete", ""
        akid = m["akid"]
        secret, token = self._secret_of(akid)
        if secret is None:
            return "token", akid
        if token is not None:
            if not hmac.compare_digest(req.headers.get("X-Amz-Security-Token") or "", token):
                return "token", akid
            if self.sessions[akid][2] <= time.time():
                return "expired", akid
        try:
            skew = abs(time.time() - calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            return "incomplete", akid
        signed = m["signed"].split(";")
        if (m["region"], m["service"]) != (self.region, service) or "host" not in signed or skew > MAX_SKEW \
                or not amz_date.startswith(m["date"]):
            return "signature", akid
        aws = AWSRequest(method=req.method, url=req.url, data=req.body,
                         headers={h: req.headers.get(h) or "" for h in signed})
        aws.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(akid, secret), service, self.region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        return (None if hmac.compare_digest(expected, m["sig"]) else "signature"), akid

    def _secret_of(self, akid: str) -> tuple[str | None, str | None]:
        """(secret, session token or None for long-term keys); (None, None) for an unknown key id."""
        if akid == self.credentials.get("access_key_id"):
            return self.credentials.get("secret_access_key"), None
        with self._keys:
            held = self.sessions.get(akid)
        return (held[0], held[1]) if held else (None, None)

    # ---- STS AssumeRole
    @route("POST", "/sts", data_request=False)
    def assume_role(self, req: Request) -> Response:
        form = req.form()
        if form.get("Action") != "AssumeRole" or form.get("Version") != "2011-06-15":
            return self.query_error(400, "InvalidAction", "Could not find operation "
                                    f"{form.get('Action')} for version {form.get('Version')}", STS_XMLNS)
        why, akid = self.check_signature(req, "sts")
        if why is not None:
            return self.refusal(why, "query", STS_XMLNS)
        caller = f"arn:aws:iam::{ACCOUNT}:user/nexus-sync" if akid not in self.sessions else \
            f"arn:aws:sts::{ACCOUNT}:assumed-role/NexusSyncReadOnly/chained"
        role, session = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        if role != ROLE_ARN or not hmac.compare_digest(form.get("ExternalId", ""), EXTERNAL_ID):
            return self.query_error(403, "AccessDenied", f"User: {caller} is not authorized to perform: "
                                    f"sts:AssumeRole on resource: {role}", STS_XMLNS)
        if not _SESSION_NAME.fullmatch(session):
            return self.query_error(400, "ValidationError", "1 validation error detected: Value at "
                                    "'roleSessionName' failed to satisfy constraint", STS_XMLNS)
        duration = int(form.get("DurationSeconds") or 3600) if (form.get("DurationSeconds") or "0").isdigit() else 0
        if not 900 <= duration <= 3600:
            return self.query_error(400, "ValidationError", "The requested DurationSeconds exceeds the "
                                    "MaxSessionDuration set for this role.", STS_XMLNS)
        expires = int(time.time()) + min(duration, int(self.sim.config.token_ttl))
        key = "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        secret, token = secrets.token_urlsafe(30)[:40], "FwoGZXIvYXdzE" + secrets.token_urlsafe(180)
        with self._keys:
            now = time.time()
            self.sessions = {k: v for k, v in self.sessions.items() if v[2] > now - 3600}
            self.sessions[key] = (secret, token, expires)
            self.assumed.append(key)
        creds = (tag("AccessKeyId", key) + tag("SecretAccessKey", secret) + tag("SessionToken", token)
                 + tag("Expiration", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))))
        user = (tag("AssumedRoleId", f"AROA3XFRBF535PLBIFPI4:{session}")
                + tag("Arn", f"arn:aws:sts::{ACCOUNT}:assumed-role/NexusSyncReadOnly/{session}"))
        inner = (f"<AssumeRoleResult><AssumedRoleUser>{user}</AssumedRoleUser><Credentials>{creds}</Credentials>"
                 f"</AssumeRoleResult><ResponseMetadata>{tag('RequestId', uuid.uuid4())}</ResponseMetadata>")
        return xml_response(200, "AssumeRoleResponse", inner, STS_XMLNS)
