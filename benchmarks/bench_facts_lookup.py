#!/usr/bin/env python
"""Latency of the current-facts look-ups on a large facts table, against a raw primary-key SELECT.

Loads ``--rows`` fact rows (default 1,000,000) for ``--users`` users (default 10,000) spread
over ``--tenants`` tenants (default 4) straight into ``<schema>.lmt_facts`` with COPY, into a
fresh schema created by ``PostgresStore(url, schema=...).open()`` (so the table and its partial
indexes are exactly the package's migrations). Every user has about ``rows / users`` rows over 12
keys with realistic history: ten single-valued keys (``name``, ``email``, ``preferred_times``,
``doctor``, ``specialty``, ``insurance``, ``appointment_date``, ``appointment_time``, ``city``,
``plan``), each with exactly one current value and, for most of them, several closed versions
(appointments change most, a name hardly ever), and two multi-valued keys (``phones``,
``allergies``: ``multi = true``, 1-3 distinct current values plus retracted ones). Rows go in
in ``created_at`` order, so a user's facts are scattered over the heap as they would be after
months of extraction. Then ``VACUUM (ANALYZE)`` (the state autovacuum keeps the table in) and a
``CHECKPOINT`` (so the look-ups do not pay for writing out the load's dirty pages).

Then measures, interleaved in rounds, with a random user (and key) on every call, p50 and p99 in
microseconds of:

* ``store.current_fact(tenant, user, key)``: the package's path for "the current value of a key";
* ``store.current_facts(tenant, user)``: all current facts of a user;
* the baseline: a raw psycopg primary-key SELECT of one fact row
  (``WHERE tenant_id = %s AND user_id = %s AND fact_id = %s``, prepared);
* the same current-value query (and, for reference, the current-facts query) run raw through
  psycopg, prepared, with no package code: the SQL cost apart from the Python overhead;
* for reference, pieces of that overhead measured alone: a pool check-out + return with no
  query, ``cursor.description`` of an 11-column result (the store reads it on every call), and
  turning one row into a ``Fact``.

The raw queries run on the store pool's own connection (the pool is opened with one
connection; it is handed back to the pool and used directly between store calls), so both sides
talk to the same backend process. That matters on a small VM: a round trip costs ~30 µs when the
client and the backend share a CPU and ~75-95 µs when they do not, and two backends can land on
different CPUs. ``--pin same|cross`` (embedded server only) fixes the placement.

It prints EXPLAIN (ANALYZE, BUFFERS) of the current-value query (as a one-off custom plan and as
the generic plan a prepared statement uses) and checks it is a single probe of the partial unique
index ``lmt_facts_current_single`` (PASS/FAIL), there and on ``--plan-samples`` more random
(user, key) pairs; it also prints the planner's estimated cost of that query with each secondary
index alone (the others dropped in a rolled-back transaction), which shows when two indexes tie.
Then the ratio current_fact p50 / raw PK SELECT p50 against its target (PASS/FAIL). The script
always exits 0 (it measures, it does not test).
Everything it creates (the schema, the embedded server and its temporary folder) is removed.

Usage::

    .venv/bin/python benchmarks/bench_facts_lookup.py                       # 1M rows, 10k users
    .venv/bin/python benchmarks/bench_facts_lookup.py --rows 100000 --users 1000 --rounds 3
    .venv/bin/python benchmarks/bench_facts_lookup.py --postgres-url postgresql://u@h/db \
        --json /tmp/facts.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import operator
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
from _common import (
    OpResult,
    Progress,
    drop_schemas,
    interleaved_round,
    latency_table,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from psycopg import sql as pgsql

from langmem_tiered.store import PostgresStore

# The package's own SQL and row conversion, so the raw queries are exactly the store's.
from langmem_tiered.store._pg import (
    _FACT_COLUMNS,
    _SQL_CURRENT_FACT,
    _SQL_CURRENT_FACTS,
    _row_to_fact,
)
from langmem_tiered.version import __version__ as LMT_VERSION

TARGET_CURRENT_FACT = 1.5  # current_fact p50  <=  1.5 x raw primary-key SELECT p50
CURRENT_INDEX = "lmt_facts_current_single"

SINGLE_KEYS = [
    "name",
    "email",
    "preferred_times",
    "doctor",
    "specialty",
    "insurance",
    "appointment_date",
    "appointment_time",
    "city",
    "plan",
]
MULTI_KEYS = ["phones", "allergies"]
# Relative share of a user's closed (past) versions each single-valued key gets.
HISTORY_WEIGHTS = {
    "name": 0.3,
    "email": 1.0,
    "preferred_times": 2.5,
    "doctor": 2.5,
    "specialty": 1.5,
    "insurance": 1.5,
    "appointment_date": 6.0,
    "appointment_time": 6.0,
    "city": 1.0,
    "plan": 1.5,
}
COPY_COLUMNS = (
    "tenant_id, user_id, key, value, multi, valid_at, invalid_at, source_session, "
    "source_seq_from, source_seq_to, confidence, created_at, created_by"
)
SQL_PK = (
    f"SELECT {_FACT_COLUMNS} FROM lmt_facts WHERE tenant_id = %s AND user_id = %s AND fact_id = %s"
)
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()
DAY = 86400.0


# -- data ------------------------------------------------------------------------------------

_FIRST = [
    "Ana", "Maria", "João", "Pedro", "Lucas", "Juliana", "Fernanda", "Carlos", "Mariana", "Rafael",
    "Beatriz", "Gabriel", "Camila", "Bruno", "Larissa", "Diego", "Sofía", "Mateo", "Valentina",
    "Santiago", "Lucía", "Emily", "James", "Olivia", "Michael", "Aline", "Thiago", "Patrícia",
]  # fmt: skip
_LAST = [
    "Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Rodrigues", "Almeida",
    "Nascimento", "Ferreira", "Carvalho", "Gomes", "Martins", "Rocha", "García", "Fernández",
    "López", "Martínez", "González", "Smith", "Johnson", "Brown", "Ribeiro", "Barbosa",
]  # fmt: skip
_DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "icloud.com"]
_TIMES = [
    "morning", "afternoon", "evening", "early morning", "late afternoon", "weekday mornings",
    "saturday morning", "after 18:00", "lunch time",
]  # fmt: skip
_SPECIALTIES = [
    "cardiologia", "dermatologia", "pediatria", "ortopedia", "ginecologia", "oftalmologia",
    "neurologia", "endocrinologia", "psiquiatria", "clínica geral", "urologia",
    "gastroenterologia", "otorrinolaringologia", "reumatologia",
]  # fmt: skip
_INSURANCE = [
    "Unimed", "Bradesco Saúde", "SulAmérica", "Amil", "Hapvida", "NotreDame Intermédica",
    "Porto Seguro Saúde", "Golden Cross", "Sanitas", "particular",
]  # fmt: skip
_CITIES = [
    "São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre", "Salvador",
    "Recife", "Fortaleza", "Brasília", "Campinas", "Florianópolis", "Goiânia", "Madrid",
    "Buenos Aires", "Lisboa", "Ciudad de México", "Bogotá",
]  # fmt: skip
_ALLERGIES = [
    "penicilina", "dipirona", "lactose", "amendoim", "frutos do mar", "látex", "ibuprofeno",
    "glúten", "sulfa", "pólen", "ácaros", "aspirina",
]  # fmt: skip
_PLANS = [
    {"tier": t, "billing": b}
    for t in ("basic", "standard", "premium", "enterprise")
    for b in ("monthly", "yearly")
]
_SLOTS = [f"{h:02d}:{m:02d}" for h in range(7, 20) for m in (0, 30)]
_CREATORS = ["rules"] * 6 + ["llm:gpt-4o-mini"] * 3 + ["api"]


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_J_TIMES = [_j(v) for v in _TIMES]
_J_SPECIALTIES = [_j(v) for v in _SPECIALTIES]
_J_INSURANCE = [_j(v) for v in _INSURANCE]
_J_CITIES = [_j(v) for v in _CITIES]
_J_ALLERGIES = [_j(v) for v in _ALLERGIES]
_J_PLANS = [_j(v) for v in _PLANS]
_J_SLOTS = [_j(v) for v in _SLOTS]
_J_DOCTORS = [
    _j(f"{'Dra.' if i % 2 else 'Dr.'} {f} {ln}")
    for i, (f, ln) in enumerate(itertools.product(_FIRST[:14], _LAST[:12]))
]


def _ascii_slug(text: str) -> str:
    table = str.maketrans("áàâãéêíóôõúçñÁÉÍÓÚÇ", "aaaaeeiooouncAEIOUC")
    return text.translate(table).lower().replace(" ", ".")


def _phone(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.85:  # Brazilian mobile, E.164
        return f"+55{rng.randint(11, 99)}9{rng.randint(10_000_000, 99_999_999)}"
    if r < 0.95:  # Spain / Argentina / Mexico
        return rng.choice(["+34", "+549", "+52"]) + str(rng.randint(100_000_000, 999_999_999))
    return f"+1{rng.randint(200, 999)}{rng.randint(1_000_000, 9_999_999)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def user_facts(
    rng: random.Random, tenant: str, user: str, n_rows: int
) -> tuple[list[tuple[Any, ...]], int]:
    """``n_rows`` fact rows of one user; returns ``(rows, current_count)``.

    Each row is ``(created_at epoch, *COPY_COLUMNS values)``; strings already in COPY's text form.
    """
    rows: list[tuple[Any, ...]] = []
    start = NOW - rng.uniform(60, 1000) * DAY  # first contact
    span = NOW - start
    sessions = rng.randint(3, 40)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    slug = _ascii_slug(f"{first} {last}")
    names = [_j(f"{first} {last}"), _j(f"{first} {rng.choice(_LAST)} {last}"), _j(first)]
    emails = [
        _j(f"{slug}{rng.choice(['', str(rng.randint(1, 99))])}@{d}")
        for d in rng.sample(_DOMAINS, 3)
    ]

    def values(key: str) -> list[str]:
        if key == "name":
            return names
        if key == "email":
            return emails
        if key == "preferred_times":
            return _J_TIMES
        if key == "doctor":
            return _J_DOCTORS
        if key == "specialty":
            return _J_SPECIALTIES
        if key == "insurance":
            return _J_INSURANCE
        if key == "appointment_time":
            return _J_SLOTS
        if key == "city":
            return _J_CITIES
        if key == "plan":
            return _J_PLANS
        raise AssertionError(key)

    def provenance() -> tuple[str | None, int | None, int | None, float, str]:
        by = rng.choice(_CREATORS)
        if by == "api":
            return None, None, None, 1.0, by
        s = rng.randint(1, sessions)
        seq = rng.randint(1, 120)
        conf = 1.0 if by == "rules" else round(rng.uniform(0.6, 0.99), 2)
        return f"{user}/s{s:03d}", seq, seq + rng.randint(0, 3), conf, by

    def add(key: str, value: str, multi: bool, valid: float, invalid: float | None) -> None:
        session, seq_from, seq_to, conf, by = provenance()
        created = valid + rng.uniform(2, 900)  # extraction runs shortly after the message
        rows.append(
            (
                created,
                tenant,
                user,
                key,
                value,
                multi,
                _iso(valid),
                None if invalid is None else _iso(invalid),
                session,
                seq_from,
                seq_to,
                conf,
                _iso(created),
                by,
            )
        )

    # Multi-valued keys: 1-3 distinct current values each, plus values retracted earlier.
    multi_plan: list[tuple[str, list[str], int, int]] = []
    for key, candidates in (
        ("phones", [_j(_phone(rng)) for _ in range(8)]),
        ("allergies", rng.sample(_J_ALLERGIES, 8)),
    ):
        pool = list(dict.fromkeys(candidates))
        multi_plan.append((key, pool, rng.choice([1, 1, 2, 2, 3]), rng.randint(0, 3)))
    n_multi = sum(c + d for _, _, c, d in multi_plan)
    closed = n_rows - len(SINGLE_KEYS) - n_multi
    while closed < 0:  # small --rows per user: drop retracted multi values first
        for i, (mkey, mpool, c, d) in enumerate(multi_plan):
            if closed < 0 and d > 0:
                multi_plan[i] = (mkey, mpool, c, d - 1)
                closed += 1
        if closed < 0 and all(d == 0 for *_, d in multi_plan):
            raise AssertionError("too few rows per user")
    for key, pool, current, retracted in multi_plan:
        for v in pool[:current]:
            add(key, v, True, start + rng.uniform(0, span), None)
        for _ in range(retracted):
            valid = start + rng.uniform(0, span * 0.9)
            add(key, rng.choice(pool), True, valid, valid + rng.uniform(0.01, 1.0) * (NOW - valid))

    # Single-valued keys: one current value each, closed versions shared out by weight.
    versions = dict.fromkeys(SINGLE_KEYS, 1)
    for key in rng.choices(SINGLE_KEYS, [HISTORY_WEIGHTS[k] for k in SINGLE_KEYS], k=closed):
        versions[key] += 1
    for key, n in versions.items():
        times = sorted(start + rng.uniform(0, span) for _ in range(n))
        prev = None
        for i, valid in enumerate(times):
            if key == "appointment_date":
                day = date.fromtimestamp(valid) + timedelta(days=rng.randint(1, 45))
                value = _j(day.isoformat())
            else:
                pool = values(key)
                value = rng.choice(pool)
                while value == prev and len(pool) > 1:
                    value = rng.choice(pool)
            prev = value
            add(key, value, False, valid, times[i + 1] if i + 1 < n else None)
    return rows, len(SINGLE_KEYS) + sum(c for _, _, c, _ in multi_plan)


# -- helpers -----------------------------------------------------------------------------------


def pg_environment(pconn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Versions and settings of the package, Python, the machine and Postgres (no Redis here)."""
    names = (
        "server_version",
        "synchronous_commit",
        "fsync",
        "shared_buffers",
        "effective_cache_size",
        "random_page_cost",
        "jit",
    )
    row = pconn.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchone()
    assert row is not None
    env = dict(zip(names, row, strict=True))
    return {
        "langmem_tiered": LMT_VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "psycopg": psycopg.__version__,
        "psycopg_impl": psycopg.pq.__impl__,
        "libpq": psycopg.pq.version(),
        "postgres_server": env.pop("server_version"),
        **env,
    }


class Ticker:
    """Load progress: the rich/tqdm bar of :class:`Progress`, else a line every 10 %."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.done, self.next_pct = total, what, 0, 10
        self.progress = Progress(total=total, rounds=1, unit="row")
        self.t0 = time.perf_counter()

    def advance(self, k: int) -> None:
        self.done += k
        self.progress.advance(k, self.what)
        if not self.progress.is_bar and self.done * 100 >= self.next_pct * self.total:
            pct = self.done * 100 // self.total
            self.progress.line(
                f"{self.what}: {self.done:,}/{self.total:,} rows ({pct}%, "
                f"{time.perf_counter() - self.t0:.1f} s)"
            )
            self.next_pct = pct // 10 * 10 + 10

    def close(self) -> float:
        self.progress.close()
        return time.perf_counter() - self.t0


def explain(
    conn: psycopg.Connection[Any], sql: str, params: Any, *, generic: bool
) -> tuple[str, dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of ``sql``: text and JSON plans.

    ``generic=False``: planned for these parameter values (what a one-off execution gets).
    ``generic=True``: the generic plan of a prepared statement (what psycopg's automatic
    server-side preparation gets once Postgres switches to it), through PREPARE + EXECUTE with
    ``plan_cache_mode = force_generic_plan``.
    """
    opts = "ANALYZE, BUFFERS, VERBOSE false"
    if not generic:
        text = "\n".join(r[0] for r in conn.execute(f"EXPLAIN ({opts}) {sql}", params))
        js = conn.execute(f"EXPLAIN ({opts}, FORMAT JSON) {sql}", params).fetchone()
        assert js is not None
        return text, js[0][0]
    names = list(params)
    positional = sql
    for i, name in enumerate(names, 1):
        positional = positional.replace(f"%({name})s", f"${i}")
    args = ", ".join("text" for _ in names)
    stmt = f"lmt_bench_{uuid.uuid4().hex[:8]}"
    values = pgsql.SQL(", ").join(pgsql.Literal(params[n]) for n in names).as_string(conn)
    with conn.transaction():
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE {stmt} ({args}) AS {positional}")
        text = "\n".join(r[0] for r in conn.execute(f"EXPLAIN ({opts}) EXECUTE {stmt}({values})"))
        js = conn.execute(f"EXPLAIN ({opts}, FORMAT JSON) EXECUTE {stmt}({values})").fetchone()
        conn.execute(f"DEALLOCATE {stmt}")
    assert js is not None
    return text, js[0][0]


def candidate_costs(
    conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The planner's estimate for ``sql`` when only one secondary index of lmt_facts exists.

    For each non-primary-key index, every other one is dropped in a transaction that is rolled
    back, and the plan's top node and total cost are recorded: two usable indexes with equal
    costs are a tie the planner breaks arbitrarily.
    """
    names = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'lmt_facts'::regclass AND NOT i.indisprimary ORDER BY c.relname"
        )
    ]
    out = []
    for keep in names:
        with conn.transaction():
            for other in names:
                if other != keep:
                    conn.execute(f"DROP INDEX {other}")
            row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
            assert row is not None
            plan = row[0][0]["Plan"]
            out.append(
                {
                    "index": keep,
                    "plan_node": plan["Node Type"],
                    "plan_index": plan.get("Index Name"),
                    "total_cost": plan["Total Cost"],
                    "filter": plan.get("Filter"),
                }
            )
            raise psycopg.Rollback()
    return out


def probe_verdict(plan_json: dict[str, Any], index: str) -> tuple[bool, str]:
    """Is this plan one probe of ``index``? Returns (ok, why)."""
    node = plan_json["Plan"]
    kind, name = node.get("Node Type"), node.get("Index Name")
    loops = node.get("Actual Loops")
    searches = node.get("Index Searches")  # PostgreSQL 18+
    problems = []
    if kind != "Index Scan":
        problems.append(f"top node is {kind}, not Index Scan")
    if name != index:
        problems.append(f"index is {name}, not {index}")
    if node.get("Plans"):
        problems.append(f"{len(node['Plans'])} child node(s)")
    if loops != 1:
        problems.append(f"{loops} loops")
    if searches is not None and searches != 1:
        problems.append(f"{searches} index searches")
    if node.get("Filter"):
        problems.append(f"a filter on top of the index: {node['Filter']}")
    desc = (
        f"{kind} using {name}, loops {loops}, index searches "
        f"{'n/a (PostgreSQL < 18)' if searches is None else searches}, "
        f"rows {node.get('Actual Rows')}"
    )
    if problems:
        return False, desc + "; " + "; ".join(problems)
    return True, desc


# -- the benchmark -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, postgres_url: str) -> None:
        self.args = args
        self.postgres_url = postgres_url
        self.schema = f"bench_{uuid.uuid4().hex[:10]}_facts"
        self.store: PostgresStore | None = None
        self.pconn: psycopg.Connection[Any] | None = None  # loading, sizes, environment
        self.shared: psycopg.Connection[Any] | None = None  # the store pool's one connection
        self.backend_pid = 0
        self.pinning = "none"
        self._cpus = os.sched_getaffinity(0)
        self.created_schemas: list[str] = []
        self.users: list[tuple[str, str]] = []  # (tenant, user)
        self.current_counts: dict[tuple[str, str], int] = {}
        self.load: dict[str, Any] = {}

    def connect_raw(self) -> psycopg.Connection[Any]:
        """A connection like the store pool's: autocommit, same search_path and time zone."""
        return psycopg.connect(
            self.postgres_url,
            autocommit=True,
            options=f"-c search_path={self.schema},public -c timezone=UTC",
        )

    # setup ------------------------------------------------------------------------------

    def setup(self) -> None:
        self.created_schemas = [self.schema]
        # One connection in the pool (single-threaded use never opens a second one anyway): the
        # raw queries run on that same connection, so both sides talk to the same backend
        # process. Two backends may sit on different CPUs, and on a small VM a round trip
        # between CPUs costs two to three times one within a CPU.
        self.store = PostgresStore(self.postgres_url, schema=self.schema, min_size=1, max_size=1)
        self.store.open()  # creates the schema and applies the migrations
        pool = self.store._pool  # noqa: SLF001
        self.shared = pool.getconn()
        pool.putconn(self.shared)  # back in the pool; used directly only between store calls
        row = self.shared.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.backend_pid = int(row[0])
        self.pconn = self.connect_raw()
        self.generate_and_copy()

    def generate_and_copy(self) -> None:
        args = self.args
        rng = random.Random(args.seed)
        tenants = [f"tenant-{chr(ord('a') + i)}" for i in range(args.tenants)]
        weights = [args.tenants - i for i in range(args.tenants)]  # uneven tenant sizes
        base, extra = divmod(args.rows, args.users)
        bonus = set(rng.sample(range(args.users), extra))
        rows: list[tuple[Any, ...]] = []
        tick = Ticker(args.rows, "generating facts")
        for i in range(args.users):
            tenant = rng.choices(tenants, weights)[0]
            user = f"user-{i:06d}"
            urows, current = user_facts(rng, tenant, user, base + (i in bonus))
            rows.extend(urows)
            self.users.append((tenant, user))
            self.current_counts[(tenant, user)] = current
            tick.advance(len(urows))
        gen_s = tick.close()
        assert len(rows) == args.rows
        rows.sort(key=operator.itemgetter(0))  # insertion in created_at order

        assert self.pconn is not None
        tick = Ticker(args.rows, "COPY into lmt_facts")
        batch = 20_000
        with self.pconn.transaction(), self.pconn.cursor() as cur:
            with cur.copy(f"COPY lmt_facts ({COPY_COLUMNS}) FROM STDIN") as copy:
                for start in range(0, len(rows), batch):
                    for row in rows[start : start + batch]:
                        copy.write_row(row[1:])
                    tick.advance(min(batch, len(rows) - start))
        copy_s = tick.close()
        del rows
        print("VACUUM (ANALYZE) lmt_facts...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        self.pconn.execute("VACUUM (ANALYZE) lmt_facts")
        vacuum_s = time.perf_counter() - t0
        # Write the load's dirty pages out now: otherwise the measured look-ups pay for it when
        # they evict them from shared_buffers (a WAL flush and a write per page).
        try:
            self.pconn.execute("CHECKPOINT")
            checkpoint = "CHECKPOINT done"
        except psycopg.Error as exc:  # needs superuser or pg_checkpoint
            checkpoint = f"no CHECKPOINT ({type(exc).__name__}): look-ups may write dirty pages"

        stats = self.pconn.execute(
            "SELECT count(*), count(DISTINCT (tenant_id, user_id)), count(DISTINCT tenant_id), "
            "count(*) FILTER (WHERE invalid_at IS NULL), "
            "count(*) FILTER (WHERE invalid_at IS NULL AND NOT multi), "
            "count(*) FILTER (WHERE multi) FROM lmt_facts"
        ).fetchone()
        assert stats is not None
        sizes = self.pconn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND (c.relname = 'lmt_facts' OR c.oid IN "
            "(SELECT indexrelid FROM pg_index WHERE indrelid = 'lmt_facts'::regclass)) "
            "ORDER BY c.relname = 'lmt_facts' DESC, c.relname",
            [self.schema],
        ).fetchall()
        per_tenant = self.pconn.execute(
            "SELECT tenant_id, count(DISTINCT user_id) FROM lmt_facts GROUP BY 1 ORDER BY 1"
        ).fetchall()
        self.load = {
            "generate_s": gen_s,
            "copy_s": copy_s,
            "vacuum_analyze_s": vacuum_s,
            "checkpoint": checkpoint,
            "rows": stats[0],
            "users": stats[1],
            "tenants": stats[2],
            "current_rows": stats[3],
            "current_single_rows": stats[4],
            "multi_rows": stats[5],
            "relation_bytes": {name: size for name, size in sizes},
            "users_per_tenant": {t: n for t, n in per_tenant},
        }

    # operations -----------------------------------------------------------------------------

    def operations(self) -> list[tuple[str, str, Callable[[], Any]]]:
        assert self.store is not None and self.pconn is not None and self.shared is not None
        args = self.args
        store, cur = self.store, self.shared.cursor()
        need = args.warmup + args.rounds * args.n
        users = self.users

        def stream(tag: int, with_key: bool) -> Iterator[tuple[str, ...]]:
            rng = random.Random(args.seed * 1000 + tag)  # each operation its own random calls
            picks = []
            for _ in range(need):
                t, u = rng.choice(users)
                picks.append((t, u, rng.choice(SINGLE_KEYS)) if with_key else (t, u))
            return itertools.cycle(picks)

        # Primary keys of random rows (current and closed alike).
        self.pconn.execute("SELECT setseed(%s)", [((args.seed % 1000) / 1000.0)])
        pk_rows = self.pconn.execute(
            "SELECT tenant_id, user_id, fact_id FROM lmt_facts ORDER BY random() LIMIT %s",
            [need],
        ).fetchall()
        pk_it = itertools.cycle(pk_rows)

        sql_pk = SQL_PK
        it_cf, it_raw_cf = stream(1, True), stream(2, True)
        it_cfs, it_raw_cfs = stream(3, False), stream(4, False)

        def current_fact() -> Any:
            t, u, k = next(it_cf)
            return store.current_fact(t, u, k)

        def raw_current() -> Any:
            t, u, k = next(it_raw_cf)
            cur.execute(_SQL_CURRENT_FACT, {"t": t, "u": u, "key": k}, prepare=True)
            return cur.fetchall()

        def raw_pk() -> Any:
            cur.execute(sql_pk, next(pk_it), prepare=True)
            return cur.fetchone()

        def current_facts() -> Any:
            t, u = next(it_cfs)
            return store.current_facts(t, u)

        def raw_current_all() -> Any:
            t, u = next(it_raw_cfs)
            cur.execute(_SQL_CURRENT_FACTS, {"t": t, "u": u}, prepare=True)
            return cur.fetchall()

        pool = store._pool  # noqa: SLF001 - reference measurement of the pool alone

        def pool_checkout() -> Any:
            with pool.connection() as conn:
                return conn

        t0, u0 = users[0]
        sample_row = cur.execute(_SQL_CURRENT_FACT, {"t": t0, "u": u0, "key": "plan"}).fetchall()[0]
        desc_cur = self.pconn.cursor()  # holds an 11-column result, like the store's cursors
        desc_cur.execute(_SQL_CURRENT_FACT, {"t": t0, "u": u0, "key": "plan"})

        def description() -> Any:
            return desc_cur.description

        def to_fact() -> Any:
            return _row_to_fact(sample_row)

        return [
            ("current_fact", "store.current_fact(t, u, key)", current_fact),
            ("raw_current", "raw psycopg: current-value query", raw_current),
            ("raw_pk", "raw psycopg: PK SELECT (baseline)", raw_pk),
            ("current_facts", "store.current_facts(t, u)", current_facts),
            ("raw_current_all", "raw psycopg: current-facts query (ref.)", raw_current_all),
            ("pool_checkout", "pool check-out + return, no query (ref.)", pool_checkout),
            ("description", "cursor.description, 11 columns (ref.)", description),
            ("row_to_fact", "one row -> Fact (ref.)", to_fact),
        ]

    # checks ---------------------------------------------------------------------------------

    def check_results(self) -> list[str]:
        """The measured calls return what the data says; returns problems."""
        assert self.store is not None
        rng = random.Random(self.args.seed + 7)
        problems = []
        for t, u in rng.sample(self.users, min(200, len(self.users))):
            facts = self.store.current_facts(t, u)
            if len(facts) != self.current_counts[(t, u)]:
                problems.append(
                    f"current_facts({t}, {u}): {len(facts)} facts, expected "
                    f"{self.current_counts[(t, u)]}"
                )
            key = rng.choice(SINGLE_KEYS)
            fact = self.store.current_fact(t, u, key)
            if fact is None or fact.key != key or fact.invalid_at is not None:
                problems.append(f"current_fact({t}, {u}, {key}) returned {fact!r}")
        return problems

    def plans(self) -> dict[str, Any]:
        assert self.pconn is not None
        rng = random.Random(self.args.seed + 11)
        t, u = rng.choice(self.users)
        key = rng.choice(SINGLE_KEYS)
        params = {"t": t, "u": u, "key": key}
        out: dict[str, Any] = {"params": params}
        # Fresh connection: no statement prepared yet, nothing cached in the backend.
        with self.connect_raw() as conn:
            for generic in (False, True):
                text, js = explain(conn, _SQL_CURRENT_FACT, params, generic=generic)
                ok, why = probe_verdict(js, CURRENT_INDEX)
                out["generic" if generic else "custom"] = {"text": text, "ok": ok, "why": why}
            text, _ = explain(conn, _SQL_CURRENT_FACTS, {"t": t, "u": u}, generic=False)
            out["current_facts"] = {"text": text}
            fid = conn.execute(
                "SELECT fact_id FROM lmt_facts WHERE tenant_id = %s AND user_id = %s LIMIT 1",
                [t, u],
            ).fetchone()
            assert fid is not None
            pk_sql = SQL_PK.replace("%s", "%({})s").format("t", "u", "id")
            text, js = explain(conn, pk_sql, {"t": t, "u": u, "id": fid[0]}, generic=False)
            ok, why = probe_verdict(js, "lmt_facts_pkey")
            out["pk"] = {"text": text, "ok": ok, "why": why}

            # The same check on more random (user, key) pairs, custom and generic plans.
            survey: dict[str, dict[str, int]] = {"custom": {}, "generic": {}}
            bad: list[str] = []
            for _ in range(self.args.plan_samples):
                tt, uu = rng.choice(self.users)
                kk = rng.choice(SINGLE_KEYS)
                for generic in (False, True):
                    _, js = explain(
                        conn, _SQL_CURRENT_FACT, {"t": tt, "u": uu, "key": kk}, generic=generic
                    )
                    ok, why = probe_verdict(js, CURRENT_INDEX)
                    kind = "generic" if generic else "custom"
                    index = str(js["Plan"].get("Index Name") or js["Plan"]["Node Type"])
                    survey[kind][index] = survey[kind].get(index, 0) + 1
                    if not ok and len(bad) < 3:
                        bad.append(f"{kind} plan for ({tt}, {uu}, {kk}): {why}")
            out["survey"] = survey
            out["survey_ok"] = all(
                set(counts) <= {CURRENT_INDEX} and not bad for counts in survey.values()
            )
            out["survey_bad"] = bad
            out["candidates"] = candidate_costs(conn, _SQL_CURRENT_FACT, params)
        return out

    # run ------------------------------------------------------------------------------------

    def pin(self) -> None:
        """``--pin same|cross``: the client process and the backend on one CPU, or on two."""
        mode = self.args.pin
        if mode == "none":
            return
        cpus = sorted(os.sched_getaffinity(0))
        if mode == "cross" and len(cpus) < 2:
            self.pinning = f"not pinned: --pin cross needs 2 CPUs, this process may use {cpus}"
            return
        client, server = cpus[0], cpus[0] if mode == "same" else cpus[1]
        try:
            with open(f"/proc/{self.backend_pid}/comm", encoding="ascii") as fh:
                if not fh.read().startswith("postgres"):
                    raise OSError(f"process {self.backend_pid} is not a postgres backend")
            os.sched_setaffinity(self.backend_pid, {server})
            os.sched_setaffinity(0, {client})
        except OSError as exc:
            self.pinning = f"not pinned ({exc})"
            return
        self.pinning = f"client on CPU {client}, backend {self.backend_pid} on CPU {server}"

    def run(self) -> dict[str, Any]:
        args = self.args
        ops = self.operations()
        self.pin()
        # Warm-up: pool connections, psycopg's automatic server-side preparation (after 5
        # executions), the backends' plan and catalogue caches, some of the table in cache.
        for _, _, fn in ops:
            for _ in range(args.warmup):
                fn()
        problems = self.check_results()

        results = {name: OpResult(name, label) for name, label, _ in ops}
        progress = Progress(total=args.rounds * args.n * len(ops), rounds=args.rounds)
        try:
            for rnd in range(args.rounds):
                desc = f"round {rnd + 1}/{args.rounds}"

                def on_chunk(k: int, desc: str = desc) -> None:
                    progress.advance(k * len(ops), desc)

                samples = interleaved_round(ops, args.n, args.chunk, rnd, on_chunk=on_chunk)
                for name, _, _ in ops:
                    results[name].add_round(samples[name])
                progress.line(
                    f"round {rnd + 1}/{args.rounds}: p50 µs "
                    + ", ".join(f"{n}={results[n].p50_us[-1]:.1f}" for n, _, _ in ops)
                )
        finally:
            progress.close()
            if args.pin != "none":
                os.sched_setaffinity(0, self._cpus)
        assert self.store is not None and self.shared is not None
        stats = self.store._pool.get_stats()  # noqa: SLF001
        row = self.shared.execute("SELECT pg_backend_pid()").fetchone()
        if stats.get("connections_num", 1) != 1 or row is None or row[0] != self.backend_pid:
            problems.append(
                f"the store did not use one connection throughout (pool stats {stats}); the "
                "raw and package figures may come from different backends"
            )
        return {
            "results": results,
            "problems": problems,
            "backend_pid": self.backend_pid,
            "pinning": self.pinning if args.pin != "none" else "left to the scheduler",
        }

    # cleanup ----------------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                problems.append(f"closing the store: {exc}")
        if self.pconn is not None:
            self.pconn.close()
        problems += drop_schemas(self.postgres_url, self.created_schemas)
        return problems


# -- report -------------------------------------------------------------------------------------


def ratio_lines(res: dict[str, OpResult]) -> list[dict[str, Any]]:
    specs = [
        ("current_fact p50 / raw PK SELECT p50", "current_fact", "raw_pk", TARGET_CURRENT_FACT),
        ("raw current-value query p50 / raw PK SELECT p50 (SQL)", "raw_current", "raw_pk", None),
        ("current_fact p50 / raw current-value query p50 (package)", "current_fact", "raw_current",
         None),
        ("current_facts p50 / raw current-facts query p50 (package)", "current_facts",
         "raw_current_all", None),
        ("current_facts p50 / raw PK SELECT p50", "current_facts", "raw_pk", None),
    ]  # fmt: skip
    out = []
    for label, num, den, target in specs:
        value = res[num].p50 / res[den].p50
        rounds = [a / b for a, b in zip(res[num].p50_us, res[den].p50_us, strict=True)]
        out.append(
            {
                "ratio": label,
                "value": value,
                "per_round": rounds,
                "per_round_median": statistics.median(rounds),
                "per_round_min": min(rounds),
                "per_round_max": max(rounds),
                "target": target,
                "verdict": None if target is None else ("PASS" if value <= target else "FAIL"),
            }
        )
    return out


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def render(
    env: dict[str, Any],
    args: argparse.Namespace,
    load: dict[str, Any],
    plans: dict[str, Any],
    run: dict[str, Any],
    ratios: list[dict[str, Any]],
) -> str:
    res: dict[str, OpResult] = run["results"]
    lines = ["langmem_tiered facts look-up benchmark"]
    lines.append(
        f"  langmem_tiered {env['langmem_tiered']} | Python {env['python']} | {env['cpus']} CPUs | "
        f"psycopg {env['psycopg']} ({env['psycopg_impl']}, libpq {env['libpq']})"
    )
    lines.append(
        f"  PostgreSQL {env['postgres_server']} (shared_buffers={env['shared_buffers']}, "
        f"effective_cache_size={env['effective_cache_size']}, random_page_cost="
        f"{env['random_page_cost']}, jit={env['jit']}, synchronous_commit="
        f"{env['synchronous_commit']}, fsync={env['fsync']}) at {args.postgres_label}"
    )
    lines.append(
        f"  data: {load['rows']:,} fact rows, {load['users']:,} users, {load['tenants']} tenants "
        "(users per tenant: "
        + ", ".join(f"{t} {n:,}" for t, n in load["users_per_tenant"].items())
        + ")"
    )
    lines.append(
        f"        current rows {load['current_rows']:,} "
        f"(single-valued {load['current_single_rows']:,}), "
        f"multi-valued rows {load['multi_rows']:,}; keys: {len(SINGLE_KEYS)} single-valued + "
        f"{len(MULTI_KEYS)} multi-valued; heap in created_at order"
    )
    lines.append(
        f"        generated in {load['generate_s']:.1f} s, COPY {load['copy_s']:.1f} s "
        f"({load['rows'] / load['copy_s']:,.0f} rows/s, with the indexes), "
        f"VACUUM (ANALYZE) {load['vacuum_analyze_s']:.1f} s, {load['checkpoint']}"
    )
    lines.append(
        "        sizes: " + ", ".join(f"{n} {_mb(b)}" for n, b in load["relation_bytes"].items())
    )
    lines.append(
        f"  {args.rounds} rounds x {args.n} calls per operation (chunks of {args.chunk}, "
        f"interleaved), warm-up {args.warmup}; random user (and key) every call; "
        "figures = median over rounds"
    )
    lines.append(
        f"  the raw queries run on the store pool's own connection (one backend, pid "
        f"{run['backend_pid']}); CPU placement: {run['pinning']}"
    )
    lines.append("")

    lines.append("current-value query (the SQL of store.current_fact):")
    lines.append(f"  {_SQL_CURRENT_FACT}")
    p = plans["params"]
    for kind, title in (("custom", "planned for the values"), ("generic", "generic plan")):
        lines.append(
            f"EXPLAIN (ANALYZE, BUFFERS), {title}, t={p['t']!r} u={p['u']!r} key={p['key']!r}:"
        )
        lines.extend("  " + ln for ln in plans[kind]["text"].splitlines())
    lines.append("")
    lines.append("EXPLAIN (ANALYZE, BUFFERS) of the current-facts query (reference):")
    lines.extend("  " + ln for ln in plans["current_facts"]["text"].splitlines())
    lines.append("EXPLAIN (ANALYZE, BUFFERS) of the raw PK SELECT (baseline):")
    lines.extend("  " + ln for ln in plans["pk"]["text"].splitlines())
    lines.append("")

    lines.extend(latency_table(res.values(), decimals=1))
    lines.append("")
    if run["problems"]:
        lines.append(f"WARNING: {len(run['problems'])} wrong result(s) in the spot check:")
        lines.extend("  " + x for x in run["problems"][:10])
    else:
        lines.append(
            "spot check: current_facts / current_fact of 200 random users returned exactly the "
            "generated current facts"
        )
    lines.append(
        f"package overhead over the raw query, p50: current_fact "
        f"{res['current_fact'].p50 - res['raw_current'].p50:+.1f} µs, current_facts "
        f"{res['current_facts'].p50 - res['raw_current_all'].p50:+.1f} µs; pieces measured alone: "
        f"pool check-out {res['pool_checkout'].p50:.1f} µs, cursor.description "
        f"{res['description'].p50:.1f} µs, row -> Fact {res['row_to_fact'].p50:.1f} µs per row"
    )
    lines.append("")
    lines.append(
        "ratios (median p50 / median p50; in brackets the same ratio taken within each round: "
        "median, min-max):"
    )
    lw = max(len(q["ratio"]) for q in ratios)
    for q in ratios:
        verdict = (
            f"target <= {q['target']:.1f}  {q['verdict']}"
            if q["target"] is not None
            else "(no target)"
        )
        lines.append(
            f"  {q['ratio']:<{lw}}  {q['value']:5.2f}  "
            f"[{q['per_round_median']:.2f}, {q['per_round_min']:.2f}-{q['per_round_max']:.2f}]  "
            f"{verdict}"
        )
    lines.append("")
    for kind, title in (("custom", "planned for the values"), ("generic", "generic plan")):
        pl = plans[kind]
        lines.append(
            f"one index probe of {CURRENT_INDEX} ({title}): {'PASS' if pl['ok'] else 'FAIL'}  "
            f"[{pl['why']}]"
        )
    survey = plans["survey"]
    lines.append(
        f"the same on {args.plan_samples} more random (user, key) pairs: "
        + "; ".join(
            f"{kind} plans: " + ", ".join(f"{ix} {n}" for ix, n in sorted(counts.items()))
            for kind, counts in survey.items()
        )
        + f"  {'PASS' if plans['survey_ok'] else 'FAIL'}"
    )
    lines.extend("  " + x for x in plans["survey_bad"])
    cands = []
    for c in plans["candidates"]:
        if c["plan_index"] == c["index"]:
            extra = f", Filter: {c['filter']}" if c["filter"] else ""
            cands.append(f"{c['index']} {c['total_cost']:.2f}{extra}")
        else:
            used = c["plan_index"] or c["plan_node"]
            cands.append(f"{c['index']} not usable (-> {used} {c['total_cost']:.2f})")
    lines.append(
        "planner's estimated cost of the current-value query with only one secondary index "
        "left (equal costs = an arbitrary tie-break):"
    )
    lines.append("  " + "; ".join(cands))
    lines.append(
        f"baseline PK SELECT is one probe of lmt_facts_pkey: {'yes' if plans['pk']['ok'] else 'no'}"
        f"  [{plans['pk']['why']}]"
    )
    cf = ratios[0]
    lines.append(
        f"current_fact p50 / raw PK SELECT p50 = {cf['value']:.2f} (target <= "
        f"{TARGET_CURRENT_FACT:.1f}): {cf['verdict']}"
    )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="p50/p99 of current_fact / current_facts on a large facts table against a "
        "raw primary-key SELECT, with the query plans."
    )
    ap.add_argument("--rows", type=int, default=1_000_000, help="fact rows loaded")
    ap.add_argument("--users", type=int, default=10_000, help="users they belong to")
    ap.add_argument("--tenants", type=int, default=4, help="tenants the users are spread over")
    ap.add_argument("--n", type=int, default=2000, help="measured calls per operation per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (figures are medians over them)")
    ap.add_argument("--chunk", type=int, default=50, help="calls per operation before switching")
    ap.add_argument("--warmup", type=int, default=500, help="unmeasured calls per operation first")
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="Postgres to use (default: an embedded server in a temporary folder, removed after)",
    )
    ap.add_argument(
        "--plan-samples",
        type=int,
        default=20,
        help="random (user, key) pairs whose plans are checked besides the one printed",
    )
    ap.add_argument(
        "--pin",
        choices=("none", "same", "cross"),
        default="none",
        help="embedded server only: pin this process and the measured backend to one CPU "
        "(same) or to two (cross); default: leave placement to the scheduler",
    )
    ap.add_argument("--seed", type=int, default=20250601, help="seed of the generated data")
    ap.add_argument("--json", metavar="PATH", default=None, help="also write results as JSON")
    args = ap.parse_args(argv)
    for name in ("rows", "users", "tenants", "n", "rounds", "chunk"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    if args.pin != "none" and args.postgres_url is not None:
        ap.error("--pin works with the embedded server only (its backends are local processes)")
    if args.plan_samples < 0:
        ap.error("--plan-samples must be >= 0")
    if args.warmup < 5:
        ap.error("--warmup must be >= 5 (psycopg prepares statements after 5 executions)")
    if args.rows < 16 * args.users:
        ap.error("--rows must be at least 16 x --users (12 keys with a little history each)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.postgres_url is None:
        print("starting embedded PostgreSQL in a temporary folder...", file=sys.stderr, flush=True)
        url, folder = start_embedded_postgres()
        args.postgres_label = f"embedded ({folder})"
    else:
        url = args.postgres_url
        args.postgres_label = "--postgres-url"

    bench = Bench(args, url)
    try:
        bench.setup()
        assert bench.pconn is not None
        env = pg_environment(bench.pconn)
        print("EXPLAIN (ANALYZE, BUFFERS)...", file=sys.stderr, flush=True)
        plans = bench.plans()
        print("measuring...", file=sys.stderr, flush=True)
        run = bench.run()
    finally:
        problems = bench.cleanup()
        if args.postgres_url is None:
            problems += stop_embedded_postgres(folder)
        for p in problems:
            print(f"cleanup: {p}", file=sys.stderr)

    ratios = ratio_lines(run["results"])
    print(render(env, args, bench.load, plans, run, ratios), flush=True)

    if args.json:
        payload = {
            "environment": env,
            "config": {
                k: getattr(args, k)
                for k in ("rows", "users", "tenants", "n", "rounds", "chunk", "warmup")
                + ("seed", "plan_samples", "pin")
            }
            | {
                "postgres": args.postgres_label,
                "backend_pid": run["backend_pid"],
                "pinning": run["pinning"],
            },
            "load": bench.load,
            "plans": plans,
            "operations": {
                r.name: {
                    "label": r.label,
                    "p50_us": r.p50,
                    "p99_us": r.p99,
                    "p50_us_per_round": r.p50_us,
                    "p99_us_per_round": r.p99_us,
                    "mean_us_per_round": r.mean_us,
                    "samples": r.samples,
                }
                for r in run["results"].values()
            },
            "spot_check_problems": run["problems"],
            "ratios": ratios,
            "verdicts": {
                "one_index_probe": plans["custom"]["ok"]
                and plans["generic"]["ok"]
                and plans["survey_ok"],
                "current_fact_vs_pk": ratios[0]["verdict"],
            },
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, ensure_ascii=False)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
