"""``TieredChatStore``: the short-term queue of LlamaIndex's ``Memory`` on the tiered store.

``Memory.from_defaults(chat_store=TieredChatStore(...))`` keeps its queue in Postgres (+ the hot
tier) instead of an in-memory SQLite. A chat-store key is a session id of ``(tenant, user)``.
Archiving never deletes: every message stays in Postgres, and the number of archived (oldest)
messages is kept in the session state slot ``llama_index_archived``.

``archive_oldest_messages`` never archives the newest user message and what follows it (the
invariant ``Memory`` keeps itself): two concurrent ``Memory.aput`` calls on one session both
ask to archive the same oldest messages (``Memory``'s queue management in llama-index-core
0.14.25 takes no lock), and the active queue must not end up empty. Calls through one store
object are serialized per key; the archived count is a session state slot, so two processes
archiving the same session at the same moment may still over-archive (nothing is lost:
archived messages stay in Postgres and ``get_messages(key, status=None)`` returns them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from pydantic import PrivateAttr

from langmem_tiered import InvalidInputError

from ._config import TieredConfig
from ._convert import from_core_many, to_core_many

__all__ = ["ARCHIVED_STATE_SLOT", "TieredChatStore"]

ARCHIVED_STATE_SLOT = "llama_index_archived"
"""Session state slot holding how many of the oldest messages are ARCHIVED."""


class TieredChatStore(TieredConfig, AsyncDBChatStore):
    """An ``AsyncDBChatStore`` over langmem-tiered (see the module docstring).

    A key is a session id of ``(tenant, user)``; ``get_keys()`` lists the user's sessions that
    hold messages.
    """

    _locks: dict[str, asyncio.Lock] = PrivateAttr(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "LangmemTieredChatStore"

    def _session(self, key: str) -> Any:  # an AsyncSession run on the runner loop
        self._check_ids(key)
        return self._async_session(key)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None or lock._loop not in (None, asyncio.get_running_loop()):  # type: ignore[attr-defined]
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _load(self, key: str) -> tuple[int, list[ChatMessage]]:
        session = self._session(key)
        state = await session.state()
        archived = state.get(ARCHIVED_STATE_SLOT, 0)
        messages = from_core_many(await session.messages())
        archived = max(0, min(int(archived) if isinstance(archived, int) else 0, len(messages)))
        return archived, messages

    async def _rewrite(self, key: str, archived: int, messages: Sequence[ChatMessage]) -> None:
        session = self._session(key)
        batch = to_core_many(list(messages))
        await session.clear()
        if batch:
            await session.add_messages(batch)
        if archived:
            await session.update_state(**{ARCHIVED_STATE_SLOT: archived})

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        archived, messages = await self._load(key)
        if status == MessageStatus.ACTIVE:
            messages = messages[archived:]
        elif status == MessageStatus.ARCHIVED:
            messages = messages[:archived]
        start = offset or 0
        return messages[start : start + limit] if limit is not None else messages[start:]

    async def count_messages(
        self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE
    ) -> int:
        return len(await self.get_messages(key, status))

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self.add_messages(key, [message], status)

    async def add_messages(
        self,
        key: str,
        messages: list[ChatMessage],
        status: MessageStatus = MessageStatus.ACTIVE,
    ) -> None:
        batch = to_core_many(messages)
        if not batch:
            return
        async with self._lock(key):
            if status == MessageStatus.ARCHIVED:
                archived, stored = await self._load(key)
                if archived != len(stored):
                    raise InvalidInputError(
                        "ARCHIVED messages can only be added while no message is ACTIVE"
                    )
                await self._session(key).add_messages(batch)
                await self._session(key).update_state(
                    **{ARCHIVED_STATE_SLOT: archived + len(batch)}
                )
            else:
                await self._session(key).add_messages(batch)

    async def set_messages(
        self,
        key: str,
        messages: list[ChatMessage],
        status: MessageStatus = MessageStatus.ACTIVE,
    ) -> None:
        async with self._lock(key):
            archived = len(messages) if status == MessageStatus.ARCHIVED else 0
            await self._rewrite(key, archived, messages)

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        async with self._lock(key):
            archived, messages = await self._load(key)
            if not 0 <= idx < len(messages):
                return None
            removed = messages.pop(idx)
            await self._rewrite(key, archived - 1 if idx < archived else archived, messages)
            return removed

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        async with self._lock(key):
            if status is None:
                await self._session(key).clear()
                return
            archived, messages = await self._load(key)
            if status == MessageStatus.ACTIVE:
                await self._rewrite(key, archived, messages[:archived])
            else:
                await self._rewrite(key, 0, messages[archived:])

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        async with self._lock(key):
            archived, messages = await self._load(key)
            active = messages[archived:]
            removed, kept = active[:n], active[n:]
            if removed:
                await self._rewrite(key, archived, messages[:archived] + kept)
            return removed

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        async with self._lock(key):
            archived, messages = await self._load(key)
            active = messages[archived:]
            users = [i for i, m in enumerate(active) if m.role == MessageRole.USER]
            keep_from = users[-1] if users else max(len(active) - 1, 0)
            moved = active[: max(0, min(n, keep_from))]
            if moved:
                await self._session(key).update_state(
                    **{ARCHIVED_STATE_SLOT: archived + len(moved)}
                )
            return moved

    async def get_keys(self) -> list[str]:
        """The user's sessions that hold messages, in id order."""
        self._check_ids()
        core = self._async_memory()
        keys: list[str] = []
        after: tuple[str, str] | None = None
        while True:
            page = await core.list_sessions(self.tenant, self.user, limit=500, after=after)
            keys.extend(info.session for info in page if info.messages)
            if len(page) < 500:
                return keys
            after = page[-1].cursor
