"""An owned login session (a SessionLogin that declares its `logout`): Cybereason's JSESSIONID, ArcSight's
login token.

Owned means: one login per connector instance, that is per task (the pipeline builds one per fetch task), made
at the first request and never before; never shared with another task, worker or process (no process-wide
cache: a vendor counts and caps sessions, and a logged-out session must not be reused elsewhere); always logged
out when the task ends (Connector.close, called by the fetch stage in a `finally`, also when the page failed);
and a session that dies mid-task (a 401, or the vendor's own "session expired" answer: `expired_path`) is
logged in again once; if that one dies too, the error stands (AuthError).

A vendor whose job lives in the session (ArcSight Logger's search: paging/job_session.py) hands the session to
the job's next task instead of logging out: `hand_over` seals it (auth/sealed.py) into the page state, and the
next task `adopt`s it (its login). One holder at a time; the last page, a failure or a release logs out. A task
killed outright leaves its session to the vendor's inactivity timeout."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests

from connectors.base import SecretsProvider
from connectors.machinery.auth import Auth
from connectors.machinery.auth.login import login, login_secrets
from connectors.machinery.auth.sealed import seal, unseal
from connectors.machinery.templates import fill
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import AuthError
from nexus_sync.http import HttpClient
from nexus_sync.transport import path_of

if TYPE_CHECKING:
    from connectors.machinery.auth.session import SessionLogin

log = logging.getLogger(__name__)


class OwnedSessionAuth(Auth):
    """A SessionLogin with a logout, at run time: this instance's own session."""

    def __init__(self, secrets: SecretsProvider, spec: SessionLogin, root: str, http: HttpClient):
        self.secrets, self.spec, self.root, self.http = secrets, spec, root, http
        self.session: str | None = None
        self.logins = 0  # 1 normally (a login, or a session adopted); 2 after the one re-login a dead session gets
        self.renew = True  # a 401 logs in again and repeats the request; off where the job died with the session
        self.handed_over = False  # sealed into the page state for the job's next task: close() leaves it open

    def _login(self, refresh: bool) -> None:
        self.session = login(self.secrets, self.spec, self.root, self.http, refresh)
        self.logins += 1

    def apply(self, headers: dict[str, str]) -> None:
        if self.session is None:
            self._login(False)
        if self.spec.param is None and self.spec.body_field is None:
            headers[self.spec.header] = self.spec.template.format(session=self.session)

    def refresh(self) -> None:
        """The session died (401, or the vendor's expired answer): log in again, once per task."""
        if self.logins >= 2:
            raise AuthError(f"connector {self.secrets.connector_name!r}: the session died again after a new login")
        self.session = None  # dead: nothing to log out
        self._login(True)

    def send(self, http: HttpClient, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self.spec.param is not None or self.spec.body_field is not None:
            return self._send_in_request(http, method, url, **kwargs)
        resp = http.request(method, url, auth=self, **kwargs)
        if not self._expired(resp):
            return resp
        self.refresh()
        resp = http.request(method, url, auth=self, **kwargs)
        if self._expired(resp):
            raise AuthError(f"connector {self.secrets.connector_name!r}: {method} {path_of(url)} ended on the "
                            "login page after a new login")
        return resp

    def _send_in_request(self, http: HttpClient, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The session in a query parameter or a JSON body field: the client's own 401 refresh cannot renew a
        value it was given, so a 401 is answered here: one new login, the request again with the new session."""
        where, name = ("params", str(self.spec.param)) if self.spec.param else ("json", str(self.spec.body_field))
        carrier: dict[str, Any] = dict(kwargs.pop(where, None) or {})
        for attempt in range(2):
            carrier[name] = self.value()
            kwargs[where] = carrier
            try:
                return http.request(method, url, **kwargs)
            except AuthError:
                if attempt or self.logins >= 2 or not self.renew:
                    raise
                self.refresh()
        raise AssertionError("unreachable")  # the loop returns or raises

    def _expired(self, resp: requests.Response) -> bool:
        """The vendor's "session expired" answer: a redirect to its login page (already followed)."""
        return bool(self.spec.expired_path) and path_of(resp.url).endswith(str(self.spec.expired_path))

    def value(self) -> str | None:
        """The live session, for a vendor that also sends it in a body or query (ArcSight's user_session_id)."""
        if self.session is None:
            self._login(False)
        return self.session

    def hand_over(self, salt: str) -> str:
        """The live session sealed for the job's next task (salt: the connector and the job); this task then
        leaves it open."""
        blob = seal(str(self.value()), self._key(), salt)
        self.handed_over = True
        return blob

    def adopt(self, blob: object, salt: str) -> bool:
        """Take the session a previous task of the job handed over (this task's login); False when the blob
        does not open (tampered, or the password changed since): that session is lost."""
        token = unseal(blob, self._key(), salt)
        if token is None:
            return False
        remember_sent(token)  # redacted from anything this process writes
        self.session, self.logins = token, 1
        return True

    def _key(self) -> bytes:
        return "\0".join(v for _, v in sorted(login_secrets(self.secrets, self.spec).items())).encode()

    def close(self) -> None:
        """Log out, best effort (the task's error, if any, is the one that counts); never raises. A session
        handed over to the job's next task stays open: that task logs it out."""
        session, self.session = self.session, None
        if session is None or self.handed_over:
            return
        logout = self.spec.logout
        assert logout is not None  # an owned session declares one
        values = {"session": session}
        headers = {} if self.spec.param or self.spec.body_field else {self.spec.header: self.spec.template.format(session=session)}
        try:
            self.http.request(logout.method, self.root + logout.path, headers=headers,
                              params=fill(logout.params, values) or None, data=fill(logout.form, values) or None)
        except Exception as exc:  # the vendor ends the session itself later; logged, never hiding a failure
            log.warning("connector %r: logout failed: %s", self.secrets.connector_name, type(exc).__name__)
        finally:
            self.http.session.cookies.clear()
