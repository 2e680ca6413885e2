"""The declared-connector machinery fails loudly on declarations that cannot work."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import connectors
from connectors.declarative import (
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
            from connectors.declarative import Declaration, HeaderAuth, OffsetPaging, Request, declare
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

    from connectors.declarative import SessionLogin
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
