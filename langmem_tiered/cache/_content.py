# WARNING: this file is generated from langmem_tiered/cache/_content_async.py by tools/async_to_sync.py. DO NOT EDIT.
"""Content cache (seed 001): generated content kept by key for a TTL, hot tier first, Postgres
behind (async source; the sync ``ContentCache`` in ``_content.py`` is generated from it).

An entry is addressed by ``(tenant, namespace, digest)``. The digest is the sha256 of the key
when the key is a string, or of the payload's canonical JSON (sorted keys, compact) when it is
a mapping or a list, so the same request always finds the same entry whatever its key order.

* **Reads** ask the hot tier (Redis; the in-process tier only when it is the sole writer),
  then Postgres; a Postgres hit refills the hot tier for the entry's remaining lifetime.
* **Writes** go to Postgres first (an acknowledged write is durable), then to the hot tier.
* A hot-tier failure is never an error: the cache reads and writes Postgres alone and counts it.
* ``get_or_generate`` runs ``generate`` once per key at a time in this process (single flight);
  ``force=True`` regenerates and replaces the entry.

Hot-tier caveat: a Redis restored from an old snapshot may serve a value that was replaced
since, until its TTL ends; ``delete``/``clear``/``force`` remove or replace it everywhere.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._acompat import Lock
from ..errors import InvalidInputError, TierError
from ..models import check_id, json_dumps, json_loads
from .entries import (
    _DEFAULT_TTL,
    _EXPORT_PAGE,
    _MAX_NAMESPACE,
    DEFAULT_CACHE_TTL_SECONDS,
    CacheEntry,
    _record,
    _value_json,
    cache_digest,
    with_rates,
)

if TYPE_CHECKING:
    from .._engine import TieredMemory
__all__ = ["ContentCache"]


class ContentCache:
    """Cached generated content of one tenant and namespace (``memory.content_cache(...)``).

    Args:
        memory: The memory whose Postgres and hot tier hold the entries.
        tenant: Tenant id (an exact column, as everywhere).
        namespace: A name for one kind of content (``"product-descriptions"``, ``"llm:..."``).
        ttl_seconds: Default lifetime of an entry (90 days); ``None``: until deleted.
    """

    def __init__(
        self,
        memory: TieredMemory,
        tenant: str,
        namespace: str = "default",
        *,
        ttl_seconds: float | None = DEFAULT_CACHE_TTL_SECONDS,
    ) -> None:
        self.tenant = check_id("tenant", tenant)
        self.namespace = check_id("namespace", namespace)
        if len(self.namespace) > _MAX_NAMESPACE:
            raise InvalidInputError(f"namespace is longer than {_MAX_NAMESPACE} characters")
        self.ttl_seconds = self._check_ttl(ttl_seconds)
        self._memory = memory
        self._flights: dict[str, Lock] = {}
        self._flights_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("hot_hits", "postgres_hits", "misses", "generated", "tokens_saved", "hot_errors"), 0
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.tenant!r}/{self.namespace!r}>"

    @staticmethod
    def _check_ttl(ttl: float | None) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or (not ttl > 0):
            raise InvalidInputError(f"ttl_seconds must be a positive number or None, got {ttl!r}")
        return float(ttl)

    def _count(self, **deltas: int) -> None:
        with self._counts_lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    @property
    def _hot(self) -> Any:
        tier = self._memory.hot_tier
        return tier if tier.authoritative else None

    def _tokens(self, value: Any, value_json: str, tokens: int | None) -> int:
        """What a hit saves: ``tokens`` if given, else the value's (a string's own text, other
        values their JSON)."""
        if tokens is not None:
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
                raise InvalidInputError("tokens must be a non-negative int")
            return tokens
        text = value if isinstance(value, str) else value_json
        return int(self._memory.tokenizer.count(text))

    def lookup_many(self, keys: Sequence[Any]) -> list[CacheEntry | None]:
        """Entries of several keys at once (one hot-tier and at most one Postgres round trip)."""
        digests = [cache_digest(k) for k in keys]
        found: dict[str, CacheEntry] = {}
        hot = self._hot
        unique = list(dict.fromkeys(digests))
        if hot is not None and unique:
            try:
                raw = hot.cache_get(self.tenant, self.namespace, unique)
            except TierError:
                self._count(hot_errors=1)
                hot = None
                raw = [None] * len(unique)
            for digest, data in zip(unique, raw, strict=True):
                if data is not None:
                    env = json_loads(data)
                    found[digest] = CacheEntry(digest, env["v"], int(env["t"]), "hot")
        missing = [d for d in unique if d not in found]
        if missing:
            store = self._memory._ready()
            rows = store.cache_get(self.tenant, self.namespace, missing)
            for digest, (text, tokens, left) in rows.items():
                value = json_loads(text)
                found[digest] = CacheEntry(digest, value, tokens, "postgres")
                if hot is not None:
                    self._hot_put(hot, digest, value, tokens, left)
        entries = [found.get(d) for d in digests]
        for entry in entries:
            if entry is None:
                self._count(misses=1)
            elif entry.tier == "hot":
                self._count(hot_hits=1, tokens_saved=entry.tokens)
            else:
                self._count(postgres_hits=1, tokens_saved=entry.tokens)
        return entries

    def lookup(self, key: Any) -> CacheEntry | None:
        """The entry of ``key`` (with where it was found), or None."""
        return self.lookup_many([key])[0]

    def get(self, key: Any, default: Any = None) -> Any:
        """The cached value of ``key``, or ``default``."""
        entry = self.lookup(key)
        return default if entry is None else entry.value

    def get_many(self, keys: Sequence[Any]) -> list[Any]:
        """Cached values of several keys (None for each miss), in order."""
        return [None if e is None else e.value for e in self.lookup_many(keys)]

    def contains_many(self, keys: Sequence[Any]) -> list[bool]:
        """Batch check: which keys have a live entry (counts as lookups)."""
        return [e is not None for e in self.lookup_many(keys)]

    def _hot_put(self, hot: Any, digest: str, value: Any, tokens: int, ttl: float | None) -> None:
        data = json_dumps({"v": value, "t": tokens})
        try:
            hot.cache_put(self.tenant, self.namespace, digest, data, ttl)
        except TierError:
            self._count(hot_errors=1)

    def set(
        self,
        key: Any,
        value: Any,
        *,
        ttl_seconds: float | None = _DEFAULT_TTL,
        tokens: int | None = None,
    ) -> CacheEntry:
        """Store ``value`` (JSON) under ``key``: Postgres first, then the hot tier.

        ``ttl_seconds`` defaults to the cache's; ``tokens`` is what a hit saves (default: the
        value's tokens by the memory's tokenizer).
        """
        digest = cache_digest(key)
        ttl = self.ttl_seconds if ttl_seconds == _DEFAULT_TTL else self._check_ttl(ttl_seconds)
        text = _value_json(value)
        count = self._tokens(value, text, tokens)
        key_text = key if isinstance(key, str) else None
        if key_text is not None and "\x00" in key_text:
            raise InvalidInputError("a cache key must not hold a NUL character")
        store = self._memory._ready()
        store.cache_put(self.tenant, self.namespace, digest, key_text, text, count, ttl)
        hot = self._hot
        if hot is not None:
            self._hot_put(hot, digest, value, count, ttl)
        return CacheEntry(digest, value, count, "postgres")

    def get_or_generate(
        self,
        key: Any,
        generate: Callable[[], Any],
        *,
        ttl_seconds: float | None = _DEFAULT_TTL,
        force: bool = False,
        tokens: int | None = None,
    ) -> Any:
        """The cached value of ``key``; on a miss (or with ``force``) ``generate()`` makes it,
        and it is stored before it is returned. ``generate`` may return an awaitable."""
        digest = cache_digest(key)
        with self._flights_lock:
            flight = self._flights.setdefault(digest, Lock())
        try:
            with flight:
                if not force:
                    entry = self.lookup(key)
                    if entry is not None:
                        return entry.value
                value = generate()
                if inspect.isawaitable(value):
                    value = value
                self._count(generated=1)
                self.set(key, value, ttl_seconds=ttl_seconds, tokens=tokens)
                return value
        finally:
            with self._flights_lock:
                if not flight.locked():
                    self._flights.pop(digest, None)

    def delete(self, key: Any) -> bool:
        """Remove ``key``'s entry from both tiers; True if Postgres had it."""
        digest = cache_digest(key)
        store = self._memory._ready()
        gone = store.cache_delete(self.tenant, self.namespace, [digest])
        self._hot_delete([digest])
        return gone > 0

    def clear(self) -> int:
        """Remove every entry of this namespace from both tiers; return how many."""
        store = self._memory._ready()
        gone = store.cache_delete(self.tenant, self.namespace, None)
        self._hot_delete(None)
        return gone

    def _hot_delete(self, digests: list[str] | None) -> None:
        try:
            self._memory.hot_tier.cache_delete(self.tenant, self.namespace, digests)
        except TierError:
            self._count(hot_errors=1)

    def counters(self) -> dict[str, Any]:
        """This object's lookups: hits per tier, misses, ``hit_rate``, ``tokens_saved``,
        ``generated`` and ``hot_errors``."""
        with self._counts_lock:
            counts = dict(self._counts)
        return with_rates(counts)

    def reset_counters(self) -> None:
        """Zero :meth:`counters`."""
        with self._counts_lock:
            for name in self._counts:
                self._counts[name] = 0

    def stats(self) -> dict[str, Any]:
        """:meth:`counters` plus the namespace's durable figures from Postgres (``entries``,
        ``live_entries``, ``stored_tokens``, ``postgres_hits`` and ``postgres_tokens_saved``
        over every process)."""
        store = self._memory._ready()
        durable = store.cache_usage(self.tenant, self.namespace)
        return {
            "tenant": self.tenant,
            "namespace": self.namespace,
            **self.counters(),
            "durable": durable,
        }

    def export_pages(self) -> list[list[dict[str, Any]]]:
        """Every live entry as JSON-ready records (digest, key, value, tokens, created_at,
        expires_at, hits), in pages of 500, in digest order."""
        store = self._memory._ready()
        pages: list[list[dict[str, Any]]] = []
        after = ""
        while True:
            rows = store.cache_export_page(self.tenant, self.namespace, after, _EXPORT_PAGE)
            if not rows:
                return pages
            pages.append([_record(self.tenant, self.namespace, r) for r in rows])
            after = rows[-1][0]

    def export(self) -> list[dict[str, Any]]:
        """Every live entry as a JSON-ready record (see :meth:`export_pages`)."""
        return [record for page in self.export_pages() for record in page]
