"""The engine: :class:`AsyncTieredMemory` and its :class:`AsyncSession` handles.

This file is the one implementation; ``_engine.py`` (``TieredMemory``, ``Session``) is
generated from it by ``tools/async_to_sync.py``, so the sync API is truly synchronous (no
hidden event loop, safe in Jupyter) and cannot drift from the async one.

Write-through: an append commits to Postgres first and is acknowledged only then; the copy
to the hot tier comes after. If the hot tier fails at that point the append still succeeds,
the session's hot entry is invalidated (or, if the hot tier cannot even be reached, the session
is remembered as *dirty* and invalidated before the hot tier is used for it again) and the
``hot_write_failures`` counter says so. Read-through: ``recent()`` serves a window from the hot
tier only if it provably holds the latest messages (see :mod:`.tiers.base`); anything else is
read from Postgres and the window refilled. Nothing ever lives only in the hot tier.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime, timedelta, timezone
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from ._acompat import ASYNC, ALock, to_thread
from .cache._content_async import AsyncContentCache
from .cache.entries import DEFAULT_CACHE_TTL_SECONDS
from .compliance.crypto import FieldCipher
from .compliance.records import (
    FOLLOWUP_STATUSES,
    AuditEntry,
    ErasureReport,
    Handover,
    RetentionPolicy,
    RetentionReport,
    RetentionRules,
)
from .compliance.redaction import (
    PolicySet,
    RedactionPolicy,
    Redactor,
    Stage,
    names_from_facts,
)
from .compression.extractive import ExtractiveSummarizer
from .compression.policy import plan_fold
from .compression.prompts import VERTICALS
from .compression.protocol import Summarizer
from .context import BlockProvider, ContextBlock, ContextBundle, ContextRequest, compose
from .errors import (
    ConfigurationError,
    HandoverError,
    InvalidInputError,
    InvalidMessageError,
    MemoryClosedError,
    ModelError,
    StoreError,
    SummarizationError,
    TierError,
)
from .facts.model import DEFAULT_MULTI_VALUED_KEYS, Fact, FactOperation
from .facts.protocol import FactExtractor
from .facts.rules import RuleBasedExtractor
from .facts.temporal import FactChange
from .models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Message,
    SessionKey,
    Summary,
    check_id,
    check_json_value,
    check_message_for_write,
    coerce_message,
)
from .recall._recall_async import (
    AsyncRecallProvider,
    Progress,
    backfill,
    index_facts_once,
    index_session_once,
    put_memories,
    recall,
    vectors_ready,
)
from .recall.embedders import Embedder, LocalEmbedder, resolve_embedder
from .recall.items import check_config
from .recall.model import RecallHit
from .store._pg_async import AsyncPostgresStore
from .store.compliance_sql import SEALED_FIELDS
from .store.embedded import default_data_path, start_embedded
from .store.schema import load_migrations
from .tiers._inprocess_async import AsyncInProcessTier
from .tiers._redis_async import AsyncRedisTier
from .tiers.base import (
    DEFAULT_HOT_TTL_SECONDS,
    DEFAULT_WINDOW_SIZE,
    HotRead,
    HotState,
    usable_window,
)
from .tiers.protocol_async import AsyncHotTier
from .tokens import Tokenizer, default_tokenizer, message_tokens
from .tokens.meter import EconomyPolicy, TokenMeter, UsageEvent

__all__ = ["AsyncFactsProvider", "AsyncSession", "AsyncTieredMemory", "AsyncUserHandle"]

_log = logging.getLogger("langmem_tiered")

_SKIPPED = object()
"""Returned by ``_hot`` when the hot tier was not used or failed."""

DEFAULT_CONTEXT_CACHE_TTL: dict[str, float] = {
    "active": 300.0,  # a message in the last 15 minutes: the context changes often
    "idle": 24 * 3600.0,  # quiet for up to a week
    "archived": 7 * 24 * 3600.0,  # quiet for longer
}
ACTIVE_SECONDS = 15 * 60
ARCHIVED_SECONDS = 7 * 24 * 3600

HOT_RETRY_SECONDS = 1.0
"""After the hot tier fails, it is bypassed for this long before being tried again."""


class AsyncTieredMemory:
    """Tiered conversational memory: Postgres as truth, a hot tier for recent messages.

    Use :meth:`local` for the embedded default (a private PostgreSQL with pgvector in a
    folder, and the in-process hot tier) and :meth:`connect` for production (your Postgres
    and Redis). Constructing it directly opens nothing until first use or :meth:`open`.

    Args:
        postgres_url: Postgres to use; ``None`` starts the embedded server in ``path``.
        redis_url: Redis for the hot tier; ``None`` uses the in-process tier.
        path: Data folder of the embedded server (default: a per-user data folder).
        hot_tier: A ready hot tier (overrides ``redis_url``).
        schema: Postgres schema of the tables.
        window_size: Recent messages kept hot per session.
        hot_ttl_seconds: Sliding TTL of a session in the hot tier.
        max_message_bytes: Larger messages are rejected with ``MessageTooLargeError``.
        tokenizer: Counts each message's tokens (default: offline tokenizer).
        redis_prefix: First part of every Redis key.
        pool_max_size: Upper bound of the Postgres connection pool.
        summarizer: Folds old turns into the running summary (default: the offline
            :class:`~langmem_tiered.compression.ExtractiveSummarizer`).
        summarize: False turns the summary buffer off (messages are still all kept).
        buffer_tokens: Newest tokens of a session kept verbatim, outside the summary.
        min_fold_tokens: Summarize only once this many tokens wait beyond the buffer.
        max_fold_tokens: At most this many tokens go to the summarizer in one call; a longer
            backlog is folded in several calls.
        summary_tokens: Upper bound of the running summary's length.
        vertical: Prompt vertical: generic, medical, dental, legal or retail.
        summary_lease_seconds: How long one process may hold a session's summarization.
        system_prompt: Identity/system text placed first in every composed context.
        providers: Context block providers (facts, handover, recall...) asked by ``context()``.
        background_workers: Threads for background work (sync API only).
        context_cache: Serve an unchanged session's composed context from the hot tier.
        context_cache_ttl: Seconds a composed context is cached, by session activity:
            ``active`` (a message in the last 15 minutes), ``idle``, ``archived`` (a week
            quiet). Defaults: 300, 86400, 604800.
        daily_token_limit: Tokens per tenant and UTC day (one int for all tenants, or a
            mapping tenant -> limit); warnings at 80 % and 90 %, economy mode from 95 %.
        economy: Thresholds and what economy mode changes.
        usage_flush_seconds: How often buffered ledger rows are written to Postgres.
        extractor: Reads facts out of new messages in the background (default: the offline
            :class:`~langmem_tiered.facts.RuleBasedExtractor`).
        extract_facts: False turns background fact extraction off.
        multi_valued_keys: Fact keys whose values accumulate (e.g. ``allergies``).
        facts_in_context: Put the user's current facts in every composed context.
        handover_in_context: Put the session's latest human handover (open, or its summary and
            resolution) in every composed context.
        embedder: Embeds recall items for semantic search: an :class:`~langmem_tiered.recall.
            Embedder`, ``"auto"`` (the offline :class:`~langmem_tiered.recall.LocalEmbedder`
            when ``langmem-tiered[embeddings]`` is installed), or None (full-text recall only).
        recall: False turns background recall indexing off (``backfill()`` catches up later).
        text_search: Postgres text-search configuration of recall items: ``english``,
            ``portuguese``, ``spanish``, ``simple``, or ``auto`` (each item's language).
        recall_span: Consecutive turns per message item (1 = one item per turn).
        recall_in_context: Add the ``recalled`` block to composed contexts that have a query.
        recall_rrf_k: Reciprocal-rank-fusion constant of the hybrid search (small values
            favour items ranked high by either side; 10 measured best on LoCoMo).
        recall_candidates: Candidates taken from each ranking before fusion.
        redaction: A :class:`~langmem_tiered.compliance.RedactionPolicy` (every tenant) or a
            :class:`~langmem_tiered.compliance.PolicySet` (per tenant): where the policy says
            ``storage`` or ``both``, PII in message text is redacted before it is written
            (counted in :attr:`pii_counts`); the original is kept (encrypted) only when the
            policy's ``keep_original`` says so, which needs ``encryption``. Where it says
            ``llm`` or ``both``, text is redacted before it reaches a summarizer, fact
            extractor or embedder that is not one of the package's offline ones.
        retention: Retention policies applied by :meth:`gc`: a
            :class:`~langmem_tiered.RetentionPolicy` (for this memory's vertical) or
            :class:`~langmem_tiered.RetentionRules` (per vertical and tenant); default
            :data:`~langmem_tiered.compliance.DEFAULT_RETENTION`.
        encryption: Fernet keys (newest first) or a
            :class:`~langmem_tiered.compliance.FieldCipher`: message content, summaries,
            handover summaries and fact values are stored encrypted; the recall index is then
            built from redacted text. :meth:`rotate_keys` re-encrypts after a new key is put
            first.
        row_level_security: Connect in row-level-security mode: policies on every table
            admit only the current tenant's rows, and every per-tenant statement runs as the
            schema's tenant role with the tenant set for its transaction (a statement that
            forgets the tenant sees and writes nothing). Costs a transaction and one more
            round trip per statement.
    """

    def __init__(
        self,
        *,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        path: str | PathLike[str] | None = None,
        hot_tier: AsyncHotTier | None = None,
        schema: str = "langmem",
        window_size: int = DEFAULT_WINDOW_SIZE,
        hot_ttl_seconds: float = DEFAULT_HOT_TTL_SECONDS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tokenizer: Tokenizer | None = None,
        redis_prefix: str = "lmt",
        pool_max_size: int = 8,
        summarizer: Summarizer | None = None,
        summarize: bool = True,
        buffer_tokens: int = 800,
        min_fold_tokens: int = 300,
        max_fold_tokens: int = 4000,
        summary_tokens: int = 400,
        vertical: str = "generic",
        summary_lease_seconds: float = 120.0,
        system_prompt: str | None = None,
        providers: Sequence[BlockProvider] = (),
        background_workers: int = 2,
        context_cache: bool = True,
        context_cache_ttl: Mapping[str, float] | None = None,
        daily_token_limit: int | Mapping[str, int] | None = None,
        economy: EconomyPolicy | None = None,
        usage_flush_seconds: float = 2.0,
        extractor: FactExtractor | None = None,
        extract_facts: bool = True,
        multi_valued_keys: Collection[str] = DEFAULT_MULTI_VALUED_KEYS,
        facts_in_context: bool = True,
        handover_in_context: bool = True,
        embedder: Embedder | str | None = "auto",
        recall: bool = True,
        text_search: str = "auto",
        recall_span: int = 3,
        recall_in_context: bool = True,
        recall_rrf_k: float = 10.0,
        recall_candidates: int = 100,
        redaction: PolicySet | RedactionPolicy | None = None,
        retention: RetentionRules | RetentionPolicy | None = None,
        encryption: FieldCipher | Sequence[str] | None = None,
        row_level_security: bool = False,
    ) -> None:
        if postgres_url is not None and path is not None:
            raise ConfigurationError("give postgres_url or path (embedded server), not both")
        if max_message_bytes < 1024:
            raise ConfigurationError("max_message_bytes must be at least 1024")
        self.max_message_bytes = max_message_bytes
        self.path = None if postgres_url is not None else (path or default_data_path())
        self._postgres_url = postgres_url
        self._schema = schema
        self._pool_max_size = pool_max_size
        if hot_tier is None:
            if redis_url is not None:
                hot_tier = AsyncRedisTier(
                    redis_url,
                    prefix=redis_prefix,
                    window_size=window_size,
                    ttl_seconds=hot_ttl_seconds,
                )
            else:
                hot_tier = AsyncInProcessTier(window_size=window_size, ttl_seconds=hot_ttl_seconds)
        self._tier: AsyncHotTier = hot_tier
        self._tokenizer = tokenizer or default_tokenizer()
        if vertical not in VERTICALS:
            raise ConfigurationError(f"vertical must be one of {VERTICALS}, got {vertical!r}")
        if buffer_tokens < 0 or min_fold_tokens < 0 or summary_tokens < 16:
            raise ConfigurationError(
                "need buffer_tokens >= 0, min_fold_tokens >= 0, summary_tokens >= 16"
            )
        if summarizer is None and summarize:
            summarizer = ExtractiveSummarizer(count=self._tokenizer.count)
        self._summarizer: Summarizer | None = summarizer if summarize else None
        self.buffer_tokens = buffer_tokens
        self.min_fold_tokens = min_fold_tokens
        if max_fold_tokens < max(min_fold_tokens, 1):
            raise ConfigurationError("max_fold_tokens must be at least min_fold_tokens")
        self.max_fold_tokens = max_fold_tokens
        self.summary_tokens = summary_tokens
        self.vertical = vertical
        self.summary_lease_seconds = summary_lease_seconds
        self.system_prompt = system_prompt
        # Any: the built-in facts provider has only the face (async or sync) its engine calls.
        self._providers: list[Any] = list(providers)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._background: set[Any] = set()
        self._scheduled: set[tuple[str, Hashable]] = set()
        self._rerun: set[tuple[str, Hashable]] = set()
        self._unsummarized: dict[SessionKey, int] = {}
        self._bg_lock = threading.Lock()
        self._workers = background_workers
        self._executor: ThreadPoolExecutor | None = None
        self._side: ThreadPoolExecutor | None = None
        self._scope_sizes: dict[tuple[str, str], int] = {}  # recall items per user, last seen
        ttl = dict(DEFAULT_CONTEXT_CACHE_TTL)
        ttl.update(context_cache_ttl or {})
        if set(ttl) != set(DEFAULT_CONTEXT_CACHE_TTL) or min(ttl.values()) <= 0:
            raise ConfigurationError("context_cache_ttl takes positive active/idle/archived")
        self._context_cache = context_cache
        self._context_ttl = ttl
        self._meter = TokenMeter(daily_token_limit, economy)
        self._listeners: list[Callable[[UsageEvent], None]] = []
        self._usage: dict[tuple[SessionKey, str], list[int]] = {}
        self._usage_flush_seconds = usage_flush_seconds
        self._usage_flushed_at = time.monotonic()
        if extractor is None and extract_facts:
            extractor = RuleBasedExtractor()
        self._extractor: FactExtractor | None = extractor if extract_facts else None
        self.multi_valued_keys = frozenset(multi_valued_keys)
        if facts_in_context:
            self._providers.insert(0, AsyncFactsProvider())
        if handover_in_context:
            self._providers.append(AsyncHandoverProvider())
        self._embedder: Embedder | None = resolve_embedder(embedder)
        self._vectors: bool | None = None  # pgvector usable; None: not checked yet
        self._stale_models: list[str] = []
        self._recall = recall
        self.text_search = check_config(text_search)
        if not isinstance(recall_span, int) or not 1 <= recall_span <= 16:
            raise ConfigurationError("recall_span must be an int in 1..16")
        self.recall_span = recall_span
        if not 0 <= recall_rrf_k <= 10_000 or not 1 <= recall_candidates <= 10_000:
            raise ConfigurationError("need 0 <= recall_rrf_k <= 10000, 1 <= recall_candidates")
        self.recall_rrf_k = float(recall_rrf_k)
        self.recall_candidates = recall_candidates
        if recall_in_context:
            self._providers.append(AsyncRecallProvider())
        if isinstance(redaction, RedactionPolicy):
            redaction = PolicySet(default=redaction)
        if redaction is not None and not isinstance(redaction, PolicySet):
            raise ConfigurationError("redaction is a RedactionPolicy or a PolicySet")
        self._redaction: PolicySet | None = redaction
        if isinstance(retention, RetentionPolicy):
            retention = RetentionRules(verticals={vertical: retention})
        if retention is not None and not isinstance(retention, RetentionRules):
            raise ConfigurationError("retention is a RetentionPolicy or RetentionRules")
        self.retention: RetentionRules = retention or RetentionRules()
        if encryption is not None and not isinstance(encryption, FieldCipher):
            if isinstance(encryption, (str, bytes)) or not isinstance(encryption, Sequence):
                raise ConfigurationError("encryption is a FieldCipher or a list of Fernet keys")
            encryption = FieldCipher(list(encryption))
        self._cipher: FieldCipher | None = encryption
        self.row_level_security = bool(row_level_security)
        if redaction is not None and encryption is None:
            keeping = [redaction.default, *redaction.tenants.values()]
            if any(p.keep_original and p.applies("storage") for p in keeping):
                raise ConfigurationError(
                    "a redaction policy keeps originals: give encryption keys to store them"
                )
        self.pii_counts: dict[str, int] = {}
        """PII detections redacted before storage, per type, since this object was created."""
        self._fingerprint = json.dumps(
            [type(self._tokenizer).__qualname__, self._tokenizer.name], ensure_ascii=False
        )
        self._store: AsyncPostgresStore | None = None
        self._open_lock = ALock()
        self._closed = False
        self._dirty: set[SessionKey] = set()
        self._hot_down_until = 0.0
        self._stats: dict[str, int] = dict.fromkeys(
            (
                "appends",
                "messages_appended",
                "idempotent_replays",
                "hot_hits",
                "hot_misses",
                "hot_repairs",
                "hot_write_failures",
                "hot_read_failures",
                "hot_invalidations",
                "hot_bypassed",
                "summaries_written",
                "summary_lease_busy",
                "summary_lost_race",
                "background_errors",
                "contexts_composed",
                "context_cache_hits",
                "context_cache_misses",
                "usage_flush_errors",
                "facts_changed",
                "extraction_batches",
                "items_indexed",
                "items_embedded",
                "recalls",
            ),
            0,
        )

    # -- construction and lifecycle -------------------------------------------------------

    @classmethod
    async def local(
        cls, path: str | PathLike[str] | None = None, **options: Any
    ) -> AsyncTieredMemory:
        """Open the embedded default: private Postgres + pgvector in ``path``, in-process hot tier.

        Data persists in ``path`` across runs; the server stops when the last process using
        it exits.
        """
        memory = cls(path=path, **options)
        await memory.open()
        return memory

    @classmethod
    async def connect(
        cls, *, postgres_url: str, redis_url: str | None = None, **options: Any
    ) -> AsyncTieredMemory:
        """Open against your own Postgres and (optionally) Redis, applying migrations."""
        memory = cls(postgres_url=postgres_url, redis_url=redis_url, **options)
        await memory.open()
        return memory

    async def open(self) -> None:
        """Start the embedded server if needed, connect, and migrate. Idempotent."""
        if self._closed:
            raise MemoryClosedError("this memory was closed")
        if self._store is not None:
            return
        async with self._open_lock:
            if self._store is not None:
                return
            url = self._postgres_url
            if url is None:
                assert self.path is not None
                url = await to_thread(start_embedded, self.path)
            store = AsyncPostgresStore(
                url,
                schema=self._schema,
                max_size=self._pool_max_size,
                row_level_security=self.row_level_security,
            )
            store.cipher = self._cipher
            if self._cipher is not None:
                store.index_redactor = self._redact_for_index
            await store.open()
            self._store = store

    async def close(self) -> None:
        """Close connections. The memory cannot be used afterwards."""
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            with self._bg_lock:
                self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            if self._side is not None:
                self._side.shutdown(wait=True)
            try:
                await self._tier.close()
            finally:
                if self._store is not None:
                    await self._store.close()

    async def __aenter__(self) -> AsyncTieredMemory:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _ready(self) -> AsyncPostgresStore:
        if self._closed:
            raise MemoryClosedError("this memory was closed")
        if self._store is None:
            await self.open()
        assert self._store is not None
        return self._store

    # -- public -----------------------------------------------------------------------------

    @property
    def hot_tier(self) -> AsyncHotTier:
        """The hot tier in use."""
        return self._tier

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer every token count of this memory uses."""
        return self._tokenizer

    @property
    def embedder(self) -> Embedder | None:
        """The embedder of recall items (None: full-text recall only)."""
        return self._embedder

    @property
    def store(self) -> AsyncPostgresStore | None:
        """The durable store (``None`` until opened)."""
        return self._store

    def session(self, tenant: str, user: str, session: str) -> AsyncSession:
        """A handle on one conversation. No I/O happens until a method is called.

        Raises:
            InvalidIdError: an id is empty, too long, or holds control characters.
        """
        return AsyncSession(self, SessionKey(tenant, user, session))

    def register_provider(self, provider: BlockProvider) -> None:
        """Add a context block provider (facts, handover, recall...) to every ``context()``."""
        if not isinstance(provider, BlockProvider):
            raise ConfigurationError("a provider needs name, provide() and aprovide()")
        self._providers.append(provider)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until background work started so far (summarization, fact extraction, recall
        indexing and embedding) has finished.

        Returns False if ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._background:
            pending = list(self._background)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if ASYNC:
                await asyncio.wait(pending, timeout=left)
            else:
                wait_futures(pending, timeout=left)
            if deadline is not None and time.monotonic() >= deadline:
                return not self._background
        if self._usage and not self._closed:
            await self._flush_usage()
        return True

    def user(self, tenant: str, user: str) -> AsyncUserHandle:
        """A handle on one user's facts, across their sessions. No I/O until a method runs."""
        return AsyncUserHandle(self, check_id("tenant", tenant), check_id("user", user))

    def content_cache(
        self,
        tenant: str,
        namespace: str = "default",
        *,
        ttl_seconds: float | None = DEFAULT_CACHE_TTL_SECONDS,
    ) -> AsyncContentCache:
        """The content cache of one tenant and namespace (seed 001): ``get_or_generate``,
        batch checks, forced regeneration, statistics and export; entries live for
        ``ttl_seconds`` (90 days) in the hot tier and Postgres. No I/O until a method runs."""
        return AsyncContentCache(self, tenant, namespace, ttl_seconds=ttl_seconds)

    async def cache_namespaces(self, tenant: str) -> list[str]:
        """The tenant's content-cache namespaces."""
        store = await self._ready()
        return await store.cache_namespaces(check_id("tenant", tenant))

    async def expire_cache(self, tenant: str | None = None) -> int:
        """Delete expired content-cache entries from Postgres (of one tenant, or all); the hot
        tier expires its own. Returns how many were deleted."""
        store = await self._ready()
        return await store.cache_expire(None if tenant is None else check_id("tenant", tenant))

    def stats(self) -> dict[str, Any]:
        """Counters since this object was created, rates derived from them, and the hot tier.

        Besides the raw counters (``hot_hits``, ``context_cache_hits``...):

        * ``hit_rates``: ``hot`` (recent windows served by the hot tier; stale windows count
          as misses), ``context_cache`` (composed contexts served from cache) and
          ``content_cache`` (lookups of this memory's content caches that hit, in either
          tier); each None before its first read.
        * ``tokens_saved``: ``context`` (composed contexts vs the full history) and
          ``content_cache`` (hits).
        * ``latency``: per operation (``session.recent``...), ``count`` and ``p50_ms``,
          ``p90_ms``, ``p99_ms``, ``max_ms`` over its last 1024 calls.
        * ``background_queue_depth`` (jobs submitted and not finished; also
          ``background_pending``), ``background_jobs`` (sessions with a job scheduled),
          ``economy_tenants`` and ``economy_mode`` (any tenant in economy mode today).

        ``content_cache`` rates, ``tokens_saved`` and ``latency`` are measured only while
        :mod:`langmem_tiered.observability` is instrumented (from then on); otherwise they are
        None. The ledger (:meth:`usage`) keeps the tokens saved durably either way.
        """
        from .observability import observed  # here: the module wraps this class

        def rate(hits: int, misses: int) -> float | None:
            return hits / (hits + misses) if hits + misses else None

        counts = self._stats
        out: dict[str, Any] = dict(counts)
        out["hot_tier"] = self._tier.name
        out["dirty_sessions"] = len(self._dirty)
        out["background_pending"] = len(self._background)
        out["background_queue_depth"] = len(self._background)
        out["background_jobs"] = len(self._scheduled)
        out["usage"] = self._meter.snapshot()
        out["economy_tenants"] = sorted(t for t, u in out["usage"].items() if u["economy"])
        out["economy_mode"] = bool(out["economy_tenants"])
        seen = observed(self)
        cache: dict[str, int] | None = None if seen is None else seen["content_cache"]
        out["hit_rates"] = {
            "hot": rate(counts["hot_hits"], counts["hot_misses"] + counts["hot_repairs"]),
            "context_cache": rate(counts["context_cache_hits"], counts["context_cache_misses"]),
            "content_cache": None
            if cache is None
            else rate(cache["hot_hits"] + cache["postgres_hits"], cache["misses"]),
        }
        out["tokens_saved"] = (
            None
            if seen is None or cache is None
            else {"context": seen["context_tokens_saved"], "content_cache": cache["tokens_saved"]}
        )
        out["latency"] = None if seen is None else seen["latency"]
        return out

    def subscribe(self, callback: Callable[[UsageEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` when a tenant crosses 80 %, 90 % or 95 % (economy mode) of
        its daily token limit. Returns a function that unsubscribes."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def economy(self, tenant: str) -> bool:
        """True when the tenant is in economy mode today."""
        return self._meter.economy(tenant)

    def _emit(self, events: list[UsageEvent]) -> None:
        for event in events:
            _log.warning(
                "tenant %r used %d of %d tokens today (%s)",
                event.tenant,
                event.used,
                event.limit,
                event.kind,
            )
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    _log.exception("usage event listener failed")

    def _spend(
        self,
        key: SessionKey,
        operation: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        saved_tokens: int = 0,
    ) -> None:
        """Count tokens in the ledger (buffered; written in the background) and the meter."""
        with self._bg_lock:
            row = self._usage.setdefault((key, operation), [0, 0, 0, 0])
            row[0] += 1
            row[1] += input_tokens
            row[2] += output_tokens
            row[3] += saved_tokens
        self._emit(self._meter.add(key.tenant, input_tokens + output_tokens))
        if time.monotonic() - self._usage_flushed_at >= self._usage_flush_seconds:
            self._usage_flushed_at = time.monotonic()
            self._spawn(self._flush_usage)

    async def _flush_usage(self) -> None:
        """Write buffered ledger rows, then refresh each tenant's total from the ledger."""
        store = await self._ready()
        with self._bg_lock:
            rows, self._usage = self._usage, {}
        if not rows:
            return
        flushed: dict[str, int] = {}
        for (key, _), (_, inp, out, _) in rows.items():
            flushed[key.tenant] = flushed.get(key.tenant, 0) + inp + out
        try:
            # one transaction, not retried: all rows count once, or none does
            await store.record_usage_batch(
                [(key, op, c[0], c[1], c[2], c[3]) for (key, op), c in rows.items()]
            )
        except Exception:
            self._stats["usage_flush_errors"] += 1
            _log.exception("writing the token ledger failed; will retry")
            with self._bg_lock:
                for k, row in rows.items():
                    mine = self._usage.setdefault(k, [0, 0, 0, 0])
                    for i, v in enumerate(row):
                        mine[i] += v
            return
        day = datetime.now(timezone.utc).date()
        for tenant, tokens in flushed.items():
            try:
                usage = await store.tenant_usage(tenant, day)
            except Exception:
                _log.exception("reading the token ledger failed")
                total = None
            else:
                total = _ledger_total(usage)
            if total is None:  # still move our flushed share from "local" to "persisted"
                total = self._meter.used(tenant)
            self._emit(self._meter.persisted(tenant, day, total, tokens))

    async def usage(self, tenant: str) -> dict[str, dict[str, int]]:
        """Today's (UTC) ledger of a tenant per operation, after flushing this process's rows."""
        await self._flush_usage()
        store = await self._ready()
        day = datetime.now(timezone.utc).date()
        usage = await store.tenant_usage(tenant, day)
        total = _ledger_total(usage)
        self._emit(self._meter.persisted(tenant, day, total, 0))
        return usage

    async def health(self) -> dict[str, Any]:
        """Whether Postgres and the hot tier answer; the schema version against the migrations
        this code ships; pgvector (installed, or available to install); the background workers
        (jobs pending, errors so far); and the security modes in use."""
        store = await self._ready()
        postgres = await store.ping()
        version = await store.schema_version() if postgres else None
        shipped = len(load_migrations())
        vector = await store.vector_support() if postgres else (False, False)
        return {
            "postgres": postgres,
            "schema_version": version,
            "migrations_pending": None if version is None else max(0, shipped - version),
            "pgvector": vector[0],
            "pgvector_available": vector[1],
            "embedder": self._embedder.model_id if self._embedder is not None else None,
            "hot_tier": self._tier.name,
            "hot_tier_ok": await self._tier.ping(),
            "background_workers": self._workers,
            "background_pending": len(self._background),
            "background_errors": self._stats["background_errors"],
            "encryption": self._cipher is not None,
            "row_level_security": self.row_level_security,
        }

    async def backfill(
        self,
        *,
        tenant: str | None = None,
        reembed: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Index for recall whatever is not indexed yet (sessions written while recall was off,
        summaries, facts), then embed every item lacking a vector of the current embedder
        (``reembed``: also those of a previous model). Idempotent and resumable.

        Args:
            tenant: Only this tenant (default: all).
            progress: Called as ``progress(stage, done, total)``.

        Returns:
            Counts: ``sessions``, ``items_indexed``, ``items_embedded``.
        """
        if tenant is not None:
            check_id("tenant", tenant)
        return await backfill(self, tenant=tenant, reembed=reembed, progress=progress)

    async def recall_status(self, tenant: str | None = None) -> dict[str, Any]:
        """The embedder in use and the recall items per embedding model (``""``: no vector),
        with how many lack a vector of the current model."""
        if tenant is not None:
            check_id("tenant", tenant)
        store = await self._ready()
        embedder = self._embedder
        vectors = await vectors_ready(self) if embedder is not None else False
        by_model = await store.embedding_models(tenant)
        current = embedder.model_id if embedder is not None and vectors else None
        return {
            "embedder": current,
            "vectors": vectors,
            "items": sum(by_model.values()),
            "by_model": by_model,
            "stale": sum(n for m, n in by_model.items() if m != current) if current else 0,
            "other_models": list(self._stale_models),
        }

    # -- data management: listings, show, delete, JSONL export/import (admin/) ---------------
    # Imported in the class body so that this block stands alone (the names are also class
    # attributes); the work is done by langmem_tiered.admin.

    from .admin._admin_async import AsyncAdmin
    from .admin.models import SessionInfo, SessionView, TenantInfo, UserInfo

    def _admin(self) -> AsyncAdmin:
        from .admin._admin_async import AsyncAdmin

        return AsyncAdmin(self)

    async def list_tenants(self) -> list[TenantInfo]:
        """Every tenant with data, with its users, sessions, messages, facts, memories and live
        content-cache entries counted."""
        return await self._admin().list_tenants()

    async def list_users(
        self, tenant: str, *, limit: int = 1000, after: str | None = None
    ) -> list[UserInfo]:
        """The users of a tenant (with a session, a fact or a memory) in id order, ``limit``
        at a time after the user id ``after``; with their sessions, messages and facts."""
        return await self._admin().list_users(tenant, limit=limit, after=after)

    async def list_sessions(
        self,
        tenant: str,
        user: str | None = None,
        *,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[SessionInfo]:
        """Sessions of a tenant (or of one user) in ``(user, session)`` order, ``limit`` at a
        time: pass the last row's ``cursor`` as ``after`` for the next page (keyset pages)."""
        return await self._admin().list_sessions(tenant, user, limit=limit, after=after)

    async def show_session(
        self, tenant: str, user: str, session: str, *, limit: int | None = None
    ) -> SessionView:
        """One session: its figures, messages (the last ``limit`` seqs, or all), state and
        latest summary, and its user's current facts.

        Raises:
            RecordNotFoundError: there is no such session.
        """
        return await self._admin().show_session(tenant, user, session, limit=limit)

    async def delete_session(self, tenant: str, user: str, session: str) -> dict[str, int]:
        """Delete a session whole: its row, messages, summaries, handovers and recall items in
        Postgres, and every key of it in the hot tier (the user's facts stay). A new message
        then starts the session again at seq 1. Returns what was deleted (``sessions`` is 0
        when there was no such session)."""
        return await self._admin().delete_session(tenant, user, session)

    async def export_jsonl(
        self,
        target: Any,
        *,
        tenant: str,
        user: str | None = None,
        session: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Export a tenant, a user or one session to JSON Lines (a path, ``.gz`` compressed,
        or a binary file object), from one consistent snapshot, in keyset pages.

        Args:
            target: Path or binary file object to write.
            tenant: The tenant exported.
            user: Only this user.
            session: Only this session (of ``user``).
            progress: Called as ``progress(stage, done, total)``.

        Returns:
            Records written per stage (``sessions``, ``messages``, ``summaries``, ``facts``,
            ``memories``, ``cache``).
        """
        return await self._admin().export_jsonl(
            target, tenant=tenant, user=user, session=session, progress=progress
        )

    async def import_jsonl(
        self, source: Any, *, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, int]:
        """Import a file written by :meth:`export_jsonl` (path, ``.gz`` or binary file object).

        Every line is validated before anything is written, and everything is written in one
        transaction; stored rows are kept as they are, so importing twice changes nothing.
        Recall items of messages, summaries and facts are rebuilt by :meth:`backfill`.

        Returns:
            Records inserted per stage, and ``skipped`` (already stored).

        Raises:
            InvalidImportError: a bad line, or a record contradicting stored data; the store is
                unchanged.
        """
        return await self._admin().import_jsonl(source, progress=progress)

    # -- hot-tier guard -----------------------------------------------------------------------

    async def _hot(self, key: SessionKey, op: str, *args: Any, writing: bool) -> Any:
        """Call ``hot_tier.<op>(key, *args)``; on failure count it and return ``_SKIPPED``.

        Reads skip the hot tier for ``HOT_RETRY_SECONDS`` after a failure. Writes always try:
        other processes read this hot tier too, so a write that fails is followed by an
        invalidation, and if that fails too the session stays *dirty* here and is invalidated
        before this process uses the hot tier for it again.
        """
        if not writing and time.monotonic() < self._hot_down_until:
            self._stats["hot_bypassed"] += 1
            return _SKIPPED
        try:
            if key in self._dirty:
                await self._tier.invalidate(key)
                self._dirty.discard(key)
                self._stats["hot_invalidations"] += 1
            return await getattr(self._tier, op)(key, *args)
        except TierError:
            self._stats["hot_write_failures" if writing else "hot_read_failures"] += 1
            self._hot_down_until = time.monotonic() + HOT_RETRY_SECONDS
            if writing:
                await self._invalidate_after_failure(key)
            return _SKIPPED

    async def _invalidate_after_failure(self, key: SessionKey) -> None:
        try:
            await self._tier.invalidate(key)
            self._dirty.discard(key)
            self._stats["hot_invalidations"] += 1
        except TierError:
            self._dirty.add(key)

    # -- operations behind the session handle ------------------------------------------------

    def _redact_for_storage(self, tenant: str, message: Message) -> Message:
        """The message with PII redacted from its text by the tenant's policy ("storage")."""
        return self._redact_message(tenant, "storage", message)

    def _redact_message(self, tenant: str, stage: Stage, message: Message) -> Message:
        """The message with PII redacted from its text parts by the tenant's policy for
        ``stage``, detections counted in :attr:`pii_counts`."""
        policies = self._redaction
        if policies is None or not policies.policy_for(tenant).applies(stage):
            return message
        found: dict[str, int] = {}

        def clean(text: str) -> str:
            result = policies.redact(tenant, stage, text)
            for kind, n in result.counts.items():
                found[kind] = found.get(kind, 0) + n
            return result.text

        content = message.content
        if isinstance(content, str):
            new: Any = clean(content)
        else:
            new = [
                {**part, "text": clean(part["text"])} if isinstance(part.get("text"), str) else part
                for part in content
            ]
        if not found:
            return message
        with self._bg_lock:
            for kind, n in found.items():
                self.pii_counts[kind] = self.pii_counts.get(kind, 0) + n
        return message.model_copy(update={"content": new, "token_count": None})

    def _keeps_original(self, tenant: str) -> bool:
        policies = self._redaction
        if policies is None:
            return False
        policy = policies.policy_for(tenant)
        return policy.keep_original and policy.applies("storage")

    def _redact_for_index(self, tenant: str, text: str, names: Sequence[str] = ()) -> str:
        """Recall text when encryption is on: the full-text index and the embeddings are built
        from redacted text (the tenant's policy, or every detector without one), never from
        the plaintext that is encrypted."""
        policies = self._redaction
        if policies is not None and policies.policy_for(tenant).where != "off":
            return policies.redactor_for(tenant).redact(text, names).text
        return _ANONYMIZER.redact(text, names).text

    def _prepare(
        self,
        items: Sequence[Message | Mapping[str, Any]],
        tenant: str = "",
        originals: dict[str, Any] | None = None,
    ) -> list[Message]:
        """Validate, redact (by the tenant's policy) and token-count a batch. No I/O.

        ``originals`` receives the content of each message that redaction changed, by id,
        when the tenant's policy keeps originals (they are stored encrypted)."""
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise InvalidMessageError("add_messages takes a list of messages")
        messages: list[Message] = []
        seen: set[str] = set()
        for item in items:
            message = coerce_message(item)
            if message.id in seen:
                raise InvalidMessageError(f"message id {message.id!r} appears twice in one batch")
            seen.add(message.id)
            check_message_for_write(message, self.max_message_bytes)
            redacted = self._redact_for_storage(tenant, message)
            if originals is not None and redacted is not message and self._keeps_original(tenant):
                originals[message.id] = message.content
            message = redacted
            if message.token_count is None:
                message = message.model_copy(update={"token_count": self._count_tokens(message)})
            messages.append(message)
        return messages

    def _count_tokens(self, message: Message) -> int:
        return message_tokens(self._tokenizer, message)

    async def _append(
        self, key: SessionKey, items: Sequence[Message | Mapping[str, Any]]
    ) -> list[Message]:
        originals: dict[str, Any] = {}
        messages = self._prepare(items, key.tenant, originals)
        store = await self._ready()
        if not messages:
            return []
        try:
            results = await store.append(key, messages, originals or None)
            stored: list[Message] = []
            fresh: list[Message] = []
            for message, (_, seq, created_at, inserted) in zip(messages, results, strict=True):
                kept = message.model_copy(update={"seq": seq, "created_at": created_at})
                stored.append(kept)
                if inserted:
                    fresh.append(kept)
            if len(fresh) < len(stored):
                # Replayed ids come back as stored, not as re-sent (the content may differ).
                found = await store.messages_by_ids(
                    key, [m.id for m, r in zip(stored, results, strict=True) if not r[3]]
                )
                stored = [found.get(m.id, m) for m in stored]
            self._stats["appends"] += 1
            self._stats["messages_appended"] += len(fresh)
            self._stats["idempotent_replays"] += len(stored) - len(fresh)
            await self._hot(key, "append", _hot_batch(stored, fresh), writing=True)
            if fresh:
                self._note_unsummarized(key, sum(m.token_count or 0 for m in fresh))
                if self._extractor is not None and any(m.role == "user" for m in fresh):
                    self._schedule_job("extract", key, self._extract_job)
                if self._recall:
                    self._schedule_job("index", key, self._index_job)
        except BaseException:
            # Cancelled or failed between the commit and the hot write: the hot entry may lack
            # committed messages, so it must not be trusted before it is invalidated.
            self._dirty.add(key)
            raise
        return stored

    async def _recent(self, key: SessionKey, n: int) -> list[Message]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidInputError(f"n must be a non-negative int, got {n!r}")
        store = await self._ready()
        if n == 0:
            return []
        window = self._tier.window_size
        if n <= window:
            hot = await self._hot(key, "read", n, writing=False)
            if isinstance(hot, HotRead):
                served = usable_window(hot, n)
                if served is not None and not self._tier.authoritative:
                    # other processes may have appended past this process's tier
                    last_seq, _ = await store.versions(key)
                    if last_seq != hot.last_seq:
                        served = None
                if served is not None:
                    self._stats["hot_hits"] += 1
                    return served
                self._stats["hot_repairs"] += 1
            else:
                self._stats["hot_misses"] += 1
        else:
            self._stats["hot_misses"] += 1
        last_seq, lo, messages = await store.tail(key, max(n, window))
        await self._hot(key, "fill", last_seq, lo, messages[-window:], writing=False)
        return messages[-n:]

    async def _messages(
        self, key: SessionKey, after_seq: int | None, limit: int | None, original: bool = False
    ) -> list[Message]:
        if after_seq is not None and (not isinstance(after_seq, int) or after_seq < 0):
            raise InvalidInputError(f"after_seq must be a non-negative int, got {after_seq!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative int, got {limit!r}")
        store = await self._ready()
        return await store.messages(key, after_seq=after_seq or 0, limit=limit, original=original)

    async def _state(self, key: SessionKey) -> dict[str, Any]:
        store = await self._ready()
        if not self._tier.authoritative:  # one PK lookup either way: read the state itself
            return dict((await store.get_state(key)).state)
        cached = await self._hot(key, "get_state", writing=False)
        if isinstance(cached, HotState):
            return cached.state
        state = await store.get_state(key)
        if state.version:
            await self._hot(key, "put_state", state, writing=False)
        return dict(state.state)

    async def _update_state(self, key: SessionKey, slots: dict[str, Any]) -> dict[str, Any]:
        check_json_value(slots, "state")
        store = await self._ready()
        if not slots:
            return await self._state(key)
        state = await store.update_state(key, slots)
        await self._hot(key, "put_state", state, writing=True)
        return dict(state.state)

    # -- background summarization ----------------------------------------------------------

    def _note_unsummarized(self, key: SessionKey, tokens: int) -> None:
        """Track tokens waiting outside the summary; start a fold check only when it may pay.

        The estimate starts from what the last check read in Postgres and adds this process's
        appends; a session this process has not checked yet is checked once. Appends by other
        processes are seen at the next check (and trigger checks in those processes).
        """
        if self._summarizer is None:
            return
        with self._bg_lock:
            known = self._unsummarized.get(key)
            estimate = tokens if known is None else known + tokens
            if len(self._unsummarized) >= 100_000:
                self._unsummarized.clear()
            self._unsummarized[key] = estimate
        if known is None or estimate >= self.buffer_tokens + max(self.min_fold_tokens, 1):
            self._schedule_summary(key)

    def _schedule_summary(self, key: SessionKey) -> None:
        """Start a background fold for the session unless one is already running here."""
        if self._summarizer is not None:
            self._schedule_job("summary", key, self._summary_job)

    def _schedule_job(self, kind: str, key: Hashable, job: Callable[..., Any]) -> None:
        """Run ``job(key)`` in the background unless a job of this kind runs for the session;
        then the running one looks again before it ends."""
        if self._closed:
            return
        with self._bg_lock:
            if (kind, key) in self._scheduled:
                self._rerun.add((kind, key))
                return
            self._scheduled.add((kind, key))
        self._spawn(job, key)

    async def _run_job(self, kind: str, key: Hashable, once: Callable[..., Any]) -> None:
        """Call ``once(key)`` until it reports nothing left, and again if more work arrived."""
        released = False
        try:
            while True:
                with self._bg_lock:
                    self._rerun.discard((kind, key))
                while await once(key):
                    pass
                with self._bg_lock:
                    # the check and the release in one section: an append in between would
                    # otherwise flag a rerun that nobody runs
                    if (kind, key) not in self._rerun:
                        self._scheduled.discard((kind, key))
                        released = True
                        return
        except Exception:
            self._stats["background_errors"] += 1
            _log.exception("background %s job for %r failed", kind, key)
        finally:  # also when cancelled: a later append must be able to start a new job
            if not released:
                with self._bg_lock:
                    self._scheduled.discard((kind, key))

    def _side_executor(self) -> ThreadPoolExecutor:
        """Threads for foreground work run beside the caller's own (the sync API's two recall
        rankings); never the background workers, which may all be busy."""
        with self._bg_lock:
            if self._side is None:
                self._side = ThreadPoolExecutor(2, "langmem-side")
            return self._side

    def _spawn(self, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job(*args)`` in the background: an asyncio task, or a worker thread."""
        task: Any
        if ASYNC:
            task = asyncio.get_running_loop().create_task(job(*args))
        else:
            with self._bg_lock:
                if self._closed:
                    return
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self._workers, "langmem-background")
                task = self._executor.submit(job, *args)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _summary_job(self, key: SessionKey) -> None:
        await self._run_job("summary", key, self._summarize_once)

    async def _extract_job(self, key: SessionKey) -> None:
        await self._run_job("extract", key, self._extract_once)

    async def _index_job(self, key: SessionKey) -> None:
        await self._run_job("index", key, self._index_once)

    async def _index_once(self, key: SessionKey) -> bool:
        return await index_session_once(self, key)

    async def _index_facts_job(self, user: tuple[str, str]) -> None:
        await self._run_job("index-facts", user, self._index_facts_once)

    async def _index_facts_once(self, user: tuple[str, str]) -> bool:
        return await index_facts_once(self, user)

    def _facts_changed(self, tenant: str, user: str, count: int) -> None:
        self._stats["facts_changed"] += count
        if count and self._recall:
            self._schedule_job("index-facts", (tenant, user), self._index_facts_job)

    async def _extract_once(self, key: SessionKey, batch: int = 100) -> bool:
        """Read facts out of the next batch of the session's messages; True if more remain.

        The batch's operations and the session's ``facts_upto_seq`` are committed together,
        with a compare-and-set on ``facts_upto_seq``, so a batch is applied once even when
        several processes extract from one session.
        """
        extractor = self._extractor
        if extractor is None:
            return False
        store = await self._ready()
        upto, last_seq = await store.facts_progress(key)
        if last_seq <= upto:
            return False
        messages = await store.messages(key, after_seq=upto, limit=batch)
        if not messages:
            return False
        current = await store.current_facts(key.tenant, key.user)
        try:
            operations = await extractor.aextract(
                self._for_llm(key.tenant, messages, extractor), current
            )
        except Exception as exc:
            raise ModelError(f"fact extractor {extractor.name} failed: {exc}") from exc
        changes = [
            self._to_change(op, key, messages, extractor.name)
            for op in operations
            if op.op != "NONE"
        ]
        new_upto = messages[-1].seq or upto
        changed = await store.apply_facts(
            key.tenant, key.user, changes, advance=(key, upto, new_upto)
        )
        if changed is None:
            return False  # another process took this batch
        self._stats["extraction_batches"] += 1
        self._facts_changed(key.tenant, key.user, len(changed))
        self._spend(key, "extract", input_tokens=sum(m.token_count or 0 for m in messages))
        return new_upto < last_seq

    def _to_change(
        self, op: FactOperation, key: SessionKey, messages: Sequence[Message], by: str
    ) -> FactChange:
        seqs = sorted(op.source_seqs)
        when = op.valid_at
        if when is None:
            by_seq = {m.seq: m.created_at for m in messages}
            when = by_seq.get(seqs[-1]) if seqs else None
        return FactChange(
            key=op.key,
            value=op.value,
            valid_at=when or datetime.now(timezone.utc),
            multi=op.key in self.multi_valued_keys,
            retract=op.op == "INVALIDATE",
            confidence=op.confidence,
            source_session=key.session,
            source_seq_from=seqs[0] if seqs else None,
            source_seq_to=seqs[-1] if seqs else None,
            created_by=by,
        )

    # -- facts API behind the user and session handles ---------------------------------------

    def _fact_change(
        self,
        key: str,
        value: Any,
        valid_at: datetime | None,
        *,
        retract: bool,
        source_session: str | None,
        confidence: float = 1.0,
    ) -> FactChange:
        check_id("fact key", key)
        if len(key) > 128:
            raise InvalidInputError("a fact key is at most 128 characters")
        if not retract or value is not None:
            check_json_value(value, f"fact {key!r}")
        if valid_at is None:
            valid_at = datetime.now(timezone.utc)
        elif not isinstance(valid_at, datetime) or valid_at.tzinfo is None:
            raise InvalidInputError("valid_at must be a timezone-aware datetime")
        if not 0.0 <= confidence <= 1.0:
            raise InvalidInputError("confidence must be between 0 and 1")
        return FactChange(
            key=key,
            value=value,
            valid_at=valid_at,
            multi=key in self.multi_valued_keys,
            retract=retract,
            confidence=confidence,
            source_session=source_session,
            created_by="api",
        )

    async def _summarize_once(self, key: SessionKey) -> bool:
        """Fold one chunk into the running summary; True if a new version was written.

        A lease on the session row makes sure two processes never summarize the same range:
        only the lease holder calls the summarizer, and the new version is stored with a
        compare-and-set on the version it started from.
        """
        summarizer = self._summarizer
        if summarizer is None:
            return False
        store = await self._ready()
        _, _, pending = await store.summary_status(key)
        with self._bg_lock:
            self._unsummarized[key] = pending
        if pending < self.buffer_tokens + max(self.min_fold_tokens, 1):
            return False
        lease = await store.acquire_summary_lease(key, self._owner, self.summary_lease_seconds)
        if lease is None:
            self._stats["summary_lease_busy"] += 1
            return False
        upto, version = lease
        saved: Summary | None = None
        try:
            unsummarized = await store.messages(key, after_seq=upto)
            plan = plan_fold(
                unsummarized,
                buffer_tokens=self.buffer_tokens,
                min_fold_tokens=self.min_fold_tokens,
                max_fold_tokens=self.max_fold_tokens,
            )
            if not plan.fold or plan.upto_seq is None:
                return False
            previous = await store.latest_summary(key)
            # Keep the lease alive while the summarizer (maybe a slow LLM) runs, so that no
            # other process takes this range over meanwhile.
            stop = threading.Event()
            renewer: Any
            if ASYNC:
                renewer = asyncio.get_running_loop().create_task(self._renew_lease(key, stop))
            else:
                renewer = threading.Thread(target=self._renew_lease, args=(key, stop), daemon=True)
                renewer.start()
            try:
                text = await summarizer.asummarize(
                    previous.text if previous else "",
                    self._for_llm(key.tenant, plan.fold, summarizer),
                    self.vertical,
                    max_tokens=self._summary_budget(key.tenant),
                )
            except Exception as exc:
                raise SummarizationError(f"{summarizer.name} failed: {exc}") from exc
            finally:
                stop.set()
                if ASYNC:
                    renewer.cancel()
                else:
                    renewer.join()
            if not isinstance(text, str) or not text.strip():
                raise SummarizationError(f"{summarizer.name} returned an empty summary")
            tokens = self._tokenizer.count(text)
            folded = sum(m.token_count or 0 for m in plan.fold)
            saved = await store.save_summary(
                key,
                owner=self._owner,
                expected_version=version,
                from_seq=plan.fold[0].seq or upto + 1,
                upto_seq=plan.upto_seq,
                text=text,
                token_count=tokens,
                covered_tokens=(previous.covered_tokens if previous else 0) + folded,
                summarizer=summarizer.name,
                vertical=self.vertical,
            )
            # the summarizer spent these tokens whether or not its result is kept
            self._spend(
                key,
                "summarize",
                input_tokens=folded + (previous.token_count if previous else 0),
                output_tokens=tokens,
            )
            if saved is None:
                self._stats["summary_lost_race"] += 1
                return False
            self._stats["summaries_written"] += 1
            if self._recall:
                self._schedule_job("index", key, self._index_job)
            return True
        finally:
            if saved is None:
                await store.release_summary_lease(key, self._owner)

    async def _renew_lease(self, key: SessionKey, stop: threading.Event) -> None:
        """Renew the summarization lease every third of its length until ``stop`` is set."""
        store = await self._ready()
        interval = max(0.05, self.summary_lease_seconds / 3)
        while not stop.is_set():
            if ASYNC:
                await asyncio.sleep(interval)
            else:
                stop.wait(interval)
            if stop.is_set():
                return
            try:
                if not await store.renew_summary_lease(
                    key, self._owner, self.summary_lease_seconds
                ):
                    return
            except StoreError:
                _log.warning("could not renew the summarization lease of %r", key)

    def _summary_budget(self, tenant: str) -> int:
        if not self._meter.economy(tenant):
            return self.summary_tokens
        return max(16, int(self.summary_tokens * self._meter.policy.summary_factor))

    async def _summary(self, key: SessionKey) -> Summary | None:
        store = await self._ready()
        _, _, _, summary = await store.summary_state(key)
        return summary

    async def _summaries(self, key: SessionKey) -> list[Summary]:
        store = await self._ready()
        return await store.summaries(key)

    # -- context composition -------------------------------------------------------------------

    async def _context(
        self,
        key: SessionKey,
        query: str | None,
        budget_tokens: int,
        input_text: str | None,
        system: str | None,
        blocks: Collection[str] | None = None,
    ) -> ContextBundle:
        if blocks is not None:
            if isinstance(blocks, str) or not all(isinstance(b, str) for b in blocks):
                raise InvalidInputError("blocks is a collection of block names")
            blocks = frozenset(blocks)
        if (
            not isinstance(budget_tokens, int)
            or isinstance(budget_tokens, bool)
            or budget_tokens < 1
        ):
            raise InvalidInputError(f"budget_tokens must be a positive int, got {budget_tokens!r}")
        for name, value in (("query", query), ("input", input_text), ("system", system)):
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidInputError(f"{name} must be a string")
                check_json_value(value, name)
        await self._ready()
        economy = self._meter.economy(key.tenant)
        if economy:
            policy = self._meter.policy
            budget_tokens = min(
                budget_tokens,
                max(policy.min_budget_tokens, int(budget_tokens * policy.budget_factor)),
            )
        system_text = system if system is not None else self.system_prompt
        request = ContextRequest(
            tenant=key.tenant,
            user=key.user,
            session=key.session,
            query=query,
            budget_tokens=budget_tokens,
            memory=self,
        )
        stamp, updated_at = await self._context_stamp(key, request, input_text, system_text, blocks)
        if stamp is not None:
            cached = await self._hot(key, "get_context", stamp, writing=False)
            if isinstance(cached, bytes):
                try:
                    hit: ContextBundle | None = ContextBundle.from_json(cached)
                except ValueError:
                    hit = None
                if hit is not None:
                    self._stats["context_cache_hits"] += 1
                    self._spend(
                        key, "compose", input_tokens=hit.total_tokens, saved_tokens=hit.tokens_saved
                    )
                    return hit
            self._stats["context_cache_misses"] += 1
        bundle = await self._compose(key, request, input_text, system_text, blocks)
        if stamp is not None:
            ttl = self._context_ttl[_activity(updated_at)]
            if economy:
                ttl *= self._meter.policy.cache_ttl_factor
            await self._hot(key, "put_context", stamp, bundle.to_json(), ttl, writing=False)
        self._spend(
            key, "compose", input_tokens=bundle.total_tokens, saved_tokens=bundle.tokens_saved
        )
        return bundle

    async def _context_stamp(
        self,
        key: SessionKey,
        request: ContextRequest,
        input_text: str | None,
        system_text: str | None,
        blocks: frozenset[str] | None,
    ) -> tuple[str | None, datetime | None]:
        """The cache key of a context: every version the composition depends on, or None.

        Versions come from Postgres (one primary-key lookup), so the stamp is right for every
        process and tier, and it is read before composing, so a cached context is never older
        than its stamp. A provider without ``acache_token``, or one that returns None, makes
        the context uncacheable.
        """
        if not self._context_cache:
            return None, None
        tokens: list[str] = []
        for provider in self._providers:
            token_of = getattr(provider, "acache_token", None)
            token = await token_of(request) if token_of is not None else None
            if token is None:
                return None, None
            tokens.append(f"{provider.name}={token}")
        store = await self._ready()
        versions = await store.context_versions(key)
        last_seq, state_version, summary_version, updated_at, handovers = versions
        material = json.dumps(
            [
                last_seq,
                state_version,
                summary_version,
                handovers,
                request.budget_tokens,
                request.query,
                input_text,
                system_text,
                tokens,
                sorted(blocks) if blocks is not None else None,
                self._fingerprint,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(material.encode()).hexdigest(), updated_at

    async def _compose(
        self,
        key: SessionKey,
        request: ContextRequest,
        input_text: str | None,
        system_text: str | None,
        wanted: frozenset[str] | None,
    ) -> ContextBundle:
        budget_tokens = request.budget_tokens
        store = await self._ready()
        upto, _, last_seq, summary = await store.summary_state(key)
        verbatim = await self._verbatim_after(key, upto, last_seq)
        state = await self._state(key)
        count = self._tokenizer.count
        blocks: list[ContextBlock] = []
        if system_text:
            blocks.append(ContextBlock(name="system", text=system_text, tokens=count(system_text)))
        if state:
            text = _state_text(state)
            tokens = count(text)
            blocks.append(
                ContextBlock(
                    name="state",
                    text=text,
                    tokens=tokens,
                    min_tokens=min(tokens, budget_tokens // 4),
                )
            )
        if summary is not None and summary.text:
            blocks.append(
                ContextBlock(
                    name="summary",
                    text=summary.text,
                    tokens=summary.token_count,
                    # the summary is one statement per line; keep a quarter of the budget for
                    # it before recent turns push it out
                    trim_unit="line",
                    min_tokens=min(summary.token_count, budget_tokens // 4),
                    metadata={"version": summary.version, "upto_seq": summary.upto_seq},
                )
            )
        for provider in self._providers:
            block = await provider.aprovide(request)
            if block is not None:
                blocks.append(block)
        if verbatim:
            tokens = sum(m.token_count or 0 for m in verbatim)
            blocks.append(ContextBlock(name="recent", messages=verbatim, tokens=tokens))
        if input_text:
            blocks.append(ContextBlock(name="input", text=input_text, tokens=count(input_text)))
        if wanted is not None:
            blocks = [b for b in blocks if b.name in wanted]
        full = (summary.covered_tokens if summary else 0) + sum(
            m.token_count or 0 for m in verbatim
        )
        bundle = compose(blocks, budget_tokens=budget_tokens, count=count, full_history_tokens=full)
        self._stats["contexts_composed"] += 1
        return bundle

    async def _verbatim_after(self, key: SessionKey, upto: int, last_seq: int) -> list[Message]:
        """Messages after ``upto`` (the part outside the summary), from the hot tier if it has
        them all, else from Postgres."""
        wanted = last_seq - upto
        if wanted <= 0:
            return []
        if wanted <= self._tier.window_size:
            window = await self._recent(key, wanted)
            if window and window[0].seq == upto + 1 and window[-1].seq == last_seq:
                return window
        store = await self._ready()
        return await store.messages(key, after_seq=upto)

    # -- compliance: erasure and the audit trail --------------------------------------------

    async def erase_user(self, tenant: str, user: str) -> ErasureReport:
        """Erase one user: messages, summaries, handovers, sessions, facts, recall items and
        memories, store items and cached contexts, from Postgres and the hot tier; then prove it.

        Background work is flushed first, so no job writes the user back afterwards. The proof
        (``report.residue``) counts the rows left in every table of the schema that has
        ``tenant_id`` and ``user_id`` columns, and the hot-tier keys left under the user's
        prefix; ``report.verified`` is True when both are zero. The erasure is retried (up to
        three passes) while a concurrent writer leaves rows behind. The audit trail keeps a
        ``erase_user`` entry with the counts and ``report.request_id``, without the user's id.
        Token usage is kept for billing, folded into the ``~erased`` user's totals. If the hot
        tier cannot be reached, Postgres is erased, ``verified`` is False and ``residue`` has
        ``hot_tier_unreachable``; the hot keys then expire with their TTL.
        """
        return await self._erase(check_id("tenant", tenant), check_id("user", user))

    async def erase_tenant(self, tenant: str) -> ErasureReport:
        """Drop a whole tenant from every table (the audit trail excepted) and the hot tier,
        content cache included; proven like :meth:`erase_user`."""
        return await self._erase(check_id("tenant", tenant), None)

    async def verify_erased(self, tenant: str, user: str | None = None) -> dict[str, int]:
        """What is left of a tenant (or of one of its users): rows per table and hot-tier keys
        (``hot_tier``). Empty after an erasure."""
        tenant = check_id("tenant", tenant)
        if user is not None:
            user = check_id("user", user)
        return await self._residue(tenant, user)

    async def audit_log(
        self, tenant: str | None, *, action: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The tenant's audit trail, newest first (erasures, retention runs); ``None``: the
        entries of the whole store (key rotations)."""
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be an int in 1..10000")
        store = await self._ready()
        scope = "" if tenant is None else check_id("tenant", tenant)
        rows = await store.audit_entries(scope, action, limit)
        names = tuple(AuditEntry.model_fields)
        return [AuditEntry.model_validate(dict(zip(names, row, strict=True))) for row in rows]

    async def _residue(self, tenant: str, user: str | None) -> dict[str, int]:
        store = await self._ready()
        left = await store.residue(tenant, user)
        try:
            keys = await self._tier.user_keys(tenant, user)
        except TierError:
            left["hot_tier_unreachable"] = 1
        else:
            if keys:
                left["hot_tier"] = len(keys)
        return left

    async def _erase(self, tenant: str, user: str | None) -> ErasureReport:
        store = await self._ready()
        request_id = uuid.uuid4()
        action = "erase_tenant" if user is None else "erase_user"
        audit_id = await store.audit_begin(tenant, action, request_id, dry_run=False, details={})
        deleted: dict[str, int] = {}
        sessions: set[SessionKey] = set()
        hot_deleted = 0
        residue: dict[str, int] = {}
        try:
            await self.flush(timeout=30.0)
            for _ in range(3):
                found = await store.user_sessions(tenant, user)
                sessions.update(found)
                if user is None:
                    for namespace in await store.cache_namespaces(tenant):
                        try:
                            await self._tier.cache_delete(tenant, namespace, None)
                        except TierError:
                            pass  # reported by the residue check below
                for table, n in (await store.erase(tenant, user)).items():
                    deleted[table] = deleted.get(table, 0) + n
                hot_deleted += await self._drop_hot(tenant, user, found)
                residue = await self._residue(tenant, user)
                if not residue or set(residue) == {"hot_tier_unreachable"}:
                    break
        except BaseException as exc:
            failure = {"deleted": deleted, "error": type(exc).__name__}
            await store.audit_finish(tenant, audit_id, "failed", failure)
            raise
        for key in [k for k in self._dirty | set(self._unsummarized) if _owned(k, tenant, user)]:
            self._dirty.discard(key)
            self._unsummarized.pop(key, None)
        for scope in [s for s in self._scope_sizes if s[0] == tenant and user in (None, s[1])]:
            del self._scope_sizes[scope]
        verified = not residue
        details: dict[str, Any] = {
            "deleted": deleted,
            "sessions": len(sessions),
            "hot_keys_deleted": hot_deleted,
            "residue": residue,
            "verified": verified,
        }
        await store.audit_finish(tenant, audit_id, "done" if verified else "failed", details)
        return ErasureReport(
            request_id=request_id,
            tenant=tenant,
            deleted=deleted,
            sessions=len(sessions),
            hot_keys_deleted=hot_deleted,
            residue=residue,
            verified=verified,
        )

    async def _drop_hot(self, tenant: str, user: str | None, keys: Sequence[SessionKey]) -> int:
        """Delete the hot keys of these sessions and any other key under the user's prefix."""
        dropped = 0
        for key in keys:
            n = await self._hot(key, "drop", writing=True)
            dropped += 0 if n is _SKIPPED else int(n)
        try:
            stray = await self._tier.user_keys(tenant, user)
            if stray:
                dropped += await self._tier.delete_keys(stray)
        except TierError:
            pass  # reported by the residue check
        return dropped

    # -- compliance: retention --------------------------------------------------------------

    async def gc(
        self,
        *,
        tenant: str | None = None,
        dry_run: bool = False,
        archive_dir: str | PathLike[str] | None = None,
        now: datetime | None = None,
        batch: int = 100,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> RetentionReport:
        """Apply the retention policies (``retention=`` of the memory; by default those of
        :data:`~langmem_tiered.compliance.DEFAULT_RETENTION` for its vertical) to every tenant,
        or one.

        A session unchanged for the policy's ``days`` is deleted (every tier), anonymized (its
        messages, summaries, handover summaries and state rewritten with every PII detector
        and the user's known names; kept and marked, so later runs skip it) or archived (its
        JSONL export written to ``archive_dir/<tenant>~<hash>/<user>~<session>~<hash>.jsonl.gz``,
        then deleted). Each
        session is handled in its own transaction, and only if it has not changed since the
        cut-off, so a run is idempotent and an interrupted run is resumed by running again.
        Each tenant's run is logged in the audit trail (``retention``) with its counts.

        Args:
            tenant: Only this tenant.
            dry_run: Count what would be done, change nothing (logged as a dry run).
            archive_dir: Folder of the archives; required when a policy archives.
            now: The reference time (default: now), for tests and back-dated runs.
            batch: Sessions read per page.
            progress: Called as ``progress("retention", done, total)``.
        """
        if tenant is not None:
            tenant = check_id("tenant", tenant)
        if not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise InvalidInputError("batch must be an int in 1..10000")
        store = await self._ready()
        now = now or datetime.now(timezone.utc)
        tenants = [tenant] if tenant is not None else await store.retention_tenants()
        policies = {t: self.retention.for_tenant(t, self.vertical) for t in tenants}
        if (
            not dry_run
            and archive_dir is None
            and any(p.action == "archive" for p in policies.values())
        ):
            raise ConfigurationError("a retention policy archives: give archive_dir")
        request_id = uuid.uuid4()
        done_by: dict[str, int] = {"delete": 0, "anonymize": 0, "archive": 0}
        messages = 0
        archives: list[str] = []
        plan: list[tuple[str, RetentionPolicy, datetime, int]] = []
        for t, policy in policies.items():
            cutoff = now - timedelta(days=policy.days)
            skip = policy.action == "anonymize"
            count, _ = await store.expired_count(t, cutoff, skip_anonymized=skip)
            if count:
                plan.append((t, policy, cutoff, count))
        total = sum(c for *_, c in plan)
        done = 0
        if progress is not None:
            progress("retention", 0, total)
        for t, policy, cutoff, count in plan:
            details: dict[str, Any] = {
                "policy": policy.model_dump(mode="json"),
                "cutoff": cutoff.isoformat(),
                "sessions": count,
            }
            audit_id = await store.audit_begin(
                t, "retention", request_id, dry_run=dry_run, details=details
            )
            handled = skipped = tenant_messages = 0
            try:
                after = ("", "")
                skip = policy.action == "anonymize"
                while True:
                    page = await store.expired_page(
                        t, cutoff, skip_anonymized=skip, after=after, limit=batch
                    )
                    if not page:
                        break
                    after = (page[-1][0].user, page[-1][0].session)
                    for key, n in page:
                        ok = True
                        if dry_run:
                            pass
                        elif policy.action == "anonymize":
                            ok = await self._anonymize(key, cutoff)
                        else:
                            if policy.action == "archive":
                                assert archive_dir is not None
                                path = _archive_path(Path(archive_dir), key)
                                path.parent.mkdir(parents=True, exist_ok=True)
                                await self.export_jsonl(
                                    path, tenant=key.tenant, user=key.user, session=key.session
                                )
                                archives.append(str(path))
                            gone = await self._admin().delete_session(
                                key.tenant, key.user, key.session, before=cutoff
                            )
                            ok = gone["sessions"] == 1
                        if ok:
                            handled += 1
                            tenant_messages += n
                        else:
                            skipped += 1  # it changed since the cut-off: kept
                        done += 1
                        if progress is not None:
                            progress("retention", done, total)
                    if not dry_run:
                        details.update(handled=handled, skipped=skipped, messages=tenant_messages)
                        await store.audit_finish(t, audit_id, "running", details)
            except BaseException as exc:
                details.update(handled=handled, error=type(exc).__name__)
                await store.audit_finish(t, audit_id, "failed", details)
                raise
            details.update(handled=handled, skipped=skipped, messages=tenant_messages)
            await store.audit_finish(t, audit_id, "done", details)
            done_by[policy.action] += handled
            messages += tenant_messages
        return RetentionReport(
            request_id=request_id,
            dry_run=dry_run,
            sessions=done_by,
            messages=messages,
            archives=archives,
            tenants=len(plan),
        )

    # -- compliance: encryption at rest ----------------------------------------------------

    async def rotate_keys(
        self,
        *,
        encrypt_plaintext: bool = False,
        batch: int = 500,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Re-encrypt every sealed field (message content and kept originals, summaries,
        handover summaries, fact values and their digests) with the first key of
        ``encryption=``, in keyset pages of ``batch`` rows, each page one transaction. Run it
        after putting a new key first; drop the old key once it has finished. Idempotent and
        resumable (rows already current are skipped).

        ``encrypt_plaintext`` also seals fields stored before encryption was switched on, then
        rebuilds the recall index from redacted text (its items held the plaintext).

        Returns rows rewritten per table. Logged in the audit trail (``audit_log(None)``).
        """
        if self._cipher is None:
            raise ConfigurationError("rotate_keys needs encryption keys (encryption=)")
        if not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise InvalidInputError("batch must be an int in 1..10000")
        store = await self._ready()
        await self.flush(timeout=60.0)
        request_id = uuid.uuid4()
        details: dict[str, Any] = {
            "encrypt_plaintext": encrypt_plaintext,
            "keys": self._cipher.key_count,
        }
        audit_id = await store.audit_begin(
            "", "rotate_keys", request_id, dry_run=False, details=details
        )
        changed: dict[str, int] = {}
        try:
            for table in SEALED_FIELDS:
                total = await store.count_rows(table)
                after: tuple[Any, ...] | None = None
                scanned = 0
                changed[table] = 0
                if progress is not None:
                    progress(table, 0, total)
                while True:
                    after, n, c = await store.reseal_page(
                        table, after, limit=batch, encrypt_plaintext=encrypt_plaintext
                    )
                    scanned += n
                    changed[table] += c
                    if progress is not None:
                        progress(table, min(scanned, total), total)
                    if after is None:
                        break
            if encrypt_plaintext and any(changed.values()):
                await store.reset_recall_index()
                await self.backfill(progress=progress)
        except BaseException as exc:
            await store.audit_finish(
                "",
                audit_id,
                "failed",
                {**details, "rewritten": changed, "error": type(exc).__name__},
            )
            raise
        await store.audit_finish("", audit_id, "done", {**details, "rewritten": changed})
        return changed

    async def _anonymize(self, key: SessionKey, cutoff: datetime) -> bool:
        store = await self._ready()
        names = names_from_facts(await store.current_facts(key.tenant, key.user))

        def clean(text: str) -> str:
            return _ANONYMIZER.redact(text, names).text

        rewritten: list[tuple[int, Any]] = []
        for m in await store.messages(key):
            content = _map_strings(m.content, clean)
            # rewritten even if unchanged: an original kept beside it is dropped
            rewritten.append((m.seq or 0, content))
        summaries = [(s.version, clean(s.text)) for s in await store.summaries(key)]
        handovers = [(int(row[0]), clean(row[8])) for row in await store.handovers(key) if row[8]]
        state = _map_strings((await store.get_state(key)).state, clean)
        ok = await store.anonymize_session(
            key,
            cutoff,
            messages=rewritten,
            summaries=summaries,
            handovers=handovers,
            state=state,
        )
        if ok:
            await self._hot(key, "drop", writing=True)
            self._dirty.discard(key)
            if self._recall:
                self._schedule_job("index", key, self._index_job)
        return ok

    async def _end_handover(self, key: SessionKey, status: str) -> Handover:
        store = await self._ready()
        found = await store.open_handover(key)
        if found is None:
            raise HandoverError(f"no open handover in {key}")
        row, last_seq = found
        opened = _handover(row)
        turns = await store.messages(key, after_seq=opened.from_seq)
        summarizer = self._summarizer or ExtractiveSummarizer(count=self._tokenizer.count)
        text = ""
        if turns:
            prepared = self._for_llm(key.tenant, turns, summarizer)
            try:
                text = await summarizer.asummarize(
                    "", prepared, self.vertical, max_tokens=self.summary_tokens
                )
            except InvalidInputError:
                raise
            except Exception as exc:  # the model failed: keep the handover open, say why
                raise SummarizationError(f"handover summary failed: {exc}") from exc
        closed = await store.end_handover(
            key,
            opened.handover_id,
            upto_seq=last_seq,
            status=status,
            followup=status in FOLLOWUP_STATUSES,
            summary=text,
            tokens=self._tokenizer.count(text),
            summarizer=summarizer.name,
        )
        if closed is None:
            raise HandoverError(f"the handover of {key} was ended by someone else meanwhile")
        return _handover(closed)

    def _for_llm(
        self, tenant: str, messages: Sequence[Message], model: object
    ) -> Sequence[Message]:
        """Messages as they may leave for a model: redacted by the tenant's policy when it
        redacts at the ``llm`` stage and the model is not one of the offline ones shipped
        with the package (whose text never leaves the process)."""
        if not self._redacts_for(tenant, model):
            return messages
        return [self._redact_message(tenant, "llm", m) for m in messages]

    def _text_for_llm(self, tenant: str, text: str, model: object) -> str:
        """``text`` as it may leave for a model (embedder queries and documents)."""
        policies = self._redaction
        if policies is None or not self._redacts_for(tenant, model):
            return text
        result = policies.redact(tenant, "llm", text)
        if result.counts:
            with self._bg_lock:
                for kind, n in result.counts.items():
                    self.pii_counts[kind] = self.pii_counts.get(kind, 0) + n
        return result.text

    def _redacts_for(self, tenant: str, model: object) -> bool:
        policies = self._redaction
        if policies is None or not policies.policy_for(tenant).applies("llm"):
            return False
        return not isinstance(model, _OFFLINE_MODELS)

    async def _clear(self, key: SessionKey) -> int:
        store = await self._ready()
        removed, last_seq, state_version = await store.clear(key)
        # drop cached contexts (they quote the deleted messages), keeping the guards
        await self._hot(key, "invalidate", writing=True)
        # Write the cleared session (empty window with lo above every deleted seq, empty state
        # at its new version) rather than deleting keys: the guards then refuse a slow reader's
        # refill of what was just deleted.
        done = await self._hot(key, "fill", last_seq, last_seq + 1, [], writing=True)
        if done is not _SKIPPED:
            await self._hot(key, "put_state", HotState({}, state_version), writing=True)
        return removed


_OFFLINE_MODELS = (ExtractiveSummarizer, RuleBasedExtractor, LocalEmbedder)
"""Models shipped with the package that run in this process: text given to them stays here,
so the ``llm`` redaction stage does not apply to them."""

_ANONYMIZER = Redactor(RedactionPolicy(where="both"))
"""Every detector: what retention's ``anonymize`` applies, whatever the tenant's own policy."""


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` (JSON data) with ``fn`` applied to every string in it (keys kept)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _archive_path(base: Path, key: SessionKey) -> Path:
    """``base/<tenant>/<user>~<session>~<digest>.jsonl.gz``: readable, bounded, collision-free."""
    digest = hashlib.sha256("\0".join((key.tenant, key.user, key.session)).encode()).hexdigest()
    tenant = quote(key.tenant, safe="")[:100] + "~" + digest[:8]
    name = f"{quote(key.user, safe='')[:60]}~{quote(key.session, safe='')[:60]}~{digest[:16]}"
    return base / tenant / f"{name}.jsonl.gz"


def _owned(key: SessionKey, tenant: str, user: str | None) -> bool:
    return key.tenant == tenant and (user is None or key.user == user)


def _ledger_total(usage: Mapping[str, Mapping[str, int]]) -> int:
    """Tokens a tenant's ledger counts against its daily limit: input plus output."""
    return sum(u["input_tokens"] + u["output_tokens"] for u in usage.values())


def _activity(updated_at: datetime | None) -> str:
    """``active``, ``idle`` or ``archived`` from the time of the session's last change."""
    if updated_at is None:
        return "active"
    age = (datetime.now(timezone.utc) - updated_at).total_seconds()
    if age < ACTIVE_SECONDS:
        return "active"
    return "idle" if age < ARCHIVED_SECONDS else "archived"


def _state_text(state: Mapping[str, Any]) -> str:
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
        for k, v in state.items()
    )


def _hot_batch(stored: Sequence[Message], fresh: Sequence[Message]) -> list[Message]:
    """What to send to the hot tier after an append.

    Everything stored, in seq order, when it is one contiguous run: a replayed message whose
    first hot write was lost (its reply never came back) then still reaches the window, and the
    tier ignores what it already has. Otherwise only the fresh messages, which are contiguous.
    """
    ordered = sorted({m.seq or 0: m for m in stored}.values(), key=lambda m: m.seq or 0)
    first = ordered[0].seq or 0
    if all(m.seq == first + i for i, m in enumerate(ordered)):
        return ordered
    return list(fresh)


class AsyncSession:
    """One conversation ``(tenant, user, session)`` of an :class:`AsyncTieredMemory`."""

    def __init__(self, memory: AsyncTieredMemory, key: SessionKey) -> None:
        self.memory = memory
        self.key = key

    @property
    def tenant(self) -> str:
        return self.key.tenant

    @property
    def user(self) -> str:
        return self.key.user

    @property
    def session_id(self) -> str:
        return self.key.session

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.key.tenant!r}, {self.key.user!r}, {self.key.session!r})"
        )

    async def add_messages(self, messages: Sequence[Message | Mapping[str, Any]]) -> list[Message]:
        """Store messages durably, in order, and return them with ``seq`` and ``created_at``.

        The batch is validated first and stored atomically: either all new messages are
        committed or none. A message whose ``id`` is already stored is not stored again; it
        comes back with its original seq (retries are idempotent).

        Raises:
            InvalidMessageError: a message is malformed (nothing is written).
            MessageTooLargeError: a message exceeds ``max_message_bytes`` (nothing is written).
            StoreUnavailableError: Postgres could not be reached (nothing was acknowledged).
        """
        return await self.memory._append(self.key, messages)

    async def add_message(
        self, message: Message | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Message:
        """Store one message, given as a :class:`Message`, a mapping, or keyword fields.

        Example: ``await s.add_message(role="user", content="Oi", metadata={"channel": "wa"})``.
        """
        if message is not None and fields:
            raise InvalidInputError("pass a message or keyword fields, not both")
        stored = await self.memory._append(self.key, [message if message is not None else fields])
        return stored[0]

    async def messages(
        self, after_seq: int | None = None, limit: int | None = None, *, original: bool = False
    ) -> list[Message]:
        """The full durable history from Postgres, in seq order.

        ``original=True`` returns messages as they were written where the tenant's redaction
        policy keeps originals (stored encrypted); otherwise, and by default, as stored.
        """
        return await self.memory._messages(self.key, after_seq, limit, original)

    async def recent(self, n: int = 20) -> list[Message]:
        """The last ``n`` messages, from the hot tier when it provably has them."""
        return await self.memory._recent(self.key, n)

    async def state(self) -> dict[str, Any]:
        """The session's structured state slots (empty dict for a new session)."""
        return await self.memory._state(self.key)

    async def update_state(self, **slots: Any) -> dict[str, Any]:
        """Merge slots into the session state (durably) and return the whole new state."""
        return await self.memory._update_state(self.key, slots)

    async def context(
        self,
        query: str | None = None,
        budget_tokens: int = 2000,
        *,
        input: str | None = None,
        system: str | None = None,
        blocks: Collection[str] | None = None,
    ) -> ContextBundle:
        """Compose what the model should see, within ``budget_tokens``.

        Blocks, in order: system, session state, facts/handover/recalled (from registered
        providers), the running summary, the messages not yet summarized, and ``input``. When
        the budget is tight the lowest-priority blocks shrink first (recent turns and the
        input last). ``bundle.to_messages()`` / ``bundle.to_text()`` flatten it;
        ``bundle.tokens_saved`` compares it with sending the full history.

        Args:
            query: What the next turn is about (used by recall providers).
            budget_tokens: Upper bound of the flattened context.
            input: The new user input, placed last.
            system: Overrides the memory's ``system_prompt`` for this call.
            blocks: Names of the blocks to include (default: all), e.g.
                ``{"summary", "recent", "input"}``.
        """
        return await self.memory._context(self.key, query, budget_tokens, input, system, blocks)

    async def recall(
        self,
        query: str,
        k: int = 10,
        *,
        scope: str = "user",
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        exclude_recent: bool = False,
        recency_weight: float = 0.0,
        mode: str = "hybrid",
        max_tokens: int | None = None,
        merge: bool = True,
    ) -> list[RecallHit]:
        """Find what was said before by meaning and words (hybrid search), best first.

        Searches the user's messages (spans of turns), running-summary snapshots and facts;
        each hit has ``.text``, ``.score``, ``.kind`` and ``.provenance`` (session, message
        seqs, ids and metadata). Messages are searchable once the background indexer has seen
        them (``flush()`` waits for it).

        Args:
            query: What to look for.
            k: Number of hits.
            scope: ``"user"`` (all the user's sessions) or ``"session"`` (this one).
            since / until: Only items said at or after / before these times.
            kinds: Subset of ``{"message", "summary", "fact"}``.
            exclude_recent: Leave out message spans wholly inside this session's unsummarized
                recent turns (what a composed context shows verbatim).
            recency_weight: Weight of a recency ranking fused with the others (0: none).
            mode: ``"hybrid"`` (vectors and full text fused), ``"vector"`` or ``"text"``.
            max_tokens: Upper bound of the hits' tokens together (hits that do not fit are
                skipped, the next ones tried).
            merge: Merge overlapping spans of turns into one hit (the shared turns are then
                paid for once); False returns the items as indexed.

        Raises:
            InvalidInputError: a bad argument (nothing is searched).
            ConfigurationError: ``mode="vector"`` without an embedder (or pgvector).
        """
        if scope not in ("user", "session"):
            raise InvalidInputError("scope is 'user' or 'session'")
        memory = self.memory
        exclude = None
        if exclude_recent:
            store = await memory._ready()
            upto, _, _, _ = await store.summary_state(self.key)
            exclude = (self.key.session, upto)
        return await recall(
            memory,
            self.key.tenant,
            self.key.user,
            query,
            k=k,
            session=self.key.session if scope == "session" else None,
            since=since,
            until=until,
            kinds=kinds,
            exclude_after=exclude,
            recency_weight=recency_weight,
            mode=mode,
            max_tokens=max_tokens,
            merge=merge,
        )

    @property
    def user_handle(self) -> AsyncUserHandle:
        """The facts of this session's user (shared by all their sessions)."""
        return AsyncUserHandle(self.memory, self.key.tenant, self.key.user)

    async def facts(self, as_of: datetime | None = None) -> list[Fact]:
        """The user's current facts, or those true at ``as_of``."""
        return await self.user_handle.facts(as_of)

    async def fact_history(self, key: str) -> list[Fact]:
        """Every value the user's ``key`` ever had, oldest first."""
        return await self.user_handle.fact_history(key)

    async def remember(
        self, key: str, value: Any, *, valid_at: datetime | None = None, confidence: float = 1.0
    ) -> list[Fact]:
        """Assert a fact about the user, with this session as its source."""
        return await self.user_handle.remember(
            key, value, valid_at=valid_at, confidence=confidence, session=self.key.session
        )

    async def forget(
        self, key: str, value: Any = None, *, at: datetime | None = None
    ) -> list[Fact]:
        """Close the user's current fact for ``key`` (history is kept)."""
        return await self.user_handle.forget(key, value, at=at)

    async def summary(self) -> Summary | None:
        """The latest running summary, or None before the first fold."""
        return await self.memory._summary(self.key)

    async def summaries(self) -> list[Summary]:
        """Every version of the running summary, oldest first."""
        return await self.memory._summaries(self.key)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait for background work of the memory (summarization) to finish."""
        return await self.memory.flush(timeout)

    async def clear(self) -> int:
        """Delete the session's messages and state; returns how many messages were removed.

        Seqs of later messages continue after the last one ever stored.
        """
        return await self.memory._clear(self.key)

    # -- handover to a human operator ----------------------------------------------------

    async def begin_handover(self, operator_id: str) -> Handover:
        """A human operator takes over the session: record their turns with
        ``add_message(role="operator", name=operator_id, ...)`` until :meth:`end_handover`.

        While the handover is open, composed contexts carry a ``handover`` block saying so.
        Raises :class:`HandoverError` if one is open already.
        """
        operator_id = check_id("operator_id", operator_id)
        store = await self.memory._ready()
        row = await store.begin_handover(self.key, operator_id)
        if row is None:
            raise HandoverError(f"{self!r} already has an open handover")
        return _handover(row)

    async def end_handover(self, resolution_status: str) -> Handover:
        """The operator hands the session back: summarize what happened since
        :meth:`begin_handover` (through the memory's summarizer), close the handover with
        ``resolution_status`` and ``requires_followup`` (True for ``escalated`` and
        ``pending``). Composed contexts then carry the handover summary as the ``handover``
        block, so the AI resumes knowing what the operator did.

        Raises :class:`HandoverError` if no handover is open, :class:`InvalidInputError` for a
        malformed status (lower-case word: letters, digits, ``_``, ``-``; at most 32).
        """
        if not isinstance(resolution_status, str) or not _STATUS_RE.match(resolution_status):
            raise InvalidInputError(
                f"resolution_status must be a lower-case word, got {resolution_status!r}"
            )
        return await self.memory._end_handover(self.key, resolution_status)

    async def handover(self) -> Handover | None:
        """The session's latest handover (open or ended), or None."""
        found = await self.handovers(limit=1)
        return found[0] if found else None

    async def handovers(self, limit: int = 100) -> list[Handover]:
        """The session's handovers, newest first."""
        store = await self.memory._ready()
        return [_handover(row) for row in await store.handovers(self.key, limit)]


class AsyncUserHandle:
    """One user of a tenant: the temporal facts known about them, across sessions."""

    def __init__(self, memory: AsyncTieredMemory, tenant: str, user: str) -> None:
        self.memory = memory
        self.tenant = tenant
        self.user = user

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tenant!r}, {self.user!r})"

    async def facts(self, as_of: datetime | None = None) -> list[Fact]:
        """Current facts, or the facts that were true at ``as_of`` (valid at their ``valid_at``,
        no longer at their ``invalid_at``)."""
        store = await self.memory._ready()
        if as_of is None:
            return await store.current_facts(self.tenant, self.user)
        if not isinstance(as_of, datetime) or as_of.tzinfo is None:
            raise InvalidInputError("as_of must be a timezone-aware datetime")
        return await store.facts_as_of(self.tenant, self.user, as_of)

    async def fact(self, key: str) -> Fact | None:
        """The current value of a single-valued key (one index probe), or None."""
        store = await self.memory._ready()
        return await store.current_fact(self.tenant, self.user, check_id("fact key", key))

    async def fact_history(self, key: str) -> list[Fact]:
        """Every value the key ever had, oldest first, with its validity interval."""
        store = await self.memory._ready()
        return await store.fact_history(self.tenant, self.user, check_id("fact key", key))

    async def recall(
        self,
        query: str,
        k: int = 10,
        *,
        session: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        recency_weight: float = 0.0,
        mode: str = "hybrid",
        max_tokens: int | None = None,
        merge: bool = True,
    ) -> list[RecallHit]:
        """Hybrid search over the user's recall items (all sessions, or ``session``); see
        :meth:`AsyncSession.recall`."""
        if session is not None:
            check_id("session", session)
        return await recall(
            self.memory,
            self.tenant,
            self.user,
            query,
            k=k,
            session=session,
            since=since,
            until=until,
            kinds=kinds,
            recency_weight=recency_weight,
            mode=mode,
            max_tokens=max_tokens,
            merge=merge,
        )

    async def search_facts(
        self,
        query: str,
        k: int = 10,
        as_of: datetime | None = None,
        *,
        min_similarity: float | None = None,
    ) -> list[Fact]:
        """Facts for ``query``, best first: by meaning and words through the recall index (for
        facts indexed already), then facts sharing words with the query.

        Args:
            min_similarity: Drop facts found only by meaning whose cosine similarity to the
                query is below this (the scale depends on the embedder); default: keep them.
        """
        if not isinstance(query, str):
            raise InvalidInputError("query must be a string")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
            raise InvalidInputError(f"k must be an int in 1..1000, got {k!r}")
        facts = await self.facts(as_of)
        if not facts:
            return []
        by_id = {f.id: f for f in facts}
        found: list[Fact] = []
        if self.memory._recall:
            hits = await self.recall(query, k=max(3 * k, 20), kinds=("fact",))
            for hit in hits:
                if (
                    min_similarity is not None
                    and hit.text_rank is None
                    and (hit.similarity or 0.0) < min_similarity
                ):
                    continue
                fact = by_id.pop(hit.fact_id, None) if hit.fact_id is not None else None
                if fact is not None:
                    found.append(fact)
        terms = {t for t in _words(query) if len(t) > 1}
        scored = []
        for fact in by_id.values():
            text = _words(
                fact.key.replace("_", " ") + " " + json.dumps(fact.value, ensure_ascii=False)
            )
            score = len(terms & text)
            if score:
                scored.append((-score, fact.key, fact.id, fact))
        found.extend(item[-1] for item in sorted(scored))
        return found[:k]

    async def remember(
        self,
        key: str,
        value: Any,
        *,
        valid_at: datetime | None = None,
        confidence: float = 1.0,
        session: str | None = None,
    ) -> list[Fact]:
        """Assert that ``key`` is ``value`` from ``valid_at`` (default now); returns the facts
        inserted or closed (empty when the same value is already true then)."""
        change = self.memory._fact_change(
            key, value, valid_at, retract=False, source_session=session, confidence=confidence
        )
        return await self._apply(change)

    async def forget(
        self, key: str, value: Any = None, *, at: datetime | None = None
    ) -> list[Fact]:
        """Close the key's current fact at ``at`` (default now); for a multi-valued key only
        the one holding ``value`` when given. History is kept."""
        change = self.memory._fact_change(key, value, at, retract=True, source_session=None)
        return await self._apply(change)

    async def put_memory(self, key: str, text: str, *, occurred_at: datetime | None = None) -> None:
        """Write a long-term memory under ``key`` (replacing the key's earlier text): a recall
        item of kind ``memory``, found by ``recall`` and recalled into ``context``, embedded
        before this returns when an embedder is set."""
        await self.put_memories({key: text}, occurred_at=occurred_at)

    async def put_memories(
        self, memories: Mapping[str, str | None], *, occurred_at: datetime | None = None
    ) -> int:
        """Write several memories at once (text None deletes the key) in one transaction;
        return how many were stored. Bad input raises and writes nothing."""
        if not isinstance(memories, Mapping):
            raise InvalidInputError("memories is a mapping of key to text")
        items = list(memories.items())
        return await put_memories(self.memory, self.tenant, self.user, items, occurred_at)

    async def delete_memories(self, keys: Sequence[str]) -> None:
        """Delete the memories of ``keys`` (absent keys are ignored)."""
        if isinstance(keys, str):
            raise InvalidInputError("keys is a sequence of keys, not one string")
        await put_memories(self.memory, self.tenant, self.user, [(k, None) for k in keys], None)

    async def _apply(self, change: FactChange) -> list[Fact]:
        store = await self.memory._ready()
        changed = await store.apply_facts(self.tenant, self.user, [change])
        assert changed is not None
        self.memory._facts_changed(self.tenant, self.user, len(changed))
        return changed


class AsyncFactsProvider:
    """The ``facts`` block of a composed context: the user's current facts, one per line."""

    name = "facts"

    async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
        memory = request.memory
        store = await memory._ready()
        facts = await store.current_facts(request.tenant, request.user)
        if not facts:
            return None
        text = _facts_text(facts)
        tokens = memory._tokenizer.count(text)
        return ContextBlock(
            name="facts",
            text=text,
            tokens=tokens,
            min_tokens=min(tokens, request.budget_tokens // 5),
        )

    async def acache_token(self, request: ContextRequest) -> str:
        store = await request.memory._ready()
        return str(await store.fact_version(request.tenant, request.user))


class AsyncHandoverProvider:
    """The ``handover`` block: an operator has the session, or what they did and how it ended.

    Its cache token is constant: the engine's context stamp already reads the session's
    handover versions in the same lookup as the others.
    """

    name = "handover"

    async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
        memory = request.memory
        store = await memory._ready()
        key = SessionKey(request.tenant, request.user, request.session)
        rows = await store.handovers(key, 1)
        if not rows:
            return None
        h = _handover(rows[0])
        if h.ended_at is None:
            text = (
                f"A human operator ({h.operator_id}) took over this conversation at "
                f"{h.started_at:%Y-%m-%d %H:%M} UTC and still has it."
            )
        else:
            followup = " Follow-up required." if h.requires_followup else ""
            text = (
                f"A human operator ({h.operator_id}) handled this conversation from "
                f"{h.started_at:%Y-%m-%d %H:%M} to {h.ended_at:%Y-%m-%d %H:%M} UTC. "
                f"Resolution: {h.resolution_status}.{followup}"
            )
            if h.summary:
                text += "\n" + h.summary
        tokens = memory._tokenizer.count(text)
        return ContextBlock(
            name="handover",
            text=text,
            tokens=tokens,
            min_tokens=min(tokens, request.budget_tokens // 5),
            metadata={"handover_id": h.handover_id, "requires_followup": h.requires_followup},
        )

    async def acache_token(self, request: ContextRequest) -> str:
        return ""


_STATUS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _handover(row: Sequence[Any]) -> Handover:
    return Handover.model_validate(dict(zip(_HANDOVER_FIELDS, row, strict=True)))


_HANDOVER_FIELDS = tuple(Handover.model_fields)


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^\w@.+-]+", text.casefold()) if w}


def _facts_text(facts: Sequence[Fact]) -> str:
    """Compact lines ``key: value (since YYYY-MM-DD)``; values of a multi-valued key joined."""
    by_key: dict[str, list[Fact]] = {}
    for fact in facts:
        by_key.setdefault(fact.key, []).append(fact)
    lines = []
    for key, group in by_key.items():
        values = ", ".join(
            v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in (f.value for f in group)
        )
        since = max(f.valid_at for f in group).date().isoformat()
        lines.append(f"{key}: {values} (since {since})")
    return "\n".join(lines)
