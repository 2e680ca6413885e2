"""ArcSight Logger (event search), as in ../shared/vendor-apis-2.md §24.

Served under ``/arcsight_logger`` (the Logger's ``https://<logger>:9000``):

* ``POST /core-service/rest/LoginService/login`` form ``login``, ``password``: with ``Accept: application/json`` →
  ``{"log.loginResponse": {"log.return": "<token>"}}`` (XML otherwise); wrong credentials → 401 (status
  unconfirmed). ``POST .../LoginService/logout`` form ``authToken`` ends the session **and every search of it**.
  A token idle past knob ``token_idle`` seconds dies the same way (``expire_sessions()`` ends them all now).
* ``POST /server/search`` JSON ``search_session_id`` (an integer the client chooses; one already used is refused
  with 400), ``user_session_id`` (the token), ``query``, ``start_time``/``end_time`` (ISO-8601 ms Z; events with
  ``start_time <= Event Time < end_time``), ``timeout`` (ms the results live after completion; default 120000).
  A search counts at most knob ``search_cap`` events (10,000): ``hit`` stops there.
* ``POST /server/search/status``: ``running`` for knob ``polls_to_complete`` polls, then ``complete`` with ``hit``
  and ``scanned``; knob ``fail_searches`` = n: the next n searches end ``"status": "error"`` **with HTTP 200**.
* ``POST /server/search/events`` ``offset``/``length``: ``{"fields": [{"name", "type"}], "results": [[...]]}``
  (positional rows; ``Event Time`` ISO text, ``deviceReceiptTime``/``endTime`` epoch ms).
* ``POST /server/search/close``: drops the search (200, empty). A search of a dead session, a closed one, or one
  past its timeout answers 400 (status unconfirmed); a dead ``user_session_id`` answers 401 (unconfirmed).
* Rate limits are undocumented: an overload answers a bare 429.
"""
from __future__ import annotations

import random
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from nexus_sync.simulator import Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.messages import BadRequest

LOGIN = "/core-service/rest/LoginService/"
FIELDS = [("_rowId", "string"), ("Event Time", "date"), ("deviceReceiptTime", "long"), ("endTime", "long"),
          ("deviceVendor", "string"), ("deviceProduct", "string"), ("name", "string"), ("priority", "int"),
          ("destinationHostName", "string"), ("destinationAddress", "string"), ("sourceUserName", "string")]
KINDS = [("TRAFFIC deny", "Palo Alto Networks", "PAN-OS"), ("Failed login", "Microsoft", "Windows"),
         ("Malware detected", "CrowdStrike", "Falcon"), ("Port scan", "Cisco", "ASA"),
         ("Privilege escalation", "Linux", "auditd")]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(text: Any) -> int:
    try:
        at = datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise BadRequest(f"invalid time {str(text)[:40]!r}: expected yyyy-MM-dd'T'HH:mm:ss.SSS'Z'") from None
    return int(at.timestamp() * 1000)


@data.register_generator("arcsight_logger")
def generate_arcsight_logger(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "arcsight_logger", "records")
    out = []
    for i in range(size):
        received = rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600) * 1000 + rng.below(1000)
        name, vendor, product = rng.pick(KINDS)
        out.append({"_rowId": f"{i // 500}:{i % 500 // 50}:{i}", "Event Time": _iso(received),
                    "deviceReceiptTime": received, "endTime": received - rng.below(5000), "deviceVendor": vendor,
                    "deviceProduct": product, "name": name, "priority": rng.below(11),
                    "destinationHostName": f"srv{rng.below(90):02d}.corp.example",
                    "destinationAddress": f"10.30.{rng.below(250)}.{rng.below(250) + 1}",
                    "sourceUserName": f"user{rng.below(300)}" if rng.random() < 0.6 else None})
    return out


@register
class ArcsightLoggerSim(VendorSim):
    name = "arcsight_logger"
    id_field = "_rowId"
    default_credentials = {"username": "nexus-api", "password": "sim-Logger-pass-1"}
    extra_knobs: ClassVar[dict[str, Any]] = {"token_idle": 1800.0, "polls_to_complete": 2, "fail_searches": 0,
                                             "search_cap": 10_000}

    def __init__(self, sim: Any):
        self.tokens: dict[str, float] = {}  # token → last use
        self.searches: dict[tuple[str, int], dict[str, Any]] = {}  # (token, search_session_id) → search
        self.used_ids: set[int] = set()
        self.issued: list[str] = []  # every token handed out (tests look for them where they must not be)
        self._state = threading.Lock()
        super().__init__(sim)

    def reset(self) -> None:
        with self._state:
            self.tokens.clear()
            self.searches.clear()
            self.used_ids.clear()
            self.issued.clear()
        super().reset()

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats.update(logins=0, logouts=0, searches=0, closes=0, reused_ids=0)

    def get_stats(self) -> dict[str, Any]:
        out = super().get_stats()
        with self._state:
            out["live_sessions"] = len(self.tokens)
            out["live_searches"] = len(self.searches)
        return out

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A stored event is immutable; its correlation priority may be re-scored."""
        return {**record, "priority": rng.randrange(11)}

    def expire_sessions(self) -> None:
        """The vendor's inactivity timeout, now: every session ends, its searches with it."""
        with self._state:
            self.tokens.clear()
            self.searches.clear()

    def _count(self, stat: str) -> None:
        with self.lock:
            self.stats[stat] += 1

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"errorCode": status, "errorMessage": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return Response(429, b"Too Many Requests", content_type="text/plain")

    # ---- session
    @route("POST", LOGIN + "login", data_request=False)
    def login(self, req: Request) -> Response:
        form = req.form()
        if form.get("login") != self.credentials["username"] or form.get("password") != self.credentials["password"]:
            return self.error(401, "Login failed")
        token = secrets.token_urlsafe(32) + "."
        with self._state:
            self.tokens[token] = time.time()
            self.issued.append(token)
        self._count("logins")
        if "application/json" in (req.headers.get("Accept") or ""):
            return json_response(200, {"log.loginResponse": {"log.return": token}})
        xml = (f'<ns3:loginResponse xmlns:ns3="http://ws.v1.service.core.soap.ws.arcsight.com">'
               f"<ns3:return>{token}</ns3:return></ns3:loginResponse>")
        return Response(200, xml.encode(), content_type="application/xml")

    @route("POST", LOGIN + "logout", data_request=False)
    def logout(self, req: Request) -> Response:
        token = req.form().get("authToken", "")
        with self._state:
            known = self.tokens.pop(token, None)
            self._drop_searches(token)
        if known is not None:
            self._count("logouts")
        return Response(204, b"")

    def _drop_searches(self, token: str) -> None:
        for key in [k for k in self.searches if k[0] == token]:
            del self.searches[key]

    def authenticate(self, req: Request) -> Response | None:
        body = req.json()
        token = str(body.get("user_session_id") or "") if isinstance(body, dict) else ""
        with self._state:
            last = self.tokens.get(token)
            if last is None or last + float(self.faults["token_idle"]) <= time.time():
                self.tokens.pop(token, None)
                self._drop_searches(token)
                return self.error(401, "Invalid user session: log in again")
            self.tokens[token] = time.time()
        return None

    # ---- searches
    @staticmethod
    def _key(body: dict[str, Any]) -> tuple[str, int]:
        sid = body.get("search_session_id")
        return str(body.get("user_session_id")), sid if isinstance(sid, int) else -1

    def _search(self, req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request body and its live search (400 for one that is closed, timed out or died)."""
        body = req.json()
        key = self._key(body)
        with self._state:
            search = self.searches.get(key)
            if search is not None and search["done_at"] and search["done_at"] + search["timeout"] <= time.time():
                del self.searches[key]
                search = None
        if search is None:
            raise BadRequest(f"search session {str(key[1])[:20]} not found")
        return body, search

    @route("POST", "/server/search")
    def create(self, req: Request) -> Response:
        body = req.json()
        sid = body.get("search_session_id")
        if not isinstance(sid, int) or isinstance(sid, bool):
            raise BadRequest("search_session_id must be an integer")
        start, end = _ms(body.get("start_time")), _ms(body.get("end_time"))
        timeout = body.get("timeout", 120_000)
        with self._state:
            if sid in self.used_ids:
                self._count("reused_ids")
                raise BadRequest(f"search session {sid} is already in use")
            self.used_ids.add(sid)
        with self.lock:
            hits = sorted((r for r in (self.records[i] for i in self.order) if start <= r["deviceReceiptTime"] < end),
                          key=lambda r: (r["deviceReceiptTime"], r["_rowId"]))
            fail = int(self.faults["fail_searches"]) > 0
            if fail:
                self.faults["fail_searches"] = int(self.faults["fail_searches"]) - 1
        search = {"hits": hits[:int(self.faults["search_cap"])], "scanned": len(hits), "polls": 0, "fail": fail,
                  "done_at": None, "timeout": float(timeout) / 1000 if isinstance(timeout, (int, float)) else 120.0}
        with self._state:
            self.searches[self._key(body)] = search
        self._count("searches")
        return json_response(200, {"sessionId": sid})

    @route("POST", "/server/search/status")
    def status(self, req: Request) -> Response:
        _, search = self._search(req)
        with self._state:
            search["polls"] += 1
            running = search["polls"] <= int(self.faults["polls_to_complete"])
            if not running and search["done_at"] is None:
                search["done_at"] = time.time()
        if search["fail"] and not running:
            return json_response(200, {"status": "error", "message": "Search failed: the search engine stopped",
                                       "hit": 0, "scanned": 0})
        hit = len(search["hits"])
        return json_response(200, {"status": "running" if running else "complete", "result_type": "event",
                                   "hit": hit if not running else hit // 2, "scanned": search["scanned"],
                                   "elapsed": "00:00:01"})

    @route("POST", "/server/search/events")
    def events(self, req: Request) -> Response:
        body, search = self._search(req)
        if search["done_at"] is None or search["fail"]:
            raise BadRequest("the search has not completed")
        offset, length = body.get("offset", 0), body.get("length", 25)
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 1:
            raise BadRequest("offset and length must be non-negative integers")
        rows = [[r[name] for name, _ in FIELDS] for r in search["hits"][offset:offset + length]]
        return json_response(200, {"fields": [{"name": n, "type": t} for n, t in FIELDS], "results": rows})

    @route("POST", "/server/search/close")
    def close_search(self, req: Request) -> Response:
        body, _ = self._search(req)
        with self._state:
            self.searches.pop(self._key(body), None)
        self._count("closes")
        return Response(200, b"")
