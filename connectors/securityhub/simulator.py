"""AWS Security Hub GetFindings (ASFF), as in ../shared/vendor-apis.md §10.

Served under ``/securityhub`` (one region, ``us-east-1``, one account):

* ``POST /findings`` with ``{"Filters", "SortCriteria", "NextToken", "MaxResults": 1..100}`` →
  ``{"Findings": [...], "NextToken": "..."}``; ``NextToken`` is absent on the last page. Filters simulated:
  ``UpdatedAt`` / ``CreatedAt`` date filters (``Start`` / ``End``, either may be alone) and ``RecordState`` /
  ``SeverityLabel`` / ``WorkflowStatus`` string filters (``EQUALS``). Other filters → 400.
* Every request needs a SigV4 ``Authorization`` header: the simulator recomputes the signature with botocore
  from the signed headers, the URL the client addressed and the body, and answers 403 like AWS
  (``MissingAuthenticationTokenException``, ``UnrecognizedClientException``, ``InvalidSignatureException``).
* A finding is unique by ``Id`` together with ``ProductArn``: :meth:`SecurityHubSim.import_findings` adds
  findings of another product (BatchImportFindings), whose ``Id`` may repeat one of another product.
* ``RecordState`` is ACTIVE or ARCHIVED (the resource was deleted, or the product archived the finding):
  :meth:`SecurityHubSim.archive` archives findings; the listing keeps them (filter ``RecordState`` to drop
  them). ``Workflow.Status`` is NEW / NOTIFIED / RESOLVED / SUPPRESSED.
* Errors: ``x-amzn-ErrorType`` header plus ``{"Code", "Message"}``; over the limit (3 req/s, modelled as
  180/min) 429 ``LimitExceededException`` without rate-limit headers (AWS sends none).
"""
from __future__ import annotations

import base64
import calendar
import hmac
import random
import re
import time
import uuid
from datetime import datetime
from typing import Any, Callable

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

REGION, ACCOUNT, SERVICE = "us-east-1", "111122223333", "securityhub"
MAX_SKEW = 900  # AWS rejects signatures more than 15 minutes off
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
                   r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
                   r"Signature=(?P<sig>[0-9a-f]{64})$")
SEVERITY = {"INFORMATIONAL": 0, "LOW": 30, "MEDIUM": 50, "HIGH": 70, "CRITICAL": 90}
CONTROLS = [("EC2.19", "Security groups should not allow unrestricted access to ports with high risk", "HIGH",
             "AwsEc2SecurityGroup", "security-group/sg-"),
            ("S3.8", "S3 general purpose buckets should block public access", "HIGH", "AwsS3Bucket", ""),
            ("IAM.6", "Hardware MFA should be enabled for the root user", "CRITICAL", "AwsAccount", ""),
            ("CloudTrail.1", "CloudTrail should be enabled and configured with at least one multi-Region trail",
             "HIGH", "AwsAccount", ""),
            ("EC2.8", "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)", "HIGH",
             "AwsEc2Instance", "instance/i-"),
            ("KMS.4", "AWS KMS key rotation should be enabled", "MEDIUM", "AwsKmsKey", "key/")]
PACKAGES = ["openssl", "glibc", "curl", "log4j-core", "sudo", "openssh", "libxml2", "zlib"]
WORKFLOW = ["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"]


def _resource(rng: data.FastRandom, rtype: str, prefix: str, i: int) -> dict:
    if rtype == "AwsS3Bucket":
        rid = f"arn:aws:s3:::bucket-{i:06d}"
    elif rtype == "AwsAccount":
        rid = f"AWS::::Account:{ACCOUNT}"
    else:
        rid = f"arn:aws:{'kms' if rtype == 'AwsKmsKey' else 'ec2'}:{REGION}:{ACCOUNT}:{prefix}{rng.getrandbits(68):017x}"
    return {"Type": rtype, "Id": rid, "Partition": "aws", "Region": REGION}


@data.register_generator("securityhub")
def generate_securityhub(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "securityhub", "records")
    out = []
    for i in range(size):
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        updated = rng.between(created, data.DATA_EPOCH - 60)
        common = {"SchemaVersion": "2018-10-08", "AwsAccountId": ACCOUNT, "Region": REGION,
                  "CreatedAt": data.iso_ms_z(created), "UpdatedAt": data.iso_ms_z(updated),
                  "FirstObservedAt": data.iso_ms_z(created), "LastObservedAt": data.iso_ms_z(updated),
                  "Workflow": {"Status": rng.pick(WORKFLOW)}, "RecordState": "ACTIVE"}
        if rng.random() < 0.5:  # a failed Security Hub control
            cid, title, label, rtype, prefix = rng.pick(CONTROLS)
            rec = {"Id": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:security-control/{cid}/finding/{uuid.UUID(int=rng.getrandbits(128))}",
                   "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub", "ProductName": "Security Hub",
                   "GeneratorId": f"security-control/{cid}", "Title": title, "Description": f"{title} ({cid}).",
                   "Compliance": {"Status": "FAILED", "SecurityControlId": cid}}
        else:  # an Inspector package vulnerability
            cve = f"CVE-{2019 + rng.below(6)}-{1000 + rng.below(49000)}"
            score = round(4 + rng.random() * 6, 1)
            label = "CRITICAL" if score >= 9 else "HIGH" if score >= 7 else "MEDIUM"
            rtype, prefix, pkg = "AwsEc2Instance", "instance/i-", rng.pick(PACKAGES)
            rec = {"Id": f"arn:aws:inspector2:{REGION}:{ACCOUNT}:finding/{rng.getrandbits(128):032x}",
                   "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/inspector", "ProductName": "Inspector",
                   "GeneratorId": "AWSInspector", "Title": f"{cve} - {pkg}", "Description": f"{cve} in {pkg}.",
                   "Vulnerabilities": [{"Id": cve, "FixAvailable": rng.pick(["YES", "NO", "PARTIAL"]),
                                        "Cvss": [{"Version": "3.1", "BaseScore": score,
                                                  "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]}
        rec.update(common, Severity={"Label": label, "Normalized": SEVERITY[label], "Original": label},
                   Resources=[_resource(rng, rtype, prefix, i)])
        out.append(rec)
    return out



_STRING_FILTERS: dict[str, Callable[[dict], Any]] = {
    "RecordState": lambda r: r["RecordState"],
    "SeverityLabel": lambda r: r["Severity"]["Label"],
    "WorkflowStatus": lambda r: r["Workflow"]["Status"],
}


def _within(field: str, lo: datetime | None, hi: datetime | None) -> Callable[[dict], bool]:
    """A finding whose ``field`` (an ISO time) lies within [lo, hi]; an open end when None."""
    return lambda r: (lo is None or data.parse_iso(r[field]) >= lo) and (hi is None or data.parse_iso(r[field]) <= hi)


def _one_of(get: Callable[[dict], Any], values: set[str]) -> Callable[[dict], bool]:
    return lambda r: get(r) in values


@register
class SecurityHubSim(VendorSim):
    name = "securityhub"
    id_field = "Id"
    default_credentials = {"access_key_id": "AKIASIMULATOR0000001", "secret_access_key": "sim/secret+access+key"}
    default_rate_limit = 180

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Triage or remediation: workflow status, sometimes severity or archived; UpdatedAt bumped."""
        new = dict(record)
        new["Workflow"] = {"Status": rng.choice([w for w in WORKFLOW if w != record["Workflow"]["Status"]])}
        if rng.random() < 0.3:
            label = rng.choice([s for s in SEVERITY if s != record["Severity"]["Label"]])
            new["Severity"] = {"Label": label, "Normalized": SEVERITY[label], "Original": label}
        if rng.random() < 0.1:
            new["RecordState"] = "ARCHIVED"
        ts = data.mutation_time(rng, round_no)
        new["UpdatedAt"] = new["LastObservedAt"] = data.iso_ms_z(ts)
        return new

    def archive(self, count: int) -> list[str]:
        """The resources of `count` ACTIVE findings are gone: Security Hub archives those findings (RecordState
        ARCHIVED, UpdatedAt moves on; nothing else changes). Deterministic from (seed, round)."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "archive", self.round)
            active = [rid for rid in self.order if self.records[rid]["RecordState"] == "ACTIVE"]
            chosen = sorted(rng.sample(active, count), key=self.position.__getitem__)
            for rid in chosen:
                at = data.iso_ms_z(data.mutation_time(rng, self.round), rng.randrange(1000))
                self.records[rid] = {**self.records[rid], "RecordState": "ARCHIVED", "UpdatedAt": at}
            self.version += 1
            self.on_data_changed()
            return chosen

    def import_findings(self, findings: list[dict]) -> None:
        """BatchImportFindings from other products: a finding is unique by (ProductArn, Id), so its Id may
        repeat a finding of another product; served after the others. (mutate() expects every record keyed
        by its Id: do not mutate after importing such a repeat.)"""
        with self.lock:
            for finding in findings:
                rid = finding["Id"]
                if rid in self.records and self.records[rid]["ProductArn"] != finding["ProductArn"]:
                    rid = f"{finding['ProductArn']}|{finding['Id']}"  # our key only; served as the vendor's
                if rid not in self.records:
                    self.position[rid] = len(self.order)
                    self.order.append(rid)
                self.records[rid] = finding
            self.version += 1
            self.on_data_changed()

    # ---- dialect -------------------------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        code = code or {400: "InvalidInputException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
                        429: "LimitExceededException"}.get(status, "InternalException")
        resp = json_response(status, {"Code": code, "Message": message})
        resp.headers += [("x-amzn-ErrorType", code), ("x-amzn-RequestId", str(uuid.uuid4()))]
        return resp

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "Rate exceeded")

    def authenticate(self, req: Request) -> Response | None:
        header = req.headers.get("Authorization")
        if not header:
            return self.error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        m = _AUTH.match(header.strip())
        if not m:
            return self.error(403, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
                              "IncompleteSignatureException")
        if m["akid"] != self.credentials["access_key_id"]:
            return self.error(403, "The security token included in the request is invalid.",
                              "UnrecognizedClientException")
        if (m["region"], m["service"]) != (REGION, SERVICE):
            return self.error(403, f"Credential should be scoped to a valid region and service "
                                   f"('{REGION}', '{SERVICE}')", "InvalidSignatureException")
        amz_date = req.headers.get("X-Amz-Date") or ""
        try:
            skew = abs(time.time() - calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            return self.error(403, "missing or malformed X-Amz-Date", "IncompleteSignatureException")
        signed = m["signed"].split(";")
        if "host" not in signed or skew > MAX_SKEW or not amz_date.startswith(m["date"]):
            return self.error(403, "Signature expired or not signed over host", "InvalidSignatureException")
        aws = AWSRequest(method=req.method, url=req.url, data=req.body,
                         headers={h: req.headers.get(h) or "" for h in signed})
        aws.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(m["akid"], self.credentials["secret_access_key"]), SERVICE, REGION)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if not hmac.compare_digest(expected, m["sig"]):
            return self.error(403, "The request signature we calculated does not match the signature you provided.",
                              "InvalidSignatureException")
        return None

    # ---- GetFindings ---------------------------------------------------------------------------

    def _matches(self, filters: dict[str, Any]) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for name, conds in filters.items():
            if name in ("UpdatedAt", "CreatedAt"):
                for c in conds:
                    lo = data.parse_iso(c["Start"]) if c.get("Start") else None
                    hi = data.parse_iso(c["End"]) if c.get("End") else None
                    checks.append(_within(name, lo, hi))
            elif name in ("RecordState", "SeverityLabel", "WorkflowStatus"):
                values = {c["Value"] for c in conds if c.get("Comparison", "EQUALS") == "EQUALS"}
                checks.append(_one_of(_STRING_FILTERS[name], values))
            else:
                raise BadRequest(f"Filter {name} is not simulated")
        return lambda r: all(c(r) for c in checks)

    @route("POST", "/findings")
    def get_findings(self, req: Request) -> Response:
        body = req.json() or {}
        size = int(body.get("MaxResults", 100))
        if not 1 <= size <= 100:
            raise BadRequest("MaxResults must be between 1 and 100")
        try:
            match = self._matches(body.get("Filters") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"Invalid Filters: {exc}") from None
        offset = 0
        if body.get("NextToken"):
            try:
                offset = int(orjson.loads(base64.urlsafe_b64decode(body["NextToken"]))["offset"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest("Invalid NextToken") from None
        with self.lock:
            hits = [self.records[rid] for rid in self.order if match(self.records[rid])]
        page = hits[offset: offset + size]
        out: dict[str, Any] = {"Findings": page}
        if offset + size < len(hits):
            out["NextToken"] = base64.urlsafe_b64encode(orjson.dumps({"offset": offset + size})).decode()
        return json_response(200, out)
