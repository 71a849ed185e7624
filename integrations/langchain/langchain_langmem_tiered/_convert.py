"""Lossless conversion between LangChain messages and langmem-tiered :class:`Message`.

Every field the core has a column for goes there (role, content, name, tool calls,
tool_call_id, id), so the core's summaries, facts, recall and token counts see the real
conversation. Everything else LangChain carries (the message class, ``additional_kwargs``,
``response_metadata``, ``usage_metadata``, ``invalid_tool_calls``, a tool message's
``artifact`` and ``status``, a chat message's ``role``, chunk fields...) goes into
``Message.metadata[RESERVED_METADATA_KEY]``, leaving out values equal to the field's default,
and is restored from there exactly: ``from_core(to_core(m)) == m`` for every message type.

Ids: a LangChain message id becomes the core message id, which is the core's idempotency key
within a session (appending a message whose id is already stored stores nothing again). A
message without an id gets a fresh core id, and comes back with ``id=None``.

Messages written by other clients of the core (no reserved key) are converted by role:
``user`` -> HumanMessage, ``assistant`` -> AIMessage (with tool calls), ``tool`` ->
ToolMessage, ``system`` -> SystemMessage, ``operator`` (a human operator) -> AIMessage with
``response_metadata["langmem_role"] == "operator"``; their own metadata, if any, is in
``response_metadata["langmem_metadata"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)
from langmem_tiered import InvalidMessageError, Message, ToolCall

__all__ = ["RESERVED_METADATA_KEY", "from_core", "to_core"]

RESERVED_METADATA_KEY = "langchain"
"""Key of ``Message.metadata`` holding what the core has no field for."""

_FORMAT = 1

# LangChain message type (``message_to_dict(m)["type"]``) -> core role
_ROLE_OF_TYPE = {
    "human": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
    "system": "system",
    "SystemMessageChunk": "system",
    "tool": "tool",
    "ToolMessageChunk": "tool",
    "function": "tool",
    "FunctionMessageChunk": "tool",
    "chat": None,  # by its role
    "ChatMessageChunk": None,
}
_ROLE_OF_CHAT_ROLE = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
    "operator": "operator",
}
_AI_TYPES = frozenset({"ai", "AIMessageChunk"})
_TOOL_TYPES = frozenset({"tool", "ToolMessageChunk"})
_FUNCTION_TYPES = frozenset({"function", "FunctionMessageChunk"})
# keys of the reserved entry that are not message fields
_CONTROL_KEYS = frozenset({"type", "v", "no_id", "text_parts", "synthetic_tool_call_id"})
_MISSING = object()


def _default(cls: type[BaseMessage], field: str) -> Any:
    info = cls.model_fields.get(field)
    if info is None or info.is_required():
        return _MISSING
    return info.get_default(call_default_factory=True)


def to_core(message: BaseMessage, metadata: Mapping[str, Any] | None = None) -> Message:
    """Convert a LangChain message to a core :class:`Message` (nothing is stored).

    Args:
        message: Any LangChain message (``RemoveMessage`` excepted: it is an instruction).
        metadata: Extra metadata stored beside the reserved entry (e.g. ``{"channel": "wa"}``).

    Raises:
        InvalidMessageError: not a message, a ``RemoveMessage``, a content list item that is
            neither text nor a dict, or fields the core rejects (bad tool call shape...).
            Values that are not JSON are rejected by the core when the message is written.
    """
    if not isinstance(message, BaseMessage):
        raise InvalidMessageError(f"expected a LangChain BaseMessage, not {type(message).__name__}")
    if isinstance(message, RemoveMessage):
        raise InvalidMessageError("a RemoveMessage is an instruction, not a message to store")
    as_dict = message_to_dict(message)
    lc_type: str = as_dict["type"]
    data: dict[str, Any] = dict(as_dict["data"])
    if lc_type not in _ROLE_OF_TYPE:
        raise InvalidMessageError(f"unsupported LangChain message type {lc_type!r}")
    role = _ROLE_OF_TYPE[lc_type]
    if role is None:
        chat_role = data.get("role")
        role = (
            _ROLE_OF_CHAT_ROLE.get(chat_role.lower(), "user")
            if isinstance(chat_role, str)
            else "user"
        )

    reserved: dict[str, Any] = {"v": _FORMAT, "type": lc_type}
    content = data.pop("content")
    if isinstance(content, list):
        text_parts = []
        converted: list[dict[str, Any]] = []
        for index, part in enumerate(content):
            if isinstance(part, str):
                text_parts.append(index)
                converted.append({"type": "text", "text": part})
            elif isinstance(part, Mapping):
                converted.append(dict(part))
            else:
                raise InvalidMessageError(
                    f"content[{index}] is a {type(part).__name__}; LangChain content lists "
                    "hold strings and dicts"
                )
        if text_parts:
            reserved["text_parts"] = text_parts
        content = converted
    elif not isinstance(content, str):
        raise InvalidMessageError(f"content is a {type(content).__name__}, not str or list")

    fields: dict[str, Any] = {"role": role, "content": content}
    name = data.pop("name", None)
    if name is not None:
        fields["name"] = name
    lc_id = data.pop("id", None)
    if lc_id is None:
        reserved["no_id"] = True
    else:
        fields["id"] = lc_id
    data.pop("type", None)
    if lc_type in _AI_TYPES:
        calls = data.pop("tool_calls", None) or []
        fields["tool_calls"] = [ToolCall(**dict(call)) for call in calls]
    if lc_type in _TOOL_TYPES:
        fields["tool_call_id"] = data.pop("tool_call_id")
    elif lc_type in _FUNCTION_TYPES:
        # the core needs a tool_call_id for role "tool"; a function message has only a name
        fields["tool_call_id"] = name or "function"
        reserved["synthetic_tool_call_id"] = True

    cls = type(message)
    for key, value in data.items():
        default = _default(cls, key)
        if default is _MISSING or value != default:
            reserved[key] = value

    meta = dict(metadata or {})
    meta[RESERVED_METADATA_KEY] = reserved
    fields["metadata"] = meta
    return Message(**fields)


def to_core_many(
    messages: Sequence[BaseMessage], metadata: Mapping[str, Any] | None = None
) -> list[Message]:
    """:func:`to_core` for each message; validates all before anything is stored."""
    if isinstance(messages, (BaseMessage, str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidMessageError("expected a sequence of LangChain messages")
    return [to_core(m, metadata) for m in messages]


def from_core(message: Message) -> BaseMessage:
    """Convert a stored core :class:`Message` back to the LangChain message it came from."""
    reserved = message.metadata.get(RESERVED_METADATA_KEY)
    if isinstance(reserved, Mapping) and isinstance(reserved.get("type"), str):
        return _restore(message, reserved)
    return _foreign(message)


def _restore(message: Message, reserved: Mapping[str, Any]) -> BaseMessage:
    lc_type = reserved["type"]
    data = {k: v for k, v in reserved.items() if k not in _CONTROL_KEYS}
    content: Any = message.content
    if isinstance(content, list):
        content = [dict(part) for part in content]
        for index in reserved.get("text_parts", ()):
            if 0 <= index < len(content):
                content[index] = content[index].get("text", "")
    data["content"] = content
    data["name"] = message.name
    data["id"] = None if reserved.get("no_id") else message.id
    if lc_type in _AI_TYPES:
        data["tool_calls"] = [call.model_dump() for call in message.tool_calls]
    if lc_type in _TOOL_TYPES:
        data["tool_call_id"] = message.tool_call_id
    return messages_from_dict([{"type": lc_type, "data": data}])[0]


def _foreign(message: Message) -> BaseMessage:
    """A message written without this integration: convert by role."""
    response_metadata: dict[str, Any] = {}
    if message.metadata:
        response_metadata["langmem_metadata"] = message.metadata
    common: dict[str, Any] = {
        "content": message.content,
        "name": message.name,
        "id": message.id,
    }
    if message.role == "user":
        return HumanMessage(**common, response_metadata=response_metadata)
    if message.role == "system":
        return SystemMessage(**common, response_metadata=response_metadata)
    if message.role == "tool":
        return ToolMessage(
            **common,
            tool_call_id=message.tool_call_id or "",
            response_metadata=response_metadata,
        )
    if message.role == "operator":
        response_metadata["langmem_role"] = "operator"
    calls = [
        {"name": c.name, "args": c.args, "id": c.id, "type": "tool_call"}
        for c in message.tool_calls
    ]
    return AIMessage(**common, tool_calls=calls, response_metadata=response_metadata)
