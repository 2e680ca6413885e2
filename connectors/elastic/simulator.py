"""Elastic Security detection alerts in Elasticsearch, as in ../shared/vendor-apis.md §13.

Served under ``/elastic`` (an Elasticsearch node):

* ``POST /{index}/_pit?keep_alive=1m`` → ``{"id": pit}``: a snapshot of the alerts index (``index`` may end
  in ``*``); a PIT unused for longer than its keep_alive is gone (404 ``search_context_missing_exception``).
* ``POST /_search`` with ``{"size", "query", "pit": {"id", "keep_alive"}, "sort", "search_after"}`` → hits
  sorted by the requested sort plus the implicit ``_shard_doc`` tie-breaker; each hit carries ``sort``;
  the answer carries ``pit_id``. Without a PIT, ``from`` + ``size`` over live data, capped at 10,000.
  Queries: ``match_all``, ``range`` on a date field (gt/gte/lt/lte; a document without the field does not
  match), ``term``, ``bool`` filter/must/should (``minimum_should_match``; 1 when ``should`` stands alone).
* ``DELETE /_pit`` ``{"id"}`` closes a PIT. ``stats()["open_pits"]`` counts the PITs open now (neither
  closed nor past their keep_alive): what a sync leaves holding segments on the cluster.
* Triage changes an alert in place, as Kibana's status update does: ``kibana.alert.workflow_status``,
  ``kibana.alert.workflow_user`` and ``kibana.alert.workflow_status_updated_at`` are rewritten, ``@timestamp``
  (the alert's creation) stays.
* ``Authorization: ApiKey base64(id:api_key)`` required (401 ``security_exception``). Errors are
  ``{"error": {"root_cause", "type", "reason"}, "status"}``; over the limit 429
  ``es_rejected_execution_exception`` without rate-limit headers (none are documented).
"""
from __future__ import annotations

import base64
import fnmatch
import random
import secrets
import threading
import time
from typing import Any

from nexus_sync.simulator import BadRequest, Request, Response, SimHost, VendorSim, data, json_response, register, route

INDEX = ".internal.alerts-security.alerts-default-000001"
ALIAS = ".alerts-security.alerts-default"
MAX_WINDOW = 10_000
RULES = ["Suspicious PowerShell", "Potential Credential Access via LSASS", "Unusual Parent Process",
         "Multiple Logon Failures", "Execution via Renamed Signed Binary", "Outbound RDP to the Internet"]
RISK = {"low": 21, "medium": 47, "high": 73, "critical": 99}
WORKFLOW = ["open", "acknowledged", "closed"]


def _ms(value: str) -> int:
    return int(data.parse_iso(value).timestamp() * 1000)


@data.register_generator("elastic")
def generate_elastic(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "elastic", "records")
    rule_ids = [f"{rng.getrandbits(128):032x}" for _ in RULES]
    out = []
    for _ in range(size):
        uid = f"{rng.getrandbits(256):064x}"
        k, sev = rng.below(len(RULES)), rng.pick(list(RISK))
        host, user = f"ws-{rng.below(400)}", rng.pick(["bob", "alice", "svc-backup", "root", "administrator"])
        ts = rng.between(data.DATA_EPOCH - 90 * data.DAY, data.DATA_EPOCH)
        out.append({"_index": INDEX, "_id": uid, "_source": {
            "@timestamp": data.iso_ms_z(ts, rng.below(1000)), "kibana.alert.uuid": uid,
            "kibana.alert.rule.name": RULES[k], "kibana.alert.rule.uuid": rule_ids[k],
            "kibana.alert.severity": sev, "kibana.alert.risk_score": RISK[sev],
            "kibana.alert.workflow_status": rng.pick(WORKFLOW), "kibana.alert.status": "active",
            "kibana.alert.reason": f"process event on {host} created {sev} alert {RULES[k]}.",
            "host": {"name": host}, "user": {"name": user}}})
    return out


@register
class ElasticSim(VendorSim):
    name = "elastic"
    id_field = "_id"
    default_credentials = {"api_key": base64.b64encode(b"sim-key-id:sim-key-secret").decode()}
    default_rate_limit = 600

    def __init__(self, sim: SimHost):
        self.pits: dict[str, tuple[list[dict], float, float]] = {}  # id → (snapshot, keep_alive s, last use)
        self._pit_lock = threading.Lock()
        super().__init__(sim)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Triage: a new workflow status, sometimes a re-rated severity, stamped with the update time."""
        src = dict(record["_source"])
        src["kibana.alert.workflow_status"] = rng.choice([w for w in WORKFLOW if w != src["kibana.alert.workflow_status"]])
        if rng.random() < 0.4:
            src["kibana.alert.severity"] = rng.choice([s for s in RISK if s != src["kibana.alert.severity"]])
            src["kibana.alert.risk_score"] = RISK[src["kibana.alert.severity"]]
        src["kibana.alert.workflow_status_updated_at"] = data.iso_ms_z(data.mutation_time(rng, round_no))
        src["kibana.alert.workflow_user"] = f"u_{rng.getrandbits(64):016x}_0"  # the analyst's profile uid
        return {**record, "_source": src}

    def mutate(self, fraction: float) -> tuple[list[str], int]:
        """An update writes a new Lucene document: the updated alerts take new doc ids (last), and the merge
        that drops their old copies moves the others', so a hit's ``_shard_doc`` sort value is not stable."""
        ids, round_no = super().mutate(fraction)
        with self.lock:
            moved = set(ids)
            self.order = [rid for rid in self.order if rid not in moved] + ids
            self.position = {rid: i for i, rid in enumerate(self.order)}
        return ids, round_no

    # ---- dialect ------------------------------------------------------------------------------

    def error(self, status: int, message: str, kind: str | None = None) -> Response:
        kind = kind or {400: "parsing_exception", 401: "security_exception", 404: "resource_not_found_exception",
                        429: "es_rejected_execution_exception"}.get(status, "exception")
        cause = {"type": kind, "reason": message}
        resp = json_response(status, {"error": {"root_cause": [cause], **cause}, "status": status})
        if status == 401:
            resp.headers.append(("WWW-Authenticate", 'ApiKey, Basic realm="security" charset="UTF-8"'))
        return resp

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "rejected execution of coordinating operation")

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, key = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "ApiKey" and secrets.compare_digest(key.strip(), self.credentials.get("api_key", "")):
            return None
        return self.error(401, "unable to authenticate with provided credentials and anonymous access is not "
                               "allowed for this request")

    # ---- point in time ------------------------------------------------------------------------

    @route("POST", "/(?P<index>[^_/][^/]*)/_pit")
    def open_pit(self, req: Request, index: str) -> Response:
        keep = _seconds(req.arg("keep_alive") or "")
        if not any(fnmatch.fnmatch(name, index) for name in (INDEX, ALIAS)):
            raise BadRequest(f"no such index [{index}]", status=404)
        pit = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
        with self._pit_lock:
            self.pits[pit] = (self._sorted(), keep, time.monotonic())
        return json_response(200, {"id": pit})

    @route("DELETE", "/_pit")
    def close_pit(self, req: Request) -> Response:
        body = req.json() or {}
        with self._pit_lock:
            freed = self.pits.pop(str(body.get("id")), None) is not None
        return json_response(200 if freed else 404, {"succeeded": True, "num_freed": int(freed)})

    def open_pits(self) -> int:
        now = time.monotonic()
        with self._pit_lock:
            return sum(1 for _, keep, used in self.pits.values() if now - used <= keep)

    def get_stats(self) -> dict[str, Any]:
        return {**super().get_stats(), "open_pits": self.open_pits()}

    def _sorted(self) -> list[dict]:
        with self.lock:
            recs = [self.records[rid] for rid in self.order]
        # _shard_doc = position in the index, the tie-breaker Elasticsearch adds to a PIT search
        return sorted(({**r, "_shard_doc": i} for i, r in enumerate(recs)),
                      key=lambda r: (_ms(r["_source"]["@timestamp"]), r["_shard_doc"]))

    # ---- search -------------------------------------------------------------------------------

    @route("POST", "/_search")
    def search(self, req: Request) -> Response:
        body = req.json() or {}
        size = int(body.get("size", 10))
        pit = body.get("pit")
        if pit:
            with self._pit_lock:
                hit = self.pits.get(str(pit.get("id")))
                if hit is None or time.monotonic() - hit[2] > hit[1]:
                    self.pits.pop(str(pit.get("id")), None)
                    raise BadRequest("No search context found for id", status=404)
                keep = _seconds(pit["keep_alive"]) if pit.get("keep_alive") else hit[1]
                self.pits[pit["id"]] = (hit[0], keep, time.monotonic())
            docs = hit[0]
        else:
            docs = self._sorted()
        desc = _sort_desc(body.get("sort") or [{"@timestamp": "asc"}])
        match = _query(body.get("query") or {"match_all": {}})
        docs = [d for d in (reversed(docs) if desc else docs) if match(d["_source"])]
        after = body.get("search_after")
        if after is not None:
            if not pit or len(after) != 2:
                raise BadRequest("search_after needs a PIT and one value per sort field plus _shard_doc")
            key = (int(after[0]), int(after[1]))
            docs = [d for d in docs if ((_ms(d["_source"]["@timestamp"]), d["_shard_doc"]) < key if desc
                                        else (_ms(d["_source"]["@timestamp"]), d["_shard_doc"]) > key)]
        start = int(body.get("from", 0))
        if start + size > MAX_WINDOW:
            raise BadRequest(f"Result window is too large, from + size must be less than or equal to: "
                             f"[{MAX_WINDOW}]", status=400)
        page = docs[start: start + size]
        hits = [{"_index": d["_index"], "_id": d["_id"], "_score": None, "_source": d["_source"],
                 "sort": [_ms(d["_source"]["@timestamp"]), d["_shard_doc"]]} for d in page]
        out: dict[str, Any] = {"took": 3, "timed_out": False,
                               "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                               "hits": {"total": {"value": len(docs), "relation": "eq"}, "max_score": None,
                                        "hits": hits}}
        if pit:
            out = {"pit_id": pit["id"], **out}
        return json_response(200, out)

    def reset(self) -> None:
        super().reset()
        with self._pit_lock:
            self.pits.clear()


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for unit in sorted(units, key=len, reverse=True):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * units[unit]
    raise BadRequest(f"failed to parse setting [keep_alive] with value [{value}] as a time value")


def _sort_desc(sort: list[Any]) -> bool:
    first = sort[0]
    spec = first if isinstance(first, dict) else {first: "asc"}
    (field, order), = spec.items()
    if field != "@timestamp":
        raise BadRequest(f"the simulator sorts by @timestamp only, not [{field}]")
    return (order.get("order", "asc") if isinstance(order, dict) else order) == "desc"


def _query(q: dict[str, Any]) -> Any:
    (kind, spec), = q.items()
    if kind == "match_all":
        return lambda src: True
    if kind == "range":
        (field, bounds), = spec.items()
        ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
        checks = [(ops[op], _ms(v)) for op, v in bounds.items() if op in ops]
        return lambda src: src.get(field) is not None and all(f(_ms(src[field]), v) for f, v in checks)
    if kind == "term":
        (field, value), = spec.items()
        value = value.get("value") if isinstance(value, dict) else value
        return lambda src: src.get(field) == value
    if kind == "bool":
        subs = [_query(s) for part in ("filter", "must") for s in _as_list(spec.get(part))]
        should = [_query(s) for s in _as_list(spec.get("should"))]
        least = int(spec.get("minimum_should_match", 0 if subs else 1)) if should else 0
        return lambda src: all(s(src) for s in subs) and sum(1 for s in should if s(src)) >= least
    raise BadRequest(f"unknown query [{kind}]")


def _as_list(v: Any) -> list[Any]:
    return [] if v is None else v if isinstance(v, list) else [v]
