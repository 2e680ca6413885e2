"""The shape of the code base, read from its source: sizes of files and functions, the import graph between
our modules and its cycles, and how often each shared name is spelled. `nexus-sync dev shape` prints it;
tests/core/test_architecture.py holds the tree to its rules."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nexus_sync", "tasks", "connectors")


@dataclass(frozen=True)
class Function:
    module: str
    name: str
    lines: int


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module of our packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def functions(path: Path, module: str) -> Iterator[Function]:
    """Every function and method with its length in lines (decorators and docstring included)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            yield Function(module, node.name, (node.end_lineno or node.lineno) - start + 1)


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the module's package
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join(anchor + ([base] if base else []))
        yield base
        for alias in node.names:
            yield f"{base}.{alias.name}"


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The import statements under `if TYPE_CHECKING:`: never run, so no part of a loop."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → our modules it imports when it runs (at any depth of the file: function-local imports count
    too; imports for type checkers only do not)."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        targets = set()
        tree = ast.parse(path.read_text())
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            for target in _imported(node, name, is_package):
                if target in mods and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted. A package importing
    its own sub-modules (to re-export them) is not a cycle unless a sub-module imports back a name that
    only the package defines — so edges from a sub-module to its parent package are left out."""
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def spellings(words: list[str], root: Path = ROOT) -> dict[str, int]:
    """How many string literals in our code spell each word (docstrings and comments aside)."""
    counts = dict.fromkeys(words, 0)
    for path in modules(root).values():
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                for word in words:
                    counts[word] += word in node.value
    return counts
