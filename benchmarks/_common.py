"""Helpers shared by the benchmark scripts (not part of the package).

* :func:`quantile`, :class:`OpResult` and :func:`timed`: per-round p50/p99 of timed calls;
* :func:`interleaved_round`: one round of several operations cut into chunks whose order
  rotates, so machine noise lands on every operation alike;
* :class:`Progress`: progress on stderr with rich or tqdm when installed and stderr is a
  terminal (never a background refresh thread while timing), else plain lines;
* :func:`environment` and :func:`environment_lines`: versions and settings of the machine,
  Python, Redis and Postgres, for the report header;
* :func:`start_embedded_postgres` / :func:`stop_embedded_postgres`: a throwaway embedded
  PostgreSQL in a temporary folder;
* :func:`drop_schemas` and :func:`delete_redis_keys`: cleanup that reports instead of raising.

The scripts import this module as ``_common`` (they are run by path, so ``benchmarks/`` is on
``sys.path``).
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from langmem_tiered.version import __version__ as LMT_VERSION

__all__ = [
    "OpResult",
    "Progress",
    "delete_redis_keys",
    "drop_schemas",
    "environment",
    "environment_lines",
    "interleaved_round",
    "quantile",
    "start_embedded_postgres",
    "stop_embedded_postgres",
    "timed",
]


# -- statistics ------------------------------------------------------------------------------


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass
class OpResult:
    name: str
    label: str
    p50_us: list[float] = field(default_factory=list)  # one per round
    p99_us: list[float] = field(default_factory=list)
    mean_us: list[float] = field(default_factory=list)
    samples: int = 0

    def add_round(self, ns: list[int]) -> None:
        s = sorted(ns)
        self.p50_us.append(quantile(s, 0.50) / 1000)
        self.p99_us.append(quantile(s, 0.99) / 1000)
        self.mean_us.append(sum(s) / len(s) / 1000)
        self.samples += len(s)

    @property
    def p50(self) -> float:
        return statistics.median(self.p50_us)

    @property
    def p99(self) -> float:
        return statistics.median(self.p99_us)


def latency_table(results: Iterable[OpResult], decimals: int = 0) -> list[str]:
    """The p50/p99 table every benchmark prints: medians over rounds and their ranges."""
    rows = list(results)
    w = max(len(r.label) for r in rows)
    f = f",.{decimals}f"
    header = (
        f"{'operation':<{w}}  {'p50 µs':>8}  {'p99 µs':>8}  {'p50 min-max (rounds)':>20}  "
        f"{'p99 min-max (rounds)':>20}  {'samples':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        p50r = f"{min(r.p50_us):{f}}-{max(r.p50_us):{f}}"
        p99r = f"{min(r.p99_us):{f}}-{max(r.p99_us):{f}}"
        lines.append(
            f"{r.label:<{w}}  {r.p50:>8{f}}  {r.p99:>8{f}}  {p50r:>20}  {p99r:>20}  {r.samples:>7}"
        )
    return lines


def timed(fn: Callable[[], Any], k: int, sink: list[int]) -> None:
    """Call ``fn`` ``k`` times, appending each call's duration in nanoseconds to ``sink``."""
    pc = time.perf_counter_ns
    add = sink.append
    for _ in range(k):
        t0 = pc()
        fn()
        add(pc() - t0)


def interleaved_round(
    ops: Sequence[tuple[str, str, Callable[[], Any]]],
    n: int,
    chunk: int,
    rnd: int,
    *,
    on_chunk: Callable[[int], None] | None = None,
    around: Callable[[str, Callable[[], None]], None] | None = None,
) -> dict[str, list[int]]:
    """One round: ``n`` timed calls of every operation, ``chunk`` at a time, interleaved.

    Every chunk runs every operation once, in an order that rotates from chunk to chunk (and
    from round to round) and is reversed every other chunk. ``on_chunk(k)`` is called after
    each chunk with the number of calls made per operation; ``around(name, run)`` may wrap the
    timed calls of one operation in a chunk (to read counters before and after, outside the
    timing). Returns the samples in nanoseconds per operation name.
    """
    chunk = max(1, min(chunk, n))
    chunks = math.ceil(n / chunk)
    samples: dict[str, list[int]] = {name: [] for name, _, _ in ops}
    gc.collect()
    for c in range(chunks):
        k = min(chunk, n - c * chunk)
        shift = (rnd * chunks + c) % len(ops)
        order = list(ops[shift:]) + list(ops[:shift])
        if (rnd + c) % 2:
            order.reverse()
        for name, _, fn in order:
            if around is None:
                timed(fn, k, samples[name])
            else:

                def run(
                    fn: Callable[[], Any] = fn, k: int = k, sink: list[int] = samples[name]
                ) -> None:
                    timed(fn, k, sink)

                around(name, run)
        if on_chunk is not None:
            on_chunk(k)
    return samples


# -- progress (rich or tqdm if installed; never a background refresh thread while timing) ----


class Progress:
    def __init__(self, total: int, rounds: int, unit: str = "op") -> None:
        self.rounds = rounds
        self._kind = "plain"
        self._rich: Any = None
        self._tqdm: Any = None
        if sys.stderr.isatty() and importlib.util.find_spec("rich") is not None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                auto_refresh=False,  # no refresh thread competing for the GIL while timing
                transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task("measuring", total=total)
            self._kind = "rich"
        elif sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None:
            import tqdm

            tqdm.tqdm.monitor_interval = 0  # no monitor thread
            self._tqdm = tqdm.tqdm(total=total, file=sys.stderr, unit=unit, mininterval=0.5)
            self._kind = "tqdm"

    @property
    def is_bar(self) -> bool:
        """True when a rich or tqdm bar is shown (plain mode prints lines only)."""
        return self._kind != "plain"

    def advance(self, k: int, description: str) -> None:
        if self._kind == "rich":
            self._rich.update(self._task, advance=k, description=description)
            self._rich.refresh()
        elif self._kind == "tqdm":
            self._tqdm.set_description(description, refresh=False)
            self._tqdm.update(k)

    def line(self, text: str) -> None:
        if self._kind == "rich":
            self._rich.console.print(text, highlight=False, markup=False)
            self._rich.refresh()
        elif self._kind == "tqdm":
            self._tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._kind == "rich":
            self._rich.stop()
        elif self._kind == "tqdm":
            self._tqdm.close()


# -- environment ------------------------------------------------------------------------------


def environment(rconn: redis.Redis, pconn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Versions and settings of the package, Python, the machine, Redis and Postgres."""
    info = rconn.info("server")
    persistence = rconn.info("persistence")
    pg = pconn.execute(
        "SELECT current_setting('server_version'), current_setting('synchronous_commit'), "
        "current_setting('fsync')"
    ).fetchone()
    assert pg is not None
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:  # pragma: no cover
        HIREDIS_AVAILABLE = False
    return {
        "langmem_tiered": LMT_VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "redis_py": redis.__version__,
        "hiredis_parser": bool(HIREDIS_AVAILABLE),
        "redis_server": info.get("redis_version"),
        "redis_aof": bool(persistence.get("aof_enabled")),
        "psycopg": psycopg.__version__,
        "libpq": psycopg.pq.version(),
        "postgres_server": pg[0],
        "synchronous_commit": pg[1],
        "fsync": pg[2],
    }


def environment_lines(env: dict[str, Any], postgres_label: str) -> list[str]:
    """The two header lines describing :func:`environment`'s result."""
    return [
        f"  langmem_tiered {env['langmem_tiered']} | Python {env['python']} | {env['cpus']} CPUs | "
        f"redis-py {env['redis_py']} (hiredis: {'yes' if env['hiredis_parser'] else 'no'}) | "
        f"psycopg {env['psycopg']} (libpq {env['libpq']})",
        f"  Redis {env['redis_server']} (aof: {'on' if env['redis_aof'] else 'off'}) | "
        f"PostgreSQL {env['postgres_server']} (synchronous_commit={env['synchronous_commit']}, "
        f"fsync={env['fsync']}) at {postgres_label}",
    ]


# -- embedded Postgres ----------------------------------------------------------------------------


def start_embedded_postgres() -> tuple[str, str]:
    """Start an embedded PostgreSQL in a new temporary folder; return ``(url, folder)``."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")  # XDG_RUNTIME_DIR notice on import
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    from langmem_tiered.store.embedded import start_embedded

    folder = tempfile.mkdtemp(prefix="lmt-bench-pg-")
    # Registered before the server's own atexit hook, so it runs after the server has stopped.
    atexit.register(shutil.rmtree, folder, True)
    return start_embedded(folder), folder


def stop_embedded_postgres(folder: str) -> list[str]:
    """Stop the server started by :func:`start_embedded_postgres` and remove its folder now.

    The ``atexit`` hooks remain as a fallback (both are no-ops once this has run).
    """
    from langmem_tiered.store import embedded

    stop = getattr(embedded, "stop_embedded", None)  # absent in older versions of the package
    if stop is None:
        return []
    try:
        stopped = stop(folder)
    except Exception as exc:  # noqa: BLE001 - report, the atexit hooks still run
        return [f"stopping the embedded server in {folder}: {exc}"]
    if stopped:
        shutil.rmtree(folder, ignore_errors=True)
    return []


# -- cleanup --------------------------------------------------------------------------------------


def drop_schemas(postgres_url: str, schemas: Sequence[str]) -> list[str]:
    """``DROP SCHEMA IF EXISTS ... CASCADE`` each schema; returns problems instead of raising."""
    if not schemas:
        return []
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except psycopg.Error as exc:
        return [f"dropping schemas {list(schemas)}: {exc}"]
    return []


def delete_redis_keys(client: redis.Redis | None, redis_url: str, prefix: str) -> list[str]:
    """Delete every key ``prefix:*`` (with ``client``, or a new one to ``redis_url``) and close
    the client; returns problems instead of raising."""
    try:
        client = client or redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError as exc:
        return [f"deleting Redis keys {prefix}:*: {exc}"]
    return []
