"""AWS IAM users and the credential report, as in ../shared/vendor-apis-2.md §36 (SigV4, STS and errors:
nexus_sync/simulator/aws.py).

Served under ``/awsiam`` (the global endpoint: signatures scoped to ``us-east-1`` / ``iam``), Query protocol:
form ``POST /`` with ``Action`` and ``Version=2010-05-08`` (another → 400 ``InvalidAction``), XML answers in
the ``https://iam.amazonaws.com/doc/2010-05-08/`` namespace:

* ``ListUsers`` (``PathPrefix``, ``Marker``, ``MaxItems`` 1-1000, default 100) →
  ``<ListUsersResponse><ListUsersResult><Users><member>…</member></Users><IsTruncated>true</IsTruncated>
  <Marker>…</Marker>``. **Fewer than MaxItems may come while more exist** (every other page is half full):
  only ``IsTruncated`` says whether more follow. A user: ``Path``, ``UserName``, ``UserId`` (``AIDA…``, stable),
  ``Arn`` (changes with a rename or a path move), ``CreateDate`` and ``PasswordLastUsed`` (ISO-8601 Z;
  **absent** when never used or no password).
* ``GenerateCredentialReport`` → ``State`` STARTED (with a Description), then INPROGRESS, COMPLETE on the third
  call; a report younger than 4 hours is reused (COMPLETE at once). ``GetCredentialReport`` → ``Content``
  (**base64 CSV**, the header verbatim, the ``<root_account>`` row first), ``ReportFormat`` text/csv,
  ``GeneratedTime``; before one exists 410 ``ReportNotPresent``, while generating 404 ``ReportInProgress``.
  CSV times read ``2024-01-01T00:00:00+00:00``; sentinels ``N/A``, ``no_information``, ``not_supported``.
* Throttling: HTTP **400** ``Throttling`` ("Rate exceeded") as Query XML, no rate-limit headers.
* A mutation renames a user or moves its path (new UserName/Arn, same UserId) and may record a sign-in.
"""
from __future__ import annotations

import base64
import csv
import io
import random
import time
from typing import Any

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, register, route
from nexus_sync.simulator.aws import ACCOUNT, AwsSim, tag, xml_response

XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
REPORT_MAX_AGE = 4 * 3600
HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
          "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
          "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
          "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
          "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated")
FIRST = ["ana", "ben", "chen", "dina", "emre", "fola", "gus", "hana", "ivan", "jo", "kai", "lena"]
PATHS = ["/", "/engineering/", "/ops/", "/contractors/", "/service-accounts/"]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _csv_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


@data.register_generator("awsiam")
def generate_awsiam(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "awsiam", "records")
    out = []
    for i in range(size):
        name = f"{rng.pick(FIRST)}.{i:05d}" if rng.random() < 0.7 else f"{rng.pick(FIRST)}.{i:05d}@example.com"
        path = rng.pick(PATHS)
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        user = {"Path": path, "UserName": name, "UserId": f"AIDA{rng.getrandbits(80):020X}"[:21],
                "Arn": f"arn:aws:iam::{ACCOUNT}:user{path}{name}", "CreateDate": _iso(created)}
        if rng.random() < 0.6:  # a console password that was used
            user["PasswordLastUsed"] = _iso(rng.between(created, data.DATA_EPOCH - 60))
        out.append(user)
    return out


def _user_xml(user: dict) -> str:
    fields = ("Path", "UserName", "UserId", "Arn", "CreateDate", "PasswordLastUsed")
    return "<member>" + "".join(tag(f, user.get(f)) for f in fields) + "</member>"


@register
class AwsIamSim(AwsSim):
    name = "awsiam"
    id_field = "UserId"
    service, dialect, xmlns = "iam", "query", XMLNS
    default_credentials = {"access_key_id": "AKIASIMULATORIAM0001", "secret_access_key": "sim/iam+secret+key"}
    default_rate_limit = 600
    throttle_code = "Throttling"
    error_codes = {400: "InvalidInput", 403: "AccessDenied", 404: "NoSuchEntity", 500: "ServiceFailure",
                   503: "ServiceUnavailable"}

    def __init__(self, sim: Any):
        self.report: dict[str, Any] | None = None  # {"calls", "started", "generated", "content"}
        super().__init__(sim)

    def reset(self) -> None:
        super().reset()
        self.report = None

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A rename or a path move (new UserName and Arn, same UserId); sometimes a console sign-in."""
        new = dict(record)
        if rng.random() < 0.5:
            new["UserName"] = f"{record['UserName'].split('@')[0]}-r{round_no}"
        else:
            new["Path"] = rng.choice([p for p in PATHS if p != record["Path"]])
        new["Arn"] = f"arn:aws:iam::{ACCOUNT}:user{new['Path']}{new['UserName']}"
        if rng.random() < 0.3:
            new["PasswordLastUsed"] = _iso(data.mutation_time(rng, round_no))
        return new

    # ---- the Query protocol
    @route("POST", "/")
    def query(self, req: Request) -> Response:
        form = req.form()
        action = form.get("Action")
        handler = {"ListUsers": self._list_users, "GenerateCredentialReport": self._generate,
                   "GetCredentialReport": self._get_report}.get(action or "")
        if handler is None or form.get("Version") != "2010-05-08":
            return self.error(400, f"Could not find operation {action} for version {form.get('Version')}",
                              "InvalidAction")
        return handler(form)

    def _answer(self, action: str, inner: str) -> Response:
        body = f"<{action}Result>{inner}</{action}Result><ResponseMetadata>{tag('RequestId', time.time_ns())}" \
               "</ResponseMetadata>"
        return xml_response(200, f"{action}Response", body, XMLNS)

    def _list_users(self, form: dict[str, str]) -> Response:
        raw_size = form.get("MaxItems", "100")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 1000:
            raise BadRequest("1 validation error detected: Value at 'maxItems' failed to satisfy constraint: "
                             "Member must have value between 1 and 1000")
        size, prefix = int(raw_size), form.get("PathPrefix", "/")
        offset = 0
        if form.get("Marker"):
            try:
                offset = int(orjson.loads(base64.b64decode(form["Marker"][3:], validate=True))["o"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest("Invalid Marker") from None
        with self.lock:
            users = [self.records[rid] for rid in self.order if self.records[rid]["Path"].startswith(prefix)]
        # IAM may return fewer than MaxItems while more exist: every other page here is half full
        served = users[offset: offset + (max(1, size // 2) if (offset // size) % 2 else size)]
        end = offset + len(served)
        inner = "<Users>" + "".join(_user_xml(u) for u in served) + "</Users>"
        if end < len(users):
            marker = "AAJ" + base64.b64encode(orjson.dumps({"o": end})).decode()
            inner += tag("IsTruncated", "true") + tag("Marker", marker)
        else:
            inner += tag("IsTruncated", "false")
        return self._answer("ListUsers", inner)

    def _generate(self, form: dict[str, str]) -> Response:
        now = time.time()
        with self.lock:
            rep = self.report
            if rep is None or (rep.get("generated") and now - rep["generated"] > REPORT_MAX_AGE):
                self.report = {"calls": 1, "started": now}
                inner = tag("State", "STARTED") + tag("Description", "No report exists. Starting a new report "
                                                                     "generation task")
                return self._answer("GenerateCredentialReport", inner)
            rep["calls"] += 1
            if not rep.get("generated") and rep["calls"] >= 3:
                rep.update(generated=now, content=self._csv(now))
            state = "COMPLETE" if rep.get("generated") else "INPROGRESS"
        return self._answer("GenerateCredentialReport", tag("State", state))

    def _get_report(self, form: dict[str, str]) -> Response:
        with self.lock:
            rep = self.report
        if rep is None:
            return self.error(410, "Credential report does not exist. Use GenerateCredentialReport to generate "
                              "a report.", "ReportNotPresent")
        if not rep.get("generated"):
            return self.error(404, "Credential report generation is in progress.", "ReportInProgress")
        inner = (tag("Content", base64.b64encode(rep["content"]).decode()) + tag("ReportFormat", "text/csv")
                 + tag("GeneratedTime", _iso(rep["generated"])))
        return self._answer("GetCredentialReport", inner)

    def _csv(self, now: float) -> bytes:
        """The report as of now: the root row, then one row per user (posture drawn per user, deterministic)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER.split(","))
        root_created = _csv_time(data.DATA_START)
        writer.writerow(["<root_account>", f"arn:aws:iam::{ACCOUNT}:root", root_created, "not_supported",
                         _csv_time(data.DATA_EPOCH - 90 * data.DAY), "not_supported", "not_supported", "true",
                         "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "N/A", "N/A", "N/A",
                         "false", "N/A", "false", "N/A"])
        for rid in self.order:
            writer.writerow(self._row(self.records[rid]))
        return out.getvalue().encode()

    def _row(self, user: dict) -> list[str]:
        rng = data.vendor_rng(self.seed, self.name, "report", user["UserId"])
        created = user["CreateDate"].replace("Z", "+00:00")
        password = "PasswordLastUsed" in user or rng.random() < 0.2
        used = user.get("PasswordLastUsed", "").replace("Z", "+00:00") or ("no_information" if password else "N/A")
        key1, key2 = rng.random() < 0.6, rng.random() < 0.1
        key_used = _csv_time(data.DATA_EPOCH - rng.below(30 * data.DAY))

        def key(active: bool) -> list[str]:
            if not active:
                return ["false", "N/A", "N/A", "N/A", "N/A"]
            return ["true", created, key_used, "us-east-1", rng.pick(["s3", "ec2", "iam", "sts"])]

        return [user["UserName"], user["Arn"], created, str(password).lower(), used,
                created if password else "N/A", "N/A", str(rng.random() < 0.5).lower(), *key(key1), *key(key2),
                "false", "N/A", "false", "N/A"]
