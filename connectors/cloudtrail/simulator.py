"""AWS CloudTrail LookupEvents, as in ../shared/vendor-apis-2.md §29 (SigV4, STS and errors:
nexus_sync/simulator/aws.py).

Served under ``/cloudtrail`` (one account, region ``us-east-1``):

* ``POST /`` with ``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`` (another
  target → 400 ``UnknownOperationException``) and a JSON body: ``StartTime`` / ``EndTime`` (epoch seconds,
  both inclusive; start after end → 400 ``InvalidTimeRangeException``), ``LookupAttributes`` (**at most one**,
  keys EventId/EventName/ReadOnly/Username/ResourceType/ResourceName/EventSource/AccessKeyId, else 400
  ``InvalidLookupAttributesException``), ``EventCategory`` (only ``insight``: no Insights events here),
  ``MaxResults`` 1-50 (default 50, else 400 ``InvalidMaxResultsException``), ``NextToken``.
* → ``{"Events": [...], "NextToken"}``, **newest first**; ``NextToken`` is absent on the last page and is valid
  only with the parameters that produced it (else 400 ``InvalidNextTokenException``).
* An event: ``EventId`` (UUID), ``EventName``, ``ReadOnly`` ("true"/"false"), ``AccessKeyId``, ``EventTime``
  (**epoch seconds, a float**), ``EventSource``, ``Username``, ``Resources``, and ``CloudTrailEvent``: the
  event's own record as a **JSON string** (ISO-8601 Z ``eventTime``, ``userIdentity``, ``sourceIPAddress``,
  ``errorCode`` on refused calls, ``responseElements.ConsoleLogin`` = Success/Failure for sign-ins).
* Management events of the **last 90 days** only. Events arrive **minutes late**: :meth:`CloudTrailSim.
  deliver_late` adds events that happened in the past and become visible only now. The log is immutable:
  a mutation round changes no event.
* Over 2 requests/s per account and region (modelled as 120/min): HTTP **400** ``ThrottlingException``
  (coral-namespaced ``__type``), no rate-limit headers.

The data's clock: generated times lie in the 60 days before DATA_EPOCH; served, they are shifted so DATA_EPOCH
is the hour the simulator loaded (retention counts from the wall clock, as the API does).
"""
from __future__ import annotations

import base64
import hashlib
import random
import time
import uuid
from typing import Any

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.aws import ACCOUNT, AwsSim

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
RETENTION = 90 * data.DAY
SPAN = 60 * data.DAY
ATTRIBUTES = {"EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource",
              "AccessKeyId"}
# (EventName, EventSource, read-only, resource type)
CALLS = [("ConsoleLogin", "signin.amazonaws.com", False, None),
         ("AssumeRole", "sts.amazonaws.com", True, "AWS::IAM::Role"),
         ("CreateUser", "iam.amazonaws.com", False, "AWS::IAM::User"),
         ("CreateAccessKey", "iam.amazonaws.com", False, "AWS::IAM::AccessKey"),
         ("AttachUserPolicy", "iam.amazonaws.com", False, "AWS::IAM::Policy"),
         ("StopLogging", "cloudtrail.amazonaws.com", False, "AWS::CloudTrail::Trail"),
         ("PutBucketPolicy", "s3.amazonaws.com", False, "AWS::S3::Bucket"),
         ("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", False, "AWS::EC2::SecurityGroup"),
         ("RunInstances", "ec2.amazonaws.com", False, "AWS::EC2::Instance"),
         ("DescribeInstances", "ec2.amazonaws.com", True, None),
         ("ListBuckets", "s3.amazonaws.com", True, None),
         ("GetCallerIdentity", "sts.amazonaws.com", True, None)]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def event(rng: random.Random, at: float, n: int) -> dict[str, Any]:
    """One LookupEvents event at epoch `at`; `n` makes its resource names differ."""
    name, source, read_only, rtype = rng.choice(CALLS)
    user = rng.choice(USERS)
    root = rng.random() < 0.02
    key = None if name == "ConsoleLogin" else "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                                                                for _ in range(16))
    eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    identity: dict[str, Any] = ({"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root",
                                 "accountId": ACCOUNT} if root else
                                {"type": "IAMUser", "principalId": f"AIDA{rng.getrandbits(64):016X}",
                                 "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT,
                                 "userName": user})
    if key:
        identity["accessKeyId"] = key
    inner: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": _iso(at), "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": f"198.51.100.{rng.randrange(1, 255)}",
        "userAgent": rng.choice(["aws-cli/2.15.0", "console.amazonaws.com", "Boto3/1.34.0"]),
        "requestParameters": None, "responseElements": None, "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": eid, "readOnly": read_only, "eventType": "AwsConsoleSignIn" if name == "ConsoleLogin"
        else "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management"}
    if name == "ConsoleLogin":
        inner["responseElements"] = {"ConsoleLogin": "Failure" if rng.random() < 0.1 else "Success"}
    elif rng.random() < 0.05:
        inner.update(errorCode="AccessDenied", errorMessage=f"User: {identity['arn']} is not authorized")
    resources = [{"ResourceType": rtype, "ResourceName": f"{rtype.rpartition('::')[2].lower()}-{n:06d}"}] \
        if rtype else []
    out = {"EventId": eid, "EventName": name, "ReadOnly": "true" if read_only else "false",
           "EventTime": float(int(at)), "EventSource": source, "Username": "root" if root else user,
           "Resources": resources, "CloudTrailEvent": orjson.dumps(inner).decode()}
    if key:
        out["AccessKeyId"] = key
    return out


@data.register_generator("cloudtrail")
def generate_cloudtrail(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "cloudtrail", "records")
    return [event(rng, data.DATA_EPOCH - SPAN + rng.random() * (SPAN - 600), i) for i in range(size)]


def _token(offset: int, params: bytes) -> str:
    digest = hashlib.sha256(params).hexdigest()[:16]
    return base64.b64encode(orjson.dumps({"o": offset, "h": digest})).decode()


def _number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a timestamp (epoch seconds)", 400)
    return float(value)


@register
class CloudTrailSim(AwsSim):
    name = "cloudtrail"
    id_field = "EventId"
    service, dialect = "cloudtrail", "json"
    default_credentials = {"access_key_id": "AKIASIMULATORTRAIL01", "secret_access_key": "sim/trail+secret+key"}
    default_rate_limit = 120
    throttle_code = "com.amazon.coral.availability#ThrottlingException"

    def generate(self) -> tuple[dict, ...]:
        """Round 0 with DATA_EPOCH moved to the hour this simulator loads (see the module's docstring)."""
        delta = int(time.time()) // 3600 * 3600 - data.DATA_EPOCH
        out = []
        for ev in super().generate():
            inner = orjson.loads(ev["CloudTrailEvent"])
            inner["eventTime"] = _iso(ev["EventTime"] + delta)
            out.append({**ev, "EventTime": ev["EventTime"] + delta, "CloudTrailEvent": orjson.dumps(inner).decode()})
        return tuple(out)

    def on_data_changed(self) -> None:
        self.visible_from: dict[str, float] = getattr(self, "visible_from", {})
        self._newest_first = sorted(self.order, key=lambda rid: (-self.records[rid]["EventTime"], rid))

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A CloudTrail event never changes."""
        return dict(record)

    def deliver_late(self, count: int, age_seconds: float) -> list[str]:
        """`count` events that happened `age_seconds` ago, visible only from now on (delivery lag)."""
        now = time.time()
        with self.lock:
            rng = data.vendor_rng(self.seed, self.name, "late", len(self.order))
            ids = []
            for i in range(count):
                ev = event(rng, now - age_seconds + i, len(self.order))
                self.records[ev["EventId"]] = ev
                self.position[ev["EventId"]] = len(self.order)
                self.order.append(ev["EventId"])
                self.visible_from[ev["EventId"]] = now
                ids.append(ev["EventId"])
            self.version += 1
            self.on_data_changed()
        return ids

    @route("POST", "/")
    def lookup_events(self, req: Request) -> Response:
        if req.headers.get("X-Amz-Target") != TARGET:
            return self.error(400, f"Operation {req.headers.get('X-Amz-Target')} is not supported",
                              "UnknownOperationException")
        body = req.json() or {}
        if not isinstance(body, dict):
            return self.error(400, "Start of structure or map found where not expected.", "SerializationException")
        size = body.get("MaxResults", 50)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 50:
            return self.error(400, "MaxResults must be between 1 and 50", "InvalidMaxResultsException")
        attrs = body.get("LookupAttributes") or []
        if not isinstance(attrs, list) or len(attrs) > 1 or any(
                not isinstance(a, dict) or a.get("AttributeKey") not in ATTRIBUTES for a in attrs):
            return self.error(400, "You cannot specify more than one lookup attribute, and its key must be one "
                              "of the LookupAttributeKey values", "InvalidLookupAttributesException")
        if body.get("EventCategory") not in (None, "insight"):
            return self.error(400, "EventCategory must be insight", "InvalidEventCategoryException")
        now = time.time()
        start, end = _number(body, "StartTime"), _number(body, "EndTime")
        if start is not None and end is not None and start > end:
            return self.error(400, "StartTime must be before EndTime", "InvalidTimeRangeException")
        params = orjson.dumps({k: v for k, v in body.items() if k != "NextToken"}, option=orjson.OPT_SORT_KEYS)
        offset = 0
        if body.get("NextToken"):
            try:
                token = orjson.loads(base64.b64decode(body["NextToken"], validate=True))
                offset = int(token["o"])
            except (ValueError, KeyError, TypeError):
                return self.error(400, "Invalid NextToken", "InvalidNextTokenException")
            if token.get("h") != hashlib.sha256(params).hexdigest()[:16]:
                return self.error(400, "The NextToken is not valid for these parameters: send the parameters "
                                  "of the call that returned it", "InvalidNextTokenException")
        hits = self._hits(start, end, attrs[0] if attrs else None, body.get("EventCategory"), now)
        out: dict[str, Any] = {"Events": hits[offset: offset + size]}
        if offset + size < len(hits):
            out["NextToken"] = _token(offset + size, params)
        resp = json_response(200, out)
        resp.content_type = "application/x-amz-json-1.1"
        return resp

    def _hits(self, start: float | None, end: float | None, attr: dict | None, category: str | None,
              now: float) -> list[dict]:
        if category == "insight":
            return []  # no Insights events are simulated
        lo = max(start if start is not None else 0.0, now - RETENTION)
        hi = end if end is not None else now
        with self.lock:
            visible = [self.records[rid] for rid in self._newest_first
                       if self.visible_from.get(rid, 0.0) <= now and lo <= self.records[rid]["EventTime"] <= hi]
        if attr is None:
            return visible
        key, value = attr["AttributeKey"], attr.get("AttributeValue")
        if key in ("ResourceType", "ResourceName"):
            return [e for e in visible if any(r.get(key) == value for r in e["Resources"])]
        return [e for e in visible if e.get(key) == value]
