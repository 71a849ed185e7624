"""The classic LangChain ``BaseMemory`` (``langchain_classic``) on langmem-tiered.

For ``ConversationChain``, ``LLMChain`` and ``AgentExecutor`` (``memory=``): every call loads the
composed context of the session (summary + facts + recalled + recent turns, within
``budget_tokens``) and records the turn afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    get_buffer_string,
)
from langmem_tiered import (
    AsyncSession,
    AsyncTieredMemory,
    ConfigurationError,
    ContextBundle,
    Session,
)
from langmem_tiered import TieredMemory as _TieredMemoryCore
from pydantic import PrivateAttr

from ._convert import from_core, to_core_many
from ._memories import resolve_memories

__all__ = ["TieredMemory"]


class TieredMemory(BaseMemory):
    """Classic chain memory of one ``(tenant, user, session)`` stored by langmem-tiered.

    ``load_memory_variables(inputs)`` composes the session's context with the chain's input as
    the query (``session.context(query=<input>, budget_tokens=...)``): a leading system message
    with the running summary, the user's facts and recalled earlier turns, then the turns not
    yet summarized. With ``return_messages=True`` it is a list of LangChain messages, otherwise
    text (the system part, then the turns as ``Human: ...`` / ``AI: ...`` lines with
    ``human_prefix`` / ``ai_prefix``, as the classic prompts expect). ``save_context`` stores
    the human input and the AI output durably (Postgres), so another process continues the
    conversation.

    The input and output keys are inferred as in ``ConversationSummaryBufferMemory``: the only
    input key that is not a memory variable (or ``"stop"``), the only output key (or
    ``"output"``), unless ``input_key`` / ``output_key`` are given.

    Sync methods need a sync ``TieredMemory`` of the core; the ``a*`` methods await an
    ``AsyncTieredMemory`` when one was given (else they run the sync call in a worker thread).

    Args:
        memory: The core ``langmem_tiered.TieredMemory`` or ``AsyncTieredMemory`` (not closed
            here).
        async_memory: An ``AsyncTieredMemory`` for the ``a*`` methods, beside a sync ``memory``.
        postgres_url / redis_url / memory_options: Instead of ``memory``: open (lazily) memories
            of its own, closed by :meth:`close` / :meth:`aclose`.
        tenant / user / session: Whose conversation.
        memory_key: The prompt variable filled (default ``"history"``).
        budget_tokens: Upper bound of the composed context.
    """

    memory: Any = None
    async_memory: Any = None
    postgres_url: str | None = None
    redis_url: str | None = None
    memory_options: dict[str, Any] | None = None
    tenant: str
    user: str
    session: str
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    return_messages: bool = False
    budget_tokens: int = 2000
    human_prefix: str = "Human"
    ai_prefix: str = "AI"

    _session: Session | None = PrivateAttr(default=None)
    _asession: AsyncSession | None = PrivateAttr(default=None)
    _owned: list[Any] = PrivateAttr(default_factory=list)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # after pydantic's validation, so the core's errors surface as they are
        self._connect()

    def _connect(self) -> None:
        sync_memory, async_memory, self._owned = resolve_memories(
            self.memory,
            self.async_memory,
            postgres_url=self.postgres_url,
            redis_url=self.redis_url,
            memory_options=self.memory_options,
        )
        if isinstance(self.budget_tokens, bool) or self.budget_tokens < 1:
            raise ConfigurationError("budget_tokens must be a positive int")
        # memory.session() validates the ids (InvalidIdError) without any I/O
        if sync_memory is not None:
            self._session = sync_memory.session(self.tenant, self.user, self.session)
        if async_memory is not None:
            self._asession = async_memory.session(self.tenant, self.user, self.session)

    # -- BaseMemory ---------------------------------------------------------------------------

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    @property
    def core_session(self) -> Session:
        """The core sync session (summaries, facts, recall)."""
        return self._sync()

    @property
    def core_async_session(self) -> AsyncSession | None:
        """The core async session, if an async memory was given."""
        return self._asession

    def _sync(self) -> Session:
        if self._session is None:
            raise ConfigurationError(
                "this memory has only an AsyncTieredMemory: use aload_memory_variables / "
                "asave_context / aclear, or also pass a TieredMemory"
            )
        return self._session

    def _input_key(self, inputs: Mapping[str, Any]) -> str:
        if self.input_key is not None:
            return self.input_key
        keys = [k for k in inputs if k not in (*self.memory_variables, "stop")]
        if len(keys) != 1:
            raise ValueError(f"One input key expected got {keys}; set input_key")
        return keys[0]

    def _query(self, inputs: Mapping[str, Any]) -> str | None:
        try:
            value = inputs[self._input_key(inputs)]
        except (KeyError, ValueError):
            return None
        return value if isinstance(value, str) and value.strip() else None

    def _output_key(self, outputs: Mapping[str, Any]) -> str:
        if self.output_key is not None:
            return self.output_key
        if len(outputs) == 1:
            return next(iter(outputs))
        if "output" in outputs:
            return "output"
        raise ValueError(
            f"Got multiple output keys: {list(outputs)}, cannot determine which to store in "
            "memory. Please set the 'output_key' explicitly."
        )

    def _render(self, bundle: ContextBundle) -> dict[str, Any]:
        messages: list[BaseMessage] = [from_core(m) for m in bundle.to_messages()]
        if self.return_messages:
            return {self.memory_key: messages}
        head = ""
        if messages and isinstance(messages[0], SystemMessage):
            head = messages[0].text
            messages = messages[1:]
        turns = get_buffer_string(
            messages, human_prefix=self.human_prefix, ai_prefix=self.ai_prefix
        )
        return {self.memory_key: "\n\n".join(part for part in (head, turns) if part)}

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The composed context under ``memory_key`` (messages or text)."""
        bundle = self._sync().context(query=self._query(inputs), budget_tokens=self.budget_tokens)
        return self._render(bundle)

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Async :meth:`load_memory_variables`."""
        query = self._query(inputs)
        if self._asession is None:
            session = self._sync()
            bundle = await asyncio.to_thread(
                session.context, query=query, budget_tokens=self.budget_tokens
            )
        else:
            bundle = await self._asession.context(query=query, budget_tokens=self.budget_tokens)
        return self._render(bundle)

    def _turn(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> list[BaseMessage]:
        human = inputs[self._input_key(inputs)]
        ai = outputs[self._output_key(outputs)]
        return [
            human if isinstance(human, BaseMessage) else HumanMessage(str(human)),
            ai if isinstance(ai, BaseMessage) else AIMessage(str(ai)),
        ]

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Store the human input and the AI output of the turn (atomically)."""
        self._sync().add_messages(to_core_many(self._turn(inputs, outputs)))

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Async :meth:`save_context`."""
        converted = to_core_many(self._turn(inputs, outputs))
        if self._asession is None:
            await asyncio.to_thread(self._sync().add_messages, converted)
        else:
            await self._asession.add_messages(converted)

    def clear(self) -> None:
        """Delete the session's messages and state (the user's facts are kept)."""
        self._sync().clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        if self._asession is None:
            await asyncio.to_thread(self._sync().clear)
        else:
            await self._asession.clear()

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the memories opened from ``postgres_url`` (never a given one)."""
        for memory in self._owned:
            if isinstance(memory, _TieredMemoryCore):
                memory.close()

    async def aclose(self) -> None:
        """Close the memories opened from ``postgres_url``."""
        for memory in self._owned:
            if isinstance(memory, AsyncTieredMemory):
                await memory.close()
            else:
                await asyncio.to_thread(memory.close)
