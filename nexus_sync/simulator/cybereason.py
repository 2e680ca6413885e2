"""Cybereason's console session dialect (../shared/vendor-apis-2.md §22), shared by the simulated sensors and
Malops (connectors/cybereason*/simulator.py).

* ``POST /login.html`` form ``username``, ``password`` (urlencoded): a **302** either way. Good credentials →
  ``Location: /`` and ``Set-Cookie: JSESSIONID=…``; wrong ones → ``Location: /login.html?error``; knob
  ``password_expired`` → ``/login.html?reset``; knob ``two_factor`` → 200 with the page text "Two factor
  authentication" (API users cannot use 2FA). ``GET /login.html`` is the HTML login page.
* Data requests need the ``JSESSIONID`` cookie of a live session; a missing, unknown, logged-out or expired one
  (knob ``session_ttl`` seconds, default 1800) answers **302 to /login.html** (HTML), never 401. Knob
  ``expire_after`` n: a session dies after n data requests (a session that dies mid-sync).
* ``GET /logout`` ends the session (302 to the login page). Counted: stats ``logins``, ``logouts``,
  ``live_sessions`` (sessions logged in and not logged out, expired or not).
* REST errors are ``{"status": "FAILURE", "message"}``; rate limits are unconfirmed (no headers in the SDK): an
  overload answers a bare 429.
"""
from __future__ import annotations

import secrets
import threading
import time
from typing import Any, ClassVar

from nexus_sync.simulator.messages import Request, Response, json_response
from nexus_sync.simulator.vendor import VendorSim, route

LOGIN_PAGE = b"<html><head><title>Cybereason | Login</title></head><body><form action=\"login.html\">" \
             b"</form></body></html>"


class CybereasonSessionSim(VendorSim):
    """A Cybereason console: the cookie session above; subclasses add the REST routes."""

    default_credentials = {"username": "api-user@corp.example", "password": "sim-Cybereason-pass-1"}
    extra_knobs: ClassVar[dict[str, Any]] = {"session_ttl": 1800.0, "expire_after": 0, "password_expired": False,
                                             "two_factor": False}

    def __init__(self, sim: Any):
        self.sessions: dict[str, list[float]] = {}  # JSESSIONID → [expires, data requests served]
        self._sessions_lock = threading.Lock()
        super().__init__(sim)

    def reset(self) -> None:
        with self._sessions_lock:
            self.sessions.clear()
        super().reset()

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats.update(logins=0, logouts=0)

    def get_stats(self) -> dict[str, Any]:
        out = super().get_stats()
        with self._sessions_lock:
            out["live_sessions"] = len(self.sessions)
        return out

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"status": "FAILURE", "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return Response(429, b"Too Many Requests", content_type="text/plain")

    def _to_login(self, req: Request, query: str = "") -> Response:
        return Response(302, b"", [("Location", f"{req.base_url}/login.html{query}")], content_type="text/html")

    def _cookie(self, req: Request) -> str | None:
        for part in (req.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "JSESSIONID":
                return value
        return None

    # ---- session
    @route("POST", "/login.html", data_request=False)
    def login(self, req: Request) -> Response:
        if "application/x-www-form-urlencoded" not in (req.headers.get("Content-Type") or ""):
            return self._to_login(req, "?error")
        form = req.form()
        if form.get("username") != self.credentials["username"] or \
                form.get("password") != self.credentials["password"]:
            return self._to_login(req, "?error")
        if self.faults["password_expired"]:
            return self._to_login(req, "?reset")
        if self.faults["two_factor"]:
            return Response(200, b"<html><body>Two factor authentication</body></html>", content_type="text/html")
        session = secrets.token_hex(16).upper()
        with self._sessions_lock:
            self.sessions[session] = [time.time() + float(self.faults["session_ttl"]), 0]
        with self.lock:
            self.stats["logins"] += 1
        return Response(302, b"", [("Location", f"{req.base_url}/"),
                                   ("Set-Cookie", f"JSESSIONID={session}; Path=/; Secure; HttpOnly")],
                        content_type="text/html")

    @route("GET", "/login.html", data_request=False)
    def login_page(self, req: Request) -> Response:
        return Response(200, LOGIN_PAGE, content_type="text/html")

    @route("GET", "/logout", data_request=False)
    def logout(self, req: Request) -> Response:
        session = self._cookie(req)
        with self._sessions_lock:
            known = self.sessions.pop(session or "", None)
        if known is not None:
            with self.lock:
                self.stats["logouts"] += 1
        return self._to_login(req)

    def authenticate(self, req: Request) -> Response | None:
        session = self._cookie(req)
        limit = int(self.faults["expire_after"])
        with self._sessions_lock:
            hit = self.sessions.get(session or "")
            if hit is None or hit[0] <= time.time() or (limit and hit[1] >= limit):
                return self._to_login(req)  # the session is over: the login page, not a 401
            hit[1] += 1
        return None
