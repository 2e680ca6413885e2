"""`nexus-sync demo`, `chaos` and `bench`: the developer tools of nexus_sync.dev, each on its own stack."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()


@app.command("demo")
def demo(
    devices: int = typer.Option(5000, help="CrowdStrike hosts in the simulator"),
    users: int = typer.Option(2000, help="Okta users in the simulator"),
    change: float = typer.Option(0.10, help="fraction of records changed before the second sync"),
    all_types: bool = typer.Option(False, "--all", help="instead: one sync of every connector type at once "
                                                        "(examples/connectors-all.yaml), a report line each"),
    per_type: int = typer.Option(1000, help="with --all: records per connector type in the simulator"),
) -> None:
    """Start the stack, simulator and a worker; sync CrowdStrike and Okta twice; print reports; stop."""
    from nexus_sync.dev.demo import run_demo

    raise typer.Exit(run_demo(devices=devices, users=users, change=change, all_types=all_types, per_type=per_type))


@app.command("chaos")
def chaos(
    instances: int = typer.Option(3, help="connector instances per vendor (CrowdStrike, Okta), plus one broken"),
    crowdstrike: int = typer.Option(3000, help="CrowdStrike hosts in the faulty simulator"),
    okta: int = typer.Option(1500, help="Okta users in the faulty simulator"),
    rate_limit_rate: float = typer.Option(0.20, help="share of vendor requests answered 429"),
    error_rate: float = typer.Option(0.05, help="share answered 503"),
    timeout_rate: float = typer.Option(0.02, help="share that never answer in time"),
    out: Optional[Path] = typer.Option(None, help="save the report as JSON in this folder"),
    keep: bool = typer.Option(False, "--keep", help="keep the run's state folder (logs)"),
    outage_seconds: float = typer.Option(40.0, help="how long the Kafka broker (from before the first sync), "
                                                    "ClickHouse and a webhook subscriber (503) are down"),
) -> None:
    """Sync many connectors against a faulty simulator while workers are SIGKILLed and Redis and
    PostgreSQL restart, and ClickHouse, the Kafka broker and a webhook subscriber are down for a stretch;
    then compare the database with the simulator's ground truth, and count what reached ClickHouse, Kafka
    and the subscriber once the outbox has drained (own stack)."""
    from nexus_sync.dev.chaos import ChaosOptions, run

    raise typer.Exit(run(ChaosOptions(instances=instances, crowdstrike=crowdstrike, okta=okta,
                                      rate_limit_rate=rate_limit_rate, error_5xx_rate=error_rate,
                                      timeout_rate=timeout_rate, out=out, keep=keep, say=typer.echo,
                                      outage_seconds=outage_seconds)))


@app.command("bench")
def bench(
    records: int = typer.Option(100_000, help="records of the main CrowdStrike-shaped sync"),
    small: int = typer.Option(10_000, help="records of the small sync of the RSS series"),
    large: int = typer.Option(0, help="only the large RSS run with this many records (make bench-large)"),
    page_size: int = typer.Option(5000, help="CrowdStrike page size (records per batch, at most 5000)"),
    concurrency: int = typer.Option(0, help="worker processes (0: two per core)"),
    cycle_records: int = typer.Option(1000, help="records per connector type in the full cycle"),
    copy_reps: int = typer.Option(3, help="repetitions of the COPY-limit measurement (the median counts)"),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="py-spy the worker on extra syncs"),
    out: Path = typer.Option(Path("bench"), help="folder of results/<date>.json and SUMMARY.md"),
    keep: bool = typer.Option(False, "--keep", help="keep the benchmark's state folder (logs, profiles)"),
) -> None:
    """Benchmark the real pipeline on an embedded stack of its own; print and save the results."""
    from nexus_sync.dev.bench import Options
    from nexus_sync.dev.bench import main as run_bench

    raise typer.Exit(run_bench(Options(records=records, small=small, large=large, page_size=page_size,
                                       concurrency=concurrency, cycle_records=cycle_records, copy_reps=copy_reps,
                                       profile=profile, out=out, keep=keep)))
