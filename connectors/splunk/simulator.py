"""Splunk Enterprise search jobs over notable events, as in ../shared/vendor-apis.md §12.

Served under ``/splunk`` (the management port's ``/services``):

* ``POST /services/search/jobs`` (form ``search`` starting with ``search`` or ``|``, ``earliest_time``,
  ``latest_time`` as ISO-8601 or epoch, ``exec_mode`` normal/blocking, ``output_mode=json``) → 201
  ``{"sid": "..."}``. The job's results are a snapshot taken at creation, newest ``_time`` first.
* ``GET /services/search/jobs/{sid}?output_mode=json`` → ``entry[0].content`` with ``dispatchState``
  (QUEUED → RUNNING → DONE over ``job_polls`` polls; knob), ``isDone``, ``resultCount``.
* ``GET /services/search/jobs/{sid}/results?output_mode=json&offset=&count=`` → the results envelope;
  204 while the job is not done; ``count=0`` = all up to maxresultrows (50,000). Each result carries
  ``_serial``, its position in the job's results.
* ``DELETE /services/search/jobs/{sid}`` cancels a job.
* ``Authorization: Bearer <token>`` required; errors are ``{"messages": [{"type", "text"}]}``.
* Over the limit: 429 with ``Retry-After`` seconds. Splunk documents no HTTP rate-limit answer (its limits
  are search quotas, codes unconfirmed), so this dialect is an assumption.

The notables come from an indexer cluster of three peers: ``_cd`` (bucket:offset) is numbered per indexer,
so about 6 % of notables share their ``_cd`` with a notable of another indexer; ``_bkt``
(``index~bucket~indexer GUID``) tells them apart (vendor-apis.md §12: ``_cd`` with ``index``/``_bkt``).
Multivalue fields come as JSON lists, as Splunk's JSON output renders them: ``dest`` for about 3.5 % of
notables, ``user`` and ``src`` for a few.
"""
from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from nexus_sync.simulator import BadRequest, Request, Response, SimHost, VendorSim, data, json_response, register, route

MAX_RESULT_ROWS = 50_000
RULES = [("Excessive Failed Logins", "medium"), ("Brute Force Access Behavior Detected", "high"),
         ("Malware Infection Detected", "critical"), ("Suspicious PowerShell Execution", "high"),
         ("Host With Multiple Infections", "critical"), ("Unapproved Port Activity", "low"),
         ("Account Deleted", "informational"), ("Geographically Improbable Access", "medium")]
STATUSES = ["New", "In Progress", "Pending", "Resolved", "Closed"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "svc_backup", "administrator", "unknown"]
INDEXERS = [("idx-01", "5B0F3F1E-7A2C-4C55-9D43-2C1D6F0B9A11"), ("idx-02", "0C7E51A9-3D4B-4F62-8E15-7B2A9C4D6E03"),
            ("idx-03", "A24D8C6B-91F0-4E37-B5C2-6D0E3F8A1B79")]
# offset steps of 1..64 grid units: two other indexers hit a given offset ~2/32.5 of the time, so about 6 % of
# notables share their _cd with another indexer's (as observed on a real cluster)
JOURNAL_STEP, BUCKET_SPAN = 64, 30_000
MULTI_DEST, MULTI_USER, MULTI_SRC = 0.035, 0.01, 0.02  # shares of notables with a multivalue field
_INDEX = re.compile(r"\bindex\s*=\s*\"?([\w.*-]+)\"?")


@dataclass
class _Job:
    results: list[dict]
    polls_left: int
    polls: int = 0

    @property
    def state(self) -> str:
        return "DONE" if self.polls_left <= 0 else ("QUEUED" if self.polls == 0 else "RUNNING")


@data.register_generator("splunk")
def generate_splunk(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "splunk", "records")
    out = []
    for i in range(size):
        rule, urgency = rng.pick(RULES)
        t = data.DATA_EPOCH - (size - i) * 600 - rng.below(600)  # older first, like an index fills up
        dest, user = f"ws-{rng.below(500):03d}", rng.pick(USERS)
        status = rng.pick(STATUSES)
        out.append({
            "_time": _splunk_time(t, rng.below(1000)), "_indextime": str(t + 1 + rng.below(30)),
            "index": "notable", "host": "sh-01", "source": f"Threat - {rule} - Rule",
            "sourcetype": "stash", "_raw": f"{t}, search_name=\"Threat - {rule} - Rule\", dest=\"{dest}\", "
                                          f"user=\"{user}\", urgency=\"{urgency}\"",
            "rule_name": rule, "search_name": f"Threat - {rule} - Rule", "urgency": urgency, "severity": urgency,
            "dest": dest, "src": f"10.{rng.below(256)}.{rng.below(256)}.{1 + rng.below(254)}", "user": user,
            "status_label": status, "owner": "unassigned" if status == "New" else rng.pick(USERS[:5]),
            "event_id": f"{rng.getrandbits(64):016X}@@notable@@{rng.getrandbits(128):032x}",
        })
    _place_on_indexers(out, data.vendor_rng(seed, "splunk", "cluster"))
    _make_multivalue(out, data.vendor_rng(seed, "splunk", "multivalue"))
    return out


def _place_on_indexers(notables: list[dict], rng: Any) -> None:
    """Each notable lands on one indexer, which numbers its own buckets and journal offsets: an offset grows
    by the size of each event written, so two indexers' offsets meet now and then and _cd repeats across
    them (about SHARED_CD of the notables); _bkt names the indexer."""
    offsets = [0] * len(INDEXERS)
    for n in notables:
        k = rng.below(len(INDEXERS))
        offsets[k] += 1 + rng.below(JOURNAL_STEP)  # event sizes on a 7-byte grid: offsets collide sometimes
        bucket = 40 + offsets[k] // BUCKET_SPAN
        server, guid = INDEXERS[k]
        n.update({"_cd": f"{bucket}:{1000 + offsets[k] * 7}", "_bkt": f"{n['index']}~{bucket}~{guid}",
                  "splunk_server": server})


def _make_multivalue(notables: list[dict], rng: Any) -> None:
    """Splunk's JSON output renders a multivalue field as a list (a notable grouping several hosts)."""
    for n in notables:
        if rng.random() < MULTI_DEST:
            n["dest"] = [n["dest"], *(f"ws-{rng.below(500):03d}" for _ in range(1 + rng.below(2)))]
        if rng.random() < MULTI_USER:
            n["user"] = [n["user"], rng.pick(USERS)]
        if rng.random() < MULTI_SRC:
            n["src"] = [n["src"], f"10.{rng.below(256)}.{rng.below(256)}.{1 + rng.below(254)}"]


def _splunk_time(ts: int, ms: int) -> str:
    """2025-04-01T16:15:10.000+00:00 (vendor-apis.md §12)."""
    return data.iso_ms_z(ts, ms)[:-1] + "+00:00"


def _epoch(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        try:
            return data.parse_iso(value).timestamp()
        except ValueError:
            raise BadRequest(f"Invalid earliest_time/latest_time: {value!r}") from None


@register
class SplunkSim(VendorSim):
    name = "splunk"
    id_field = "event_id"  # unique in the simulator's store; _cd is not (see the module docstring)
    default_credentials = {"token": "sim-splunk-token"}
    default_rate_limit = 600
    extra_knobs = {"job_polls": 1}  # polls answering QUEUED/RUNNING before a job is DONE

    def __init__(self, sim: SimHost):
        self.jobs: dict[str, _Job] = {}
        self._sids = itertools.count(1)
        self._jobs_lock = threading.Lock()
        super().__init__(sim)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Analyst triage: new status/owner, sometimes a re-rated urgency; re-indexed (_indextime bumped)."""
        new = dict(record)
        new["status_label"] = rng.choice([s for s in STATUSES if s != record["status_label"]])
        new["owner"] = rng.choice(USERS[:5])
        if rng.random() < 0.5:
            new["urgency"] = new["severity"] = rng.choice(
                [u for u in ("low", "medium", "high", "critical") if u != record["urgency"]])
        new["_indextime"] = str(data.mutation_time(rng, round_no))
        return new

    # ---- dialect -------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        kind = "WARN" if status == 401 else "ERROR"
        return json_response(status, {"messages": [{"type": kind, "text": message}]})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "Too many requests: the search quota is exhausted, retry later")
        resp.headers.append(("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "Bearer" and token.strip() == self.credentials.get("token"):
            return None
        return self.error(401, "call not properly authenticated")

    @staticmethod
    def _json_only(mode: str | None) -> None:
        if mode != "json":
            raise BadRequest("the simulator answers output_mode=json only")

    # ---- jobs ------------------------------------------------------------------------------------

    @route("POST", "/services/search/jobs")
    def create_job(self, req: Request) -> Response:
        form = req.form()
        self._json_only(form.get("output_mode") or req.arg("output_mode"))
        search = (form.get("search") or "").strip()
        if not search.startswith(("search ", "|")):
            raise BadRequest("Error in 'SearchParser': the search must start with 'search' or '|'")
        if form.get("exec_mode", "normal") not in ("normal", "blocking"):
            raise BadRequest(f"exec_mode {form['exec_mode']!r} is not simulated (normal, blocking)")
        index = _INDEX.search(search)
        earliest = _epoch(form["earliest_time"]) if form.get("earliest_time") else None
        latest = _epoch(form["latest_time"]) if form.get("latest_time") else None
        with self.lock:
            recs = [self.records[rid] for rid in self.order]
        picked = [r for r in recs if (index is None or re.fullmatch(index[1].replace("*", ".*"), r["index"]))
                  and (earliest is None or data.parse_iso(r["_time"]).timestamp() >= earliest)
                  and (latest is None or data.parse_iso(r["_time"]).timestamp() < latest)]
        picked.sort(key=lambda r: r["_time"], reverse=True)  # events come newest first
        polls = 0 if form.get("exec_mode") == "blocking" else int(self.faults["job_polls"])
        sid = f"{int(time.time())}.{next(self._sids)}"
        with self._jobs_lock:
            self.jobs[sid] = _Job(picked, polls)
        return json_response(201, {"sid": sid})

    def _job(self, sid: str) -> _Job:
        with self._jobs_lock:
            job = self.jobs.get(sid)
        if job is None:
            raise BadRequest(f"Unknown sid: {sid}", status=404)
        return job

    @route("GET", "/services/search/jobs/(?P<sid>[0-9.]+)")
    def job_status(self, req: Request, sid: str) -> Response:
        self._json_only(req.arg("output_mode"))
        job = self._job(sid)
        with self._jobs_lock:
            state = job.state
            job.polls += 1
            job.polls_left -= 1
        done = state == "DONE"
        content = {"sid": sid, "dispatchState": state, "isDone": done, "isFailed": False,
                   "doneProgress": 1.0 if done else 0.5, "resultCount": len(job.results) if done else 0,
                   "eventCount": len(job.results) if done else 0}
        return json_response(200, {"entry": [{"name": sid, "content": content}], "paging": {"total": 1}})

    @route("DELETE", "/services/search/jobs/(?P<sid>[0-9.]+)")
    def cancel_job(self, req: Request, sid: str) -> Response:
        self._job(sid)
        with self._jobs_lock:
            self.jobs.pop(sid, None)
        return json_response(200, {"messages": [{"type": "INFO", "text": "Search job cancelled."}]})

    @route("GET", "/services/search/jobs/(?P<sid>[0-9.]+)/results")
    def job_results(self, req: Request, sid: str) -> Response:
        self._json_only(req.arg("output_mode"))
        job = self._job(sid)
        if job.state != "DONE":
            return Response(204)
        offset = req.int_arg("offset", 0, 0)
        count = req.int_arg("count", 100, 0) or MAX_RESULT_ROWS
        # _serial is a result's position in this job's results: the same notable has another in the next job
        page = [{**r, "_serial": str(offset + i)}
                for i, r in enumerate(job.results[offset: offset + min(count, MAX_RESULT_ROWS)])]
        fields = sorted({k for r in page for k in r})
        return json_response(200, {"preview": False, "init_offset": offset, "messages": [],
                                   "fields": [{"name": f} for f in fields], "results": page, "highlighted": {}})

    def reset(self) -> None:
        super().reset()
        with self._jobs_lock:
            self.jobs.clear()
