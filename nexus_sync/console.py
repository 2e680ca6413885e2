"""What the CLI and the demo print for people: a sync's report."""
from __future__ import annotations

from typing import Any

import typer


def print_report(report: dict[str, Any]) -> None:
    rec = report.get("records", {})
    typer.echo(f"sync {report.get('sync_id')} of {report.get('connector')}: {report.get('status')}")
    if rec:
        typer.echo(f"  records   {rec['processed']} processed: {rec['new']} new, {rec['updated']} updated, "
                   f"{rec['unchanged']} unchanged, {rec['invalid']} invalid")
    if "duration_ms" in report:
        typer.echo(f"  duration  {report['duration_ms'] / 1000:.2f}s  ({report.get('records_per_second')} "
                   f"records/s, {report.get('pages')} pages, success rate {report.get('success_rate')}%)")
    for err in report.get("errors") or []:
        typer.echo(f"  error     batch {err.get('batch')}: {err.get('error')}")
    if report.get("reason"):
        typer.echo(f"  reason    {report['reason']}")
    if report.get("next_sync_at"):
        typer.echo(f"  next sync {report['next_sync_at']}")
