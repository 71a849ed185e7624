#!/usr/bin/env python
"""Latency of content-cache hits against the raw round trips they are made of, in one run.

Fills ``--entries`` entries (default 2000, ~300-byte JSON values) of one tenant/namespace with
``cache.set``, then measures, interleaved in ``--rounds`` rounds of ``--n`` calls each, with a
random key per call, p50/p99 in microseconds of:

* ``cache.get(key)`` served by the Redis hot tier (the package's hot path);
* ``cache.get(key)`` served by Postgres (the same cache over a memory with the in-process tier,
  which is not the sole writer, so it reads Postgres);
* ``cache.contains_many(keys)`` for 20 keys (one MGET);
* baselines: a raw redis-py ``GET`` of a string key, and a raw psycopg prepared primary-key
  ``SELECT`` of one row of ``lmt_content_cache`` on its own connection.

Prints the table and the ratios package / raw. Usage::

    .venv/bin/python benchmarks/bench_content_cache.py [--redis-url URL] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid

import psycopg
import redis

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    OpResult,
    delete_redis_keys,
    drop_schemas,
    interleaved_round,
    latency_table,
    start_embedded_postgres,
    stop_embedded_postgres,
)

os.environ.setdefault("LANGMEM_EMBEDDER", "none")
from langmem_tiered import TieredMemory, cache_digest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--redis-url", default=os.environ.get("LANGMEM_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    ap.add_argument("--postgres-url", default=os.environ.get("LANGMEM_POSTGRES_URL"))
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    folder = None
    url = args.postgres_url
    if url is None:
        url, folder = start_embedded_postgres()
    schema = "bench_cc_" + uuid.uuid4().hex[:8]
    prefix = "lmt-bench-" + uuid.uuid4().hex[:8]
    rclient = redis.Redis.from_url(args.redis_url)
    hot = TieredMemory.connect(
        postgres_url=url, redis_url=args.redis_url, schema=schema, redis_prefix=prefix
    )
    cold = TieredMemory.connect(postgres_url=url, schema=schema)
    problems: list[str] = []
    try:
        hcache = hot.content_cache("shop", "descriptions")
        pcache = cold.content_cache("shop", "descriptions")
        keys = [f"sku-{i}" for i in range(args.entries)]
        value = {"title": "Red mug", "text": "A red mug, 350 ml, dishwasher safe. " * 6}
        print(f"filling {len(keys)} entries ...", file=sys.stderr)
        for i, key in enumerate(keys):
            hcache.set(key, value, tokens=60)
            rclient.set(f"{prefix}:raw:{key}", b"x" * 300)
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{len(keys)}", file=sys.stderr)
        pconn = psycopg.connect(url, autocommit=True)
        pick = random.Random(7).choice
        raw_sql = (
            f"SELECT value::text, tokens FROM {schema}.lmt_content_cache "
            "WHERE tenant_id = %s AND namespace = %s AND digest = %s"
        )
        digests = {k: cache_digest(k) for k in keys}
        ops = [
            ("hot", "cache.get (Redis hit)", lambda: hcache.get(pick(keys))),
            ("pg", "cache.get (Postgres hit)", lambda: pcache.get(pick(keys))),
            (
                "many",
                "cache.contains_many(20) (Redis)",
                lambda: hcache.contains_many([pick(keys) for _ in range(20)]),
            ),
            ("rget", "raw redis-py GET", lambda: rclient.get(f"{prefix}:raw:{pick(keys)}")),
            (
                "rsel",
                "raw psycopg PK SELECT (prepared)",
                lambda: pconn.execute(
                    raw_sql, ("shop", "descriptions", digests[pick(keys)]), prepare=True
                ).fetchone(),
            ),
        ]
        results = {name: OpResult(name, label) for name, label, _ in ops}
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds} ...", file=sys.stderr)
            for name, ns in interleaved_round(ops, args.n, 100, rnd).items():
                results[name].add_round(ns)
        print("\n".join(latency_table(results.values())))
        r = results
        print()
        print(
            f"Redis hit / raw GET:          p50 {r['hot'].p50 / r['rget'].p50:.2f}x, "
            f"p99 {r['hot'].p99 / r['rget'].p99:.2f}x"
        )
        print(
            f"Postgres hit / raw PK SELECT: p50 {r['pg'].p50 / r['rsel'].p50:.2f}x, "
            f"p99 {r['pg'].p99 / r['rsel'].p99:.2f}x"
        )
        c = hcache.counters()
        print(f"hit rate {c['hit_rate']:.3f}, tokens saved {c['tokens_saved']:,}")
        pconn.close()
    finally:
        hot.close()
        cold.close()
        problems += delete_redis_keys(rclient, args.redis_url, prefix)
        problems += drop_schemas(url, [schema])
        if folder is not None:
            problems += stop_embedded_postgres(folder)
    for p in problems:
        print("cleanup:", p, file=sys.stderr)


if __name__ == "__main__":
    main()
