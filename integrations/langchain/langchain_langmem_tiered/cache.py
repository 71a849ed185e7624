"""A tiered LLM cache (``BaseCache``) on the core's content cache: hot tier first, Postgres behind.

:class:`TieredCache` caches LLM results for ``set_llm_cache``. Each model configuration
(``llm_string``) is one namespace of the memory's content cache (``llm:<sha256 of llm_string>``)
in the cache's tenant; the key is the prompt; the value is the list of ``Generation`` s
(``ChatGeneration`` with its message included) serialized with ``langchain_core.load.dumps``.

Entries live in the memory's hot tier (Redis; the in-process tier only when it is the sole
writer) and in Postgres (``lmt_content_cache``), for 90 days by default. Hot-tier failures
never raise: the content cache reads and writes Postgres alone and counts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langmem_tiered import (
    DEFAULT_CACHE_TTL_SECONDS,
    AsyncContentCache,
    AsyncTieredMemory,
    ConfigurationError,
    ContentCache,
    TieredMemory,
)
from langmem_tiered.cache.entries import with_rates
from langmem_tiered.models import check_id

__all__ = ["TieredCache"]

_log = logging.getLogger("langmem_tiered")

DEFAULT_TTL_SECONDS = DEFAULT_CACHE_TTL_SECONDS
NAMESPACE_PREFIX = "llm:"
_COUNTERS = ("hot_hits", "postgres_hits", "misses", "tokens_saved", "hot_errors")


def namespace_for(llm_string: str) -> str:
    """The content-cache namespace of one model configuration."""
    return NAMESPACE_PREFIX + hashlib.sha256(llm_string.encode("utf-8")).hexdigest()


class TieredCache(BaseCache):
    """LLM cache: the memory's hot tier, then Postgres, with TTL and hit/miss statistics.

    Args:
        memory: A :class:`~langmem_tiered.TieredMemory` (sync methods; the ``a*`` methods run
            them in a worker thread) or an :class:`~langmem_tiered.AsyncTieredMemory` (``a*``
            methods only). Its hot tier, Postgres and tokenizer are used.
        tenant: Tenant of the entries (default ``"_shared"``: one cache for every tenant).
        ttl_seconds: Lifetime of an entry in both tiers (default 90 days; ``None``: forever).

    Raises:
        ConfigurationError: invalid arguments.
    """

    def __init__(
        self,
        memory: TieredMemory | AsyncTieredMemory,
        *,
        tenant: str = "_shared",
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
    ) -> None:
        if not isinstance(memory, (TieredMemory, AsyncTieredMemory)):
            raise ConfigurationError("TieredCache needs a TieredMemory or an AsyncTieredMemory")
        if ttl_seconds is not None and (
            isinstance(ttl_seconds, bool)
            or not isinstance(ttl_seconds, (int, float))
            or ttl_seconds <= 0
        ):
            raise ConfigurationError("ttl_seconds must be a positive number or None")
        self.memory = memory
        self.tenant = check_id("tenant", tenant)
        self.ttl_seconds = ttl_seconds
        self._caches: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._base = dict.fromkeys(_COUNTERS, 0)  # counters of caches dropped by reset_stats

    # -- helpers -------------------------------------------------------------------------------

    def _cache(self, llm_string: str) -> Any:
        namespace = namespace_for(llm_string)
        with self._lock:
            found = self._caches.get(namespace)
            if found is None:
                found = self.memory.content_cache(
                    self.tenant, namespace, ttl_seconds=self.ttl_seconds
                )
                self._caches[namespace] = found
            return found

    def _sync_cache(self, llm_string: str) -> ContentCache:
        if isinstance(self.memory, AsyncTieredMemory):
            raise ConfigurationError(
                "this TieredCache has an AsyncTieredMemory: LangChain calls its a* methods "
                "from async code; use a TieredMemory for sync calls"
            )
        cache = self._cache(llm_string)
        assert isinstance(cache, ContentCache)
        return cache

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
    def _decode(raw: Any) -> RETURN_VAL_TYPE | None:
        if raw is None:
            return None
        try:
            value = loads(raw, allowed_objects="core")
        except Exception as exc:  # noqa: BLE001 - a corrupt entry is a miss, not an error
            _log.warning("TieredCache: undecodable entry ignored (%s)", exc)
            return None
        if not isinstance(value, list):
            return None
        return value

    def stats(self) -> dict[str, Any]:
        """Counters of this cache object: ``hits`` (``hot_hits`` + ``postgres_hits``),
        ``misses``, ``lookups``, ``hit_rate`` (0.0 before any lookup), ``tokens_saved`` and
        ``hot_errors`` (hot-tier failures that fell back to Postgres)."""
        with self._lock:
            caches = list(self._caches.values())
            counts = dict(self._base)
        for cache in caches:
            own = cache.counters()
            for name in _COUNTERS:
                counts[name] += own[name]
        return with_rates(counts)

    def reset_stats(self) -> None:
        """Zero the counters of :meth:`stats`."""
        with self._lock:
            self._base = dict.fromkeys(_COUNTERS, 0)
            for cache in self._caches.values():
                cache.reset_counters()

    # -- sync ----------------------------------------------------------------------------------

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations, or ``None`` on a miss."""
        return self._decode(self._sync_cache(llm_string).get(prompt))

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations (Postgres first, then the hot tier)."""
        cache = self._sync_cache(llm_string)
        cache.set(prompt, dumps(list(return_val)), tokens=self.count_tokens(return_val))

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry of this cache's tenant, or only those of ``llm_string=...``."""
        llm_string = kwargs.get("llm_string")
        if isinstance(self.memory, AsyncTieredMemory):
            self._sync_cache("")  # raises
        assert isinstance(self.memory, TieredMemory)
        if llm_string is not None:
            self._sync_cache(llm_string).clear()
            return
        for namespace in self.memory.cache_namespaces(self.tenant):
            if namespace.startswith(NAMESPACE_PREFIX):
                self.memory.content_cache(self.tenant, namespace).clear()

    # -- async ---------------------------------------------------------------------------------

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async twin of :meth:`lookup`."""
        if isinstance(self.memory, TieredMemory):
            return await asyncio.to_thread(self.lookup, prompt, llm_string)
        cache = self._cache(llm_string)
        assert isinstance(cache, AsyncContentCache)
        return self._decode(await cache.get(prompt))

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Async twin of :meth:`update`."""
        if isinstance(self.memory, TieredMemory):
            await asyncio.to_thread(self.update, prompt, llm_string, return_val)
            return
        cache = self._cache(llm_string)
        assert isinstance(cache, AsyncContentCache)
        await cache.set(prompt, dumps(list(return_val)), tokens=self.count_tokens(return_val))

    async def aclear(self, **kwargs: Any) -> None:
        """Async twin of :meth:`clear`."""
        if isinstance(self.memory, TieredMemory):
            await asyncio.to_thread(self.clear, **kwargs)
            return
        llm_string = kwargs.get("llm_string")
        if llm_string is not None:
            await self._cache(llm_string).clear()
            return
        for namespace in await self.memory.cache_namespaces(self.tenant):
            if namespace.startswith(NAMESPACE_PREFIX):
                await self.memory.content_cache(self.tenant, namespace).clear()
