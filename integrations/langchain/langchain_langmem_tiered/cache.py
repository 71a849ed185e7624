"""A tiered LLM cache (``BaseCache``): Redis first, the memory's Postgres behind.

:class:`TieredCache` caches LLM results for ``set_llm_cache``. The key is the sha256 of
``(llm_string, prompt)``; the value is the list of ``Generation`` s (``ChatGeneration`` with its
message included) serialized with ``langchain_core.load.dumps``.

* Redis (optional): ``{prefix}:{sha256(llm_string)}:{key}``, with the TTL as Redis expiry.
* Postgres: table ``lmt_llm_cache`` in the memory's schema (created with ``CREATE TABLE IF NOT
  EXISTS`` under an advisory lock; the core has no migration for it yet). Rows past
  ``expires_at`` are never returned. A Postgres hit refills Redis for the remaining TTL.

Redis errors never raise: the cache falls back to Postgres and counts them in :meth:`stats`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory
from langmem_tiered.store.schema import lock_key

from ._memories import async_pool, sync_pool

__all__ = ["TieredCache"]

_log = logging.getLogger("langmem_tiered")

TABLE = "lmt_llm_cache"
DEFAULT_TTL_SECONDS = 90 * 24 * 3600
_LIVE = "(expires_at IS NULL OR expires_at > now())"


def _ddl(schema: str) -> list[str]:
    t = f"{schema}.{TABLE}"
    return [
        f"""CREATE TABLE IF NOT EXISTS {t} (
            key             text        PRIMARY KEY,
            llm_string_hash text        NOT NULL,
            value           jsonb       NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz,
            hits            bigint      NOT NULL DEFAULT 0,
            tokens          integer     NOT NULL DEFAULT 0
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_llm ON {t} (llm_string_hash)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {t} (expires_at) "
        "WHERE expires_at IS NOT NULL",
    ]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(prompt: str, llm_string: str) -> str:
    """sha256 of ``(llm_string, prompt)``."""
    return _sha(json.dumps([llm_string, prompt], ensure_ascii=False))


class TieredCache(BaseCache):
    """LLM cache: Redis (hot) then Postgres (durable), with TTL and hit/miss statistics.

    Args:
        memory: A :class:`~langmem_tiered.TieredMemory` (sync methods; the ``a*`` methods run
            them in a worker thread) or an :class:`~langmem_tiered.AsyncTieredMemory` (``a*``
            methods only). Its Postgres pool, schema and tokenizer are used.
        redis_url: Redis URL of the hot tier.
        redis_client: A ``redis.Redis`` or ``redis.asyncio.Redis`` client instead of a URL.
            Without a URL or a client the cache is Postgres only.
        redis_prefix: Key prefix in Redis.
        ttl_seconds: Lifetime of an entry in both tiers (default 90 days; ``None``: forever).

    Raises:
        ConfigurationError: invalid arguments.
    """

    def __init__(
        self,
        memory: TieredMemory | AsyncTieredMemory,
        *,
        redis_url: str | None = None,
        redis_client: redis.Redis | aioredis.Redis | None = None,
        redis_prefix: str = "lmt-llm-cache",
        ttl_seconds: int | None = DEFAULT_TTL_SECONDS,
    ) -> None:
        if not isinstance(memory, (TieredMemory, AsyncTieredMemory)):
            raise ConfigurationError("TieredCache needs a TieredMemory or an AsyncTieredMemory")
        if redis_url is not None and redis_client is not None:
            raise ConfigurationError("give redis_url or redis_client, not both")
        if ttl_seconds is not None and (not isinstance(ttl_seconds, int) or ttl_seconds <= 0):
            raise ConfigurationError("ttl_seconds must be a positive int or None")
        if not redis_prefix:
            raise ConfigurationError("redis_prefix must be non-empty")
        self.memory = memory
        self.redis_prefix = redis_prefix
        self.ttl_seconds = ttl_seconds
        self._redis_url = redis_url
        self._sync_redis: redis.Redis | None = None
        self._async_redis: aioredis.Redis | None = None
        self._async_redis_loop: asyncio.AbstractEventLoop | None = None
        if isinstance(redis_client, aioredis.Redis):
            self._async_redis = redis_client
        elif isinstance(redis_client, redis.Redis):
            self._sync_redis = redis_client
        elif redis_client is not None:
            raise ConfigurationError("redis_client must be a redis.Redis or redis.asyncio.Redis")
        elif redis_url is not None:
            self._sync_redis = redis.Redis.from_url(redis_url)
        self._ready = False
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counts = {
            "redis_hits": 0,
            "postgres_hits": 0,
            "misses": 0,
            "tokens_saved": 0,
            "redis_errors": 0,
        }

    # -- helpers -------------------------------------------------------------------------------

    @property
    def _schema(self) -> str:
        store = self.memory.store
        if store is None:
            raise ConfigurationError("the memory is not open: call memory.open() first")
        return store.schema

    @property
    def _table(self) -> str:
        return f"{self._schema}.{TABLE}"

    def _rkey(self, prompt: str, llm_string: str) -> str:
        return f"{self.redis_prefix}:{_sha(llm_string)}:{cache_key(prompt, llm_string)}"

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def _redis_failed(self, exc: Exception) -> None:
        _log.warning("TieredCache: Redis unavailable (%s); using Postgres", exc)
        self._count(redis_errors=1)

    def count_tokens(self, generations: Sequence[Generation]) -> int:
        """Tokens of cached generations: ``usage_metadata`` output tokens when present, else
        the memory's tokenizer on the text."""
        total = 0
        for gen in generations:
            if isinstance(gen, ChatGeneration) and isinstance(gen.message, AIMessage):
                usage = gen.message.usage_metadata
                if usage and usage.get("output_tokens"):
                    total += int(usage["output_tokens"])
                    continue
            if gen.text:
                total += int(self.memory.tokenizer.count(gen.text))
        return total

    @staticmethod
    def _decode(raw: str | bytes) -> RETURN_VAL_TYPE | None:
        try:
            value = loads(
                raw.decode("utf-8") if isinstance(raw, bytes) else raw, allowed_objects="core"
            )
        except Exception as exc:  # noqa: BLE001 - a corrupt entry is a miss, not an error
            _log.warning("TieredCache: undecodable entry ignored (%s)", exc)
            return None
        if not isinstance(value, list):
            return None
        return value

    def stats(self) -> dict[str, Any]:
        """Counters of this cache object: ``hits`` (``redis_hits`` + ``postgres_hits``),
        ``misses``, ``lookups``, ``hit_rate`` (0.0 before any lookup), ``tokens_saved`` and
        ``redis_errors`` (Redis failures that fell back to Postgres)."""
        with self._stats_lock:
            counts = dict(self._counts)
        hits = counts["redis_hits"] + counts["postgres_hits"]
        lookups = hits + counts["misses"]
        return {
            "hits": hits,
            "redis_hits": counts["redis_hits"],
            "postgres_hits": counts["postgres_hits"],
            "misses": counts["misses"],
            "lookups": lookups,
            "hit_rate": hits / lookups if lookups else 0.0,
            "tokens_saved": counts["tokens_saved"],
            "redis_errors": counts["redis_errors"],
        }

    def reset_stats(self) -> None:
        """Zero the counters of :meth:`stats`."""
        with self._stats_lock:
            for name in self._counts:
                self._counts[name] = 0

    def _sql_upsert(self) -> str:
        return (
            f"INSERT INTO {self._table} (key, llm_string_hash, value, expires_at, tokens) "
            "VALUES (%s, %s, %s::jsonb, CASE WHEN %s::double precision IS NULL THEN NULL "
            "ELSE now() + make_interval(secs => %s::double precision) END, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
            "llm_string_hash = EXCLUDED.llm_string_hash, created_at = now(), "
            "expires_at = EXCLUDED.expires_at, tokens = EXCLUDED.tokens, hits = 0"
        )

    def _sql_hit(self) -> str:
        return (
            f"UPDATE {self._table} SET hits = hits + 1 WHERE key = %s AND {_LIVE} "
            "RETURNING value::text, tokens, EXTRACT(EPOCH FROM (expires_at - now()))"
        )

    # -- sync ----------------------------------------------------------------------------------

    def _sync_pool(self) -> Any:
        return sync_pool(self.memory, "TieredCache")

    def setup(self) -> None:
        """Create the Postgres table if needed."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with self._sync_pool().connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(TABLE)])
                for stmt in _ddl(self._schema):
                    conn.execute(stmt)
            self._ready = True

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Redis, then Postgres (refilling Redis); ``None`` on a miss."""
        if isinstance(self.memory, AsyncTieredMemory):
            self._sync_pool()  # raises
        rkey = self._rkey(prompt, llm_string)
        client = self._sync_redis
        redis_ok = client is not None
        if client is not None:
            try:
                raw = client.get(rkey)
            except redis.RedisError as exc:
                self._redis_failed(exc)
                raw, redis_ok = None, False
            if raw is not None:
                value = self._decode(raw)
                if value is not None:
                    self._count(redis_hits=1, tokens_saved=self.count_tokens(value))
                    return value
        self.setup()
        with self._sync_pool().connection() as conn:
            row = conn.execute(self._sql_hit(), [cache_key(prompt, llm_string)]).fetchone()
        if row is None or (value := self._decode(row[0])) is None:
            self._count(misses=1)
            return None
        self._count(postgres_hits=1, tokens_saved=int(row[1]))
        if client is not None and redis_ok:
            self._refill(client, rkey, row[0], row[2])
        return value

    def _refill(self, client: redis.Redis, rkey: str, raw: str, remaining: Any) -> None:
        ttl = None if remaining is None else max(1, int(float(remaining)))
        try:
            client.set(rkey, raw, ex=ttl)
        except redis.RedisError as exc:
            self._redis_failed(exc)

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Write both tiers (Postgres first; a Redis failure is counted, not raised)."""
        raw = dumps(list(return_val))
        tokens = self.count_tokens(return_val)
        self.setup()
        ttl = self.ttl_seconds
        with self._sync_pool().connection() as conn:
            conn.execute(
                self._sql_upsert(),
                [cache_key(prompt, llm_string), _sha(llm_string), raw, ttl, ttl, tokens],
            )
        client = self._sync_redis
        if client is not None:
            try:
                client.set(self._rkey(prompt, llm_string), raw, ex=ttl)
            except redis.RedisError as exc:
                self._redis_failed(exc)

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry of both tiers, or only those of ``llm_string=...``."""
        llm_string = kwargs.get("llm_string")
        self.setup()
        with self._sync_pool().connection() as conn:
            if llm_string is None:
                conn.execute(f"DELETE FROM {self._table}")
            else:
                conn.execute(
                    f"DELETE FROM {self._table} WHERE llm_string_hash = %s", [_sha(llm_string)]
                )
        client = self._sync_redis
        if client is not None:
            try:
                keys = list(client.scan_iter(match=self._pattern(llm_string), count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i : i + 500])
            except redis.RedisError as exc:
                self._redis_failed(exc)

    def _pattern(self, llm_string: str | None) -> str:
        middle = "*" if llm_string is None else _sha(llm_string) + ":*"
        return f"{self.redis_prefix}:{middle}"

    def close(self) -> None:
        """Close the Redis clients this cache created (not the memory)."""
        if self._redis_url is not None and self._sync_redis is not None:
            self._sync_redis.close()

    # -- async ---------------------------------------------------------------------------------

    async def _async_pool(self) -> Any:
        assert isinstance(self.memory, AsyncTieredMemory)
        return await async_pool(self.memory)

    def _aredis(self) -> aioredis.Redis | None:
        if self._redis_url is None:
            return self._async_redis
        loop = asyncio.get_running_loop()
        if self._async_redis is None or self._async_redis_loop is not loop:
            # an asyncio client belongs to one event loop: one per loop
            self._async_redis = aioredis.Redis.from_url(self._redis_url)
            self._async_redis_loop = loop
        return self._async_redis

    async def asetup(self) -> None:
        """Async twin of :meth:`setup`."""
        if self._ready:
            return
        if isinstance(self.memory, TieredMemory):
            await asyncio.to_thread(self.setup)
            return
        pool = await self._async_pool()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(TABLE)])
            for stmt in _ddl(self._schema):
                await conn.execute(stmt)
        self._ready = True

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async twin of :meth:`lookup`."""
        if isinstance(self.memory, TieredMemory) and self._async_redis is None:
            return await asyncio.to_thread(self.lookup, prompt, llm_string)
        rkey = self._rkey(prompt, llm_string)
        client = self._aredis()
        redis_ok = client is not None
        if client is not None:
            try:
                raw = await client.get(rkey)
            except redis.RedisError as exc:
                self._redis_failed(exc)
                raw, redis_ok = None, False
            if raw is not None:
                value = self._decode(raw)
                if value is not None:
                    self._count(redis_hits=1, tokens_saved=self.count_tokens(value))
                    return value
        row = await self._apg_hit(cache_key(prompt, llm_string))
        if row is None or (value := self._decode(row[0])) is None:
            self._count(misses=1)
            return None
        self._count(postgres_hits=1, tokens_saved=int(row[1]))
        if client is not None and redis_ok:
            ttl = None if row[2] is None else max(1, int(float(row[2])))
            try:
                await client.set(rkey, row[0], ex=ttl)
            except redis.RedisError as exc:
                self._redis_failed(exc)
        return value

    async def _apg_hit(self, key: str) -> Any:
        if isinstance(self.memory, TieredMemory):

            def run() -> Any:
                self.setup()
                with self._sync_pool().connection() as conn:
                    return conn.execute(self._sql_hit(), [key]).fetchone()

            return await asyncio.to_thread(run)
        await self.asetup()
        pool = await self._async_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(self._sql_hit(), [key])
            return await cur.fetchone()

    async def _apg(self, sql: str, params: list[Any]) -> None:
        if isinstance(self.memory, TieredMemory):

            def run() -> None:
                self.setup()
                with self._sync_pool().connection() as conn:
                    conn.execute(sql, params)

            await asyncio.to_thread(run)
            return
        await self.asetup()
        pool = await self._async_pool()
        async with pool.connection() as conn:
            await conn.execute(sql, params)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Async twin of :meth:`update`."""
        if isinstance(self.memory, TieredMemory) and self._async_redis is None:
            await asyncio.to_thread(self.update, prompt, llm_string, return_val)
            return
        raw = dumps(list(return_val))
        tokens = self.count_tokens(return_val)
        ttl = self.ttl_seconds
        await self.asetup()
        await self._apg(
            self._sql_upsert(),
            [cache_key(prompt, llm_string), _sha(llm_string), raw, ttl, ttl, tokens],
        )
        client = self._aredis()
        if client is not None:
            try:
                await client.set(self._rkey(prompt, llm_string), raw, ex=ttl)
            except redis.RedisError as exc:
                self._redis_failed(exc)

    async def aclear(self, **kwargs: Any) -> None:
        """Async twin of :meth:`clear`."""
        if isinstance(self.memory, TieredMemory) and self._async_redis is None:
            await asyncio.to_thread(self.clear, **kwargs)
            return
        llm_string = kwargs.get("llm_string")
        await self.asetup()
        if llm_string is None:
            await self._apg(f"DELETE FROM {self._table}", [])
        else:
            await self._apg(
                f"DELETE FROM {self._table} WHERE llm_string_hash = %s", [_sha(llm_string)]
            )
        client = self._aredis()
        if client is not None:
            try:
                keys = [k async for k in client.scan_iter(match=self._pattern(llm_string))]
                for i in range(0, len(keys), 500):
                    await client.delete(*keys[i : i + 500])
            except redis.RedisError as exc:
                self._redis_failed(exc)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()
        if self._redis_url is not None and self._async_redis is not None:
            await self._async_redis.aclose()
            self._async_redis = None
