"""Memory blocks for LlamaIndex's ``Memory``: temporal facts, recall and the running summary.

Each reads the tiered store of the session ``Memory`` passes as ``session_id`` (or the block's
``session`` field), so they pair naturally with :class:`~.TieredChatStore` (then every message is
in the core and its background extraction, summarization and indexing see it). ``_aput`` stores
nothing: the core already has the messages. Each block truncates itself line by line
(``atruncate``), dropping the least relevant lines first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import BaseMemoryBlock
from pydantic import Field

from ._config import TieredConfig

__all__ = ["RecallMemoryBlock", "SummaryMemoryBlock", "TemporalFactsMemoryBlock"]


class _TieredBlock(TieredConfig, BaseMemoryBlock[str]):
    session: str | None = Field(
        default=None, description="Session to read (default: the Memory's session_id)."
    )

    def _asession(self, block_kwargs: dict[str, Any]) -> Any:
        session = block_kwargs.get("session_id") or self.session
        if not isinstance(session, str):
            session = "default"
        self._check_ids(session)
        return self._async_session(session)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        return None

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop lines from the end until ``tokens_to_truncate`` tokens are gone (None: empty)."""
        count = self._sync_memory().tokenizer.count  # same options, same tokenizer
        lines = content.splitlines()
        removed = 0
        while lines and removed < tokens_to_truncate:
            removed += count(lines.pop()) + 1
        text = "\n".join(lines).strip()
        return text or None


class TemporalFactsMemoryBlock(_TieredBlock):
    """The user's facts, each with when it became true; ``as_of`` reads the past.

    What ``FactExtractionMemoryBlock`` would be if its facts persisted and had time.
    """

    name: str = Field(default="TemporalFacts")
    as_of: datetime | None = Field(default=None, description="Facts true at this time.")

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        facts = await self._asession(block_kwargs).facts(self.as_of)
        lines = []
        for fact in sorted(facts, key=lambda f: f.valid_at, reverse=True):
            value = fact.value if isinstance(fact.value, str) else json.dumps(fact.value)
            lines.append(f"- {fact.key}: {value} (since {fact.valid_at.date().isoformat()})")
        return "\n".join(lines)


class RecallMemoryBlock(_TieredBlock):
    """What the user said before (all sessions) that matches the latest user message."""

    name: str = Field(default="Recalled")
    k: int = Field(default=5, ge=1, le=100)
    scope: str = Field(default="user", description="'user' or 'session'.")

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        query = next(
            (
                m.content
                for m in reversed(messages or [])
                if m.role == MessageRole.USER and m.content
            ),
            None,
        )
        if not query:
            return ""
        hits = await self._asession(block_kwargs).recall(
            query, self.k, scope=self.scope, exclude_recent=True
        )
        return "\n".join(f"- {h.text}" for h in hits)


class SummaryMemoryBlock(_TieredBlock):
    """The session's running summary (of the turns folded so far)."""

    name: str = Field(default="Summary")

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        summary = await self._asession(block_kwargs).summary()
        return summary.text if summary is not None else ""
