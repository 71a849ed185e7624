"""``TieredMemory``: langmem-tiered as the ``memory=`` of LlamaIndex chat engines and agents."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory.types import BaseMemory
from pydantic import Field

from langmem_tiered import ConfigurationError, InvalidInputError, Message, Session

from ._config import TieredConfig
from ._convert import from_core_many, to_core, to_core_many

__all__ = ["DEFAULT_TOKEN_LIMIT", "TieredMemory"]

DEFAULT_TOKEN_LIMIT = 30000


def _window(messages: list[Message]) -> list[Message]:
    """Make the composed messages safe to send, as ``ChatMemoryBuffer`` does when it trims.

    After the leading system message(s), the turns start on a user message when there is one
    (a trimmed window must not open on an assistant reply or a tool result, which providers
    reject); without a user message, leading tool results (whose call was trimmed) go.
    """
    start = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    head, body = messages[:start], messages[start:]
    first_user = next((i for i, m in enumerate(body) if m.role == "user"), None)
    if first_user is not None:
        body = body[first_user:]
    else:
        while body and body[0].role == "tool":
            body = body[1:]
    return head + body


class TieredMemory(TieredConfig, BaseMemory):
    """Tiered memory (Postgres truth, Redis or in-process hot tier, running summary, temporal
    facts, recall) for one conversation ``(tenant, user, session)``.

    Every message goes to Postgres; :meth:`get` returns the composed context: one system
    message with the summary, the user's facts and what recall found for ``input``, then the
    turns not yet summarized, within ``token_limit`` minus the engine's
    ``initial_token_count``. :meth:`get_all` returns the whole stored history.

    The object holds configuration only (all state is in the store, clients are created on
    first use and shared per process), so it survives an agent ``Context`` being reused or
    serialized with ``to_dict()`` / ``from_dict()``, and a new process with the same fields
    sees the same conversation.

    Example::

        memory = TieredMemory(postgres_url="postgresql://...", redis_url="redis://...",
                              tenant="acme", user="u1", session="chat-42")
        agent = FunctionAgent(tools=[...], llm=llm)
        await agent.run("hi", memory=memory)
    """

    session: str = Field(
        default_factory=lambda: uuid.uuid4().hex, description="Conversation (session) id."
    )
    token_limit: int = Field(
        default=DEFAULT_TOKEN_LIMIT, gt=0, description="Token budget of get()."
    )
    system_prompt: str | None = Field(
        default=None, description="Text placed first in the composed system message."
    )
    recall_from_input: bool = Field(
        default=True, description="Use get()'s input as the recall query."
    )

    @classmethod
    def class_name(cls) -> str:
        return "LangmemTieredMemory"

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._check_ids(self.session)

    @property
    def tokenizer_fn(self) -> Callable[[str], Sequence[int]]:
        """``text -> tokens`` counted with the core memory's tokenizer (what ``get()``'s budget
        uses). ``SimpleChatEngine`` measures its system prompt with it for
        ``initial_token_count``; only ``len()`` of the result is meaningful."""
        count = self._sync_memory().tokenizer.count
        return lambda text: range(count(text))

    @classmethod
    def from_defaults(
        cls,
        chat_history: list[ChatMessage] | None = None,
        token_limit: int | None = None,
        **kwargs: Any,
    ) -> TieredMemory:
        """Create a memory; a non-empty ``chat_history`` replaces the session's history
        (an empty one keeps what is stored, so a restarted engine continues).

        Other keyword arguments are the fields (``postgres_url``, ``session``, ``schema``...);
        ``llm=`` (which ``ChatMemoryBuffer.from_defaults`` takes) is accepted and ignored.

        Raises:
            ConfigurationError: an unknown keyword argument (a misspelt ``postgres_url`` must
                not silently fall back to the embedded server).
        """
        kwargs.pop("llm", None)
        known = set(cls.model_fields) | {"schema"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigurationError(f"{cls.__name__}.from_defaults: unknown arguments {unknown}")
        fields = dict(kwargs)
        if token_limit is not None:
            fields["token_limit"] = token_limit
        memory = cls(**fields)
        if chat_history:
            memory.set(chat_history)
        return memory

    # -- sessions --------------------------------------------------------------------------

    def _session(self) -> Session:
        return self._sync_memory().session(self.tenant, self.user, self.session)

    def _asession(self) -> Any:  # an AsyncSession whose methods run on the runner loop
        return self._async_session(self.session)

    def _budget(self, kwargs: dict[str, Any]) -> int:
        initial = kwargs.get("initial_token_count", 0) or 0
        if not isinstance(initial, int) or isinstance(initial, bool) or initial < 0:
            raise InvalidInputError("initial_token_count must be a non-negative int")
        if initial > self.token_limit:
            raise InvalidInputError(
                f"initial_token_count ({initial}) exceeds token_limit ({self.token_limit})"
            )
        return self.token_limit - initial

    def _query(self, input: Any) -> str | None:
        if not self.recall_from_input:
            return None
        if isinstance(input, ChatMessage):
            input = input.content
        return input if isinstance(input, str) and input.strip() else None

    # -- reading ---------------------------------------------------------------------------

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The composed context for the next LLM call (see the class docstring).

        Within ``token_limit - initial_token_count`` tokens (the core's tokenizer, framing
        included); the turns start on a user message when one fits. When no turn fits, the
        newest message alone is returned (as ``ChatMemoryBuffer`` does), so the model sees the
        latest input and reports an overflow rather than answering an empty history.

        Raises:
            InvalidInputError: ``initial_token_count`` is negative or above ``token_limit``.
        """
        budget = self._budget(kwargs)
        session = self._session()
        composed: list[Message] = []
        if budget > 0:
            bundle = session.context(
                self._query(input), budget_tokens=budget, system=self.system_prompt
            )
            composed = _window(bundle.to_messages())
        if not any(m.role != "system" for m in composed):
            composed = session.recent(1)
        return from_core_many(composed)

    async def aget(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Async :meth:`get`."""
        budget = self._budget(kwargs)
        session = self._asession()
        composed: list[Message] = []
        if budget > 0:
            bundle = await session.context(
                self._query(input), budget_tokens=budget, system=self.system_prompt
            )
            composed = _window(bundle.to_messages())
        if not any(m.role != "system" for m in composed):
            composed = await session.recent(1)
        return from_core_many(composed)

    def get_all(self) -> list[ChatMessage]:
        """Every stored message of the session, oldest first."""
        return from_core_many(self._session().messages())

    async def aget_all(self) -> list[ChatMessage]:
        return from_core_many(await self._asession().messages())

    # -- writing ---------------------------------------------------------------------------

    def put(self, message: ChatMessage) -> None:
        """Store one message durably (thread-safe)."""
        self._session().add_message(to_core(message))

    async def aput(self, message: ChatMessage) -> None:
        await self._asession().add_message(to_core(message))

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Store messages atomically, in order."""
        batch = to_core_many(messages)
        if batch:
            self._session().add_messages(batch)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        batch = to_core_many(messages)
        if batch:
            await self._asession().add_messages(batch)

    def set(self, messages: Sequence[ChatMessage]) -> None:
        """Replace the session's history with ``messages``."""
        batch = to_core_many(list(messages))
        session = self._session()
        session.clear()
        if batch:
            session.add_messages(batch)

    async def aset(self, messages: Sequence[ChatMessage]) -> None:
        batch = to_core_many(list(messages))
        session = self._asession()
        await session.clear()
        if batch:
            await session.add_messages(batch)

    def reset(self) -> None:
        """Delete the session's messages and state (the user's facts are kept)."""
        self._session().clear()

    async def areset(self) -> None:
        await self._asession().clear()
