"""A LangGraph ``BaseStore`` on langmem-tiered's Postgres: long-term memory for agents.

:class:`TieredStore` implements ``batch`` / ``abatch`` (``GetOp``, ``PutOp`` with delete and
``ttl``, ``SearchOp``, ``ListNamespacesOp``) on the memory's connection pool, in a table of its
own (``lmt_lg_store``, created by the core's migration 0005 in the memory's schema; the
embedding column is added on first use when pgvector is available and the store has an
embedder of its own).

With the memory's own embedder (the default), indexed items are also recall items of the user
(kind ``memory``, key ``json([*path, key])``, written before the row): ``search(query=...)`` is
the memory's hybrid recall, then the namespace prefix and filter on the stored rows, and the
items are recalled into the memory's composed context.

Namespaces map to tenant and user *exactly*: the first two elements of a namespace are the
tenant and the user (or fewer when ``tenant_id`` / ``user_id`` are fixed), compared with ``=``.
No ``LIKE`` or string-prefix pattern ever touches them, so ``john_doe`` never sees ``john-doe``
or ``john%``. The remaining elements are the namespace inside the user, stored as ``text[]``;
LangGraph's prefix semantics apply to them on whole elements (array slice comparison).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_op_namespace,
)
from langgraph.store.base.embed import get_text_at_path, tokenize_path
from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory
from langmem_tiered.recall.embedders import Embedder
from langmem_tiered.store.schema import lock_key

from ._memories import async_pool, sync_pool
from .adapters import LangChainEmbedder

__all__ = ["TieredStore"]

_log = logging.getLogger("langmem_tiered")

TABLE = "lmt_lg_store"

_COLS = "namespace, key, value, created_at, updated_at, tenant_id, user_id"
_LIVE = "(expires_at IS NULL OR expires_at > now())"
_FILTER_OPS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


_SQL_VECTOR_SUPPORT = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'),
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')
"""


def _vec(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


class _Plan:
    """SQL of one op (built without I/O) and how to turn its rows into the op's result."""

    __slots__ = ("kind", "op", "params", "sql")

    def __init__(self, kind: str, op: Op, sql: str | None, params: Any) -> None:
        self.kind = kind
        self.op = op
        self.sql = sql
        self.params = params


class TieredStore(BaseStore):
    """LangGraph ``BaseStore`` backed by a langmem-tiered memory's Postgres.

    Args:
        memory: A :class:`~langmem_tiered.TieredMemory` (sync ``batch``; ``abatch`` runs it in a
            worker thread) or an :class:`~langmem_tiered.AsyncTieredMemory` (``abatch`` on the
            event loop; ``batch`` from another thread is forwarded to that loop).
        index: LangGraph's ``IndexConfig``: ``{"dims": ..., "embed": Embeddings, "fields":
            [...]}``. ``embed`` may be a LangChain ``Embeddings`` (adapted with
            :class:`LangChainEmbedder`) or a core ``Embedder``. Default: the memory's embedder,
            if it has one; without any, ``search(query=...)`` is full-text.
        embedder: A core ``Embedder`` (alternative to ``index["embed"]``).
        ttl: LangGraph's ``TTLConfig`` (``default_ttl`` in minutes, ``refresh_on_read``).
        tenant_id: Fix the tenant: namespaces then start with the user.
        user_id: Fix the user too (requires ``tenant_id``): namespaces are inside that user.

    Raises:
        ConfigurationError: invalid arguments.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: TieredMemory | AsyncTieredMemory,
        *,
        index: IndexConfig | None = None,
        embedder: Embedder | None = None,
        ttl: TTLConfig | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        if not isinstance(memory, (TieredMemory, AsyncTieredMemory)):
            raise ConfigurationError("TieredStore needs a TieredMemory or an AsyncTieredMemory")
        if user_id is not None and tenant_id is None:
            raise ConfigurationError("user_id needs tenant_id")
        for name, value in (("tenant_id", tenant_id), ("user_id", user_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{name} must be a non-empty string")
        self.memory = memory
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.ttl_config = ttl
        self.index_config = index
        self._fields: list[str] = ["$"]
        resolved: Embedder | None = embedder
        if index is not None:
            embed = index.get("embed")
            dims = index.get("dims")
            if isinstance(embed, Embeddings):
                resolved = cast(Embedder, LangChainEmbedder(embed, dimension=dims))
            elif isinstance(embed, Embedder):
                resolved = embed
            elif embed is not None:
                raise ConfigurationError(
                    "index['embed'] must be a LangChain Embeddings or a langmem-tiered Embedder"
                )
            self._fields = list(index.get("fields") or ["$"])
        if resolved is None:
            resolved = cast("Embedder | None", getattr(memory, "embedder", None))
        self.embedder = resolved
        # With the memory's own embedder (the default), items are recall items of the memory
        # (kind "memory") and searched by its hybrid recall; another embedder gets a column here.
        self._via_recall = resolved is getattr(memory, "embedder", None)
        self._ready = False
        self._vectors = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._prefix_len = 2 - (tenant_id is not None) - (user_id is not None)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _schema(self) -> str:
        store = self.memory.store
        if store is None:
            raise ConfigurationError("the memory is not open: call memory.open() first")
        return store.schema

    @property
    def _table(self) -> str:
        return f"{self._schema}.{TABLE}"

    def _split(self, namespace: tuple[str, ...]) -> tuple[str, str, list[str]]:
        """``(tenant, user, inner namespace)`` of a full namespace."""
        if len(namespace) < self._prefix_len or (not namespace and self._prefix_len == 0):
            raise InvalidNamespaceError(
                f"namespace {namespace!r} must start with "
                + ("tenant and user" if self._prefix_len == 2 else "the user")
                + " (and cannot be empty)"
            )
        head = list(namespace[: self._prefix_len])
        tenant = self.tenant_id if self.tenant_id is not None else head.pop(0)
        user = self.user_id if self.user_id is not None else head.pop(0)
        return tenant, user, list(namespace[self._prefix_len :])

    def _join(self, tenant: str, user: str, inner: Sequence[str]) -> tuple[str, ...]:
        head: list[str] = []
        if self.tenant_id is None:
            head.append(tenant)
        if self.user_id is None:
            head.append(user)
        return (*head, *inner)

    def _scope(self, prefix: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
        """WHERE clauses (tenant/user with ``=``, inner prefix on whole elements)."""
        where: list[str] = []
        params: dict[str, Any] = {}
        head = list(prefix[: self._prefix_len])
        tenant = self.tenant_id if self.tenant_id is not None else (head.pop(0) if head else None)
        user = self.user_id if self.user_id is not None else (head.pop(0) if head else None)
        if tenant is not None:
            where.append("tenant_id = %(tenant)s")
            params["tenant"] = tenant
        if user is not None:
            where.append("user_id = %(user)s")
            params["user"] = user
        inner = list(prefix[self._prefix_len :])
        if inner:
            where.append("namespace[1:%(plen)s] = %(prefix)s::text[]")
            params["plen"] = len(inner)
            params["prefix"] = inner
        return where, params

    def _texts(self, value: Mapping[str, Any], fields: list[str] | None) -> str:
        parts: list[str] = []
        for path in fields if fields is not None else self._fields:
            tokens: str | list[str] = path if path == "$" else tokenize_path(path)
            parts.extend(get_text_at_path(value, tokens))
        return "\n".join(p for p in parts if p)

    def _refresh(self, flag: bool) -> bool:
        if self.ttl_config is not None and "refresh_on_read" in self.ttl_config:
            return bool(self.ttl_config["refresh_on_read"]) and flag
        return flag

    def _put_ttl(self, op: PutOp) -> float | None:
        # put()/aput() already applied ttl["default_ttl"]; an explicit None never expires
        ttl = op.ttl
        if ttl is not None and (not isinstance(ttl, (int, float)) or not math.isfinite(ttl)):
            raise ValueError("ttl must be a finite number of minutes")
        return ttl

    # -- planning (no I/O) ---------------------------------------------------------------------

    def _embed_inputs(self, ops: Sequence[Op]) -> tuple[list[str], list[str]]:
        """Texts of the puts to embed and the search queries, in op order."""
        docs: list[str] = []
        queries: list[str] = []
        if not self._vectors or self.embedder is None:
            return docs, queries
        for op in ops:
            if isinstance(op, PutOp) and op.value is not None and op.index is not False:
                text = self._texts(op.value, op.index if isinstance(op.index, list) else None)
                if text:
                    docs.append(text)
            elif isinstance(op, SearchOp) and op.query:
                queries.append(op.query)
        return docs, queries

    def _plan(
        self, ops: Sequence[Op], doc_vecs: list[list[float]], query_vecs: list[list[float]]
    ) -> list[_Plan]:
        t = self._table
        docs = iter(doc_vecs)
        queries = iter(query_vecs)
        plans: list[_Plan] = []
        p: dict[str, Any]
        where: list[str]
        for op in ops:
            if isinstance(op, GetOp):
                tenant, user, inner = self._split(op.namespace)
                p = {"t": tenant, "u": user, "ns": inner, "k": op.key}
                pk = "tenant_id = %(t)s AND user_id = %(u)s AND namespace = %(ns)s AND key = %(k)s"
                refresh = ""
                if self._refresh(op.refresh_ttl):
                    refresh = (
                        f"WITH r AS (UPDATE {t} SET expires_at = now() + ttl_minutes * "
                        f"interval '1 minute' WHERE {pk} AND ttl_minutes IS NOT NULL AND {_LIVE}) "
                    )
                sql = f"{refresh}SELECT {_COLS} FROM {t} WHERE {pk} AND {_LIVE}"
                plans.append(_Plan("get", op, sql, p))
            elif isinstance(op, PutOp):
                tenant, user, inner = self._split(op.namespace)
                p = {"t": tenant, "u": user, "ns": inner, "k": op.key}
                if op.value is None:
                    sql = (
                        f"DELETE FROM {t} WHERE tenant_id = %(t)s AND user_id = %(u)s "
                        "AND namespace = %(ns)s AND key = %(k)s"
                    )
                    plans.append(_Plan("put", op, sql, p))
                    continue
                text = ""
                if op.index is not False:
                    text = self._texts(op.value, op.index if isinstance(op.index, list) else None)
                vector: str | None = None
                if self._vectors and self.embedder is not None and text:
                    vector = _vec(next(docs))
                p.update(
                    value=json.dumps(op.value, ensure_ascii=False),
                    text=text,
                    ttl=self._put_ttl(op),
                    vec=vector,
                )
                emb_col = ", embedding" if self._vectors else ""
                emb_val = ", %(vec)s::halfvec" if self._vectors else ""
                emb_set = ", embedding = EXCLUDED.embedding" if self._vectors else ""
                sql = f"""
                INSERT INTO {t} AS s (tenant_id, user_id, namespace, key, value, search_text,
                                      tsv, ttl_minutes, expires_at{emb_col})
                VALUES (%(t)s, %(u)s, %(ns)s, %(k)s, %(value)s::jsonb, %(text)s,
                        to_tsvector('simple', %(text)s), %(ttl)s::double precision,
                        now() + %(ttl)s::double precision * interval '1 minute'{emb_val})
                ON CONFLICT (tenant_id, user_id, namespace, key) DO UPDATE
                SET value = EXCLUDED.value, search_text = EXCLUDED.search_text,
                    tsv = EXCLUDED.tsv, ttl_minutes = EXCLUDED.ttl_minutes,
                    expires_at = EXCLUDED.expires_at, updated_at = now(),
                    created_at = CASE WHEN s.expires_at IS NOT NULL AND s.expires_at <= now()
                                      THEN now() ELSE s.created_at END{emb_set}
                """
                plans.append(_Plan("put", op, sql, p))
            elif isinstance(op, SearchOp):
                where, p = self._scope(op.namespace_prefix)
                where.append(_LIVE)
                for i, (field, cond) in enumerate((op.filter or {}).items()):
                    where.extend(self._filter_sql(i, field, cond, p))
                score = "NULL::double precision"
                order = "updated_at DESC, namespace, key"
                source = f"FROM {t}"
                kind = "search"
                if self._recall_scope(op) is not None:
                    # ranked by the memory's recall (filled in at execution, see _recalled)
                    kind = "recall"
                    source = (
                        "FROM jsonb_array_elements(%(rk)s::jsonb) WITH ORDINALITY AS r(e, rank) "
                        f"JOIN {t} ON tenant_id = %(tenant)s AND user_id = %(user)s "
                        "AND namespace = ARRAY(SELECT jsonb_array_elements_text(r.e->0)) "
                        "AND key = r.e->>1"
                    )
                    score = "(r.e->>2)::double precision"
                    order = "r.rank"
                elif op.query:
                    if self._vectors and self.embedder is not None:
                        qvec = next(queries)
                        p["q"] = _vec(qvec)
                        p["qdim"] = len(qvec)
                        # vectors of another dimension (another embedder) get no score
                        dist = (
                            "(CASE WHEN vector_dims(embedding) = %(qdim)s "
                            "THEN embedding <=> %(q)s::halfvec END)"
                        )
                        score = f"1 - {dist}"
                        order = f"{dist} NULLS LAST, namespace, key"
                    else:
                        p["q"] = op.query
                        score = "ts_rank(tsv, websearch_to_tsquery('simple', %(q)s))"
                        where.append("tsv @@ websearch_to_tsquery('simple', %(q)s)")
                        order = f"{score} DESC, namespace, key"
                p["limit"] = op.limit
                p["offset"] = op.offset
                cond_sql = " AND ".join(where)
                select = (
                    f"SELECT {_COLS}, {score} AS score, "
                    f"row_number() OVER (ORDER BY {order}) AS ord "
                    f"{source} WHERE {cond_sql} "
                    f"ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s"
                )
                if self._refresh(op.refresh_ttl):
                    sql = (
                        f"WITH hits AS ({select}), r AS (UPDATE {t} x SET expires_at = now() + "
                        "x.ttl_minutes * interval '1 minute' FROM hits h WHERE "
                        "x.tenant_id = h.tenant_id AND x.user_id = h.user_id AND "
                        "x.namespace = h.namespace AND x.key = h.key AND "
                        "x.ttl_minutes IS NOT NULL) SELECT * FROM hits ORDER BY ord"
                    )
                else:
                    sql = select
                plans.append(_Plan(kind, op, sql, p))
            elif isinstance(op, ListNamespacesOp):
                where = [_LIVE]
                p = {}
                # exact tenant/user from the first prefix condition without wildcards
                for cond in op.match_conditions or ():
                    if cond.match_type != "prefix":
                        continue
                    fixed: list[str] = []
                    for label in cond.path[: self._prefix_len]:
                        if label == "*":
                            break
                        fixed.append(label)
                    w, pp = self._scope(tuple(fixed[: self._prefix_len]))
                    where.extend(w)
                    p.update(pp)
                    break
                sql = (
                    f"SELECT DISTINCT tenant_id, user_id, namespace FROM {t} "
                    f"WHERE {' AND '.join(where)}"
                )
                plans.append(_Plan("list", op, sql, p))
            else:
                raise ValueError(f"unknown operation {type(op).__name__}")
        return plans

    @staticmethod
    def _filter_sql(i: int, field: str, cond: Any, p: dict[str, Any]) -> list[str]:
        clauses: list[str] = []
        items: Iterable[tuple[str, Any]]
        if isinstance(cond, dict) and cond and all(k in _FILTER_OPS for k in cond):
            items = cond.items()
        else:
            items = [("$eq", cond)]
        for j, (oper, value) in enumerate(items):
            f, v = f"f{i}_{j}", f"v{i}_{j}"
            p[f] = field
            p[v] = json.dumps(value, ensure_ascii=False)
            sqlop = _FILTER_OPS[oper]
            if oper == "$eq":
                clauses.append(f"value -> %({f})s = %({v})s::jsonb")
            elif oper == "$ne":
                clauses.append(f"value -> %({f})s IS DISTINCT FROM %({v})s::jsonb")
            else:
                # jsonb ordering: numbers with numbers, strings with strings
                clauses.append(
                    f"jsonb_typeof(value -> %({f})s) = jsonb_typeof(%({v})s::jsonb) "
                    f"AND value -> %({f})s {sqlop} %({v})s::jsonb"
                )
        return clauses

    def _result(self, plan: _Plan, rows: list[tuple[Any, ...]]) -> Result:
        if plan.kind == "get":
            return self._item(rows[0]) if rows else None
        if plan.kind == "put":
            return None
        if plan.kind in ("search", "recall"):
            return [self._search_item(r) for r in rows]
        op = cast(ListNamespacesOp, plan.op)
        found = {self._join(r[0], r[1], r[2]) for r in rows}
        out: set[tuple[str, ...]] = set()
        for ns in found:
            if not all(_matches(ns, c.match_type, c.path) for c in op.match_conditions or ()):
                continue
            out.add(ns[: op.max_depth] if op.max_depth is not None else ns)
        return sorted(out)[op.offset : op.offset + op.limit]

    def _item(self, r: tuple[Any, ...]) -> Item:
        return Item(
            value=r[2],
            key=r[1],
            namespace=self._join(r[5], r[6], r[0]),
            created_at=cast(datetime, r[3]),
            updated_at=cast(datetime, r[4]),
        )

    def _search_item(self, r: tuple[Any, ...]) -> SearchItem:
        return SearchItem(
            namespace=self._join(r[5], r[6], r[0]),
            key=r[1],
            value=r[2],
            created_at=cast(datetime, r[3]),
            updated_at=cast(datetime, r[4]),
            score=None if r[7] is None else float(r[7]),
        )

    # -- the memory's recall tier ----------------------------------------------------------------

    def _recall_scope(self, op: SearchOp) -> tuple[str, str, int] | None:
        """``(tenant, user, candidates)`` when ``op`` is searched through the memory's recall:
        a query, the memory's embedder, and a namespace prefix naming one tenant and user."""
        if not (self._via_recall and op.query):
            return None
        _, params = self._scope(op.namespace_prefix)
        if "tenant" not in params or "user" not in params:
            return None
        return params["tenant"], params["user"], min(1000, max(100, 4 * (op.limit + op.offset)))

    @staticmethod
    def _ranked(hits: Sequence[Any]) -> str:
        ranked = []
        for hit in hits:
            path = json.loads(hit.key)
            ranked.append([path[:-1], path[-1], hit.score])
        return json.dumps(ranked, ensure_ascii=False)

    def _memories(self, op: PutOp) -> tuple[str, str, dict[str, str | None]] | None:
        """What a put writes to (or deletes from) the memory's recall tier."""
        if not self._via_recall:
            return None
        tenant, user, inner = self._split(op.namespace)
        text = ""
        if op.value is not None and op.index is not False:
            text = self._texts(op.value, op.index if isinstance(op.index, list) else None)
        key = json.dumps([*inner, op.key], ensure_ascii=False)
        return tenant, user, {key: text if text.strip() else None}

    def _forget(self, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], list[str]]:
        gone: dict[tuple[str, str], list[str]] = {}
        for tenant, user, namespace, key in rows:
            gone.setdefault((tenant, user), []).append(
                json.dumps([*namespace, key], ensure_ascii=False)
            )
        return gone

    # -- sync ----------------------------------------------------------------------------------

    def _sync_pool(self) -> Any:
        return sync_pool(self.memory, "TieredStore")

    def setup(self) -> None:
        """Add the embedding column when an embedder is set and pgvector is available (the
        table itself comes with the core's migrations)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with self._sync_pool().connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("lmt_lg_store")])
                if self.embedder is not None and not self._via_recall:
                    installed, available = conn.execute(_SQL_VECTOR_SUPPORT).fetchone()
                    if installed or available:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
                        conn.execute(
                            f"ALTER TABLE {self._table} ADD COLUMN IF NOT EXISTS embedding halfvec"
                        )
                        self._vectors = True
            self._ready = True

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        if isinstance(self.memory, AsyncTieredMemory):
            loop = self._loop
            if loop is None or not loop.is_running():
                raise ConfigurationError(
                    "TieredStore over an AsyncTieredMemory: use abatch/the a* methods (sync "
                    "calls work only from another thread while its event loop runs)"
                )
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise ConfigurationError("sync call on the event loop: use the a* methods")
            return asyncio.run_coroutine_threadsafe(self.abatch(ops), loop).result()
        self.setup()
        docs, queries = self._embed_inputs(ops)
        embedder = self.embedder
        doc_vecs = embedder.embed_documents(docs) if docs and embedder else []
        query_vecs = [embedder.embed_query(q) for q in queries] if embedder else []
        plans = self._plan(ops, doc_vecs, query_vecs)
        results: list[Result] = []
        try:
            with self._sync_pool().connection() as conn:
                for plan in plans:
                    if plan.kind == "recall":
                        tenant, user, k = self._recall_scope(cast(SearchOp, plan.op)) or ("", "", 0)
                        hits = self.memory.user(tenant, user).recall(
                            cast(SearchOp, plan.op).query or "", k=k, kinds=("memory",), merge=False
                        )
                        plan.params["rk"] = self._ranked(hits)
                    if plan.kind == "put" and (m := self._memories(cast(PutOp, plan.op))):
                        # first: a memory the recall tier refuses (too long...) stores nothing
                        self.memory.user(m[0], m[1]).put_memories(m[2])
                    cur = conn.execute(cast(Any, plan.sql), plan.params)
                    rows = cur.fetchall() if cur.description else []
                    results.append(self._result(plan, rows))
        except psycopg.Error as exc:
            raise _store_error(exc) from exc
        return results

    def sweep_ttl(self) -> int:
        """Delete expired items; return how many."""
        if isinstance(self.memory, AsyncTieredMemory):
            raise ConfigurationError("use asweep_ttl with an AsyncTieredMemory")
        self.setup()
        with self._sync_pool().connection() as conn:
            cur = conn.execute(
                f"DELETE FROM {self._table} WHERE expires_at <= now() "
                "RETURNING tenant_id, user_id, namespace, key"
            )
            rows = cur.fetchall()
        if self._via_recall:
            for (tenant, user), keys in self._forget(rows).items():
                self.memory.user(tenant, user).delete_memories(keys)
        return len(rows)

    # -- async ---------------------------------------------------------------------------------

    async def _async_pool(self) -> Any:
        assert isinstance(self.memory, AsyncTieredMemory)
        return await async_pool(self.memory)

    async def asetup(self) -> None:
        """Async twin of :meth:`setup`."""
        if self._ready:
            return
        if isinstance(self.memory, TieredMemory):
            await asyncio.to_thread(self.setup)
            return
        pool = await self._async_pool()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("lmt_lg_store")])
            if self.embedder is not None and not self._via_recall:
                cur = await conn.execute(_SQL_VECTOR_SUPPORT)
                installed, available = await cur.fetchone()
                if installed or available:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
                    await conn.execute(
                        f"ALTER TABLE {self._table} ADD COLUMN IF NOT EXISTS embedding halfvec"
                    )
                    self._vectors = True
        self._ready = True

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        if isinstance(self.memory, TieredMemory):
            return await asyncio.to_thread(self.batch, ops)
        self._loop = asyncio.get_running_loop()
        await self.asetup()
        docs, queries = self._embed_inputs(ops)
        embedder = self.embedder
        doc_vecs = await embedder.aembed_documents(docs) if docs and embedder else []
        query_vecs = [await embedder.aembed_query(q) for q in queries] if embedder else []
        plans = self._plan(ops, doc_vecs, query_vecs)
        results: list[Result] = []
        pool = await self._async_pool()
        try:
            async with pool.connection() as conn:
                for plan in plans:
                    if plan.kind == "recall":
                        tenant, user, k = self._recall_scope(cast(SearchOp, plan.op)) or ("", "", 0)
                        hits = await self.memory.user(tenant, user).recall(
                            cast(SearchOp, plan.op).query or "", k=k, kinds=("memory",), merge=False
                        )
                        plan.params["rk"] = self._ranked(hits)
                    if plan.kind == "put" and (m := self._memories(cast(PutOp, plan.op))):
                        # first: a memory the recall tier refuses (too long...) stores nothing
                        await self.memory.user(m[0], m[1]).put_memories(m[2])
                    cur = await conn.execute(cast(Any, plan.sql), plan.params)
                    rows = await cur.fetchall() if cur.description else []
                    results.append(self._result(plan, rows))
        except psycopg.Error as exc:
            raise _store_error(exc) from exc
        return results

    async def asweep_ttl(self) -> int:
        """Async twin of :meth:`sweep_ttl`."""
        if isinstance(self.memory, TieredMemory):
            return await asyncio.to_thread(self.sweep_ttl)
        await self.asetup()
        pool = await self._async_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                f"DELETE FROM {self._table} WHERE expires_at <= now() "
                "RETURNING tenant_id, user_id, namespace, key"
            )
            rows = await cur.fetchall()
        if self._via_recall:
            for (tenant, user), keys in self._forget(rows).items():
                await self.memory.user(tenant, user).delete_memories(keys)
        return len(rows)

    def start_ttl_sweeper(self, interval_minutes: float | None = None) -> asyncio.Task[None]:
        """Sweep expired items every ``interval_minutes`` in a task of the running event loop.

        Default interval: ``ttl["sweep_interval_minutes"]``, else 5. :meth:`stop_ttl_sweeper`
        ends the task."""
        if interval_minutes is None and self.ttl_config is not None:
            interval_minutes = self.ttl_config.get("sweep_interval_minutes")
        seconds = 60.0 * (interval_minutes or 5)
        if seconds <= 0:
            raise ConfigurationError("interval_minutes must be positive")
        self.stop_ttl_sweeper()

        async def sweep() -> None:
            while True:
                try:
                    await self.asweep_ttl()
                except Exception:  # a failed sweep is retried at the next interval
                    _log.warning("TieredStore: TTL sweep failed", exc_info=True)
                await asyncio.sleep(seconds)

        self._sweeper = asyncio.get_running_loop().create_task(sweep())
        return self._sweeper

    def stop_ttl_sweeper(self) -> None:
        """Cancel the task of :meth:`start_ttl_sweeper`, if any."""
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()


def _matches(ns: tuple[str, ...], match_type: str, path: Sequence[str]) -> bool:
    if len(path) > len(ns):
        return False
    part = ns[: len(path)] if match_type == "prefix" else ns[len(ns) - len(path) :]
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True))


def _store_error(exc: psycopg.Error) -> Exception:
    from langmem_tiered.errors import StoreError

    return StoreError(f"Postgres error: {exc}")
