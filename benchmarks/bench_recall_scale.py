#!/usr/bin/env python
"""Recall latency at scale (100k and 1M items, 1 % tenant filter) and recall@10 against exact kNN.

For every size in ``--sizes`` (default ``100000,1000000``) a fresh schema is created by
``TieredMemory.connect(postgres_url=..., schema=...)`` (so ``lmt_recall_items`` and its indexes
are exactly the package's migrations; the ``halfvec`` column and the partial HNSW index come
from ``store.ensure_vectors(384)`` / ``recall_sql.hnsw_index_sql(384)``) and loaded with
synthetic items by one binary COPY:

* 100 tenants with one user each, items spread evenly and interleaved in time order (a user's
  items are scattered over the heap), so the tenant + user scope of a search is ~1 % of them;
* random unit vectors of dimension 384, a mixture of ``--clusters`` gaussians (so kNN is not
  trivial; clusters are shared by all tenants, the hard case for a filtered HNSW scan), model
  ``bench-synthetic-384``;
* texts of 8-30 words drawn (Zipf) from a vocabulary of ``--vocab`` synthetic words, with
  ``tsv = to_tsvector('simple', text)``, ``doc_len``, ``ts_config 'simple'`` built client-side
  in the server's binary format (checked against ``to_tsvector`` on a sample after the load);
  kind ``message``, one session per 100 items, unique ``source_key``. ``lmt_messages`` stays
  empty: the statement's ``sources`` subquery probes an empty index (real provenance costs a
  little more).

The full-text GIN and scope indexes are dropped for the COPY and rebuilt after it, then the
HNSW index is built from ``hnsw_index_sql(384)`` with ``maintenance_work_mem = 4GB`` (progress
from ``pg_stat_progress_create_index``), then ``VACUUM (ANALYZE)`` and ``CHECKPOINT``.

Queries (``--queries``, default 200): a random user, a vector drawn from the same mixture, and
2-5 mid-frequency words. Measured, interleaved in ``--rounds`` rounds (each round runs every
query once per operation), p50/p99 in ms:

* ``recall hybrid``: ``memory.user(t, u).recall(words, k=10)`` (vectors + full text, the
  package path; a ``FunctionEmbedder`` returns the query's vector);
* ``recall vector``: the vector ranking alone (``mode="vector"`` when the package has it, else
  a query of punctuation only, which has no lexical terms);
* ``recall text``: full text alone (a second memory on the same schema with ``embedder=None``);
* the same three statements through ``memory.store.search_recall(sql, params)`` with the SQL
  and parameters the package built (captured on the first call): no embedding, no hit objects;
* the baseline: raw psycopg exact kNN of the user's items (``ORDER BY embedding::halfvec(384)
  <=> q LIMIT 10`` with ``enable_indexscan = off``), and the same query through the HNSW index
  (``enable_sort``/``enable_bitmapscan``/``enable_seqscan = off`` so the planner has to use
  it), with the store's ``hnsw.*`` settings.

Also: recall@10 of the package's vector ranking (and of the raw HNSW query) against exact
search for the same queries, and the same with ``hnsw.iterative_scan = off``; ``SHOW
hnsw.iterative_scan`` on the store's pool connection; EXPLAIN (ANALYZE, BUFFERS) of one hybrid
recall as the package runs it after warm-up (EXECUTE of its prepared statement on the store's
connection: psycopg prepares after 5 calls and Postgres then switches to a generic plan), with
summaries (time per CTE, scans, indexes) of that plan, of the first calls' custom plan and of
``EXPLAIN (GENERIC_PLAN)`` for every statement, whether the vector ranking uses the HNSW index,
and how many executions used a generic plan; and the final line ``recall p99 at 1M = X ms
(target <= 15 ms): PASS/FAIL`` (the ``recall hybrid`` p99). The script always exits 0 (it
measures, it does not test). On the 2-core development VM a run of both sizes takes about 10
minutes, most of it the HNSW build at 1M (5-8 minutes).

The embedded server (default) gets ``shared_buffers = --shared-buffers`` (default 4GB, so a 1M
data set stays in Postgres' cache as on a sized production server) and is restarted once for
it. Everything created (schemas, the embedded server and its folder) is removed at the end.
Needs numpy (installed with ``langmem-tiered[embeddings]``).

Usage::

    .venv/bin/python benchmarks/bench_recall_scale.py --sizes 100000 --queries 200
    .venv/bin/python benchmarks/bench_recall_scale.py --sizes 100000,1000000 --json /tmp/r.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import re
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import psycopg
from _common import (
    OpResult,
    Progress,
    drop_schemas,
    interleaved_round,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from psycopg import sql as pgsql

from langmem_tiered import TieredMemory
from langmem_tiered.recall.embedders import FunctionEmbedder
from langmem_tiered.recall.items import search_terms, vector_literal
from langmem_tiered.store.recall_sql import hnsw_index_sql
from langmem_tiered.version import __version__ as LMT_VERSION

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("bench_recall_scale needs numpy: pip install numpy (or langmem-tiered[embeddings])")

DIM = 384
MODEL = "bench-synthetic-384"
TENANTS = 100
K = 10
TARGET_P99_MS = 15.0
TARGET_SIZE = 1_000_000
ITEMS_PER_SESSION = 100
SPAN = 3  # seq_to = seq_from + SPAN - 1, as the package's 3-turn message items
HNSW_INDEX = f"lmt_recall_hnsw_{DIM}"
REBUILT_INDEXES = ("lmt_recall_scope", "lmt_recall_tsv")  # dropped for the COPY, rebuilt after
COPY_COLUMNS = (
    "tenant_id, user_id, kind, source_key, session_id, seq_from, seq_to, text, token_count, "
    "ts_config, tsv, doc_len, embedding_dim, embedding_model, occurred_at, embedding"
)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
T0_US = int((datetime(2024, 1, 1, tzinfo=timezone.utc) - PG_EPOCH).total_seconds()) * 1_000_000
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)

# Raw baselines: the user's items nearest to q (the package's scope minus kinds/model, which
# every item here satisfies), exact with index scans off, through HNSW with the rest off.
SQL_KNN = (
    f"SELECT item_id, embedding::halfvec({DIM}) <=> %(q)s::halfvec({DIM}) AS dist "
    f"FROM lmt_recall_items WHERE tenant_id = %(t)s AND user_id = %(u)s "
    f"AND embedding_dim = {DIM} "
    f"ORDER BY embedding::halfvec({DIM}) <=> %(q)s::halfvec({DIM}) LIMIT %(k)s"
)
EXACT_SETTINGS = "-c enable_indexscan=off"
FORCE_HNSW_SETTINGS = "-c enable_sort=off -c enable_bitmapscan=off -c enable_seqscan=off"


# -- synthetic data --------------------------------------------------------------------------


def make_vocabulary(n: int, seed: int) -> list[str]:
    """``n`` distinct pronounceable lowercase ASCII words, none a stopword, sorted bytewise (the
    order of a tsvector's lexemes), so a word's index orders lexemes too."""
    rng = random.Random(seed)
    cons = "bcdfghjklmnprstvz"
    vows = "aeiou"
    words: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            w += rng.choice(cons)
        if search_terms(w)[1] == w:  # not a stopword of any language the package knows
            words.add(w)
    return sorted(words, key=lambda w: w.encode())


class Corpus:
    """Vocabulary, Zipf word sampler, cluster centres: items and queries come from here."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.vocab = make_vocabulary(args.vocab, args.seed)
        rng = np.random.default_rng(args.seed)
        v = len(self.vocab)
        self.rank_to_word = rng.permutation(v)  # frequency rank -> word index (bytewise order)
        weights = 1.0 / np.arange(1, v + 1) ** args.zipf
        self.cdf = np.cumsum(weights / weights.sum())
        self.cdf[-1] = 1.0
        centres = rng.standard_normal((args.clusters, DIM), dtype=np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.sigma = np.float32(args.spread / np.sqrt(DIM))  # noise norm ~ spread
        self.lex = [w.encode() + b"\x00" for w in self.vocab]

    def words(self, rng: np.random.Generator, n: int, min_rank: int = 0) -> np.ndarray:
        """``n`` word indexes drawn by Zipf frequency (from rank ``min_rank`` on)."""
        lo = self.cdf[min_rank - 1] if min_rank else 0.0
        u = lo + rng.random(n) * (1.0 - lo)
        ranks = np.minimum(np.searchsorted(self.cdf, u), len(self.vocab) - 1)
        return self.rank_to_word[ranks]

    def vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` unit vectors (float32) from the gaussian mixture."""
        cl = rng.integers(0, len(self.centres), n)
        x = self.centres[cl] + self.sigma * rng.standard_normal((n, DIM), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def user_ids(i: int) -> tuple[str, str]:
    return f"tenant-{i:03d}", f"user-{i:03d}"


def copy_chunks(
    corpus: Corpus, n: int, seed: int, regconfig_oid: int, chunk: int = 20_000
) -> Iterator[tuple[int, bytes]]:
    """The items in COPY BINARY rows, ``chunk`` at a time: ``(rows, bytes)``."""
    rng = np.random.default_rng(seed + 1)
    pk_i, pk_q, pk_len = (
        struct.Struct(">ii").pack,
        struct.Struct(">iq").pack,
        struct.Struct(">i").pack,
    )
    row_head = struct.pack(">h", 16)
    kind = pk_len(7) + b"message"
    ts_config = struct.pack(">iI", 4, regconfig_oid)
    emb_dim = pk_i(4, DIM)
    emb_model = pk_len(len(MODEL)) + MODEL.encode()
    emb_head = pk_len(4 + 2 * DIM) + struct.pack(">hh", DIM, 0)
    idf: list[bytes] = []
    for i in range(TENANTS):
        t, u = (s.encode() for s in user_ids(i))
        idf.append(pk_len(len(t)) + t + pk_len(len(u)) + u)
    ordinal = [0] * TENANTS
    lex, vocab = corpus.lex, corpus.vocab
    done = 0
    while done < n:
        m = min(chunk, n - done)
        owners = rng.integers(0, TENANTS, m).tolist()
        lengths = rng.integers(8, 31, m)
        offsets = np.concatenate(([0], np.cumsum(lengths))).tolist()
        words = corpus.words(rng, int(offsets[-1])).tolist()
        vecs = corpus.vectors(rng, m).astype(">f2").tobytes()
        out: list[bytes] = []
        for j in range(m):
            ids = words[offsets[j] : offsets[j + 1]]
            text = " ".join([vocab[w] for w in ids]).encode()
            positions: dict[int, list[int]] = {}
            for p, w in enumerate(ids, 1):
                got = positions.get(w)
                if got is None:
                    positions[w] = [p]
                else:
                    got.append(p)
            tsv = [pk_len(len(positions))]
            for w in sorted(positions):
                ps = positions[w]
                tsv.append(lex[w])
                tsv.append(struct.pack(f">H{len(ps)}H", len(ps), *ps))
            tsv_b = b"".join(tsv)
            owner = owners[j]
            o = ordinal[owner]
            ordinal[owner] = o + 1
            session = f"s{o // ITEMS_PER_SESSION:05d}".encode()
            seq = (o % ITEMS_PER_SESSION) * SPAN + 1
            key = b"m:" + session + b":" + str(seq).encode()
            out.append(
                b"".join(
                    (
                        row_head,
                        idf[owner],
                        kind,
                        pk_len(len(key)),
                        key,
                        pk_len(len(session)),
                        session,
                        pk_q(8, seq),
                        pk_q(8, seq + SPAN - 1),
                        pk_len(len(text)),
                        text,
                        pk_i(4, len(ids) * 4 // 3 + 1),
                        ts_config,
                        pk_len(len(tsv_b)),
                        tsv_b,
                        pk_i(4, len(ids)),
                        emb_dim,
                        emb_model,
                        pk_q(8, T0_US + (done + j) * 30_000_000),
                        emb_head,
                        vecs[j * 2 * DIM : (j + 1) * 2 * DIM],
                    )
                )
            )
        done += m
        yield m, b"".join(out)


# -- helpers ---------------------------------------------------------------------------------


class Ticker:
    """Progress of a long step: the rich/tqdm bar of :class:`Progress`, else a line per 10 %."""

    def __init__(self, total: int, what: str, unit: str = "row") -> None:
        self.total, self.what, self.unit, self.done, self.next_pct = total, what, unit, 0, 10
        self.progress = Progress(total=max(total, 1), rounds=1, unit=unit)
        self.t0 = time.perf_counter()

    def advance(self, k: int, what: str | None = None) -> None:
        if what is not None:
            self.what = what
        self.done += k
        self.progress.advance(k, self.what)
        if (
            not self.progress.is_bar
            and self.total
            and self.done * 100 >= self.next_pct * self.total
        ):
            pct = self.done * 100 // self.total
            self.progress.line(
                f"{self.what}: {self.done:,}/{self.total:,} {self.unit}s ({pct}%, "
                f"{time.perf_counter() - self.t0:.1f} s)"
            )
            self.next_pct = pct // 10 * 10 + 10

    def close(self) -> float:
        self.progress.close()
        return time.perf_counter() - self.t0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def param_names(sql: str) -> list[str]:
    """The statement's ``%(name)s`` parameters in the order psycopg numbers them ``$1``..."""
    return list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))


def positional(sql: str) -> str:
    """``%(name)s`` -> ``$n``, as psycopg sends the statement to the server."""
    names = {name: i for i, name in enumerate(param_names(sql), 1)}
    return re.sub(r"%\((\w+)\)s", lambda m: f"${names[m.group(1)]}", sql)


def walk(node: dict[str, Any], ctx: str = "main") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node with the name of the CTE / subplan it belongs to."""
    ctx = node.get("Subplan Name", ctx)
    if node["Node Type"] == "Subquery Scan" and node.get("Alias") not in (None, "f"):
        ctx = node["Alias"]
    yield ctx, node
    for child in node.get("Plans", ()):
        yield from walk(child, ctx)


def redact(plan_text: str) -> str:
    """EXPLAIN text with the query vector's literal shortened."""
    return re.sub(r"'\[[-0-9.e,]+\]'::halfvec", "'[q]'::halfvec", plan_text)


def plan_summary(js: dict[str, Any]) -> dict[str, Any]:
    """Indexes used, the CTE/InitPlan subtrees' times, scan nodes, JIT, from an EXPLAIN JSON."""
    root = js["Plan"]
    analyzed = "Actual Total Time" in root
    indexes: list[str] = []
    parts: list[str] = []
    scans: list[str] = []
    for ctx, node in walk(root):
        idx = node.get("Index Name")
        if idx and idx not in indexes:
            indexes.append(idx)
        t = node.get("Actual Total Time", 0.0) * node.get("Actual Loops", 1) if analyzed else 0
        name = node.get("Subplan Name")
        if name:
            parts.append(f"{name}: {t:.2f} ms" if analyzed else name)
        kind = node["Node Type"]
        if kind.endswith("Scan") and kind not in ("CTE Scan", "Subquery Scan", "Function Scan"):
            where = idx or node.get("Relation Name") or ""
            text = f"[{ctx}] {kind} {where}"
            if analyzed:
                bufs = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
                text += (
                    f": {t:.2f} ms, rows {node.get('Actual Rows'):.0f} x {node.get('Actual Loops')}"
                    f" loops, buffers {bufs:,}"
                )
                if node.get("Rows Removed by Filter"):
                    text += f", removed by filter {node['Rows Removed by Filter']:,.0f}"
                if node.get("Rows Removed by Index Recheck"):
                    text += f", removed by recheck {node['Rows Removed by Index Recheck']:,.0f}"
            scans.append(text)
    jit = js.get("JIT")
    jit_ms = None
    if jit:
        timing = jit.get("Timing", {})
        total = timing.get("Total")
        jit_ms = total if isinstance(total, (int, float)) else None
        if jit_ms is None and isinstance(total, dict):  # older formats
            jit_ms = total.get("Total")
    return {
        "indexes": indexes,
        "parts": parts,
        "scans": scans,
        "execution_ms": js.get("Execution Time"),
        "planning_ms": js.get("Planning Time"),
        "jit_ms": jit_ms,
        "jit_functions": jit.get("Functions") if jit else None,
    }


def recall_at(found: Sequence[int], truth: Sequence[int], k: int = K) -> float:
    if not truth:
        return 1.0
    return len(set(found[:k]) & set(truth[:k])) / min(k, len(truth))


# -- the benchmark ---------------------------------------------------------------------------


class SizeRun:
    """One size: schema, load, indexes, queries, checks, timing."""

    def __init__(self, args: argparse.Namespace, url: str, corpus: Corpus, size: int) -> None:
        self.args, self.url, self.corpus, self.size = args, url, corpus, size
        self.schema = f"bench_{uuid.uuid4().hex[:8]}_recall_{size}"
        self.memory: TieredMemory | None = None  # vectors + full text
        self.memory_text: TieredMemory | None = None  # embedder=None
        self.conns: list[psycopg.Connection[Any]] = []
        self.query_vec: list[float] = []
        self.cyclers: list[list[int]] = []
        self.load: dict[str, Any] = {}
        self.out: dict[str, Any] = {"size": size, "schema": self.schema}

    # connections ---------------------------------------------------------------------------

    def store_options(self) -> str:
        assert self.memory is not None and self.memory.store is not None
        return str(self.memory.store._pool.kwargs["options"])  # noqa: SLF001

    def connect(self, extra: str = "", *, iterative: str | None = None) -> psycopg.Connection[Any]:
        """A connection with the store pool's options (+ ``extra``)."""
        opts = self.store_options()
        if iterative is not None:
            opts = re.sub(r"hnsw\.iterative_scan=\S+", f"hnsw.iterative_scan={iterative}", opts)
        conn = psycopg.connect(self.url, autocommit=True, options=f"{opts} {extra}".strip())
        self.conns.append(conn)
        return conn

    # setup ---------------------------------------------------------------------------------

    def open(self) -> None:
        args = self.args

        def documents(texts: list[str]) -> list[list[float]]:
            raise AssertionError("the benchmark never embeds documents through the package")

        embedder = FunctionEmbedder(
            documents, model_id=MODEL, dimension=DIM, query=lambda _text: self.query_vec
        )
        common: dict[str, Any] = {
            "schema": self.schema,
            "text_search": args.text_search,
            "recall": False,
            "summarize": False,
            "extract_facts": False,
            "facts_in_context": False,
            "recall_in_context": False,
            "pool_max_size": 2,
        }
        self.memory = TieredMemory.connect(postgres_url=self.url, embedder=embedder, **common)
        store = self.memory.store
        assert store is not None
        if not store.ensure_vectors(DIM):
            raise SystemExit("the server has no pgvector")
        self.memory_text = TieredMemory.connect(postgres_url=self.url, embedder=None, **common)

    def setup(self) -> None:
        self.open()
        conn = self.connect()
        self.load_items(conn)
        self.build_indexes(conn)

    def load_items(self, conn: psycopg.Connection[Any]) -> None:
        defs = dict(
            conn.execute(
                "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'lmt_recall_items'::regclass"
            ).fetchall()
        )
        self.load["index_defs"] = {n: defs[n] for n in REBUILT_INDEXES}
        self.load["hnsw_sql"] = hnsw_index_sql(DIM)
        assert HNSW_INDEX in defs, f"ensure_vectors made no {HNSW_INDEX}: {sorted(defs)}"
        for name in (*REBUILT_INDEXES, HNSW_INDEX):
            conn.execute(f"DROP INDEX {name}")
        row = conn.execute("SELECT 'simple'::regconfig::oid").fetchone()
        assert row is not None
        oid = int(row[0])
        tick = Ticker(self.size, f"COPY {self.size:,} items")
        nbytes = 0
        with conn.cursor() as cur:
            with cur.copy(
                f"COPY lmt_recall_items ({COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as cp:
                cp.write(COPY_SIGNATURE)
                for m, data in copy_chunks(self.corpus, self.size, self.args.seed, oid):
                    cp.write(data)
                    nbytes += len(data)
                    tick.advance(m)
                cp.write(COPY_TRAILER)
        self.load["copy_s"] = tick.close()
        self.load["copy_mb"] = nbytes / 2**20
        bad = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE tsv <> to_tsvector('simple', text) OR doc_len "
            "<> (SELECT coalesce(sum(coalesce(cardinality(x.positions), 1)), 0) FROM unnest(tsv) x)"
            f" OR vector_dims(embedding) <> {DIM} OR abs(l2_norm(embedding) - 1) > 0.01) "
            "FROM (SELECT * FROM lmt_recall_items LIMIT 2000) s"
        ).fetchone()
        assert bad is not None
        if bad[1]:
            raise SystemExit(f"{bad[1]} of {bad[0]} sampled items differ from to_tsvector/doc_len")
        self.load["checked_rows"] = bad[0]

    def build_indexes(self, conn: psycopg.Connection[Any]) -> None:
        args = self.args
        conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
        conn.execute(f"SET max_parallel_maintenance_workers = {args.build_workers}")
        t0 = time.perf_counter()
        for name in REBUILT_INDEXES:
            log(f"CREATE INDEX {name}...")
            conn.execute(self.load["index_defs"][name])
        self.load["secondary_indexes_s"] = time.perf_counter() - t0
        self.load["hnsw_s"] = self.build_hnsw(conn)
        log("VACUUM (ANALYZE) lmt_recall_items...")
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) lmt_recall_items")
        self.load["vacuum_analyze_s"] = time.perf_counter() - t0
        try:
            conn.execute("CHECKPOINT")
            self.load["checkpoint"] = "CHECKPOINT done"
        except psycopg.Error as exc:
            self.load["checkpoint"] = f"no CHECKPOINT ({type(exc).__name__})"
        conn.execute("RESET maintenance_work_mem")
        conn.execute("RESET max_parallel_maintenance_workers")
        self.load["relation_bytes"] = dict(
            conn.execute(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                "WHERE c.oid = 'lmt_recall_items'::regclass OR c.oid IN "
                "(SELECT indexrelid FROM pg_index WHERE indrelid = 'lmt_recall_items'::regclass) "
                "ORDER BY c.relname <> 'lmt_recall_items', c.relname"
            ).fetchall()
        )
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (tenant_id, user_id)), min(n), max(n) FROM "
            "(SELECT tenant_id, user_id, count(*) AS n FROM lmt_recall_items GROUP BY 1, 2) s"
        ).fetchone()
        assert row is not None
        self.load["users"], self.load["min_per_user"], self.load["max_per_user"] = row[1:]

    def build_hnsw(self, conn: psycopg.Connection[Any]) -> float:
        """``hnsw_index_sql(DIM)`` on ``conn`` with progress read from a second connection."""
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = row[0]
        error: list[BaseException] = []

        def run() -> None:
            try:
                conn.execute(hnsw_index_sql(DIM))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                error.append(exc)

        tick = Ticker(self.size, f"CREATE INDEX {HNSW_INDEX}", unit="tuple")
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        with psycopg.connect(self.url, autocommit=True) as mon:
            last_phase, last_done = "", 0
            while worker.is_alive():
                worker.join(2.0)
                row = mon.execute(
                    "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
                    "WHERE pid = %s",
                    [pid],
                ).fetchone()
                if row is None:
                    continue
                phase, done, _total = row
                if phase != last_phase:
                    tick.progress.line(
                        f"  HNSW build phase: {phase} ({time.perf_counter() - tick.t0:.0f} s)"
                    )
                    last_phase = phase
                if done and done > last_done:
                    tick.advance(done - last_done, f"HNSW {phase}")
                    last_done = done
        seconds = tick.close()
        if error:
            raise error[0]
        return seconds

    # queries -------------------------------------------------------------------------------

    def make_queries(self) -> list[dict[str, Any]]:
        rng = np.random.default_rng(self.args.seed + 2 + self.size)
        out = []
        vecs = self.corpus.vectors(rng, self.args.queries)
        for i in range(self.args.queries):
            t, u = user_ids(int(rng.integers(0, TENANTS)))
            n_words = int(rng.integers(2, 6))
            words = self.corpus.words(rng, n_words, min_rank=self.args.query_min_rank)
            text = " ".join(self.corpus.vocab[w] for w in words)
            vec = [float(x) for x in vecs[i]]
            out.append({"t": t, "u": u, "text": text, "vec": vec, "q": vector_literal(vec)})
        return out

    # capture the package's statements and check results -------------------------------------

    def capture(self, queries: list[dict[str, Any]]) -> dict[str, Any]:
        """One pass of the package calls (also the warm-up) recording the SQL and parameters
        each one sent through ``store.search_recall``, and the hits."""
        assert self.memory is not None and self.memory_text is not None
        has_mode = "mode" in inspect.signature(self.memory.user("x", "y").recall).parameters
        captured: dict[str, list[tuple[str, dict[str, Any]]]] = {
            "hybrid": [],
            "vector": [],
            "text": [],
        }
        hits: dict[str, list[list[int]]] = {"hybrid": [], "vector": [], "text": []}
        stores = {"hybrid": self.memory.store, "vector": self.memory.store}
        stores["text"] = self.memory_text.store
        tick = Ticker(3 * len(queries), "package calls (capture + warm-up)", unit="call")
        for path in ("hybrid", "vector", "text"):
            store = stores[path]
            assert store is not None
            original = store.search_recall
            sink = captured[path]

            def recorder(
                sql: str, params: dict[str, Any], _o: Any = original, _s: Any = sink
            ) -> Any:
                _s.append((sql, dict(params)))
                return _o(sql, params)

            store.search_recall = recorder  # type: ignore[method-assign]
            try:
                for q in queries:
                    self.query_vec = q["vec"]
                    call = self.package_call(path, q, has_mode)
                    hits[path].append([h.item_id for h in call()])
                    tick.advance(1)
            finally:
                del store.search_recall  # back to the class's method
        tick.close()
        problems = []
        for path, marks in (
            ("hybrid", ("<=>", "websearch_to_tsquery")),
            ("vector", ("<=>",)),
            ("text", ("websearch_to_tsquery",)),
        ):
            sql = captured[path][0][0]
            missing = [m for m in marks if m not in sql]
            extra = [m for m in ("<=>", "websearch_to_tsquery") if m not in marks and m in sql]
            if missing or extra or len(captured[path]) != len(queries):
                problems.append(f"{path}: missing {missing}, unexpected {extra}")
        return {
            "captured": captured,
            "hits": hits,
            "vector_how": 'mode="vector"' if has_mode else "a query of punctuation only ('?')",
            "problems": problems,
        }

    def package_call(self, path: str, q: dict[str, Any], has_mode: bool) -> Callable[[], Any]:
        assert self.memory is not None and self.memory_text is not None
        if path == "hybrid":
            handle = self.memory.user(q["t"], q["u"])
            return lambda: handle.recall(q["text"], k=K)
        if path == "vector":
            handle = self.memory.user(q["t"], q["u"])
            if has_mode:
                return lambda: handle.recall(q["text"], k=K, mode="vector")  # type: ignore[call-arg]
            return lambda: handle.recall("?", k=K)
        handle = self.memory_text.user(q["t"], q["u"])
        return lambda: handle.recall(q["text"], k=K)

    def knn(
        self, conn: psycopg.Connection[Any], queries: list[dict[str, Any]], k: int = K
    ) -> list[list[int]]:
        out = []
        for q in queries:
            rows = conn.execute(SQL_KNN, {"q": q["q"], "t": q["t"], "u": q["u"], "k": k}).fetchall()
            out.append([r[0] for r in rows])
        return out

    def accuracy(self, queries: list[dict[str, Any]], cap: dict[str, Any]) -> dict[str, Any]:
        """recall@10 against exact kNN, with iterative scans on (the store's setting) and off."""
        log("exact kNN and recall@10...")
        exact_conn = self.connect(EXACT_SETTINGS)
        truth = self.knn(exact_conn, queries)
        hnsw_conn = self.connect(FORCE_HNSW_SETTINGS)
        hnsw = self.knn(hnsw_conn, queries)
        off_conn = self.connect(iterative="off")
        off_hnsw_conn = self.connect(FORCE_HNSW_SETTINGS, iterative="off")
        hnsw_off = self.knn(off_hnsw_conn, queries)
        pkg_vec_off = []
        for sql, params in cap["captured"]["vector"]:
            rows = off_conn.execute(sql, params).fetchall()
            pkg_vec_off.append([r[0] for r in rows])  # item_id first, ordered by score

        def stats(found: list[list[int]]) -> dict[str, float]:
            r = [recall_at(f, t) for f, t in zip(found, truth, strict=True)]
            return {
                "recall_at_10": statistics.fmean(r),
                "min": min(r),
                "full": sum(x == 1.0 for x in r) / len(r),
                "mean_returned": statistics.fmean(len(f) for f in found),
            }

        return {
            "package_vector": stats(cap["hits"]["vector"]),
            "package_vector_iterative_off": stats(pkg_vec_off),
            "raw_hnsw": stats(hnsw),
            "raw_hnsw_iterative_off": stats(hnsw_off),
            "hybrid_overlap_with_exact": stats(cap["hits"]["hybrid"]),
            "truth_sizes": [len(t) for t in truth],
            "_conns": (exact_conn, hnsw_conn),
        }

    # plans ---------------------------------------------------------------------------------

    def plans(self, queries: list[dict[str, Any]], cap: dict[str, Any]) -> dict[str, Any]:
        log("EXPLAIN (ANALYZE, BUFFERS)...")
        conn = self.connect()
        out: dict[str, Any] = {}
        q = queries[0]
        for path in ("hybrid", "vector", "text"):
            sql, params = cap["captured"][path][0]
            text = "\n".join(
                r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
            )
            js = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params).fetchone()
            assert js is not None
            entry: dict[str, Any] = {"text": redact(text), "summary": plan_summary(js[0][0])}
            try:
                gen = conn.execute(
                    f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {positional(sql)}"
                ).fetchone()
                assert gen is not None
                entry["generic"] = plan_summary(gen[0][0])
            except psycopg.Error as exc:
                entry["generic"] = {"error": f"{type(exc).__name__}: {exc}".strip()}
            out[path] = entry
        knn_params = {"q": q["q"], "t": q["t"], "u": q["u"], "k": K}
        for name, extra in (("raw_exact", EXACT_SETTINGS), ("raw_hnsw", FORCE_HNSW_SETTINGS)):
            c = self.connect(extra)
            js = c.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {SQL_KNN}", knn_params)
            row = js.fetchone()
            assert row is not None
            out[name] = {"summary": plan_summary(row[0][0])}
        return out

    # timing --------------------------------------------------------------------------------

    def operations(
        self, queries: list[dict[str, Any]], cap: dict[str, Any], acc: dict[str, Any]
    ) -> list[tuple[str, str, Callable[[], Any]]]:
        assert self.memory is not None and self.memory_text is not None
        has_mode = cap["vector_how"].startswith("mode")
        n = len(queries)
        ops: list[tuple[str, str, Callable[[], Any]]] = []
        self.cyclers: list[list[int]] = []

        def cycler(items: Sequence[Any]) -> Callable[[], Any]:
            state = [0]
            self.cyclers.append(state)

            def nxt() -> Any:
                i = state[0]
                state[0] = (i + 1) % n
                return items[i]

            return nxt

        for path in ("hybrid", "vector", "text"):
            calls = [self.package_call(path, q, has_mode) for q in queries]
            nxt_call, nxt_vec = cycler(calls), cycler([q["vec"] for q in queries])

            def pkg(
                nxt_call: Callable[[], Any] = nxt_call, nxt_vec: Callable[[], Any] = nxt_vec
            ) -> Any:
                self.query_vec = nxt_vec()
                return nxt_call()()

            ops.append((f"pkg_{path}", f"recall {path} (package)", pkg))
        stores = {"hybrid": self.memory.store, "vector": self.memory.store}
        stores["text"] = self.memory_text.store
        for path in ("hybrid", "vector", "text"):
            store = stores[path]
            assert store is not None
            nxt_stmt = cycler(cap["captured"][path])

            def sql_only(store: Any = store, nxt_stmt: Callable[[], Any] = nxt_stmt) -> Any:
                sql, params = nxt_stmt()
                return store.search_recall(sql, params)

            ops.append((f"sql_{path}", f"store.search_recall, {path} SQL", sql_only))
        exact_conn, hnsw_conn = acc["_conns"]
        for name, label, conn in (
            ("raw_exact", "raw exact kNN (baseline)", exact_conn),
            ("raw_hnsw", "raw kNN via HNSW index", hnsw_conn),
        ):
            cur = conn.cursor()
            nxt_p = cycler([{"q": q["q"], "t": q["t"], "u": q["u"], "k": K} for q in queries])

            def raw(cur: Any = cur, nxt_p: Callable[[], Any] = nxt_p) -> Any:
                cur.execute(SQL_KNN, nxt_p(), prepare=True)
                return cur.fetchall()

            ops.append((name, label, raw))
        return ops

    def timing(self, ops: list[tuple[str, str, Callable[[], Any]]]) -> dict[str, OpResult]:
        args = self.args
        n = args.queries
        for _, _, fn in ops:  # the raw connections' prepared statements, the SQL-only calls
            for _ in range(min(n, 10)):
                fn()
        for state in self.cyclers:  # every operation starts each round at query 0
            state[0] = 0
        results = {name: OpResult(name, label) for name, label, _ in ops}
        progress = Progress(total=args.rounds * n * len(ops), rounds=args.rounds, unit="query")
        try:
            for rnd in range(args.rounds):
                desc = f"{self.size:,} items, round {rnd + 1}/{args.rounds}"

                def on_chunk(k: int, desc: str = desc) -> None:
                    progress.advance(k * len(ops), desc)

                samples = interleaved_round(ops, n, args.chunk, rnd, on_chunk=on_chunk)
                for name, _, _ in ops:
                    results[name].add_round(samples[name])
                progress.line(
                    f"{desc}: p50/p99 ms "
                    + ", ".join(
                        f"{o.name}={o.p50_us[-1] / 1000:.1f}/{o.p99_us[-1] / 1000:.1f}"
                        for o in results.values()
                    )
                )
        finally:
            progress.close()
        return results

    def pool_checks(self, cap: dict[str, Any]) -> dict[str, Any]:
        """Settings seen by the stores' pool connections, and the recall statements prepared on
        them: how many executions used a generic plan, and EXPLAIN (ANALYZE, BUFFERS) EXECUTE of
        each (the plan the package runs in steady state) with the first query's values."""
        assert self.memory is not None and self.memory_text is not None
        out: dict[str, Any] = {"prepared": [], "steady": {}}
        by_text = {
            positional(sql_params[0][0]): path for path, sql_params in cap["captured"].items()
        }
        for which, memory in (("main", self.memory), ("text", self.memory_text)):
            assert memory.store is not None
            pool = memory.store._pool  # noqa: SLF001
            with pool.connection() as conn:
                if which == "main":
                    names = ("hnsw.iterative_scan", "hnsw.ef_search", "hnsw.max_scan_tuples")
                    out["settings"] = {
                        n: conn.execute(f"SHOW {n}").fetchone()[0]  # type: ignore[index]
                        for n in (*names, "jit")
                    }
                    out["pool"] = pool.get_stats()
                prepared = conn.execute(
                    "SELECT name, generic_plans, custom_plans, statement "
                    "FROM pg_prepared_statements ORDER BY name"
                ).fetchall()
                for name, generic, custom, stmt in prepared:
                    path = by_text.get(stmt)
                    if path is None:
                        continue
                    out["prepared"].append(
                        {"kind": path, "generic_plans": generic, "custom_plans": custom}
                    )
                    sql, params = cap["captured"][path][0]
                    args = ", ".join(
                        pgsql.Literal(params[n]).as_string(conn) for n in param_names(sql)
                    )
                    explain = f"EXPLAIN (ANALYZE, BUFFERS<fmt>) EXECUTE {name}({args})"
                    text = "\n".join(
                        r[0] for r in conn.execute(explain.replace("<fmt>", "")).fetchall()
                    )
                    js = conn.execute(explain.replace("<fmt>", ", FORMAT JSON")).fetchone()
                    assert js is not None
                    out["steady"][path] = {"text": redact(text), "summary": plan_summary(js[0][0])}
        return out

    def run(self) -> dict[str, Any]:
        self.setup()
        queries = self.make_queries()
        cap = self.capture(queries)
        acc = self.accuracy(queries, cap)
        plans = self.plans(queries, cap)
        ops = self.operations(queries, cap, acc)
        log(f"measuring {self.size:,} items...")
        load_before = os.getloadavg()[0]
        results = self.timing(ops)
        self.out["loadavg"] = (load_before, os.getloadavg()[0])
        checks = self.pool_checks(cap)
        acc = {k: v for k, v in acc.items() if not k.startswith("_")}
        self.out.update(
            load=self.load,
            accuracy=acc,
            plans=plans,
            results=results,
            checks=checks,
            vector_how=cap["vector_how"],
            capture_problems=cap["problems"],
            example_query=queries[0]["text"],
        )
        return self.out

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for conn in self.conns:
            conn.close()
        for mem in (self.memory, self.memory_text):
            if mem is not None:
                try:
                    mem.close()
                except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                    problems.append(f"closing a memory: {exc}")
        problems += drop_schemas(self.url, [self.schema])
        return problems


# -- report ----------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def render_size(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    ld, res, acc, plans = r["load"], r["results"], r["accuracy"], r["plans"]
    size = r["size"]
    scope = ld["max_per_user"] / size
    lines = [
        f"== {size:,} items ({ld['users']} users, {ld['min_per_user']:,}-"
        f"{ld['max_per_user']:,} items each: scope = {scope:.1%}) =="
    ]
    lines.append(
        f"  load: COPY {ld['copy_s']:.1f} s ({size / ld['copy_s']:,.0f} rows/s, "
        f"{ld['copy_mb']:,.0f} MB binary, without the scope and GIN indexes), "
        f"scope + GIN indexes {ld['secondary_indexes_s']:.1f} s, HNSW build {ld['hnsw_s']:.1f} s "
        f"(maintenance_work_mem {args.maintenance_work_mem}, {args.build_workers} parallel "
        f"worker(s)), VACUUM (ANALYZE) {ld['vacuum_analyze_s']:.1f} s, {ld['checkpoint']}; "
        f"tsv/doc_len/vector checked on {ld['checked_rows']:,} rows"
    )
    lines.append("  sizes: " + ", ".join(f"{n} {_mb(b)}" for n, b in ld["relation_bytes"].items()))
    la = r["loadavg"]
    lines.append(
        f"  1-min load average before / after the timed rounds: {la[0]:.2f} / {la[1]:.2f} "
        f"({os.cpu_count()} CPUs; other processes on the machine show up here)"
    )
    lines.append(f"  example query text: {r['example_query']!r}; vector path: {r['vector_how']}")
    for p in r["capture_problems"]:
        lines.append(f"  WARNING captured SQL: {p}")
    lines.append("")
    steady = r["checks"]["steady"]
    counts = {p["kind"]: p for p in r["checks"]["prepared"]}
    if "hybrid" in steady:
        c = counts["hybrid"]
        lines.append(
            "EXPLAIN (ANALYZE, BUFFERS) of one hybrid recall as the package runs it after warm-up: "
            f"EXECUTE of its prepared statement on the store's connection ({c['generic_plans']} "
            f"generic / {c['custom_plans']} custom plans so far):"
        )
        lines.extend("  " + ln for ln in steady["hybrid"]["text"].splitlines())
    else:
        lines.append("EXPLAIN (ANALYZE, BUFFERS) of one hybrid recall (custom plan):")
        lines.extend("  " + ln for ln in plans["hybrid"]["text"].splitlines())
    lines.append(
        "plan summaries: 'first calls' = custom plan for the values (a new connection's first 5 "
        "executions), 'prepared' = the prepared statement after the run (generic once Postgres "
        "switched to it), 'generic' = EXPLAIN (GENERIC_PLAN):"
    )

    def summary_lines(title: str, s: dict[str, Any]) -> list[str]:
        jit = f", JIT {s['jit_ms']:.1f} ms ({s['jit_functions']} functions)" if s["jit_ms"] else ""
        out = [
            f"  {title}: execution {s['execution_ms']:.2f} ms, planning {s['planning_ms']:.2f} "
            f"ms{jit}; indexes {', '.join(s['indexes']) or 'none'}"
        ]
        if s["parts"]:
            out.append("      CTEs/subplans: " + "; ".join(s["parts"]))
        out.extend("      " + x for x in s["scans"])
        return out

    for name in ("hybrid", "vector", "text", "raw_exact", "raw_hnsw"):
        lines.extend(summary_lines(f"{name}, first calls", plans[name]["summary"]))
        if name in steady:
            lines.extend(summary_lines(f"{name}, prepared", steady[name]["summary"]))
        gen = plans[name].get("generic")
        if gen is not None:
            if "error" in gen:
                lines.append(f"  {name}, generic: not available ({gen['error'][:120]})")
            else:
                lines.append(
                    f"  {name}, generic: indexes {', '.join(gen['indexes']) or 'none'}; "
                    + "; ".join(gen["scans"])
                )
    lines.append("")
    base = res["raw_exact"]
    hnsw = res["raw_hnsw"]
    w = max(len(o.label) for o in res.values())
    head = (
        f"{'operation':<{w}}  {'p50 ms':>7}  {'p99 ms':>7}  {'p50 rounds':>13}  {'p99 rounds':>13}"
        f"  {'p50/exact':>9}  {'p99/exact':>9}  {'p50/hnsw':>8}  {'p99/hnsw':>8}"
    )
    lines += [head, "-" * len(head)]
    for o in res.values():
        lines.append(
            f"{o.label:<{w}}  {o.p50 / 1000:>7.2f}  {o.p99 / 1000:>7.2f}  "
            f"{min(o.p50_us) / 1000:>6.2f}-{max(o.p50_us) / 1000:<6.2f}  "
            f"{min(o.p99_us) / 1000:>6.2f}-{max(o.p99_us) / 1000:<6.2f}  "
            f"{o.p50 / base.p50:>9.2f}  {o.p99 / base.p99:>9.2f}  "
            f"{o.p50 / hnsw.p50:>8.2f}  {o.p99 / hnsw.p99:>8.2f}"
        )
    ov = {
        "embedding + hits, hybrid": res["pkg_hybrid"].p50 - res["sql_hybrid"].p50,
        "vector": res["pkg_vector"].p50 - res["sql_vector"].p50,
        "text": res["pkg_text"].p50 - res["sql_text"].p50,
    }
    lines.append(
        "package overhead over its own statement (p50 difference): "
        + ", ".join(f"{k} {v / 1000:+.2f} ms" for k, v in ov.items())
    )
    lines.append("")
    ck = r["checks"]
    lines.append(
        "store pool connection: "
        + ", ".join(f"{k} = {v}" for k, v in ck["settings"].items())
        + f"; pool connections {ck['pool'].get('pool_size', '?')}"
    )
    for name in ("hybrid", "vector"):
        used = {"first calls": HNSW_INDEX in plans[name]["summary"]["indexes"]}
        if name in steady:
            used["prepared"] = HNSW_INDEX in steady[name]["summary"]["indexes"]
        lines.append(
            f"{name} statement's vector ranking: "
            + ", ".join(
                f"{k}: {'HNSW index ' + HNSW_INDEX if v else 'exact (no HNSW index in the plan)'}"
                for k, v in used.items()
            )
        )
    lines.append(f"recall@10 against exact kNN ({len(acc['truth_sizes'])} queries):")
    for key, label in (
        ("package_vector", "package vector ranking (iterative_scan=relaxed_order, as shipped)"),
        ("package_vector_iterative_off", "package vector ranking with iterative_scan=off"),
        ("raw_hnsw", "raw kNN via HNSW, LIMIT 10, relaxed_order"),
        ("raw_hnsw_iterative_off", "raw kNN via HNSW, LIMIT 10, iterative_scan=off"),
        ("hybrid_overlap_with_exact", "(ref.) hybrid top-10 overlap with the exact vector top-10"),
    ):
        a = acc[key]
        lines.append(
            f"  {label}: {a['recall_at_10']:.3f} (min {a['min']:.1f}, {a['full']:.0%} of queries "
            f"10/10, {a['mean_returned']:.1f} rows per call on average)"
        )
    return lines


def render(env: dict[str, Any], args: argparse.Namespace, runs: list[dict[str, Any]]) -> str:
    lines = ["langmem_tiered recall scale benchmark"]
    lines.append(
        f"  langmem_tiered {env['langmem_tiered']} (git {env['git']}) | Python {env['python']} | "
        f"{env['cpus']} CPUs | "
        f"psycopg {env['psycopg']} ({env['psycopg_impl']}) | numpy {np.__version__}"
    )
    lines.append(
        f"  PostgreSQL {env['server_version']} + pgvector {env['pgvector']} "
        f"(shared_buffers={env['shared_buffers']}, effective_cache_size="
        f"{env['effective_cache_size']}, work_mem={env['work_mem']}, jit={env['jit']}, "
        f"random_page_cost={env['random_page_cost']}) at {args.postgres_label}"
    )
    lines.append(
        f"  data: {TENANTS} tenants x 1 user, dim {DIM}, {args.clusters} clusters (spread "
        f"{args.spread}), vocabulary {args.vocab} words (Zipf {args.zipf}), text_search "
        f"{args.text_search!r}; queries: {args.queries} (random user, 2-5 words of frequency rank "
        f">= {args.query_min_rank}), k = {K}; {args.rounds} rounds, chunks of {args.chunk}, "
        "interleaved; figures = median over rounds"
    )
    lines.append(
        "  baselines: raw psycopg on connections with the store's options; exact = "
        f"'{EXACT_SETTINGS}', via HNSW = '{FORCE_HNSW_SETTINGS}'"
    )
    lines.append(f"  raw kNN: {SQL_KNN}")
    for r in runs:
        lines.append("")
        lines.extend(render_size(r, args))
    lines.append("")
    at = [r for r in runs if r["size"] == TARGET_SIZE]
    if at:
        p99 = at[0]["results"]["pkg_hybrid"].p99 / 1000
        verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
        lines.append(
            f"recall p99 at 1M = {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms): {verdict}"
        )
    else:
        lines.append(
            f"recall p99 at 1M = n/a (not measured; sizes {[r['size'] for r in runs]}) "
            f"(target <= {TARGET_P99_MS:.0f} ms): n/a"
        )
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------


def pg_environment(url: str) -> dict[str, Any]:
    names = ("server_version", "shared_buffers", "effective_cache_size", "work_mem", "jit")
    names += ("random_page_cost",)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)
        ).fetchone()
        ext = conn.execute(
            "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
            "(SELECT default_version FROM pg_available_extensions WHERE name = 'vector'))"
        ).fetchone()
    assert row is not None and ext is not None
    try:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rev = subprocess.run(
            ["git", "-C", repo, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return {
        "langmem_tiered": LMT_VERSION,
        "git": rev or "n/a",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "psycopg": psycopg.__version__,
        "psycopg_impl": psycopg.pq.__impl__,
        **dict(zip(names, row, strict=True)),
        "pgvector": ext[0],
    }


def start_server(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.postgres_url is not None:
        args.postgres_label = "--postgres-url"
        return args.postgres_url, None
    log("starting embedded PostgreSQL in a temporary folder...")
    url, folder = start_embedded_postgres()
    args.postgres_label = f"embedded ({folder})"
    if args.shared_buffers != "default":
        from langmem_tiered.store.embedded import start_embedded, stop_embedded

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{args.shared_buffers}'")
        log(f"restarting it with shared_buffers = {args.shared_buffers}...")
        stop_embedded(folder)
        url = start_embedded(folder)
    return url, folder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="recall p50/p99 at 100k/1M items under a 1 % tenant filter, against raw "
        "exact and HNSW kNN, and recall@10 against exact search."
    )
    ap.add_argument("--sizes", default="100000,1000000", help="item counts, comma-separated")
    ap.add_argument("--queries", type=int, default=200, help="queries (each run once per round)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (figures are medians over them)")
    ap.add_argument("--chunk", type=int, default=20, help="calls per operation before switching")
    ap.add_argument("--clusters", type=int, default=256, help="gaussian mixture components")
    ap.add_argument("--spread", type=float, default=1.0, help="noise norm around a centre")
    ap.add_argument("--vocab", type=int, default=4000, help="distinct words of the texts")
    ap.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of word frequencies")
    ap.add_argument(
        "--query-min-rank", type=int, default=100, help="query words have at least this rank"
    )
    ap.add_argument(
        "--text-search", default="simple", help="TieredMemory text_search (the items are 'simple')"
    )
    ap.add_argument("--maintenance-work-mem", default="4GB", help="for the index builds")
    ap.add_argument(
        "--build-workers",
        type=int,
        default=max(0, (os.cpu_count() or 1) - 1),
        help="max_parallel_maintenance_workers of the index builds",
    )
    ap.add_argument(
        "--shared-buffers",
        default="4GB",
        help="embedded server only: shared_buffers to restart it with ('default': leave it)",
    )
    ap.add_argument("--postgres-url", default=None, help="Postgres to use (default: embedded)")
    ap.add_argument("--seed", type=int, default=20250601, help="seed of the generated data")
    ap.add_argument("--json", metavar="PATH", default=None, help="also write results as JSON")
    args = ap.parse_args(argv)
    try:
        args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes takes integers separated by commas")
    if not args.size_list or min(args.size_list) < 10 * TENANTS:
        ap.error(f"--sizes must be >= {10 * TENANTS}")
    for name in ("queries", "rounds", "chunk", "clusters", "vocab"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.query_min_rank < args.vocab:
        ap.error("--query-min-rank must be in 0..vocab-1")
    return args


def to_json(env: dict[str, Any], args: argparse.Namespace, runs: list[dict[str, Any]]) -> Any:
    out = []
    for r in runs:
        d = {k: v for k, v in r.items() if k not in ("results", "plans")}
        d["plans"] = {
            k: {"summary": v["summary"], "generic": v.get("generic")} for k, v in r["plans"].items()
        }
        d["plans"]["hybrid"]["text"] = r["plans"]["hybrid"]["text"]
        d["operations"] = {
            o.name: {
                "label": o.label,
                "p50_ms": o.p50 / 1000,
                "p99_ms": o.p99 / 1000,
                "p50_ms_per_round": [x / 1000 for x in o.p50_us],
                "p99_ms_per_round": [x / 1000 for x in o.p99_us],
                "samples": o.samples,
            }
            for o in r["results"].values()
        }
        out.append(d)
    at = [r for r in runs if r["size"] == TARGET_SIZE]
    p99 = at[0]["results"]["pkg_hybrid"].p99 / 1000 if at else None
    return {
        "environment": env,
        "config": {k: v for k, v in vars(args).items() if k not in ("size_list",)},
        "sizes": out,
        "recall_p99_at_1m_ms": p99,
        "verdict": None if p99 is None else ("PASS" if p99 <= TARGET_P99_MS else "FAIL"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    url, folder = start_server(args)
    runs: list[dict[str, Any]] = []
    env: dict[str, Any] = {}
    try:
        corpus = Corpus(args)
        for size in args.size_list:
            run = SizeRun(args, url, corpus, size)
            try:
                log(f"== {size:,} items: schema {run.schema}")
                runs.append(run.run())
                if not env:
                    env = pg_environment(url)
            finally:
                for p in run.cleanup():
                    log(f"cleanup: {p}")
    finally:
        if folder is not None:
            for p in stop_embedded_postgres(folder):
                log(f"cleanup: {p}")
    if runs:
        print(render(env, args, runs), flush=True)
        log(f"total time {time.perf_counter() - t_start:.0f} s")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(to_json(env, args, runs), fh, indent=2, default=str)
            log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
