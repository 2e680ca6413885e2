"""Paging done by the connector's own fetch_page hook (a delta query, a query language of its own)."""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Literal

from connectors.machinery.kinds import BrokenDeclaration
from connectors.machinery.paging import PagingSpec
from connectors.machinery.request import Request

if TYPE_CHECKING:
    from connectors.machinery.declaration import Declaration


class HookPaging(PagingSpec):
    kind: Literal["hook"] = "hook"
    style: str  # described in `connectors types`, e.g. "delta link + @odata.nextLink"

    def describe(self) -> str:
        return self.style

    def check(self, decl: Declaration, request: Request | None, hooks: ModuleType | None) -> None:
        if not hasattr(hooks, "fetch_page"):
            raise BrokenDeclaration(f"{decl.type}: HookPaging needs hooks.fetch_page")
