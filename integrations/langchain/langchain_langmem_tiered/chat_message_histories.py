"""A LangChain chat message history on langmem-tiered (Postgres as truth, Redis hot tier)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, ToolMessage
from langmem_tiered import (
    AsyncSession,
    AsyncTieredMemory,
    ConfigurationError,
    Message,
    Session,
    TieredMemory,
)
from langmem_tiered.models import check_json_value

from ._convert import RESERVED_METADATA_KEY, from_core, to_core_many
from ._memories import resolve_memories

__all__ = ["TieredChatMessageHistory"]


class TieredChatMessageHistory(BaseChatMessageHistory):
    """Chat history of one ``(tenant, user, session)`` stored by langmem-tiered.

    Works as the history of ``RunnableWithMessageHistory`` and anywhere a
    ``BaseChatMessageHistory`` is expected. Every LangChain message type round-trips
    losslessly (tool calls, tool messages with artifact and status, ``additional_kwargs``,
    ``response_metadata``, ``usage_metadata``, content block lists, ids): what the core has
    no field for is kept in ``Message.metadata["langchain"]``. The messages are ordinary
    core messages, so the memory's summaries, facts and recall see them.

    Sync methods use a :class:`~langmem_tiered.TieredMemory`; ``a*`` methods use an
    :class:`~langmem_tiered.AsyncTieredMemory` (awaited on the running loop), or, when only a
    sync memory was given, run the sync call in a worker thread. With only an async memory
    the sync methods raise :class:`~langmem_tiered.ConfigurationError`.

    Args:
        memory: A ``TieredMemory`` or an ``AsyncTieredMemory`` (not closed by this object).
        tenant: Tenant id.
        user: User id.
        session: Session (conversation) id.
        async_memory: An ``AsyncTieredMemory`` for the ``a*`` methods, beside a sync ``memory``.
        postgres_url: Instead of ``memory``: open memories on this Postgres (owned by this
            object and closed by :meth:`close` / :meth:`aclose`). Both the sync and the async
            memory are lazy: they connect on first use.
        redis_url: With ``postgres_url``: Redis for the hot tier (default: in-process tier).
        memory_options: With ``postgres_url``: more keyword arguments of ``TieredMemory``
            (``schema``, ``redis_prefix``, ``window_size``, ``summarizer``...).
        metadata: JSON metadata stored with every message written (e.g. ``{"channel":
            "wa"}``); the key ``"langchain"`` is reserved.
        max_messages: If set, :attr:`messages` returns only the last ``max_messages``
            messages (served from the hot tier), without a leading orphan tool message.
            Default: the whole durable history.

    Raises:
        InvalidIdError: an invalid tenant, user or session id.
        ConfigurationError: neither or both of ``memory`` and ``postgres_url``; bad metadata.
    """

    def __init__(
        self,
        memory: TieredMemory | AsyncTieredMemory | None = None,
        *,
        tenant: str,
        user: str,
        session: str,
        async_memory: AsyncTieredMemory | None = None,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        memory_options: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        max_messages: int | None = None,
    ) -> None:
        sync_memory, async_memory, self._owned = resolve_memories(
            memory,
            async_memory,
            postgres_url=postgres_url,
            redis_url=redis_url,
            memory_options=memory_options,
        )
        if max_messages is not None and (
            isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1
        ):
            raise ConfigurationError("max_messages must be a positive int or None")
        meta = dict(metadata or {})
        if RESERVED_METADATA_KEY in meta:
            raise ConfigurationError(f"metadata key {RESERVED_METADATA_KEY!r} is reserved")
        try:
            check_json_value(meta, "metadata")
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self._metadata = meta
        self.max_messages = max_messages
        # memory.session() validates the ids (InvalidIdError) without any I/O
        self._session: Session | None = (
            sync_memory.session(tenant, user, session) if sync_memory is not None else None
        )
        self._asession: AsyncSession | None = (
            async_memory.session(tenant, user, session) if async_memory is not None else None
        )

    # -- identity -----------------------------------------------------------------------------

    @property
    def tenant(self) -> str:
        return self._key_session().tenant

    @property
    def user(self) -> str:
        return self._key_session().user

    @property
    def session_id(self) -> str:
        return self._key_session().session_id

    @property
    def core_session(self) -> Session:
        """The core sync :class:`~langmem_tiered.Session` (summaries, facts, recall, context)."""
        return self._sync()

    @property
    def core_async_session(self) -> AsyncSession | None:
        """The core :class:`~langmem_tiered.AsyncSession`, if an async memory was given."""
        return self._asession

    def __repr__(self) -> str:
        s = self._key_session()
        return f"{type(self).__name__}({s.tenant!r}, {s.user!r}, {s.session_id!r})"

    def _key_session(self) -> Session | AsyncSession:
        found = self._session or self._asession
        assert found is not None
        return found

    def _sync(self) -> Session:
        if self._session is None:
            raise ConfigurationError(
                "this history has only an AsyncTieredMemory: use aget_messages / "
                "aadd_messages / aclear, or also pass a TieredMemory"
            )
        return self._session

    # -- reading ------------------------------------------------------------------------------

    def _to_langchain(self, stored: Sequence[Message]) -> list[BaseMessage]:
        out = [from_core(m) for m in stored]
        if self.max_messages is not None:
            while out and isinstance(out[0], ToolMessage):
                out.pop(0)
        return out

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The conversation, oldest first (a fresh list on every access)."""
        session = self._sync()
        if self.max_messages is not None:
            stored = session.recent(self.max_messages)
        else:
            stored = session.messages()
        return self._to_langchain(stored)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages`."""
        if self._asession is None:
            return await asyncio.to_thread(lambda: self.messages)
        if self.max_messages is not None:
            stored = await self._asession.recent(self.max_messages)
        else:
            stored = await self._asession.messages()
        return self._to_langchain(stored)

    # -- writing ------------------------------------------------------------------------------

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store the messages durably and atomically, in order.

        Raises:
            InvalidMessageError: a message cannot be stored (nothing is written).
            InvalidIdError: a message id is invalid for the core (nothing is written).
            MessageTooLargeError: over the memory's ``max_message_bytes``.
        """
        session = self._sync()
        converted = to_core_many(messages, self._metadata)
        if converted:
            session.add_messages(converted)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        converted = to_core_many(messages, self._metadata)
        if not converted:
            return
        if self._asession is None:
            session = self._sync()
            await asyncio.to_thread(session.add_messages, converted)
            return
        await self._asession.add_messages(converted)

    def clear(self) -> None:
        """Delete the session's messages and state (summaries and facts are kept)."""
        self._sync().clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        if self._asession is None:
            await asyncio.to_thread(self._sync().clear)
            return
        await self._asession.clear()

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the memories this object opened from ``postgres_url`` (never a given one).

        An owned async memory is closed only by :meth:`aclose` (its pool lives on a loop).
        """
        for memory in self._owned:
            if isinstance(memory, TieredMemory):
                memory.close()

    async def aclose(self) -> None:
        """Close the memories this object opened from ``postgres_url``."""
        for memory in self._owned:
            if isinstance(memory, AsyncTieredMemory):
                await memory.close()
            else:
                await asyncio.to_thread(memory.close)

    def __enter__(self) -> TieredChatMessageHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> TieredChatMessageHistory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
