"""The declared-connector machinery fails loudly on declarations that cannot work."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import connectors
from connectors.machinery import (
    BasicAuth,
    BrokenDeclaration,
    Declaration,
    HeaderAuth,
    HookPaging,
    NextUrlPaging,
    OffsetPaging,
    Request,
    declare,
)

ROOT = Path(__file__).resolve().parents[2]


def _decl(**over):
    base = dict(type="acme", title="Acme", category="edr", kind="asset", auth=HeaderAuth(template="Key {token}"),
                request=Request(path="/devices"), paging=OffsetPaging(), id_field="id")
    return Declaration(**{**base, **over})


def test_a_working_declaration_builds_a_connector_with_a_strict_config():
    cls = declare(_decl(config_fields={"site": ...}, request=Request(path="/sites/{site}/devices")), dict)
    cfg = cls.Config.model_validate({"base_url": "https://x", "site": "s1"})
    assert cfg.site == "s1" and cls.paging == "offset" and cls.auth == "header"
    with pytest.raises(Exception, match="site_id"):
        cls.Config.model_validate({"base_url": "https://x", "site": "s1", "site_id": 3})


def test_declared_but_unused_config_field_fails():
    with pytest.raises(BrokenDeclaration, match=r"never used"):
        declare(_decl(config_fields={"region": "eu"}), dict)


def test_template_naming_an_undeclared_field_fails():
    with pytest.raises(BrokenDeclaration, match=r"undeclared field\(s\) \['org'\]"):
        declare(_decl(request=Request(path="/orgs/{org}/devices")), dict)


def test_unknown_declaration_key_fails():
    with pytest.raises(Exception, match="pagination"):
        _decl(pagination=NextUrlPaging())


def test_hook_paging_without_a_hook_fails():
    with pytest.raises(BrokenDeclaration, match="hooks.fetch_page"):
        declare(_decl(request=None, paging=HookPaging(style="export")), dict)


def test_since_params_without_cursor_field_fails():
    with pytest.raises(BrokenDeclaration, match="cursor_field"):
        declare(_decl(request=Request(path="/d", since_params={"since": "{since}"}), auth=BasicAuth()), dict)


def test_a_broken_connector_folder_fails_discovery_naming_itself(tmp_path):
    broken = ROOT / "connectors" / "zz_broken_for_test"
    broken.mkdir()
    try:
        (broken / "__init__.py").write_text(textwrap.dedent("""
            from connectors.machinery import Declaration, HeaderAuth, OffsetPaging, Request, declare
            DECLARATION = Declaration(type="zz", title="zz", category="edr", kind="asset",
                                      auth=HeaderAuth(), request=Request(path="/{nope}"),
                                      paging=OffsetPaging(), id_field="id")
            CONNECTOR = declare(DECLARATION, dict)
        """))
        out = subprocess.run([sys.executable, "-m", "nexus_sync.cli", "connectors", "types"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert "connectors/zz_broken_for_test" in out.stderr and "nope" in out.stderr
    finally:
        for f in broken.rglob("*"):
            if f.is_file():
                f.unlink()
        for d in sorted(broken.rglob("*"), reverse=True):
            d.rmdir()
        broken.rmdir()


def test_every_registered_type_declares_what_connectors_types_shows():
    for name, cls in connectors.registry().items():
        assert cls.type == name and cls.kind in ("asset", "event", "vulnerability", "user", "incident")
        assert cls.auth and cls.paging and cls.category and cls.id_field


# ---- kinds no shipped vendor uses yet still work as declared ----------------------------------
def _make(decl, tmp_path, secrets):
    from tests.connectors.util import make

    return make(declare(decl, lambda raw: {"uid": raw["id"]}), "https://acme.test", secrets, tmp_path)


def test_offset_paging_and_session_login(tmp_path):
    import responses

    from connectors.machinery import SessionLogin
    from tests.connectors.util import drain

    decl = _decl(auth=SessionLogin(path="/api/login", form={"user": "{username}", "pass": "{password}"},
                                   token="session.key", header="X-Session", template="{session}"),
                 request=Request(path="/devices"), paging=OffsetPaging(total="total"), records="items",
                 page_size=2)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, "https://acme.test/api/login", json={"session": {"key": "s-1"}})
        for offset, ids in ((0, ["a", "b"]), (2, ["c", "d"]), (4, ["e"])):
            rsps.add(responses.GET, "https://acme.test/devices", json={"items": [{"id": i} for i in ids], "total": 5},
                     match=[responses.matchers.query_param_matcher({"offset": str(offset), "limit": "2"})])
        records, pages = drain(_make(decl, tmp_path, {"username": "u", "password": "p"}))
        assert [r["id"] for r in records] == ["a", "b", "c", "d", "e"] and pages == 3
        assert rsps.calls[0].request.body == "user=u&pass=p"
        assert all(c.request.headers.get("X-Session") == "s-1" for c in rsps.calls[1:])


# ---- kinds are plug-ins: registered by `kind`, found without any central list ------------------------------
def test_a_declaration_may_name_its_kinds_by_dict_and_an_unknown_kind_fails():
    decl = _decl(auth={"kind": "basic"}, paging={"kind": "offset", "limit_param": "n"})
    assert isinstance(decl.auth, BasicAuth) and decl.paging.limit_param == "n"
    with pytest.raises(Exception, match="unknown kind 'carrier_pigeon'"):
        _decl(paging={"kind": "carrier_pigeon"})


def test_a_kind_declared_twice_fails():
    from typing import Literal

    from connectors.machinery import BrokenDeclaration, PagingSpec

    with pytest.raises(BrokenDeclaration, match="kind 'offset' is declared twice"):
        class Offset2(PagingSpec):  # noqa: F841 - defining it is the test
            kind: Literal["offset"] = "offset"


def test_new_auth_and_paging_kinds_need_no_central_change(tmp_path):
    """A per-request HMAC header (Cortex XDR's advanced key) and `Range: items=x-y` paging (QRadar), each a
    class of its own: declared, checked and run by the machinery as it is."""
    import hashlib
    from typing import Any, Literal

    import responses

    from connectors.machinery import Auth, AuthSpec, PagingSpec
    from tests.connectors.util import drain

    class HmacHeader(Auth):
        def __init__(self, secrets):
            self.secrets = secrets

        def apply(self, headers):
            key = self.secrets.get(("api_key",))["api_key"].get_secret_value()
            headers["x-xdr-nonce"] = "n1"
            headers["Authorization"] = hashlib.sha256(f"{key}n1".encode()).hexdigest()

    class HmacAuth(AuthSpec):
        kind: Literal["test_hmac"] = "test_hmac"

        def runtime(self, secrets, config, http, template):
            return HmacHeader(secrets)

    class RangePaging(PagingSpec):
        kind: Literal["test_range"] = "test_range"

        def first(self, req, size):
            return self.apply(req, {"start": 0}, size)

        def apply(self, req, state, size):
            return {**req, "headers": {**req["headers"], "Range": f"items={state['start']}-{state['start'] + size - 1}"}}

        def next(self, state, resp, body, records: list[Any], size, vendor_url):
            start = (state or {}).get("start", 0) + len(records)
            return {"start": start} if len(records) == size else None

    decl = _decl(auth=HmacAuth(), paging=RangePaging(), page_size=2)
    with responses.RequestsMock() as rsps:
        for ids, first in ((["a", "b"], "0-1"), (["c"], "2-3")):
            rsps.add(responses.GET, "https://acme.test/devices", json=[{"id": i} for i in ids],
                     match=[responses.matchers.header_matcher({"Range": f"items={first}"})])
        records, pages = drain(_make(decl, tmp_path, {"api_key": "k"}))
        assert rsps.calls[0].request.headers["Authorization"] == hashlib.sha256(b"kn1").hexdigest()
    assert [r["id"] for r in records] == ["a", "b", "c"] and pages == 2
