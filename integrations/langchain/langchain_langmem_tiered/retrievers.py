"""LangChain retrievers over langmem-tiered: a user's facts and hybrid recall."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory
from langmem_tiered.facts.model import Fact
from langmem_tiered.recall.model import RecallHit

__all__ = ["TieredFactsRetriever", "TieredRecallRetriever"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def fact_document(fact: Fact) -> Document:
    """A fact as a ``Document``: ``"key: value"`` with the fact's interval and provenance."""
    value = fact.value if isinstance(fact.value, str) else json.dumps(fact.value)
    seqs: list[int] = []
    if fact.source_seq_from is not None:
        seqs = list(range(fact.source_seq_from, (fact.source_seq_to or fact.source_seq_from) + 1))
    return Document(
        page_content=f"{fact.key}: {value}",
        metadata={
            "key": fact.key,
            "value": fact.value,
            "valid_at": _iso(fact.valid_at),
            "invalid_at": _iso(fact.invalid_at),
            "source_session": fact.source_session,
            "seqs": seqs,
            "fact_id": fact.id,
            "confidence": fact.confidence,
            "created_by": fact.created_by,
        },
    )


def hit_document(hit: RecallHit) -> Document:
    """A recall hit as a ``Document``: its text, with provenance, score and kind."""
    return Document(
        page_content=hit.text,
        metadata={
            **hit.provenance,
            "score": hit.score,
            "kind": hit.kind,
            "item_id": hit.item_id,
            "occurred_at": _iso(hit.occurred_at),
            "valid_until": _iso(hit.valid_until),
        },
    )


class _TieredRetriever(BaseRetriever):
    memory: Any = None
    """A ``TieredMemory`` or ``AsyncTieredMemory`` of the core (not closed here)."""
    async_memory: Any = None
    """An ``AsyncTieredMemory`` for ``ainvoke``, beside a sync ``memory``."""
    tenant: str
    user: str
    k: int = 4

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if isinstance(self.memory, AsyncTieredMemory):
            if self.async_memory is not None:
                raise ConfigurationError("memory is already an AsyncTieredMemory")
            self.async_memory, self.memory = self.memory, None
        if self.memory is not None and not isinstance(self.memory, TieredMemory):
            raise ConfigurationError("memory must be a TieredMemory or AsyncTieredMemory")
        if self.async_memory is not None and not isinstance(self.async_memory, AsyncTieredMemory):
            raise ConfigurationError("async_memory must be an AsyncTieredMemory")
        if self.memory is None and self.async_memory is None:
            raise ConfigurationError("give memory= (TieredMemory/AsyncTieredMemory)")
        if isinstance(self.k, bool) or self.k < 1:
            raise ConfigurationError("k must be a positive int")
        # validates the ids without I/O
        if self.memory is not None:
            self.memory.user(self.tenant, self.user)
        elif self.async_memory is not None:
            self.async_memory.user(self.tenant, self.user)

    def _sync_memory(self) -> TieredMemory:
        if self.memory is None:
            raise ConfigurationError("this retriever has only an AsyncTieredMemory: use ainvoke")
        memory: TieredMemory = self.memory
        return memory


class TieredFactsRetriever(_TieredRetriever):
    """The facts of a user that match the query (``user.search_facts``), best first.

    Each ``Document`` is ``"key: value"`` with metadata ``key``, ``value``, ``valid_at``,
    ``invalid_at`` (ISO strings), ``source_session``, ``seqs``, ``fact_id``. With ``as_of`` the
    facts that were true then; an empty query returns the first ``k`` facts.
    """

    as_of: datetime | None = None

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        handle = self._sync_memory().user(self.tenant, self.user)
        limit = k or self.k
        if not query.strip():
            facts = handle.facts(self.as_of)[:limit]
        else:
            facts = handle.search_facts(query, k=limit, as_of=self.as_of)
        return [fact_document(f) for f in facts]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        if self.async_memory is None:
            return await asyncio.to_thread(
                self._get_relevant_documents,
                query,
                run_manager=run_manager.get_sync(),
                k=k,
            )
        handle = self.async_memory.user(self.tenant, self.user)
        limit = k or self.k
        if not query.strip():
            facts = (await handle.facts(self.as_of))[:limit]
        else:
            facts = await handle.search_facts(query, k=limit, as_of=self.as_of)
        return [fact_document(f) for f in facts]


class TieredRecallRetriever(_TieredRetriever):
    """Hybrid recall (meaning and words) over a user's conversations, best first.

    Each ``Document`` is a hit's text with metadata: the hit's provenance (``session``,
    ``seqs``, ``message_ids``, ``metadata``, ``fact_id``), ``score``, ``kind``, ``item_id``,
    ``occurred_at``. ``scope="session"`` (with ``session``) searches one session only.
    """

    session: str | None = None
    scope: str = "user"
    kinds: Collection[str] | None = None
    mode: str = "hybrid"
    merge: bool = True
    """Merge overlapping spans of turns into one hit (False: one document per indexed item)."""

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if self.scope not in ("user", "session"):
            raise ConfigurationError("scope is 'user' or 'session'")
        if self.scope == "session" and self.session is None:
            raise ConfigurationError("scope='session' needs session=")

    def _options(self, k: int | None) -> dict[str, Any]:
        return {
            "k": k or self.k,
            "session": self.session if self.scope == "session" else None,
            "kinds": self.kinds,
            "mode": self.mode,
            "merge": self.merge,
        }

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        handle = self._sync_memory().user(self.tenant, self.user)
        return [hit_document(h) for h in handle.recall(query, **self._options(k))]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        if self.async_memory is None:
            return await asyncio.to_thread(
                self._get_relevant_documents,
                query,
                run_manager=run_manager.get_sync(),
                k=k,
            )
        handle = self.async_memory.user(self.tenant, self.user)
        hits = await handle.recall(query, **self._options(k))
        return [hit_document(h) for h in hits]
