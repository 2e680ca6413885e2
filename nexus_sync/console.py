"""What the CLI and the demo print for people: tables, a sync's progress and its report (Rich).

Output that is not a terminal (a pipe, a test, CI) gets plain text, no colours, and wide lines instead of
wrapped cells, so `grep` and `awk` see one row per line."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

_PIPE_WIDTH = 400  # a row of a table printed to a pipe stays on one line up to this width


def _console(stream: Any) -> Console:
    tty = stream.isatty()
    # markup off: vendor text and errors hold brackets ("[Errno 111]") that must print as they are
    return Console(file=stream, markup=False, highlight=False, emoji=False, soft_wrap=not tty,
                   width=None if tty else _PIPE_WIDTH)


def out() -> Console:
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Sequence[str] = ()) -> None:
    """Print rows under their column names: no frame, one row per line; `right` columns align right."""
    t = Table(box=box.SIMPLE_HEAD if sys.stdout.isatty() else None, show_edge=False, pad_edge=False,
              header_style="bold")
    for name in columns:
        t.add_column(name, justify="right" if name in right else "left", no_wrap=True)
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    _print_stripped(t)


def _print_stripped(renderable: Any) -> None:
    """Print without the padding Rich puts after a row's last cell (pipes and diffs stay clean)."""
    console = out()
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Print `name  value` lines, the names in one column."""
    t = Table(box=None, show_header=False, show_edge=False, pad_edge=False)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for name, value in pairs:
        t.add_row(name, "-" if value is None else str(value))
    _print_stripped(t)


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int | None, int], None]]:
    """A progress bar on stderr; yields update(done, total, records). Plain (no bar) off a terminal."""
    console = err()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("records {task.fields[records]}"), TimeElapsedColumn(), console=console,
                   disable=not console.is_terminal, transient=True)
    with bar:
        task = bar.add_task(label, total=None, records=0)

        def update(done: int, total: int | None, records: int) -> None:
            bar.update(task, completed=done, total=total, records=records)

        yield update


def print_report(report: dict[str, Any]) -> None:
    """A closed sync's report: status, record counts, duration, errors, reason, next run."""
    rec = report.get("records", {})
    out().print(f"sync {report.get('sync_id')} of {report.get('connector')}: {report.get('status')}")
    lines: list[tuple[str, Any]] = []
    if rec:
        lines.append(("  records", f"{rec['processed']} processed: {rec['new']} new, {rec['updated']} updated, "
                                   f"{rec['unchanged']} unchanged, {rec['invalid']} invalid"))
    if "duration_ms" in report:
        lines.append(("  duration", f"{report['duration_ms'] / 1000:.2f}s  ({report.get('records_per_second')} "
                                    f"records/s, {report.get('pages')} pages, success rate "
                                    f"{report.get('success_rate')}%)"))
    for endpoint, seen in (report.get("completeness") or {}).items():
        expected = seen.get("expected")
        lines.append(("  listing", f"{endpoint}: {seen.get('fetched')} fetched"
                                   + ("" if expected is None else f" of {expected} announced")))
    for e in report.get("errors") or []:
        lines.append(("  error", f"batch {e.get('batch')}: {e.get('error')}"))
    if report.get("reason"):
        lines.append(("  reason", report["reason"]))
    if report.get("next_sync_at"):
        lines.append(("  next sync", report["next_sync_at"]))
    if lines:
        fields(lines)
