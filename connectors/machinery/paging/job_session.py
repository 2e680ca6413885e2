"""A job that lives in the owned login session (ArcSight Logger: the search and its results die with the user
session), so the session is the job's, handed from one fetch task to its own continuation, one holder at a time.

A page that leaves the job unfinished (a wait while it runs, or more to read) keeps the session open and puts it
in the page state sealed (auth/sealed.py: Fernet under a key derived from the login secrets, bound to the
connector and this exact state): the Celery message, the frontier in Redis and the ledger only ever hold
ciphertext. The next task adopts it (its login). The job's last page, any failure (the job is closed by
JobPaging.page, then Connector.close logs out) and a release end it. A session that died under the job (a 401:
inactivity, a logout elsewhere, a blob that no longer opens) took the job with it: the job starts again once
from its create, with a new login (a new job id); if that one dies too, the error stands. A task killed
outright leaves its session to the vendor's inactivity timeout."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from connectors.base import Page
from connectors.machinery.auth.owned_session import OwnedSessionAuth
from connectors.machinery.kinds import BrokenDeclaration
from connectors.machinery.paging import State
from nexus_sync.errors import AuthError

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector
    from connectors.machinery.declaration import Declaration
    from connectors.machinery.paging.job import JobPaging

log = logging.getLogger(__name__)
SESSION_KEYS = ("sealed", "restarted")


def check(decl: Declaration) -> None:
    if getattr(decl.auth, "logout", None) is None:
        raise BrokenDeclaration(f"{decl.type}: a job that lives in the session needs an owned session (a "
                                "session login with its logout)")


def fetch(job: JobPaging, conn: DeclaredConnector, ctx: dict[str, Any], state: State | None) -> Page:
    auth = _auth(conn)
    auth.handed_over = False  # this task holds the session until it hands it on
    own = {k: v for k, v in (state or {}).items() if k not in SESSION_KEYS}
    restarted = bool((state or {}).get("restarted"))
    alive = adopt(conn, state)
    try:
        if not alive:
            raise AuthError(f"connector {conn.ctx.name!r}: the session handed over with the job does not open")
        page = job.step(conn, ctx, own or None)
    except AuthError:
        if restarted or (auth.logins == 0 and alive):  # died after its restart, or the login itself was refused
            raise
        log.info("connector %r: the session ended under its %s: a new login, the %s again from its start",
                 conn.ctx.name, job.noun, job.noun)
        if auth.logins:
            auth.refresh()  # the task's one new login
        restarted = True
        page = job.step(conn, ctx, {"window": own["window"]} if "window" in own else None)
    if page.next is None:
        return page  # the job is over: Connector.close logs out
    nxt = {**page.next, **({"restarted": True} if restarted else {})}
    return replace(page, next={**nxt, "sealed": auth.hand_over(_salt(conn, nxt))})


def adopt(conn: DeclaredConnector, state: State | None) -> bool:
    """Take the session the state carries, if any; False when it carries one that does not open."""
    if not state or "sealed" not in state:
        return True
    own = {k: v for k, v in state.items() if k != "sealed"}
    return _auth(conn).adopt(state["sealed"], _salt(conn, own))


def _salt(conn: DeclaredConnector, state: State) -> str:
    """The sealed session is bound to its connector and to the exact state it travels with (the job's id)."""
    return f"{conn.ctx.name}|" + orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()


def _auth(conn: DeclaredConnector) -> OwnedSessionAuth:
    auth = conn.auth_runtime
    if not isinstance(auth, OwnedSessionAuth):
        raise BrokenDeclaration(f"{conn.decl.type}: a job that lives in the session needs an owned session")
    auth.renew = False  # a 401 means the job died with the session: the job starts again, not the request
    return auth
