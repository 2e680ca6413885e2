"""The house rules, checked on the source itself (nexus_sync.dev.shape): no import loops, the pipeline never
imports its Celery tasks, production code never loads a simulator or the dev tools, no module past 600 lines,
no function past 80, and the names every process must agree on spelled in one place."""
from __future__ import annotations

import pytest

from nexus_sync.dev import shape

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return shape.import_graph()


def test_no_import_loops(graph):
    assert shape.cycles(graph) == []


def test_the_pipeline_and_the_connectors_never_import_the_tasks(graph):
    offenders = {m: sorted(t for t in ts if t == "tasks" or t.startswith("tasks."))
                 for m, ts in graph.items() if not m.startswith("tasks")}
    assert {m: ts for m, ts in offenders.items() if ts} == {}


def test_production_code_loads_no_simulator_and_no_dev_tool(graph):
    def dev_side(module: str) -> bool:
        return (module.startswith(("nexus_sync.dev", "nexus_sync.simulator", "nexus_sync.cli"))
                or module.endswith((".simulator", ".simdata")))

    offenders = {m: sorted(t for t in ts if dev_side(t)) for m, ts in graph.items() if not dev_side(m)}
    assert {m: ts for m, ts in offenders.items() if ts} == {}


def test_no_module_is_too_long():
    long = {name: n for name, path in shape.modules().items() if (n := shape.line_count(path)) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_too_long():
    long = [f for name, path in shape.modules().items() for f in shape.functions(path, name)
            if f.lines > MAX_FUNCTION_LINES]
    assert long == []


def test_task_names_and_redis_keys_are_spelled_once():
    from nexus_sync import names

    task_names = sorted(v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)
                        and v.startswith("tasks.") and not v.endswith("."))
    assert len(task_names) >= 10
    counts = shape.spellings([*task_names, names.PREFIX])
    assert counts == dict.fromkeys([*task_names, names.PREFIX], 1), counts
