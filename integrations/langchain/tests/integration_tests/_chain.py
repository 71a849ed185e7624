"""The chain used by the RunnableWithMessageHistory tests (also in subprocesses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory


def build_chain(
    factory: Callable[[str], BaseChatMessageHistory],
    replies: list[BaseMessage | str],
    seen: list[list[BaseMessage]],
) -> RunnableWithMessageHistory:
    """prompt(history + input) -> record what the model sees -> fake model with ``replies``."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a clinic assistant."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )

    def record(value: Any) -> Any:
        seen.append(value.to_messages())
        return value

    model = GenericFakeChatModel(messages=iter(replies))
    return RunnableWithMessageHistory(
        prompt | RunnableLambda(record) | model,
        factory,
        input_messages_key="input",
        history_messages_key="history",
    )
