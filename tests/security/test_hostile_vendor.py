"""A hostile vendor against real connectors, a real worker and the real stack (issue 10, "Build").

Every credential is a canary. Each test plays one attack and checks what a customer sees: how the sync ends,
which rows land, what the error says (the connector and the foreign origin, never a secret), and that the
attacker's server received nothing carrying a credential. The last test scans every store, log and span for
every canary and every form derived from it, prints the table (`pytest -s`) and writes it beside the test's
tmp dir: zero hits everywhere."""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import psutil
import pytest
import sqlalchemy as sa

from nexus_sync import catalog, db
from nexus_sync.cli import wait_for
from tests.conftest import STATE
from tests.pipeline.helpers import archive_count, archived, raw_rows
from tests.security import canary, hostile
from tests.security.conftest import DEADLINE_SECONDS, MAX_RESPONSE_MB

pytestmark = pytest.mark.usefixtures("security_worker")


# ------------------------------------------------------------------------------------------ helpers
@dataclass
class Case:
    """One connector of an attack: its scenario on a hostile server, and how its sync ended."""

    what: str
    conn: catalog.ConnectorRow
    scenario: str
    hid: str = ""
    report: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return (self.report or {}).get("status", "?")


def scenario(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:6]}"


def run(cases: list[Case], timeout: float = 60) -> None:
    """Start every case's sync, then wait for each to end (the worker runs two at a time)."""
    from nexus_sync.celery_app import app

    for case in cases:  # as `nexus-sync sync <name>` enqueues it, without its output
        case.hid = str(uuid.uuid4())
        app.send_task("tasks.sync.start_sync", args=[case.conn.name, case.hid, "manual"], task_id=case.hid)
    for case in cases:
        try:
            case.report = wait_for(case.hid, timeout, progress=False)
        except (Exception, SystemExit):  # the CLI helper exits when the sync does not end in time
            case.report = {"status": f"still RUNNING after {timeout:.0f} s"}


def stored(hid: str) -> str:
    """Everything PostgreSQL holds about a sync outside raw_data: history, run, batches, dead letters."""
    queries = ("SELECT t::text FROM sync_history t WHERE id = :h", "SELECT t::text FROM sync_runs t WHERE "
               "sync_history_id = :h", "SELECT t::text FROM sync_batches t WHERE sync_history_id = :h",
               "SELECT t::text FROM dead_letters t WHERE sync_history_id = :h")
    with db.get_engine().connect() as c:
        return "\n".join(row[0] for q in queries for row in c.execute(sa.text(q), {"h": uuid.UUID(hid)}))


def dead_letters(hid: str) -> list[Any]:
    dl = db.dead_letters.c
    with db.get_engine().connect() as c:
        return c.execute(sa.select(dl.task_name, dl.exception_type, dl.error, dl.traceback)
                         .where(dl.sync_history_id == uuid.UUID(hid))).all()


def errors_of(case: Case) -> str:
    """What the sync reports as its errors, and its dead letters' errors."""
    return json.dumps((case.report or {}).get("errors")) + "\n" + "\n".join(d.error for d in dead_letters(case.hid))


def leaks(finder: canary.Finder, text: str) -> str:
    return ", ".join(f"{label} as {kind}" for label, kind in finder.find(text))


def check_all(problems: list[str]) -> None:
    assert not problems, "\n" + "\n".join(f"- {p}" for p in problems)


def refused(case: Case, origin: str, attacker: hostile.HostileServer, finder: canary.Finder) -> list[str]:
    """What is wrong with a case whose vendor pointed at a foreign origin: it must fail naming the connector
    and that origin, send nothing there, and store no secret."""
    out = []
    got = attacker.requests_to(case.scenario)
    if got:
        carried = leaks(finder, "\n".join(s.text() for s in got)) or "no canary"
        out.append(f"{case.what}: the foreign origin {origin} received {len(got)} request(s) ({carried})")
    if case.status == "SUCCESS":
        out.append(f"{case.what}: the sync ended SUCCESS")
    errors, text = errors_of(case), stored(case.hid)
    if origin.split("://", 1)[1] not in errors or case.conn.type not in errors:
        out.append(f"{case.what}: no error names the connector and the foreign origin {origin}: {errors[:300]}")
    if leaks(finder, text):
        out.append(f"{case.what}: the sync's records hold {leaks(finder, text)}")
    return out


# ------------------------------------------------------------------------------------------ attacks
def test_next_links_to_a_foreign_origin_are_refused_and_it_gets_nothing(vendor, attacker, canaries, register):
    """Finding 1: Link header (Okta, ServiceNow), @odata.nextLink (Entra) and Qualys' truncation URL."""
    cases = []
    name = scenario("next-okta")
    token = canaries.new("okta token, foreign next link")
    far = f"{attacker.url}/s/{name}/api/v1/users?after=00u3&limit=200"
    base = vendor.mount(name, hostile.okta(token, hostile.okta_page(hostile.okta_users(3, "nl"), far)))
    cases.append(Case("okta (Link header)", register("okta", base, {"token": token}), name))

    name = scenario("next-entra")
    cid, secret = canaries.new("entra client id, foreign next link"), canaries.new("entra secret, foreign next link")
    entra = hostile.Entra(cid, secret, lambda: canaries.new("entra access token, foreign next link"))
    far = f"{attacker.url}/s/{name}/v1.0/users?$skiptoken=X"
    base = vendor.mount(name, entra.routes(hostile.entra_page(hostile.entra_users(3), far)))
    cases.append(Case("entra (@odata.nextLink)", register(
        "entra", base, {"client_id": cid, "client_secret": secret}, tenant="contoso",
        token_url=base + hostile.Entra.TOKEN_PATH), name))

    name = scenario("next-servicenow")
    user, password = canaries.new("servicenow user, foreign next link"), canaries.new("servicenow password, next link")
    canaries.basic("servicenow, foreign next link", user, password)
    far = f"{attacker.url}/s/{name}/api/now/table/cmdb_ci?sysparm_offset=3"
    page = hostile.servicenow_page(hostile.servicenow_cis(3), far)
    base = vendor.mount(name, hostile.servicenow(user, password, page))
    cases.append(Case("servicenow (Link header)",
                      register("servicenow", base, {"username": user, "password": password}), name))

    name = scenario("next-qualys")
    user, password = canaries.new("qualys user, foreign next link"), canaries.new("qualys password, next link")
    canaries.basic("qualys, foreign next link", user, password)
    far = f"{attacker.url}/s/{name}/api/2.0/fo/asset/host/vm/detection/?action=list&id_min=9000"
    base = vendor.mount(name, hostile.qualys(user, password, hostile.qualys_page([8001, 8002], far)))
    cases.append(Case("qualys (WARNING/URL)", register("qualys", base, {"username": user, "password": password}),
                      name))

    run(cases)
    finder = canaries.finder()
    check_all([p for c in cases for p in refused(c, attacker.url, attacker, finder)])


def test_an_http_next_link_from_an_https_vendor_is_not_followed(tls_vendor, attacker, canaries, register):
    """Finding 1: a downgrade to cleartext on the same host and port is a foreign origin too."""
    name = scenario("downgrade-okta")
    token = canaries.new("okta token, http downgrade")
    cleartext = f"http://127.0.0.1:{tls_vendor.port}/s/{name}/api/v1/users?after=00u3&limit=200"
    first, last = hostile.okta_page(hostile.okta_users(3, "dg"), cleartext), hostile.okta_page([])
    base = tls_vendor.mount(name, hostile.okta(token, lambda seen: first(seen) if seen.tls else last(seen)))
    case = Case("okta over https", register("okta", base, {"token": token}), name)
    run([case])
    plain = [s for s in tls_vendor.requests_to(name) if not s.tls]
    served = [s for s in tls_vendor.requests_to(name) if s.tls]
    assert served, "the TLS vendor was never reached over https: the test proves nothing"
    problems = [f"{len(plain)} request(s) went out in cleartext ({leaks(canaries.finder(), plain[0].text())})"] \
        if plain else []
    problems += [p for p in refused(case, f"http://127.0.0.1:{tls_vendor.port}", attacker, canaries.finder())
                 if "received" not in p]
    check_all(problems)


def test_redirects_to_another_host_are_not_followed_with_credentials(vendor, attacker, canaries, register):
    """Finding 4: a 307 on the OAuth token POST (client_secret in the body), on Tenable's export POST
    (X-ApiKeys, which requests keeps across hosts) and on Okta / ServiceNow data calls."""
    cases = []
    name = scenario("307-token")
    cid, secret = canaries.new("entra client id, 307 token"), canaries.new("entra client secret, 307 token")
    entra = hostile.Entra(cid, secret, lambda: canaries.new("entra access token, 307 token"))
    base = vendor.mount(name, entra.routes(hostile.entra_page(hostile.entra_users(2)),
                                           token=hostile.redirect(f"{attacker.url}/s/{name}/oauth2/v2.0/token")))
    cases.append(Case("entra token POST", register("entra", base, {"client_id": cid, "client_secret": secret},
                                                  tenant="contoso", token_url=base + hostile.Entra.TOKEN_PATH), name))

    name = scenario("307-tenable")
    access, secret_key = canaries.new("tenable access key, 307"), canaries.new("tenable secret key, 307")
    base = vendor.mount(name, hostile.tenable(access, secret_key,
                                              hostile.redirect(f"{attacker.url}/s/{name}/vulns/export")))
    cases.append(Case("tenable export POST", register("tenable", base, {"access_key": access,
                                                                       "secret_key": secret_key}), name))

    name = scenario("307-okta")
    token = canaries.new("okta token, 307 data call")
    base = vendor.mount(name, hostile.okta(token, hostile.redirect(f"{attacker.url}/s/{name}/api/v1/users")))
    cases.append(Case("okta data GET", register("okta", base, {"token": token}), name))

    name = scenario("307-servicenow")
    user, password = canaries.new("servicenow user, 307"), canaries.new("servicenow password, 307")
    canaries.basic("servicenow, 307", user, password)
    base = vendor.mount(name, hostile.servicenow(user, password,
                                                 hostile.redirect(f"{attacker.url}/s/{name}/api/now/table/cmdb_ci")))
    cases.append(Case("servicenow data GET", register("servicenow", base, {"username": user, "password": password}),
                      name))

    run(cases)
    finder = canaries.finder()
    check_all([p for c in cases for p in refused(c, attacker.url, attacker, finder)])


def test_a_session_login_redirected_to_another_host_sends_no_password(vendor, attacker, canaries, tmp_path):
    """Finding 4, session login: no declared vendor logs in yet, so a declaration of its own, run in-process."""
    from connectors.base import Context, SecretsProvider
    from connectors.machinery import Declaration, OffsetPaging, Request, SessionLogin, declare
    from nexus_sync.credentials import CredentialStore
    from tests.conftest import add_secrets

    name = scenario("307-login")
    user, password = canaries.new("session user, 307 login"), canaries.new("session password, 307 login")
    api = hostile.SessionVendor(user, password, lambda: canaries.new("session token, 307 login"))
    away = hostile.redirect(f"{attacker.url}/s/{name}/login")
    base = vendor.mount(name, api.routes(hostile.okta_page([]), login=away))
    decl = Declaration(type="hostile_session", title="A session-login API", category="itsm", kind="asset",
                       auth=SessionLogin(path="/login", form={"username": "{username}", "password": "{password}"},
                                         token="session.token"),
                       request=Request(path="/items"), paging=OffsetPaging(), id_field="id")
    cls = declare(decl, lambda raw: {"uid": raw["id"]})
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("{}\n")
    secrets.chmod(0o600)
    add_secrets(secrets, name, {"username": user, "password": password})
    conn = cls(Context(name, cls.Config(base_url=base), SecretsProvider(CredentialStore(secrets), name)))
    with pytest.raises(Exception) as failed:
        conn.fetch_page(None, None)
    problems = []
    got = attacker.requests_to(name)
    if got:
        problems.append(f"the login went to {attacker.url}: {leaks(canaries.finder(), got[0].text()) or 'no canary'}")
    if leaks(canaries.finder(), str(failed.value)):
        problems.append(f"the error holds {leaks(canaries.finder(), str(failed.value))}")
    if attacker.url.split("://", 1)[1] not in str(failed.value):
        problems.append(f"the error does not name the foreign origin: {failed.value!s:.300}")
    check_all(problems)


def test_an_error_page_that_echoes_the_credentials_leaks_none_of_them(vendor, canaries, register):
    """Finding 2: a 500 whose body and headers echo the request (SSWS token, Bearer access token, Basic pair,
    X-ApiKeys, the token POST's client_secret) costs the sync, never a secret."""
    cases = []
    name = scenario("echo-okta")
    token = canaries.new("okta token, echo 500")
    cases.append(Case("okta SSWS", register("okta", vendor.mount(name, hostile.okta(token, hostile.echo_500)),
                                            {"token": token}), name))

    for where in ("data", "token"):
        name = scenario(f"echo-entra-{where}")
        cid, secret = canaries.new(f"entra client id, echo {where}"), canaries.new(f"entra secret, echo {where}")
        entra = hostile.Entra(cid, secret, lambda w=where: canaries.new(f"entra access token, echo {w}"))
        routes = entra.routes(hostile.echo_500) if where == "data" else entra.routes(hostile.entra_page([]),
                                                                                     token=hostile.echo_500)
        base = vendor.mount(name, routes)
        cases.append(Case(f"entra {where} call", register("entra", base, {"client_id": cid, "client_secret": secret},
                                                          tenant="contoso", token_url=base + hostile.Entra.TOKEN_PATH),
                          name))

    name = scenario("echo-servicenow")
    user, password = canaries.new("servicenow user, echo 500"), canaries.new("servicenow password, echo 500")
    canaries.basic("servicenow, echo 500", user, password)
    cases.append(Case("servicenow Basic", register("servicenow", vendor.mount(
        name, hostile.servicenow(user, password, hostile.echo_500)), {"username": user, "password": password}), name))

    name = scenario("echo-tenable")
    access, secret_key = canaries.new("tenable access key, echo 500"), canaries.new("tenable secret key, echo 500")
    cases.append(Case("tenable X-ApiKeys", register("tenable", vendor.mount(
        name, hostile.tenable(access, secret_key, hostile.echo_500)), {"access_key": access, "secret_key": secret_key}),
        name))

    run(cases)
    finder = canaries.finder()
    problems = []
    for case in cases:
        if not any(finder.find(s.text()) for s in vendor.requests_to(case.scenario)):
            problems.append(f"{case.what}: the vendor never saw a canary: the test proves nothing")
        if case.status != "FAILED":
            problems.append(f"{case.what}: ended {case.status}, not FAILED")
        text = stored(case.hid)
        if "500" not in errors_of(case):
            problems.append(f"{case.what}: the error does not keep the status 500")
        if leaks(finder, text):
            problems.append(f"{case.what}: history/batches/dead letters hold {leaks(finder, text)}")
    check_all(problems)


def test_a_gzip_bomb_is_cut_off_at_the_size_cap(vendor, canaries, register, security_worker):
    """Finding 6: ~0.5 MB on the wire, 512 MB decoded; the worker stops at NEXUS_HTTP_MAX_RESPONSE_MB."""
    name = scenario("bomb-okta")
    token = canaries.new("okta token, gzip bomb")
    case = Case("okta gzip bomb", register("okta", vendor.mount(name, hostile.okta(token, hostile.gzip_bomb(512))),
                                           {"token": token}), name)
    run([case])
    text = stored(case.hid)
    problems = []
    if case.status != "FAILED":
        problems.append(f"the sync ended {case.status}: the bomb was read in full (0 records, no error)")
    if not re.search(r"(?i)larger than|too large", text) or f"{MAX_RESPONSE_MB}" not in text:
        problems.append(f"the error does not name the {MAX_RESPONSE_MB} MB cap: {text[-300:]}")
    peak = _peak_rss_mb(security_worker.pid)
    if peak > 400:
        problems.append(f"a worker process peaked at {peak:.0f} MB resident (the bomb decodes to 512 MB)")
    check_all(problems)


def _peak_rss_mb(pid: int) -> float:
    """The highest peak resident size (VmHWM) among the worker's processes."""
    peaks = []
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        if m:
            peaks.append(int(m.group(1)) / 1024)
    return max(peaks, default=0.0)


def test_a_slow_drip_is_cut_at_the_request_deadline(vendor, canaries, register):
    """Finding 6: one byte a second keeps every read inside a 2 s timeout; the request must still end at its
    wall-clock deadline (NEXUS_HTTP_DEADLINE_SECONDS)."""
    name = scenario("drip-okta")
    token = canaries.new("okta token, slow drip")
    body = b"[" + b" " * 18 + b"]"  # valid JSON, 20 s to arrive
    case = Case("okta slow drip", register("okta", vendor.mount(name, hostile.okta(token, hostile.drip(body))),
                                           {"token": token}), name)
    run([case])
    held = [round(s.held, 1) for s in vendor.requests_to(name)]
    problems = []
    if not held:
        problems.append("the vendor was never asked")
    if any(h > DEADLINE_SECONDS + 3 for h in held):
        problems.append(f"requests were held {held} s (deadline {DEADLINE_SECONDS} s)")
    if case.status != "FAILED":
        problems.append(f"the sync ended {case.status}")
    if "deadline" not in stored(case.hid):
        problems.append("the error does not say the deadline was exceeded")
    check_all(problems)


def test_a_nul_byte_costs_one_record_at_most(vendor, canaries, register):
    """Finding 5: a hostname with U+0000 beside five good CIs: the five land (PostgreSQL and ClickHouse); the bad
    one lands made harmless or is skipped and reported by its id; no error quotes the record."""
    name = scenario("nul-servicenow")
    user, password = canaries.new("servicenow user, NUL"), canaries.new("servicenow password, NUL")
    canaries.basic("servicenow, NUL", user, password)
    cis = hostile.servicenow_cis(6)
    marker = f"RAW-RECORD-{uuid.uuid4().hex[:12]}"
    cis[2].update(host_name="evil\u0000host", fqdn="evil\u0000host.example.test", serial_number=marker)
    base = vendor.mount(name, hostile.servicenow(user, password, hostile.servicenow_page(cis)))
    case = Case("servicenow NUL", register("servicenow", base, {"username": user, "password": password}), name)
    run([case])
    rows = {r.source_id: r for r in raw_rows(case.conn.tenant_id)}
    good = {c["sys_id"] for i, c in enumerate(cis) if i != 2}
    bad = cis[2]["sys_id"]
    report = case.report or {}
    problems = []
    if case.status not in ("SUCCESS", "PARTIAL"):
        problems.append(f"the sync ended {case.status}: {json.dumps(report.get('errors'))[:300]}")
    if not good <= set(rows):
        problems.append(f"{len(good - set(rows))} of the 5 good records are missing from raw_data")
    reported = bad in json.dumps(report.get("invalid_records") or [])
    if bad not in rows and not reported:
        problems.append("the NUL record neither landed nor was reported by its source id")
    if bad in rows and "\x00" in json.dumps(rows[bad].data, ensure_ascii=False):
        problems.append("the stored record still holds a NUL")
    if archived(case.conn.tenant_id, 5) < 5:  # the outbox relay archives after the sync closes
        problems.append(f"the archive holds {archive_count(case.conn.tenant_id)} rows, not the 5 good ones")
    errors = json.dumps(report.get("errors")) + "".join(d.error for d in dead_letters(case.hid))
    if marker in errors:
        problems.append("an error quotes the raw record")
    check_all(problems)


def test_xml_nested_50000_deep_is_refused_cleanly(vendor, canaries, register):
    """Finding 6: a Qualys answer nested 50,000 deep ends the sync with a clear error, not a RecursionError."""
    name = scenario("deep-qualys")
    user, password = canaries.new("qualys user, deep XML"), canaries.new("qualys password, deep XML")
    canaries.basic("qualys, deep XML", user, password)
    base = vendor.mount(name, hostile.qualys(user, password, hostile.deep_xml(50_000)))
    case = Case("qualys deep XML", register("qualys", base, {"username": user, "password": password}), name)
    run([case])
    text = stored(case.hid)
    problems = []
    if case.status != "FAILED":
        problems.append(f"the sync ended {case.status}")
    if "RecursionError" in text or "recursion" in text:
        problems.append("the failure is a RecursionError")
    if not re.search(r"(?i)deep|depth|nest", text):
        problems.append(f"the error does not say the XML is too deep: {text[-300:]}")
    check_all(problems)


def test_a_secret_with_a_stray_newline_is_stripped_or_refused_by_name(vendor, canaries, register):
    """Finding 2: a trailing newline (a copy-paste) is stripped on load and the sync works; a CR/LF inside a
    secret (header injection) is a configuration error naming the field, not the value."""
    name = scenario("newline-okta")
    token = canaries.new("okta token, trailing newline")
    base = vendor.mount(name, hostile.okta(token, hostile.okta_page(hostile.okta_users(3, "nw"))))
    trailing = Case("trailing newline", register("okta", base, {"token": token + "\n"}), name)

    name = scenario("crlf-okta")
    token, injected = canaries.new("okta token, CR/LF"), canaries.new("okta injected header, CR/LF")
    base = vendor.mount(name, hostile.okta(token, hostile.okta_page(hostile.okta_users(3, "cr"))))
    crlf = Case("CR/LF inside", register("okta", base, {"token": f"{token}\r\nX-Injected: {injected}"}), name)
    run([trailing, crlf])
    finder = canaries.finder()
    problems = []
    if trailing.status != "SUCCESS" or len(raw_rows(trailing.conn.tenant_id)) != 3:
        problems.append(f"trailing newline: ended {trailing.status} with {len(raw_rows(trailing.conn.tenant_id))} "
                        f"of 3 users: {json.dumps((trailing.report or {}).get('errors'))[:300]}")
    text = stored(crlf.hid)
    if crlf.status != "FAILED" or "token" not in text:
        problems.append(f"CR/LF: ended {crlf.status}; the error must name the field 'token': {text[-300:]}")
    if any(s.header("X-Injected") for s in vendor.requests_to(crlf.scenario)):
        problems.append("CR/LF: the injected header reached the vendor")
    for case in (trailing, crlf):
        if leaks(finder, stored(case.hid)):
            problems.append(f"{case.what}: the sync's records hold {leaks(finder, stored(case.hid))}")
    check_all(problems)


# --------------------------------------------------------------------------------------- the scan
def planted() -> canary.Canaries:
    """Canaries of the scan's own checks, apart from those of the attacks."""
    control = canary.Canaries()
    for what in ("staged page", "broker message", "table row", "kafka event", "log line", "archive row"):
        control.add(f"control {what}", f"CANARY-control-{what.replace(' ', '-')}-{uuid.uuid4().hex[:20]}")
    return control


def labels(scan: canary.StoreScan) -> set[str]:
    return {h.canary for h in scan.hits}


def test_the_scan_finds_canaries_in_redis_values_and_in_the_aof_after_the_keys_are_gone(stack):
    """A zstd-compressed staged page and a broker message with a base64 body: found live, and in the AOF once
    deleted."""
    import base64

    import orjson
    import zstandard

    from nexus_sync.redis_client import get_redis

    control = planted()
    finder, redis, tag = control.finder(), get_redis(), uuid.uuid4().hex[:8]
    staged, brokered = control.value("control staged page"), control.value("control broker message")
    redis.set(f"nexus:control:{tag}:staged", zstandard.ZstdCompressor().compress(orjson.dumps({"token": staged})))
    body = base64.b64encode(orjson.dumps([["hid", 0], {"auth": f"Bearer {brokered}"}, {}])).decode()
    redis.rpush(f"nexus:control:{tag}:queue", orjson.dumps({"body": body, "properties": {"body_encoding": "base64"}}))
    live = canary.scan_redis(finder, redis)
    redis.delete(f"nexus:control:{tag}:staged", f"nexus:control:{tag}:queue")
    deadline, on_disk = time.monotonic() + 10, canary.StoreScan("aof", 0, "commands")
    while time.monotonic() < deadline and len(labels(on_disk)) < 2:  # appendfsync everysec
        time.sleep(0.5)
        on_disk = canary.scan_redis_files(finder, STATE / "redis")
    assert labels(live) == {"control staged page", "control broker message"}
    assert labels(on_disk) == {"control staged page", "control broker message"}


def test_the_scan_finds_canaries_in_any_postgres_table(stack):
    """A table the scan was never told about, in a schema of its own; a Basic pair in a header form."""
    import base64

    control = planted()
    control.basic("control pair", "control-user", "control-password-0123456789")
    finder, engine, tag = control.finder(), db.get_engine(), uuid.uuid4().hex[:8]
    pair = base64.b64encode(b"control-user:control-password-0123456789").decode()
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA control_{tag}"))
        c.execute(sa.text(f"CREATE TABLE control_{tag}.t (x text)"))
        c.execute(sa.text(f"INSERT INTO control_{tag}.t VALUES (:a), (:b), ('clean')"),
                  {"a": json.dumps({"error": f"echo {control.value('control table row')}"}),
                   "b": f"Authorization: Basic {pair}"})
    try:
        tables = canary.scan_postgres(finder, engine, batch=2)
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA control_{tag} CASCADE"))
    control_table = next(s for s in tables if s.store == f"postgres control_{tag}.t")
    assert control_table.items == 3
    assert labels(control_table) == {"control table row", "control pair (Basic pair)"}


def test_the_scan_finds_canaries_in_a_kafka_topic_and_the_archive(stack):
    from nexus_sync.archive import archive_row, get_archive
    from nexus_sync.config import get_settings
    from nexus_sync.events import publish
    from nexus_sync.pipeline import utcnow

    control = planted()
    finder, topic = control.finder(), f"security.control.{uuid.uuid4().hex[:8]}"
    publish(topic, "k", {"event_type": "control", "sync_id": "control",
                         "errors": [f"x {control.value('control kafka event')}"]})
    get_archive().insert([archive_row(str(uuid.uuid4()), str(uuid.uuid4()), "control", "asset",
                                      {"note": control.value("control archive row")}, utcnow())])
    (events,) = canary.scan_kafka(finder, get_settings().kafka, [topic])
    assert labels(events) == {"control kafka event"} and events.items == 1
    assert labels(canary.scan_clickhouse(finder, get_archive())) == {"control archive row"}


def test_the_scan_finds_canaries_in_spans_logs_and_rdb_strings(tmp_path):
    """Console-exported spans and log lines told apart; an LZF-compressed string of an RDB file decoded."""
    control = planted()
    finder, logged = control.finder(), control.value("control log line")
    log = tmp_path / "worker.log"
    log.write_text(f'{{"event": "x", "detail": "{logged}"}}\n{{\n    "name": "nexus.fetch",\n    "context": '
                   f'{{\n        "trace_id": "0x1",\n        "span_id": "0x2"\n    }},\n    "events": "{logged}"\n}}\n')
    spans, logs = canary.scan_log_files(finder, [log])
    assert labels(spans) == {"control log line"} and spans.items == 1
    assert labels(logs) == {"control log line"} and logs.items == 1
    plain = control.value("control staged page").encode()
    lzf = b"".join(bytes([len(plain[i:i + 32]) - 1]) + plain[i:i + 32] for i in range(0, len(plain), 32))
    rdb = tmp_path / "rdb" / "dump.rdb"
    rdb.parent.mkdir()
    rdb.write_bytes(b"REDIS0011\x00" + b"\xc3" + bytes([len(lzf), len(plain)]) + lzf)  # literal-run LZF
    assert canary.lzf_decompress(lzf, len(plain)) == plain
    assert labels(canary.scan_redis_files(finder, rdb.parent)) == {"control staged page"}
    command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(logged), logged.encode())
    rdb.write_bytes(b"REDIS0009\xfe\x00\xfb\x01\x00\x00\x01a\x01b\xff" + b"checksum" + command)  # a rewritten AOF
    rewritten = canary.scan_redis_files(finder, rdb.parent)
    assert labels(rewritten) == {"control log line"} and rewritten.items == 2  # the preamble and one command


def test_no_canary_anywhere_after_the_attacks(security_worker, vendor, attacker, tls_vendor, webhooks, canaries,
                                              stack, tmp_path):
    """After every attack above: every table, key, AOF, topic, archive row, span, log line, webhook body and
    attacker request, searched for every canary and derived form. Zero hits everywhere."""
    from nexus_sync.archive import get_archive
    from nexus_sync.config import get_settings
    from nexus_sync.redis_client import get_redis

    receiver = webhooks[0]
    _drain(get_redis(), lambda: len(receiver.got))
    security_worker.stop()  # its log (spans included) is complete
    for service, url in (("redis", get_settings().redis), ("clickhouse", get_settings().clickhouse)):
        password = urlsplit(url).password  # the dev stack's own secrets (finding 7) are canaries too
        if password:
            canaries.add(f"dev stack {service} password", password)
            canaries.basic(f"dev stack {service}", urlsplit(url).username or "", password)
    finder = canaries.finder()
    sent = canary.scan_texts(finder, "control: what the hostile vendors received", "requests",
                             [(s.target, s.text()) for s in vendor.seen + tls_vendor.seen])
    scans = [*canary.scan_postgres(finder, db.get_engine()), canary.scan_redis(finder, get_redis()),
             canary.scan_redis_files(finder, STATE / "redis"), *canary.scan_kafka(finder, get_settings().kafka),
             canary.scan_clickhouse(finder, get_archive()),
             *canary.scan_log_files(finder, canary.log_files(STATE, [security_worker.log])),
             canary.scan_texts(finder, "webhook deliveries", "bodies", [(f"delivery {i}", b)
                                                                        for i, b in enumerate(receiver.got)]),
             canary.scan_texts(finder, "attacker server (127.0.0.2)", "requests",
                               [(s.target, s.text()) for s in attacker.seen]),
             canary.scan_texts(finder, "cleartext requests to the TLS vendor", "requests",
                               [(s.target, s.text()) for s in tls_vendor.seen if not s.tls])]
    result = canary.table(scans)
    out = tmp_path / "canary-scan.md"
    out.write_text(result + "\n")
    print(f"\n\ncanary scan ({len(canaries.values)} canaries, {len(finder.forms)} forms; also in {out}):\n"
          f"{result}\n")
    by_store = {s.store: s for s in scans}
    assert sent.hits, "the hostile vendors never received a canary: the scan proves nothing (run the whole module)"
    assert by_store["postgres public.sync_history"].items and by_store["spans (console exporter)"].items
    assert by_store["kafka connector.sync.complete"].items and by_store["webhook deliveries"].items
    assert not any("INCOMPLETE" in s.note for s in scans), result
    assert sum(len(s.hits) for s in scans) == 0, result


def _drain(redis: Any, progress: Callable[[], int], timeout: float = 60) -> None:
    """Wait until the broker's queues are empty, nothing is unacknowledged and deliveries stop coming."""
    deadline, last, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        busy = redis.llen("sync") + redis.llen("archive") + redis.hlen("unacked")
        now = progress()
        if now != last:
            last, quiet_since = now, time.monotonic()
        if not busy and time.monotonic() - quiet_since > 2:
            return
        time.sleep(0.2)
