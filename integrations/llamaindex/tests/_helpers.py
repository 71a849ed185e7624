from __future__ import annotations

from llama_index.core.base.llms.types import ChatMessage


def roles(messages: list[ChatMessage]) -> list[str]:
    return [str(m.role.value) for m in messages]


def texts(messages: list[ChatMessage]) -> list[str]:
    return [m.content or "" for m in messages]
