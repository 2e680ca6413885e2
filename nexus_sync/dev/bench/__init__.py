"""`make bench` / `nexus-sync bench`: the real pipeline (simulator → Celery worker(s) → Redis, PostgreSQL,
ClickHouse engine, Kafka) on an embedded stack of its own, measured against the targets of issue 6.

Results: bench/results/<date>.json (and <date>-large.json for the 1M-record run) and bench/SUMMARY.md,
which is committed. The machine is shared and noisy, so speed is judged by ratios within one run (the
first sync against the same run's COPY limit on the same Postgres and rows), and every figure keeps
the evidence beside it: CPU seconds per process, stage times from the worker log, py-spy profiles.

One module per concern: harness (the stack, processes, one measured sync, checks), phases (what runs, in
order), stages (stage functions timed in-process), meter (RSS, CPU, broker messages), profile (py-spy),
worker_log (the worker's stage lines), targets (the issue's targets and verdicts), report (results JSON and
bench/SUMMARY.md).
"""
from __future__ import annotations

from nexus_sync.dev.bench.common import say
from nexus_sync.dev.bench.harness import Options
from nexus_sync.dev.bench.phases import run
from nexus_sync.dev.bench.profile import summarize_profile
from nexus_sync.dev.bench.report import print_summary, render_summary, save
from nexus_sync.dev.bench.targets import TARGETS, headline, verdict

__all__ = ["TARGETS", "Options", "headline", "main", "print_summary", "render_summary", "run", "save",
           "summarize_profile", "verdict"]


def main(opts: Options) -> int:
    """`nexus-sync bench`: run, save the results and SUMMARY.md, print the verdicts; 1 if a check failed."""
    results = run(opts)
    path, summary = save(results, opts.out)
    print_summary(results)
    say(f"saved {path} and {summary}")
    return 0 if all(results["checks"].values()) else 1
