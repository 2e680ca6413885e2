"""Vendor text that PostgreSQL (or any UTF-8 writer) cannot hold, made harmless before a page is staged.

PostgreSQL's text and jsonb types refuse U+0000 (`unsupported Unicode escape sequence`), so one NUL in one
hostname used to fail the whole page's COPY. Every NUL in a string (keys included) becomes U+FFFD, the
Unicode replacement character: visible, and the record lands. The check is one byte search of the page's
JSON; records are walked only when it finds something."""
from __future__ import annotations

import re
from typing import Any, Callable

NUL = "\x00"
REPLACEMENT = "\ufffd"
NUL_JSON = b"\\u0000"  # how orjson writes U+0000 inside a JSON string


def page_has_nul(blob: bytes) -> bool:
    """Whether a page's JSON may hold a NUL (a literal backslash-u0000 text can give a false yes, never a no)."""
    return NUL_JSON in blob


def replace_nuls(value: Any) -> int:
    """Replace NUL in every string of value (nested dicts and lists, keys too), in place; returns how many
    strings changed."""
    return replace_in_strings(value, lambda text: NUL in text, lambda text: text.replace(NUL, REPLACEMENT))


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(value: Any) -> int:
    """Replace unpaired UTF-16 surrogates (`"\\ud800"` in vendor JSON: text no UTF-8 encoder will write) by
    U+FFFD, in place; returns how many strings changed."""
    return replace_in_strings(value, lambda text: _SURROGATE.search(text) is not None,
                              lambda text: _SURROGATE.sub(REPLACEMENT, text))


def replace_in_strings(value: Any, bad: Callable[[str], bool], fix: Callable[[str], str]) -> int:
    """fix(s) for every string s of value where bad(s) (nested dicts and lists, keys too), in place; returns
    how many strings changed. Iterative: vendor JSON may nest deeper than Python's recursion limit."""
    changed = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k in [k for k in node if isinstance(k, str) and bad(k)]:
                node[fix(k)] = node.pop(k)
                changed += 1
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for k, v in list(items):
            if isinstance(v, str):
                if bad(v):
                    node[k] = fix(v)
                    changed += 1
            elif isinstance(v, (dict, list)):
                stack.append(v)
    return changed
