#!/usr/bin/env python
"""What the OpenTelemetry instrumentation costs on the cheapest operation, ``recent(20)``.

Times ``Session.recent(20)`` (every call a hot hit, on a session of 50 messages) with:

* ``plain``: not instrumented: the engine's own method (also what runs when OpenTelemetry is
  not installed, since then nothing is wrapped);
* ``api no-op``: instrumented with the API's global providers and no SDK configured (the
  default of an application that installs ``langmem-tiered[otel]`` but sets up nothing);
* ``NoOp providers``: instrumented with ``NoOpTracerProvider`` / ``NoOpMeterProvider``;
* ``sdk (reference)``: instrumented with an SDK ``TracerProvider`` (no processor: spans are
  recorded and dropped) and an SDK ``MeterProvider`` with an in-memory reader; only when
  ``opentelemetry-sdk`` is installed.

on two hot tiers: the in-process tier as sole writer (``exclusive=True``: no Postgres round trip,
the fastest ``recent`` there is, so the largest relative overhead) and Redis. Every variant runs
the same call on the same session; the instrumentation is switched before each chunk of calls,
outside the timing (``_common.interleaved_round``'s ``around`` hook), so the variants are
interleaved and share the machine's noise. Reported: p50/p99 per variant (median over rounds),
and each instrumented variant's p50 over ``plain``'s, from the medians and per round. It
measures; it does not test (always exits 0).

Usage::

    .venv/bin/python benchmarks/bench_observability.py                # 5 rounds x 2000 calls
    .venv/bin/python benchmarks/bench_observability.py --n 500 --rounds 3 --json /tmp/obs.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from _common import (
    OpResult,
    delete_redis_keys,
    drop_schemas,
    environment,
    environment_lines,
    interleaved_round,
    latency_table,
    start_embedded_postgres,
    stop_embedded_postgres,
)

from langmem_tiered import InProcessTier, TieredMemory
from langmem_tiered.observability import LangmemInstrumentor

RECENT_N = 20
WINDOW = 50


def variants() -> dict[str, dict[str, Any] | None]:
    """Instrumentation options of each variant (None: not instrumented)."""
    from opentelemetry import metrics, trace

    out: dict[str, dict[str, Any] | None] = {
        "plain": None,
        "api no-op": {},
        "NoOp providers": {
            "tracer_provider": trace.NoOpTracerProvider(),
            "meter_provider": metrics.NoOpMeterProvider(),
        },
    }
    if importlib.util.find_spec("opentelemetry.sdk") is not None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        out["sdk (reference)"] = {
            "tracer_provider": TracerProvider(),
            "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()]),
        }
    return out


def switch(options: dict[str, Any] | None) -> None:
    instrumentor = LangmemInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    if options is not None:
        instrumentor.instrument(**options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="calls per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--postgres-url", default=os.environ.get("LANGMEM_BENCH_POSTGRES_URL"))
    parser.add_argument(
        "--redis-url", default=os.environ.get("LANGMEM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    folder = None
    if args.postgres_url:
        postgres_url, label = args.postgres_url, "the given URL"
    else:
        postgres_url, folder = start_embedded_postgres()
        label = "an embedded server"
    run = uuid.uuid4().hex[:10]
    schemas = [f"bench_{run}_obs_inproc", f"bench_{run}_obs_redis"]
    prefix = f"lmt-bench-{run}"
    options = {"summarize": False, "extract_facts": False, "recall": False}
    memories = {
        "inprocess": TieredMemory.connect(
            postgres_url=postgres_url,
            schema=schemas[0],
            hot_tier=InProcessTier(window_size=WINDOW, exclusive=True),
            **options,
        ),
        "redis": TieredMemory.connect(
            postgres_url=postgres_url,
            redis_url=args.redis_url,
            schema=schemas[1],
            redis_prefix=prefix,
            window_size=WINDOW,
            **options,
        ),
    }
    rconn = redis.Redis.from_url(args.redis_url)
    try:
        with psycopg.connect(postgres_url) as pconn:
            env = environment(rconn, pconn)
        sessions = {}
        for tier, mem in memories.items():
            s = mem.session("acme", "user", "read")
            s.add_messages(
                [{"role": "user", "content": f"message {i} " * 20} for i in range(WINDOW)]
            )
            sessions[tier] = s
        configs = variants()
        ops: list[tuple[str, str, Callable[[], Any]]] = []
        for tier, s in sessions.items():
            for variant in configs:
                ops.append(
                    (
                        f"{tier}|{variant}",
                        f"recent(20) [{tier}] {variant}",
                        lambda s=s: s.recent(RECENT_N),
                    )
                )

        def around(name: str, run_chunk: Callable[[], None]) -> None:
            switch(configs[name.split("|", 1)[1]])
            run_chunk()

        for name, _, fn in ops:  # warm-up, each variant instrumented as it will be
            switch(configs[name.split("|", 1)[1]])
            for _ in range(args.warmup):
                fn()
        switch(None)
        before = {tier: mem.stats() for tier, mem in memories.items()}
        results = {name: OpResult(name, label_) for name, label_, _ in ops}
        for rnd in range(args.rounds):
            samples = interleaved_round(ops, args.n, args.chunk, rnd, around=around)
            for name in results:
                results[name].add_round(samples[name])
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        switch(None)
        after = {tier: mem.stats() for tier, mem in memories.items()}
    finally:
        switch(None)
        for mem in memories.values():
            mem.close()
        problems = drop_schemas(postgres_url, schemas)
        problems += delete_redis_keys(rconn, args.redis_url, prefix)
        if folder is not None:
            problems += stop_embedded_postgres(folder)

    expected = args.rounds * args.n * len(configs)
    lines = ["langmem_tiered observability overhead: Session.recent(20), every call a hot hit"]
    lines.extend(environment_lines(env, label))
    lines.append(
        f"  {args.rounds} rounds x {args.n} calls per variant (chunks of {args.chunk}, "
        f"interleaved), warm-up {args.warmup}; figures = median over rounds"
    )
    for tier in memories:
        hits = after[tier]["hot_hits"] - before[tier]["hot_hits"]
        misses = after[tier]["hot_misses"] - before[tier]["hot_misses"]
        lines.append(f"  {tier}: {hits} hot hits, {misses} misses of {expected} timed calls")
    lines.append("")
    lines.extend(latency_table(results.values(), decimals=1))
    lines.append("")
    lines.append("p50 ratio to plain (from medians) [per round: median, min-max]; p50 overhead")
    ratios = []
    for tier in memories:
        plain = results[f"{tier}|plain"]
        for variant in configs:
            if variant == "plain":
                continue
            r = results[f"{tier}|{variant}"]
            per_round = [a / b for a, b in zip(r.p50_us, plain.p50_us, strict=True)]
            ratio = r.p50 / plain.p50
            ratios.append(
                {
                    "tier": tier,
                    "variant": variant,
                    "ratio": ratio,
                    "per_round": per_round,
                    "overhead_us": r.p50 - plain.p50,
                }
            )
            lines.append(
                f"  [{tier}] {variant:<16} {ratio:5.3f}x  [{statistics.median(per_round):5.3f}, "
                f"{min(per_round):5.3f}-{max(per_round):5.3f}]  +{r.p50 - plain.p50:5.1f} µs"
            )
    for problem in problems:
        lines.append(f"cleanup problem: {problem}")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "environment": env,
                    "results": {
                        n: {"p50_us": r.p50, "p99_us": r.p99, "rounds_p50_us": r.p50_us}
                        for n, r in results.items()
                    },
                    "ratios": ratios,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
