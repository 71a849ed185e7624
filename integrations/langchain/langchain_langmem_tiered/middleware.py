"""Agent middleware for LangChain 1.x ``create_agent``: tiered memory as a drop-in.

Needs the ``langchain`` package (``langchain>=1.0``), which provides ``create_agent`` and
``AgentMiddleware``; the rest of this package needs only ``langchain-core``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest
from langchain.agents.middleware.types import ModelResponse
from langchain_core.messages import (
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langmem_tiered import (
    AsyncSession,
    AsyncTieredMemory,
    ConfigurationError,
    ContextBundle,
    Session,
    TieredMemory,
)
from typing_extensions import NotRequired

from ._convert import from_core, to_core_many
from ._memories import resolve_memories

__all__ = ["TieredMemoryMiddleware", "TieredMemoryState"]

_Key = tuple[str, str, str]


class TieredMemoryState(AgentState[Any]):
    """Agent state with the id of the last message recorded into the tiered store."""

    tiered_memory_recorded_id: NotRequired[str]


def _lookup(source: Any, name: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        part if isinstance(part, str) else str(part.get("text", ""))
        for part in content
        if isinstance(part, str) or (isinstance(part, Mapping) and part.get("type") == "text")
    )


class TieredMemoryMiddleware(AgentMiddleware[TieredMemoryState, Any, Any]):
    """Tiered memory (summary, facts, recall, recent turns) for ``create_agent``.

    Before every model call it composes the session's context
    (``session.context(query=<last human message>, budget_tokens=...)``) and gives the model:
    the agent's system prompt followed by the memory's system part (state, facts, handover,
    running summary, recalled earlier turns), then the turns not yet summarized, then the
    messages of the current turn that are not stored yet. Older history that the summary
    already covers is not sent, but the graph state is never rewritten (unlike
    ``SummarizationMiddleware``): the checkpointer keeps the whole thread. Without a
    checkpointer (a new process), the unsummarized turns come from Postgres.

    After the agent turn it stores the new messages (human, AI with tool calls, tool
    messages) into the session. The LangChain message id is the core's idempotency key, and
    the id of the last recorded message is kept in the agent state, so a checkpointer
    replaying the thread never stores a message twice.

    The session is taken, per field, from the runtime context (``context_schema`` with
    ``tenant`` / ``user`` / ``session`` attributes or keys), then from the config's
    ``configurable`` (``tenant``, ``user``, ``session`` or ``thread_id``), then from the
    defaults given here.

    Args:
        memory: A core ``TieredMemory`` (sync ``invoke``) or ``AsyncTieredMemory``.
        async_memory: An ``AsyncTieredMemory`` for ``ainvoke`` beside a sync ``memory``.
            Without one, async calls run the sync memory in a worker thread.
        tenant / user / session: Defaults when neither context nor config gives them.
        budget_tokens: Budget of the composed context (default 2000).
        record: Store the turn's messages after the agent (default True).
        inject: Compose the context before model calls (default True).
    """

    state_schema = TieredMemoryState

    def __init__(
        self,
        memory: TieredMemory | AsyncTieredMemory | None = None,
        *,
        async_memory: AsyncTieredMemory | None = None,
        tenant: str | None = None,
        user: str | None = None,
        session: str | None = None,
        budget_tokens: int = 2000,
        record: bool = True,
        inject: bool = True,
    ) -> None:
        super().__init__()
        sync_memory, async_memory, _ = resolve_memories(memory, async_memory, urls=False)
        if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int):
            raise ConfigurationError("budget_tokens must be an int")
        if budget_tokens < 1:
            raise ConfigurationError("budget_tokens must be positive")
        self.memory = sync_memory
        self.async_memory = async_memory
        self.tenant = tenant
        self.user = user
        self.session = session
        self.budget_tokens = budget_tokens
        self.record = record
        self.inject = inject

    @property
    def name(self) -> str:
        return "TieredMemoryMiddleware"

    # -- which session ------------------------------------------------------------------------

    def _key(self, runtime: Runtime[Any] | None) -> _Key:
        context = runtime.context if runtime is not None else None
        try:
            configurable = get_config().get("configurable") or {}
        except RuntimeError:  # outside a runnable context
            configurable = {}
        found: dict[str, str] = {}
        for field, config_keys, default in (
            ("tenant", ("tenant",), self.tenant),
            ("user", ("user",), self.user),
            ("session", ("session", "thread_id"), self.session),
        ):
            value = _lookup(context, field)
            for config_key in config_keys:
                if value is None:
                    value = configurable.get(config_key)
            if value is None:
                value = default
            if value is None:
                raise ConfigurationError(
                    f"no {field} for TieredMemoryMiddleware: set it in the runtime context, "
                    f"the config's configurable, or the middleware's {field}="
                )
            found[field] = str(value)
        return found["tenant"], found["user"], found["session"]

    def _sync_session(self, key: _Key) -> Session:
        if self.memory is None:
            raise ConfigurationError(
                "this middleware has only an AsyncTieredMemory: use ainvoke/astream, or "
                "also pass a TieredMemory"
            )
        return self.memory.session(*key)

    def _async_session(self, key: _Key) -> AsyncSession | None:
        return self.async_memory.session(*key) if self.async_memory is not None else None

    # -- before the model: inject the composed context ----------------------------------------

    @staticmethod
    def _query(messages: Sequence[AnyMessage]) -> str | None:
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                return _text(message) or None
        return None

    @staticmethod
    def _compose(request: ModelRequest[Any], bundle: ContextBundle) -> ModelRequest[Any]:
        flat = bundle.to_messages()
        memory_system = ""
        if flat and flat[0].role == "system":
            memory_system = flat[0].content if isinstance(flat[0].content, str) else ""
            flat = flat[1:]
        stored = [cast(AnyMessage, from_core(m)) for m in flat]
        stored_ids = {m.id for m in stored if m.id is not None}
        state_messages = list(request.messages)
        # the stored prefix of the thread is replaced by the composed context; what follows
        # the last stored message (this turn, not yet recorded) is kept as is
        last = -1
        for index, message in enumerate(state_messages):
            if message.id is not None and message.id in stored_ids:
                last = index
        if last < 0 and stored_ids:
            # no stored message in the state (no checkpointer / new process): drop state
            # messages the store already has, keep the rest after the stored turns
            state_messages = [m for m in state_messages if m.id not in stored_ids]
        else:
            state_messages = state_messages[last + 1 :]
        messages = [*stored, *state_messages]
        system_message = request.system_message
        if memory_system:
            if system_message is not None and system_message.text:
                system_message = SystemMessage(f"{system_message.text}\n\n{memory_system}")
            else:
                system_message = SystemMessage(memory_system)
        return request.override(messages=messages, system_message=system_message)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> Any:
        if not self.inject:
            return handler(request)
        session = self._sync_session(self._key(request.runtime))
        bundle = session.context(
            query=self._query(request.messages), budget_tokens=self.budget_tokens
        )
        return handler(self._compose(request, bundle))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        if not self.inject:
            return await handler(request)
        key = self._key(request.runtime)
        query = self._query(request.messages)
        asession = self._async_session(key)
        if asession is None:
            session = self._sync_session(key)
            bundle = await asyncio.to_thread(
                session.context, query=query, budget_tokens=self.budget_tokens
            )
        else:
            bundle = await asession.context(query=query, budget_tokens=self.budget_tokens)
        return await handler(self._compose(request, bundle))

    # -- after the agent: record the new messages ---------------------------------------------

    @staticmethod
    def _new_messages(state: Mapping[str, Any]) -> list[BaseMessage]:
        messages = [
            m
            for m in state.get("messages", [])
            if isinstance(m, BaseMessage) and not isinstance(m, (RemoveMessage, SystemMessage))
        ]
        recorded = state.get("tiered_memory_recorded_id")
        if recorded is not None:
            for index in range(len(messages) - 1, -1, -1):
                if messages[index].id == recorded:
                    return messages[index + 1 :]
        # unknown: all of them; ids already stored are skipped by the core
        return messages

    @staticmethod
    def _update(new: Sequence[BaseMessage]) -> dict[str, Any] | None:
        last_id = new[-1].id if new else None
        return {"tiered_memory_recorded_id": last_id} if last_id is not None else None

    def after_agent(self, state: TieredMemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if not self.record:
            return None
        new = self._new_messages(state)
        if not new:
            return None
        self._sync_session(self._key(runtime)).add_messages(to_core_many(new))
        return self._update(new)

    async def aafter_agent(
        self, state: TieredMemoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        if not self.record:
            return None
        new = self._new_messages(state)
        if not new:
            return None
        converted = to_core_many(new)
        key = self._key(runtime)
        asession = self._async_session(key)
        if asession is None:
            await asyncio.to_thread(self._sync_session(key).add_messages, converted)
        else:
            await asession.add_messages(converted)
        return self._update(new)
