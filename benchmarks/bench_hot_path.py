#!/usr/bin/env python
"""Latency of the hot path (``add_message``, ``recent(20)``) against the raw client floor.

Measures, in one run and on the same messages (~300-byte Portuguese chat messages with a
little metadata), p50 and p99 in microseconds of:

* ``Session.add_message`` with the Redis hot tier and with the in-process hot tier;
* ``Session.recent(20)`` served from each hot tier (warmed first; every call is checked to be
  a hit through ``memory.stats()["hot_hits"]``);
* the floor under them: a raw redis-py append (one non-transactional pipeline of RPUSH + LTRIM
  + EXPIRE of a JSON message), a raw redis-py read (LRANGE -20 -1 + ``json.loads`` of each
  item), a raw psycopg append (one INSERT of a message row, autocommit) and, for reference, a
  raw psycopg read of the last 20 rows.

All operations are interleaved: each round is cut into chunks and every chunk runs every
operation once (``--chunk`` calls each), in an order that rotates from chunk to chunk, so machine
noise lands on all of them alike. Reported figures are the median over rounds of each round's
p50 / p99. The ratios of the package to the floor are printed with PASS/FAIL against their
targets; the script always exits 0 (it measures, it does not test).

Everything it creates (Postgres schemas, Redis keys, the embedded server's temporary folder)
is removed at the end.

Usage::

    .venv/bin/python benchmarks/bench_hot_path.py                 # 5 rounds x 400 ops
    .venv/bin/python benchmarks/bench_hot_path.py --n 300 --rounds 3 --json /tmp/hot.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
import redis
from _common import (
    OpResult,
    Progress,
    delete_redis_keys,
    drop_schemas,
    environment,
    environment_lines,
    interleaved_round,
    latency_table,
    start_embedded_postgres,
    stop_embedded_postgres,
)

from langmem_tiered import TieredMemory

RECENT_N = 20
WINDOW = 50  # the engine's default window_size; the raw Redis list is trimmed to the same length
TTL_SECONDS = 24 * 3600  # the engine's default hot TTL
TENANT, USER = "acme", "user-42"

TARGET_RECENT = 2.0  # recent(20) on Redis  <=  2.0 x (LRANGE + json.loads)
TARGET_APPEND = 1.5  # add_message on Redis  <=  1.5 x (INSERT+commit + pipeline)


# -- data ----------------------------------------------------------------------------------

_PT_FRAGMENTS = [
    "Olá, boa tarde! Gostaria de saber se o meu pedido já foi enviado",
    "comprei um tênis na sexta-feira e até agora não recebi o código de rastreamento",
    "Claro, posso ajudar com isso. Você poderia me informar o número do pedido?",
    "o número é 4471-2290 e a compra foi feita no cartão de crédito em três parcelas",
    "Obrigado pela paciência. Verifiquei aqui e o pedido está em separação no centro de "
    "distribuição",
    "a previsão de entrega é de cinco a sete dias úteis para a região de São Paulo",
    "Entendi, mas preciso do produto antes do aniversário da minha filha, que é no sábado",
    "Infelizmente não consigo antecipar o envio, mas posso oferecer a troca por frete expresso",
    "quanto custaria o frete expresso? Não quero pagar mais do que já paguei",
    "Como compensação pelo atraso, o frete expresso fica por nossa conta, sem custo adicional",
    "Perfeito, muito obrigada! Vocês poderiam me avisar pelo WhatsApp quando sair para entrega?",
    "Sim, ativei as notificações. Você receberá uma mensagem assim que o pedido for despachado",
    "Ah, e se o tamanho não servir, como funciona a devolução? Tenho trinta dias?",
    "Você tem até trinta dias corridos para solicitar a troca ou devolução pelo aplicativo",
    "ótimo, então vou aguardar. Qualquer coisa eu volto a falar com vocês por aqui",
    "Fico à disposição! Se precisar de algo mais, é só chamar. Tenha uma ótima tarde",
    "também queria atualizar o endereço de cobrança, mudei de apartamento no mês passado",
    "Para alterar o endereço de cobrança, acesse Minha Conta, depois Dados Pessoais",
]
_CHANNELS = ["whatsapp", "web", "app", "instagram"]
_INTENTS = ["rastreio", "troca", "devolucao", "frete", "cadastro", "saudacao"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str
    metadata: dict[str, Any]


def make_messages(count: int, seed: int, target_bytes: int = 300) -> list[ChatMessage]:
    """``count`` Portuguese chat messages of about ``target_bytes`` UTF-8 bytes each."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        text = ""
        while len(text.encode("utf-8")) < target_bytes - 20:
            frag = rng.choice(_PT_FRAGMENTS)
            text = f"{text} {frag}." if text else f"{frag}."
        while len(text.encode("utf-8")) > target_bytes + 20:  # trim at a word boundary
            text = text.rsplit(" ", 1)[0]
        metadata = {
            "channel": rng.choice(_CHANNELS),
            "lang": "pt-BR",
            "turn": i,
            "intent": rng.choice(_INTENTS),
        }
        out.append(ChatMessage("user" if i % 2 == 0 else "assistant", text, metadata))
    return out


# -- the benchmark -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, postgres_url: str) -> None:
        self.args = args
        self.postgres_url = postgres_url
        self.redis_url = args.redis_url
        run = uuid.uuid4().hex[:10]
        self.schema_redis = f"bench_{run}_redis"
        self.schema_inproc = f"bench_{run}_inproc"
        self.schema_raw = f"bench_{run}_raw"
        self.redis_prefix = f"lmt-bench-{run}"
        self.raw_key_w = f"{self.redis_prefix}:raw:w"
        self.raw_key_r = f"{self.redis_prefix}:raw:r"
        self.messages = make_messages(args.pool, args.seed)
        self.mem_redis: TieredMemory | None = None
        self.mem_inproc: TieredMemory | None = None
        self.rconn: redis.Redis | None = None
        self.pconn: psycopg.Connection[Any] | None = None
        self.created_schemas: list[str] = []

    # setup ------------------------------------------------------------------------------

    def setup(self) -> None:
        self.created_schemas = [self.schema_redis, self.schema_inproc, self.schema_raw]
        # The store's own hot path: summarization, fact extraction and recall indexing
        # (background jobs on the same two cores) are off here; bench_locomo_context.py
        # measures the first two switched on.
        self.mem_redis = TieredMemory.connect(
            postgres_url=self.postgres_url,
            redis_url=self.redis_url,
            schema=self.schema_redis,
            redis_prefix=self.redis_prefix,
            summarize=False,
            extract_facts=False,
            recall=False,
        )
        self.mem_inproc = TieredMemory.connect(
            postgres_url=self.postgres_url,
            redis_url=None,
            schema=self.schema_inproc,
            redis_prefix=self.redis_prefix,
            summarize=False,
            extract_facts=False,
            recall=False,
        )
        self.rconn = redis.Redis.from_url(self.redis_url)
        self.rconn.ping()
        self.pconn = psycopg.connect(self.postgres_url, autocommit=True)
        self.pconn.execute(f"CREATE SCHEMA {self.schema_raw}")
        self.pconn.execute(
            f"""CREATE TABLE {self.schema_raw}.raw_messages (
                tenant_id  text        NOT NULL,
                user_id    text        NOT NULL,
                session_id text        NOT NULL,
                seq        bigint      NOT NULL,
                content    json        NOT NULL,
                metadata   json        NOT NULL DEFAULT '{{}}',
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, user_id, session_id, seq)
            )"""
        )
        self.pg_cur = self.pconn.cursor()
        self.sql_insert = (
            f"INSERT INTO {self.schema_raw}.raw_messages "
            "(tenant_id, user_id, session_id, seq, content, metadata, created_at) "
            "VALUES (%s, %s, %s, %s, %s::json, %s::json, %s)"
        )
        self.sql_tail = (
            f"SELECT seq, content, metadata, created_at FROM {self.schema_raw}.raw_messages "
            "WHERE tenant_id = %s AND user_id = %s AND session_id = %s "
            "ORDER BY seq DESC LIMIT 20"
        )

        # Read sessions: a full window (50 messages) in each store, so reads are steady-state.
        seed_msgs = self.messages[:WINDOW]
        for mem in (self.mem_redis, self.mem_inproc):
            s = mem.session(TENANT, USER, "read")
            for m in seed_msgs:
                s.add_message(role=m.role, content=m.content, metadata=m.metadata)
        self.raw_read_seq = 0
        pipe = self.rconn.pipeline(transaction=False)
        pipe.delete(self.raw_key_r)
        for m in seed_msgs:
            self.raw_read_seq += 1
            now = datetime.now(timezone.utc)
            pipe.rpush(self.raw_key_r, self._raw_json(m, self.raw_read_seq, now))
            self.pg_cur.execute(
                self.sql_insert,
                (
                    TENANT,
                    USER,
                    "read",
                    self.raw_read_seq,
                    json.dumps(m.content, ensure_ascii=False),
                    json.dumps(m.metadata, ensure_ascii=False),
                    now,
                ),
            )
        pipe.ltrim(self.raw_key_r, -WINDOW, -1)
        pipe.expire(self.raw_key_r, TTL_SECONDS)
        pipe.execute()

    @staticmethod
    def _raw_json(m: ChatMessage, seq: int, now: datetime) -> str:
        return json.dumps(
            {
                "role": m.role,
                "content": m.content,
                "metadata": m.metadata,
                "seq": seq,
                "created_at": now.isoformat(),
            },
            ensure_ascii=False,
        )

    # operations -----------------------------------------------------------------------------

    def operations(self) -> list[tuple[str, str, Callable[[], Any]]]:
        assert self.mem_redis and self.mem_inproc and self.rconn and self.pconn

        def cycle() -> Iterator[ChatMessage]:
            return itertools.cycle(self.messages)

        session_len = self.args.session_len

        def make_add(mem: TieredMemory) -> Callable[[], Any]:
            it = cycle()
            sessions = (mem.session(TENANT, USER, f"write-{k}") for k in itertools.count())
            state = {"session": next(sessions), "count": 0}

            def add() -> Any:
                m = next(it)
                if session_len and state["count"] == session_len:
                    state["session"], state["count"] = next(sessions), 0
                state["count"] += 1
                return state["session"].add_message(
                    role=m.role, content=m.content, metadata=m.metadata
                )

            return add

        def make_recent(mem: TieredMemory) -> Callable[[], Any]:
            session = mem.session(TENANT, USER, "read")
            return lambda: session.recent(RECENT_N)

        r = self.rconn
        key_r = self.raw_key_r
        cur = self.pg_cur
        sql_insert, sql_tail = self.sql_insert, self.sql_tail

        def make_raw_append(tag: str, to_postgres: bool, to_redis: bool) -> Callable[[], Any]:
            """Raw append of one message: INSERT + commit and/or the Redis pipeline.

            Sessions rotate exactly like the engine's (``--session-len``).
            """
            it = cycle()
            state = {"n": 0, "seq": 0}

            def append() -> Any:
                m = next(it)
                if session_len and state["seq"] == session_len:
                    state["n"] += 1
                    state["seq"] = 0
                state["seq"] += 1
                seq = state["seq"]
                now = datetime.now(timezone.utc)
                if to_postgres:
                    cur.execute(
                        sql_insert,
                        (
                            TENANT,
                            USER,
                            f"{tag}-{state['n']}",
                            seq,
                            json.dumps(m.content, ensure_ascii=False),
                            json.dumps(m.metadata, ensure_ascii=False),
                            now,
                        ),
                    )
                if to_redis:
                    key = f"{self.raw_key_w}:{tag}-{state['n']}"
                    pipe = r.pipeline(transaction=False)
                    pipe.rpush(key, self._raw_json(m, seq, now))
                    pipe.ltrim(key, -WINDOW, -1)
                    pipe.expire(key, TTL_SECONDS)
                    return pipe.execute()
                return None

            return append

        loads = json.loads

        def raw_lrange() -> Any:
            return [loads(item) for item in r.lrange(key_r, -RECENT_N, -1)]

        def raw_pg_read() -> Any:
            cur.execute(sql_tail, (TENANT, USER, "read"))
            return cur.fetchall()

        return [
            ("add_redis", "add_message  [redis tier]", make_add(self.mem_redis)),
            ("add_inproc", "add_message  [inprocess tier]", make_add(self.mem_inproc)),
            (
                "raw_pipeline",
                "raw redis: RPUSH+LTRIM+EXPIRE pipeline",
                make_raw_append("pipe", to_postgres=False, to_redis=True),
            ),
            (
                "raw_insert",
                "raw psycopg: INSERT + commit",
                make_raw_append("ins", to_postgres=True, to_redis=False),
            ),
            (
                "raw_insert_then_pipeline",
                "raw: INSERT+commit, then pipeline (ref.)",
                make_raw_append("both", to_postgres=True, to_redis=True),
            ),
            ("recent_redis", "recent(20)   [redis tier, hot hit]", make_recent(self.mem_redis)),
            ("recent_inproc", "recent(20)   [inprocess, hot hit]", make_recent(self.mem_inproc)),
            ("raw_lrange", "raw redis: LRANGE -20 -1 + json.loads", raw_lrange),
            ("raw_pg_read", "raw psycopg: last 20 (ref.)", raw_pg_read),
        ]

    # run ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        ops = self.operations()
        assert self.mem_redis and self.mem_inproc

        # Warm-up: connections, EVALSHA script loading, server-side prepared statements
        # (psycopg prepares after 5 executions), plpgsql plan caches.
        for _, _, fn in ops:
            for _ in range(args.warmup):
                fn()
        for name, mem in (("redis", self.mem_redis), ("inprocess", self.mem_inproc)):
            got = mem.session(TENANT, USER, "read").recent(RECENT_N)
            if len(got) != RECENT_N or [m.seq for m in got] != list(range(31, 51)):
                raise SystemExit(f"recent({RECENT_N}) on the {name} tier returned the wrong window")

        results = {name: OpResult(name, label) for name, label, _ in ops}
        hit_check: dict[str, dict[str, int]] = {
            "redis": dict.fromkeys(("expected", "hot_hits", "hot_misses", "hot_repairs"), 0),
            "inprocess": dict.fromkeys(("expected", "hot_hits", "hot_misses", "hot_repairs"), 0),
        }
        progress = Progress(total=args.rounds * args.n * len(ops), rounds=args.rounds)
        try:
            for rnd in range(args.rounds):
                before = {
                    "redis": self.mem_redis.stats(),
                    "inprocess": self.mem_inproc.stats(),
                }
                samples = interleaved_round(
                    ops,
                    args.n,
                    args.chunk,
                    rnd,
                    on_chunk=lambda k, rnd=rnd: progress.advance(
                        k * len(ops), f"round {rnd + 1}/{args.rounds}"
                    ),
                )
                after = {
                    "redis": self.mem_redis.stats(),
                    "inprocess": self.mem_inproc.stats(),
                }
                for tier in ("redis", "inprocess"):
                    hit_check[tier]["expected"] += args.n
                    for counter in ("hot_hits", "hot_misses", "hot_repairs"):
                        hit_check[tier][counter] += after[tier][counter] - before[tier][counter]
                for name, _, _ in ops:
                    results[name].add_round(samples[name])
                progress.line(
                    f"round {rnd + 1}/{args.rounds}: p50 µs "
                    + ", ".join(f"{n}={results[n].p50_us[-1]:.0f}" for n, _, _ in ops)
                )
        finally:
            progress.close()

        final_stats = {"redis": self.mem_redis.stats(), "inprocess": self.mem_inproc.stats()}
        return {"results": results, "hit_check": hit_check, "final_stats": final_stats}

    # environment ------------------------------------------------------------------------------

    def environment(self) -> dict[str, Any]:
        assert self.rconn and self.pconn
        return environment(self.rconn, self.pconn)

    # cleanup ----------------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for mem in (self.mem_redis, self.mem_inproc):
            if mem is not None:
                try:
                    mem.close()
                except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                    problems.append(f"closing memory: {exc}")
        if self.pconn is not None:
            self.pconn.close()
        problems += drop_schemas(self.postgres_url, self.created_schemas)
        problems += delete_redis_keys(self.rconn, self.redis_url, self.redis_prefix)
        return problems


# -- report -------------------------------------------------------------------------------------


def ratio_lines(res: dict[str, OpResult]) -> list[dict[str, Any]]:
    def per_round(num: Callable[[int], float], den: Callable[[int], float]) -> list[float]:
        rounds = len(res["raw_lrange"].p50_us)
        return [num(i) / den(i) for i in range(rounds)]

    p = {name: r.p50 for name, r in res.items()}
    r50 = {name: r.p50_us for name, r in res.items()}
    specs = [
        (
            "recent(20) redis-tier p50 / raw LRANGE+decode p50",
            p["recent_redis"] / p["raw_lrange"],
            per_round(lambda i: r50["recent_redis"][i], lambda i: r50["raw_lrange"][i]),
            TARGET_RECENT,
        ),
        (
            "recent(20) inprocess p50 / raw LRANGE+decode p50",
            p["recent_inproc"] / p["raw_lrange"],
            per_round(lambda i: r50["recent_inproc"][i], lambda i: r50["raw_lrange"][i]),
            None,
        ),
        (
            "add_message redis-tier p50 / (raw insert+commit p50 + raw pipeline p50)",
            p["add_redis"] / (p["raw_insert"] + p["raw_pipeline"]),
            per_round(
                lambda i: r50["add_redis"][i],
                lambda i: r50["raw_insert"][i] + r50["raw_pipeline"][i],
            ),
            TARGET_APPEND,
        ),
        (
            "add_message redis-tier p50 / raw insert+commit-then-pipeline p50 (sequential)",
            p["add_redis"] / p["raw_insert_then_pipeline"],
            per_round(lambda i: r50["add_redis"][i], lambda i: r50["raw_insert_then_pipeline"][i]),
            None,
        ),
        (
            "add_message inprocess p50 / raw insert+commit p50",
            p["add_inproc"] / p["raw_insert"],
            per_round(lambda i: r50["add_inproc"][i], lambda i: r50["raw_insert"][i]),
            None,
        ),
    ]
    out = []
    for label, value, rounds, target in specs:
        verdict = None if target is None else ("PASS" if value <= target else "FAIL")
        out.append(
            {
                "ratio": label,
                "value": value,
                "per_round": rounds,
                "per_round_median": statistics.median(rounds),
                "per_round_min": min(rounds),
                "per_round_max": max(rounds),
                "target": target,
                "verdict": verdict,
            }
        )
    return out


def render(
    env: dict[str, Any],
    args: argparse.Namespace,
    run: dict[str, Any],
    ratios: list[dict[str, Any]],
    msg_bytes: float,
) -> str:
    res: dict[str, OpResult] = run["results"]
    lines = []
    lines.append("langmem_tiered hot-path benchmark")
    lines.extend(environment_lines(env, args.postgres_label))
    lines.append(
        f"  {args.rounds} rounds x {args.n} ops per operation (chunks of {args.chunk}, "
        f"interleaved), warm-up {args.warmup}; figures = median over rounds"
    )
    rotation = (
        f"a new session every {args.session_len} appends"
        if args.session_len
        else f"one session growing to {args.warmup + args.rounds * args.n} messages"
    )
    lines.append(
        f"  messages: avg {msg_bytes:.0f} B (text + metadata); appends: {rotation}; "
        f"reads: a session of {WINDOW} messages"
    )
    lines.append("")
    lines.extend(latency_table(res.values()))
    lines.append("")
    hc = run["hit_check"]
    for tier in ("redis", "inprocess"):
        c = hc[tier]
        ok = c["hot_hits"] == c["expected"] and c["hot_misses"] == 0 and c["hot_repairs"] == 0
        lines.append(
            f"hot hits during measured recent(20) [{tier}]: {c['hot_hits']}/{c['expected']} "
            f"(misses {c['hot_misses']}, repairs {c['hot_repairs']}) -> "
            + ("all hits" if ok else "WARNING: not all hits, recent() figures include cold reads")
        )
    fs = run["final_stats"]
    for tier in ("redis", "inprocess"):
        s = fs[tier]
        lines.append(
            f"hot-tier write health [{tier}]: hot_write_failures {s['hot_write_failures']}, "
            f"hot_bypassed {s['hot_bypassed']}, dirty_sessions {s['dirty_sessions']}"
        )
    lines.append("")
    lines.append(
        "ratios (median p50 / median p50; in brackets the same ratio taken within each round: "
        "median, min-max):"
    )
    lw = max(len(r["ratio"]) for r in ratios)
    for r in ratios:
        verdict = (
            f"target <= {r['target']:.1f}  {r['verdict']}"
            if r["target"] is not None
            else "(no target)"
        )
        lines.append(
            f"  {r['ratio']:<{lw}}  {r['value']:5.2f}  "
            f"[{r['per_round_median']:.2f}, {r['per_round_min']:.2f}-{r['per_round_max']:.2f}]  "
            f"{verdict}"
        )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="p50/p99 of add_message and recent(20) (Redis and in-process hot tiers) "
        "against raw redis-py / psycopg baselines."
    )
    ap.add_argument("--n", type=int, default=400, help="measured calls per operation per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (figures are medians over them)")
    ap.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis for the hot tier and baselines",
    )
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="Postgres to use (default: an embedded server in a temporary folder, removed after)",
    )
    ap.add_argument("--json", metavar="PATH", default=None, help="also write results as JSON")
    ap.add_argument("--warmup", type=int, default=100, help="unmeasured calls per operation first")
    ap.add_argument(
        "--chunk", type=int, default=50, help="calls per operation before switching to the next"
    )
    ap.add_argument(
        "--session-len",
        type=int,
        default=100,
        help="appends go to a new session after this many messages (0: one session that grows "
        "for the whole run); the raw appends rotate the same way",
    )
    ap.add_argument("--pool", type=int, default=500, help="distinct messages generated")
    ap.add_argument("--seed", type=int, default=20240611, help="seed of the generated messages")
    args = ap.parse_args(argv)
    if args.session_len < 0:
        ap.error("--session-len must be >= 0")
    for name in ("n", "rounds", "chunk", "pool"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    if args.warmup < 5:
        ap.error("--warmup must be >= 5 (psycopg prepares statements after 5 executions)")
    if args.pool < WINDOW:
        ap.error(f"--pool must be >= {WINDOW}")
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
        env = bench.environment()
        run = bench.run()
    finally:
        problems = bench.cleanup()
        if args.postgres_url is None:
            problems += stop_embedded_postgres(folder)
        for p in problems:
            print(f"cleanup: {p}", file=sys.stderr)

    msg_bytes = statistics.mean(
        len(m.content.encode("utf-8")) + len(json.dumps(m.metadata)) for m in bench.messages
    )
    ratios = ratio_lines(run["results"])
    print(render(env, args, run, ratios, msg_bytes), flush=True)

    if args.json:
        payload = {
            "environment": env,
            "config": {
                "n": args.n,
                "rounds": args.rounds,
                "chunk": args.chunk,
                "warmup": args.warmup,
                "pool": args.pool,
                "seed": args.seed,
                "session_len": args.session_len,
                "recent_n": RECENT_N,
                "window": WINDOW,
                "postgres": args.postgres_label,
                "redis_url": args.redis_url,
                "avg_message_bytes": msg_bytes,
            },
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
            "hot_hit_check": run["hit_check"],
            "final_stats": run["final_stats"],
            "ratios": ratios,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, ensure_ascii=False)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
