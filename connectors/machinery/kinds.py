"""Declared kinds (auth kinds, paging kinds): a spec class per kind, registered by its `kind` when the class is
defined, so a declaration finds it by that name and nothing central lists the kinds."""
from __future__ import annotations

from typing import Any, ClassVar

from connectors.machinery.templates import Spec


class BrokenDeclaration(RuntimeError):
    """A declaration that cannot work (raised when the connector is declared, i.e. at import)."""


class Kind(Spec):
    """One kind of a family (AuthSpec, PagingSpec). A subclass that annotates `kind: Literal[...] = "..."`
    itself registers in its family's `kinds`; a dict `{"kind": ..., ...}` parses as that class (`parse`)."""

    kind: str
    kinds: ClassVar[dict[str, type[Kind]]]  # each family base sets its own

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" not in cls.__dict__.get("__annotations__", {}):
            return  # a family base, or a subclass of a kind that keeps its parent's kind
        name = cls.model_fields["kind"].default
        known = cls.kinds.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise BrokenDeclaration(f"kind {name!r} is declared twice: {known.__module__}.{known.__qualname__} "
                                    f"and {cls.__module__}.{cls.__qualname__}")
        cls.kinds[name] = cls

    @classmethod
    def parse(cls, value: Any) -> Any:
        """A declared kind: an instance as it is, a dict by its registered `kind`."""
        if not isinstance(value, dict):
            return value
        found = cls.kinds.get(value.get("kind", ""))
        if found is None:
            raise ValueError(f"unknown kind {value.get('kind')!r} (known: {', '.join(sorted(cls.kinds))})")
        return found.model_validate(value)
