"""A vendor job: create it, poll it, read its results in pages (Splunk's search job, Tenable's export; PAN-OS
and others alike).

A job that is not done yet makes a page with no records that asks to be fetched again after `poll_seconds`
(Page.wait, the job's state in Page.next): the pipeline re-queues the fetch and no worker waits. The waits
asked for add up in the state; past the budget (`budget_seconds`, or the connector's `job_budget_seconds`)
the page fails, naming the connector and the job. A job id comes from the vendor: it enters a URL path only
quoted as one segment.

Page states: {"job", "waited"} while polling; then {"job", "chunks": [ids left]} (one page per chunk),
{"job", "offset", "total"} (offset/count pages), or none after a single read. A job with a declared `close`
is closed after its last read and when its page fails (best effort). A job may search time windows cut at the
vendor's cap (job_window.py: "window" in the state) and live in the owned login session (job_session.py:
"sealed", "restarted")."""
from __future__ import annotations

import logging
import re
import secrets
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

from connectors.base import Page
from connectors.machinery.kinds import BrokenDeclaration
from connectors.machinery.paging import PagingSpec, State, job_session, job_window, put
from connectors.machinery.paging.job_window import JobWindow, WindowFull
from connectors.machinery.request import Request
from connectors.machinery.templates import vendor_text
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector
    from connectors.machinery.declaration import Declaration

log = logging.getLogger(__name__)


class JobFailed(VendorDataError):
    """The job ended failed, or did not finish within its budget: asking this job again gets the same."""

    retryable = False


class JobPaging(PagingSpec):
    kind: Literal["job"] = "job"
    noun: str = "job"  # what the vendor calls it, in messages: "search job", "export"
    create: Request
    job_id: str | None = None  # dotted path of the job's id in the create answer; or
    client_id: bool = False  # the client names the job: "{job}" in create (ArcSight Logger's search_session_id)
    job_pattern: str = r"[\x21-\x7e]{1,256}"  # what a job id may be (it is quoted in URLs either way)
    poll: Request  # "{job}" in its path
    status: str  # dotted path of the job's state in the poll answer
    done: tuple[str, ...]
    failed: tuple[str, ...]
    failure_message: str | None = None  # dotted path of why, in a failed job's poll answer
    poll_seconds: float = Field(2.0, gt=0)
    budget_seconds: float = Field(600.0, gt=0)
    read: Request  # "{job}" (and "{chunk}") in its path; the declaration's `records` path reads its answer
    chunks: str | None = None  # dotted path of the chunk ids in the done poll answer: one page per chunk
    total: str | None = None  # or: dotted path of the result count there, read by offset/count pages
    offset_param: str = "offset"
    count_param: str = "count"
    page_in: Literal["query", "body"] = "query"  # where offset/count go
    columns: str | None = None  # dotted path of column names in the read answer: each row zipped with them
    close: Request | None = None  # "{job}": ends the job at the vendor after its last read, or when it failed
    window: JobWindow | None = None  # the job searches a time window, cut where the vendor's cap is reached
    session: bool = False  # the job lives in the owned login session, handed from task to task (job_session)

    @model_validator(mode="after")
    def _one_way_to_read(self) -> JobPaging:
        if self.chunks and self.total:
            raise ValueError("a job is read by chunks or by offset/count up to a total, not both")
        if (self.job_id is None) == (not self.client_id):
            raise ValueError("a job's id is read from the create answer (job_id) or chosen here (client_id)")
        if self.window is not None and not self.total:
            raise ValueError("a windowed job is read by offset/count up to a total (its cap is on that total)")
        return self

    def describe(self) -> str:
        return (f"async {self.noun} + " + ("chunks" if self.chunks else "offset/count" if self.total else "one read")
                + (f", windows halved at {self.window.cap:,}" if self.window else "")
                + (", in the login session" if self.session else ""))

    def templates(self) -> Any:
        return self.model_dump(exclude={"job_pattern"})  # a regular expression's {m,n} is no template

    def own_requests(self) -> tuple[Request, ...]:
        return self.create, self.poll, self.read, *((self.close,) if self.close else ())

    def runtime_fields(self) -> set[str]:
        return {"job", "chunk", *(job_window.TEMPLATES if self.window else ())}

    def config_fields(self) -> dict[str, Any]:
        return {"job_budget_seconds": (float | None, Field(None, gt=0)),
                **(self.window.config_fields() if self.window else {})}

    def check(self, decl: Declaration, request: Request | None, hooks: ModuleType | None) -> None:
        if request is not None:
            raise BrokenDeclaration(f"{decl.type}: a job's requests are its create, poll and read; "
                                    "declare no request beside them")
        if self.session:
            job_session.check(decl)

    def fetch(self, conn: DeclaredConnector, request: Request | None, ctx: dict[str, Any],
              state: State | None) -> Page:
        if self.session:
            return job_session.fetch(self, conn, ctx, state)
        return self.step(conn, ctx, state)

    def step(self, conn: DeclaredConnector, ctx: dict[str, Any], state: State | None) -> Page:
        """One page of the job, or of its windows' jobs."""
        if self.window is not None:
            return job_window.page(self, self.window, conn, ctx, state)
        return self.page(conn, ctx, state)

    def release(self, conn: DeclaredConnector, state: State | None) -> None:
        if self.session and not job_session.adopt(conn, state):
            return  # the session it lived in is lost, and the job with it
        if self.close is not None and state and "job" in state:
            self.end(conn, conn.template_context(), state["job"])

    def page(self, conn: DeclaredConnector, ctx: dict[str, Any], state: State | None) -> Page:
        """One page of one job: created where the state names none; closed (where declared) after its last read
        and when this page fails."""
        if not state or "job" not in state:
            state = {"job": self._create(conn, ctx), "waited": 0.0}
        try:
            page = self._job_page(conn, ctx, state)
        except Exception:
            if self.close is not None:
                self.end(conn, ctx, state["job"])
            raise
        if page.next is None and page.wait is None and self.close is not None:
            self.end(conn, ctx, state["job"])
        return page

    def end(self, conn: DeclaredConnector, ctx: dict[str, Any], job: Any) -> None:
        """Close the job at the vendor, best effort (the vendor drops it later anyway); never raises."""
        assert self.close is not None
        try:
            self._send(conn, self.close, ctx, job, answer=False)
        except Exception as exc:  # logged; the page's own outcome, or its error, is what counts
            log.warning("%s: closing it failed: %s", self._what(conn, {"job": job}), type(exc).__name__)

    def _job_page(self, conn: DeclaredConnector, ctx: dict[str, Any], state: State) -> Page:
        if "waited" in state:
            answer = self._send(conn, self.poll, ctx, state["job"])
            status = dig(answer, self.status)
            if status in self.failed:
                why = dig(answer, self.failure_message) if self.failure_message else None
                raise JobFailed(f"{self._what(conn, state)} ended {vendor_text(status)}"
                                f"{': ' + vendor_text(why) if why else ''}")
            if status not in self.done:
                return self._later(conn, state)
            state = self._reading(conn, state, answer)
            if self.window is not None and state["total"] >= self.window.cap_of(conn):
                raise WindowFull(state["total"])
            if state.get("chunks") == []:
                return Page([], None)
        return self._read(conn, ctx, state)

    def _create(self, conn: DeclaredConnector, ctx: dict[str, Any]) -> Any:
        if self.client_id:  # never reused: the clock in ms, and randomness within it (a JSON-safe integer)
            chosen = int(time.time() * 1000) * 1000 + secrets.randbelow(1000)
            self._send(conn, self.create, ctx, chosen)
            return chosen
        job = dig(self._send(conn, self.create, ctx, None), self.job_id)
        if isinstance(job, int) and not isinstance(job, bool):
            job = str(job)
        if not isinstance(job, str) or not re.fullmatch(self.job_pattern, job):
            raise VendorDataError(f"connector {conn.ctx.name!r}: the {self.noun} answer has no {self.noun} id "
                                  f"at {self.job_id!r}")
        return job

    def _later(self, conn: DeclaredConnector, state: State) -> Page:
        """A page that asks to be fetched again after poll_seconds; past the budget, the job fails."""
        waited = float(state["waited"]) + self.poll_seconds
        budget = getattr(conn.config, "job_budget_seconds", None) or self.budget_seconds
        if waited > budget:
            raise JobFailed(f"{self._what(conn, state)} not finished after {state['waited']:.0f}s of polling "
                            f"(budget {budget:.0f}s)")
        return Page([], {"job": state["job"], "waited": waited}, wait=self.poll_seconds)

    def _reading(self, conn: DeclaredConnector, state: State, answer: Any) -> State:
        """The first read's state, from the done poll answer."""
        job = state["job"]
        if self.chunks:
            chunks = dig(answer, self.chunks) or []
            if not isinstance(chunks, list) or not all(isinstance(c, int) and not isinstance(c, bool)
                                                       for c in chunks):
                raise VendorDataError(f"{self._what(conn, state)} lists chunk ids that are not integers")
            return {"job": job, "chunks": sorted(chunks)}
        if self.total:
            try:
                total = int(dig(answer, self.total))
            except (TypeError, ValueError):
                raise VendorDataError(f"{self._what(conn, state)}: no result count at {self.total!r}") from None
            return {"job": job, "offset": 0, "total": total}
        return {"job": job}

    def _read(self, conn: DeclaredConnector, ctx: dict[str, Any], state: State) -> Page:
        job = state["job"]
        if "chunks" in state:
            chunk, *rest = state["chunks"]
            records = self.records(conn, self._send(conn, self.read, ctx, job, chunk))
            return Page(records, {"job": job, "chunks": rest} if rest else None)
        if "total" in state:
            params = {self.offset_param: state["offset"], self.count_param: conn.config.page_size}
            records = self.records(conn, self._send(conn, self.read, ctx, job, params=params))
            offset = state["offset"] + len(records)
            more = records and offset < state["total"]
            return Page(records, {**state, "offset": offset} if more else None, state["total"])
        return Page(self.records(conn, self._send(conn, self.read, ctx, job)), None)

    def records(self, conn: DeclaredConnector, body: Any) -> list[Any]:
        """The read answer's records; with `columns`, positional rows zipped with the column names (a column
        may be a {"name": ...} object; a short row's missing cells are None)."""
        rows = conn.records_of(body)
        if self.columns is None:
            return rows
        columns = dig(body, self.columns) or []
        if not isinstance(columns, list):
            raise VendorDataError(f"connector {conn.ctx.name!r}: the columns at {self.columns!r} are not a list")
        names = [str(c.get("name") if isinstance(c, dict) else c) for c in columns]
        return [dict(zip(names, [*row, *[None] * (len(names) - len(row))])) if isinstance(row, list) else row
                for row in rows]

    def _send(self, conn: DeclaredConnector, request: Request, ctx: dict[str, Any], job: Any,
              chunk: int | None = None, params: dict[str, Any] | None = None, answer: bool = True) -> Any:
        """The request sent; its decoded answer (`answer`: the vendor answers something worth reading)."""
        values = {"job": job, "chunk": chunk}
        in_path = {k: quote(str(v), safe="") for k, v in values.items() if v is not None}
        req = request.build(conn.config.root, {**ctx, **values}, in_path)
        for key, value in (params or {}).items():
            put(req, self.page_in, key, value)
        resp = conn.send(req)
        return conn.decode(resp) if answer else None

    def _what(self, conn: DeclaredConnector, state: State) -> str:
        return f"connector {conn.ctx.name!r}: {self.noun} {vendor_text(state['job'], 80)}"
