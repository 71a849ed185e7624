"""Lossless conversion between LlamaIndex ``ChatMessage`` and langmem-tiered :class:`Message`.

What the core has a column for goes there, so summaries, facts, recall and token counts see the
real conversation: the role, the text of the ``TextBlock``\\ s as content, each ``ToolCallBlock``
as a :class:`~langmem_tiered.ToolCall`, a tool result's ``tool_call_id`` and ``name`` (from
``additional_kwargs``). Everything else (the exact role, the blocks when they are not just the
text, ``additional_kwargs``) goes into ``Message.metadata[RESERVED_METADATA_KEY]`` and is
restored from there: ``from_core(to_core(m)) == m``.

Messages written by other clients of the core (no reserved key) are converted by role;
``operator`` (a human operator) becomes an assistant message with
``additional_kwargs["langmem_role"] == "operator"`` and their metadata is in
``additional_kwargs["langmem_metadata"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)

from langmem_tiered import InvalidMessageError, Message, ToolCall

__all__ = ["RESERVED_METADATA_KEY", "from_core", "from_core_many", "to_core", "to_core_many"]

RESERVED_METADATA_KEY = "llama_index"
"""Key of ``Message.metadata`` holding what the core has no field for."""

_FORMAT = 1

_CORE_ROLE = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.FUNCTION: "tool",
    MessageRole.TOOL: "tool",
}


def _text(message: ChatMessage) -> str:
    return "\n".join(b.text for b in message.blocks if isinstance(b, TextBlock))


def _args(kwargs: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(kwargs, dict):
        return dict(kwargs)
    try:
        parsed = json.loads(kwargs)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def to_core(message: ChatMessage, metadata: Mapping[str, Any] | None = None) -> Message:
    """Convert a ``ChatMessage`` to a core :class:`Message` (nothing is stored).

    Args:
        message: The LlamaIndex message.
        metadata: Extra metadata stored beside the reserved entry.

    Raises:
        InvalidMessageError: not a ``ChatMessage``, or content the core rejects (values that
            are not JSON are rejected when the message is written).
    """
    if not isinstance(message, ChatMessage):
        raise InvalidMessageError(
            f"expected a LlamaIndex ChatMessage, not {type(message).__name__}"
        )
    role = MessageRole(message.role)
    core_role = _CORE_ROLE[role]
    text = _text(message)
    try:
        dumped = message.model_dump(mode="json")
    except Exception as exc:  # a provider object pydantic cannot serialize
        raise InvalidMessageError(f"the message cannot be serialized to JSON: {exc}") from exc
    reserved: dict[str, Any] = {"v": _FORMAT, "role": role.value}
    blocks = dumped.get("blocks") or []
    if not (
        len(blocks) == 1
        and blocks[0].get("block_type") == "text"
        and blocks[0]
        == {
            "block_type": "text",
            "text": text,
        }
    ):
        reserved["blocks"] = blocks
    extra = dumped.get("additional_kwargs") or {}
    if extra:
        reserved["additional_kwargs"] = extra
    fields: dict[str, Any] = {"role": core_role, "content": text}
    if core_role == "assistant":
        fields["tool_calls"] = [
            ToolCall(id=b.tool_call_id, name=b.tool_name, args=_args(b.tool_kwargs))
            for b in message.blocks
            if isinstance(b, ToolCallBlock)
        ]
    if core_role == "tool":
        call_id = message.additional_kwargs.get("tool_call_id")
        fields["tool_call_id"] = str(call_id) if call_id else "unknown"
    name = message.additional_kwargs.get("name")
    if isinstance(name, str) and name:
        fields["name"] = name
    meta = dict(metadata or {})
    meta[RESERVED_METADATA_KEY] = reserved
    fields["metadata"] = meta
    return Message(**fields)


def to_core_many(
    messages: Sequence[ChatMessage], metadata: Mapping[str, Any] | None = None
) -> list[Message]:
    """:func:`to_core` for each message; validates all before anything is stored."""
    if isinstance(messages, (ChatMessage, str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidMessageError("expected a sequence of LlamaIndex ChatMessages")
    return [to_core(m, metadata) for m in messages]


def from_core(message: Message) -> ChatMessage:
    """Convert a stored core :class:`Message` back to the ``ChatMessage`` it came from."""
    reserved = message.metadata.get(RESERVED_METADATA_KEY)
    if isinstance(reserved, Mapping) and isinstance(reserved.get("role"), str):
        data: dict[str, Any] = {"role": reserved["role"]}
        blocks = reserved.get("blocks")
        data["blocks"] = (
            list(blocks)
            if isinstance(blocks, list)
            else [{"block_type": "text", "text": message.text}]
        )
        extra = reserved.get("additional_kwargs")
        if isinstance(extra, Mapping):
            data["additional_kwargs"] = dict(extra)
        return ChatMessage.model_validate(data)
    return _foreign(message)


def from_core_many(messages: Sequence[Message]) -> list[ChatMessage]:
    """:func:`from_core` for each message."""
    return [from_core(m) for m in messages]


def _foreign(message: Message) -> ChatMessage:
    """A message written without this integration (or composed by the core): by role."""
    extra: dict[str, Any] = {}
    if message.metadata:
        extra["langmem_metadata"] = dict(message.metadata)
    if message.name:
        extra["name"] = message.name
    blocks: list[Any] = []
    if isinstance(message.content, str):
        blocks.append(TextBlock(text=message.content))
    else:
        text = message.text
        if text:
            blocks.append(TextBlock(text=text))
    role: MessageRole
    if message.role == "user":
        role = MessageRole.USER
    elif message.role == "system":
        role = MessageRole.SYSTEM
    elif message.role == "tool":
        role = MessageRole.TOOL
        extra["tool_call_id"] = message.tool_call_id or ""
    else:
        role = MessageRole.ASSISTANT
        if message.role == "operator":
            extra["langmem_role"] = "operator"
        blocks.extend(
            ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=dict(c.args))
            for c in message.tool_calls
        )
    return ChatMessage(role=role, blocks=blocks, additional_kwargs=extra)
