"""What every command module of the CLI shares: failing with a message and an exit code."""
from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"nexus-sync: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.secho(message, fg=typer.colors.YELLOW, err=True)
