"""Pure data: the chat message, its tool calls, and the identity of a session.

Nothing here does I/O. A :class:`Message` is immutable and round-trips losslessly through
JSON (the hot tiers store that JSON; Postgres stores the same fields in columns of type
``json``, which keep text, key order and number spelling verbatim).

Validation happens in two layers: pydantic checks the shape (role names, types), and
:func:`check_message_for_write` adds what only matters when storing (no NUL characters, no
lone UTF-16 surrogates, finite floats, JSON-only values, a size limit). Both raise errors from
:mod:`langmem_tiered.errors`, never pydantic's own.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic import ValidationError as _PydanticValidationError

from .errors import InvalidIdError, InvalidInputError, InvalidMessageError, MessageTooLargeError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "ROLES",
    "Message",
    "Role",
    "SessionKey",
    "Summary",
    "ToolCall",
    "check_id",
    "check_json_value",
    "check_message_for_write",
    "coerce_message",
    "json_dumps",
    "json_loads",
]

Role = Literal["system", "user", "assistant", "tool", "operator"]
"""Who wrote a message. ``operator`` is a human operator who took over from the AI (handover)."""

ROLES: tuple[str, ...] = get_args(Role)
MAX_ID_LENGTH = 256
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024
MAX_JSON_DEPTH = 64
MAX_TOKEN_COUNT = 2**31 - 1
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def json_dumps(value: Any) -> bytes:
    """Compact JSON; orjson, or the standard library for integers beyond 64 bits."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_loads(data: bytes | str) -> Any:
    """Inverse of :func:`json_dumps`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return uuid.uuid4().hex


class ToolCall(BaseModel):
    """A tool call requested by an assistant message.

    ``args`` holds the parsed arguments. Fields a framework adds beyond these (``type``,
    ``index``, a raw ``function`` object...) are kept as extra fields and written back verbatim.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except _PydanticValidationError as exc:
            raise InvalidMessageError(_describe(exc)) from None


class Message(BaseModel):
    """One chat message as stored by langmem-tiered.

    Attributes:
        id: Client-supplied idempotency key; a retried append with the same id stores nothing new.
        role: ``system``, ``user``, ``assistant``, ``tool`` or ``operator`` (a human operator).
        content: Text, or a list of structured parts (dicts, kept verbatim).
        name: Optional author name (OpenAI ``name``).
        tool_calls: Tool calls of an assistant message.
        tool_call_id: For ``tool`` messages, the id of the call this answers.
        metadata: Arbitrary JSON kept verbatim (key order included); used for provenance.
        seq: Position in the session, assigned by the store (1, 2, 3... without gaps).
        created_at: Aware UTC timestamp.
        token_count: Tokens of the message as counted by the memory's tokenizer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=_new_id)
    role: Role
    content: str | list[dict[str, Any]] = ""
    name: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    seq: int | None = None
    created_at: datetime = Field(default_factory=_utc_now)
    token_count: int | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except _PydanticValidationError as exc:
            error = InvalidIdError if exc.errors()[0]["loc"][:1] == ("id",) else InvalidMessageError
            raise error(_describe(exc)) from None

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        return value.astimezone(timezone.utc)

    @property
    def text(self) -> str:
        """The message's text: the content string, or its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            value = part.get("text")
            if isinstance(value, str):
                parts.append(value)
        return "\n".join(parts)

    def to_json(self) -> bytes:
        """Serialize to compact JSON bytes (the hot tiers' wire format)."""
        return self.__pydantic_serializer__.to_json(self)


class Summary(BaseModel):
    """One version of a session's running summary (every version is kept).

    Attributes:
        version: 1, 2, 3... one per fold.
        from_seq: First message seq folded by this version.
        upto_seq: Last message seq covered; later messages are still verbatim.
        text: The summary.
        token_count: Tokens of ``text``.
        covered_tokens: Tokens of every message folded into the summary so far.
        summarizer: Name of the summarizer that wrote it.
        vertical: Prompt vertical used (generic, medical, dental, legal, retail).
        created_at: When it was written.
    """

    model_config = ConfigDict(frozen=True)

    version: int
    from_seq: int
    upto_seq: int
    text: str
    token_count: int
    covered_tokens: int
    summarizer: str
    vertical: str
    created_at: datetime


_MESSAGE_LIST = TypeAdapter(list[Message])


def messages_from_json_items(items: Sequence[bytes]) -> list[Message]:
    """Decode many JSON-encoded messages in one pass (one parser call, not one per item)."""
    if not items:
        return []
    return _MESSAGE_LIST.validate_json(b"[" + b",".join(items) + b"]")


def coerce_message(value: Message | Mapping[str, Any]) -> Message:
    """Turn a mapping into a :class:`Message`, raising :class:`InvalidMessageError` on bad shape."""
    if isinstance(value, Message):
        return value
    if not isinstance(value, Mapping):
        raise InvalidMessageError(
            f"a message must be a Message or a mapping, not {type(value).__name__}"
        )
    fields = dict(value)
    if not all(isinstance(k, str) for k in fields):
        raise InvalidMessageError("message field names must be strings")
    return Message(**fields)  # raises InvalidIdError / InvalidMessageError


def _describe(exc: _PydanticValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"invalid message: {where}: {first['msg']}"


def _check_text(value: str, where: str, error: type[InvalidInputError]) -> None:
    if "\x00" in value:
        raise error(f"{where} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{where} is not valid UTF-8 (lone surrogate)") from None


def check_json_value(
    value: Any, where: str, error: type[InvalidInputError] = InvalidInputError
) -> None:
    """Check that ``value`` is plain JSON that Postgres and both hot tiers store unchanged.

    Accepts dicts with string keys, lists, strings, ints, finite floats, bools and None, nested
    at most :data:`MAX_JSON_DEPTH` levels. Rejects NUL characters and lone surrogates anywhere
    (keys included).
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise error(f"{path} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item, path, error)
        elif item is None or isinstance(item, (bool, int)):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise error(f"{path} is {item!r}; JSON has no NaN or Infinity")
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise error(f"{path} has a non-string key {key!r}")
                _check_text(key, f"{path} key", error)
                stack.append((sub, f"{path}.{key}", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
        else:
            raise error(f"{path} holds a {type(item).__name__}, which is not JSON")


def check_message_for_write(message: Message, max_bytes: int) -> bytes:
    """Validate a message before it is stored and return its JSON encoding.

    Raises:
        InvalidIdError: the message id is invalid.
        InvalidMessageError: NUL characters, surrogates, non-JSON values or non-finite floats.
        MessageTooLargeError: the encoded message exceeds ``max_bytes``.
    """
    check_id("message id", message.id)
    if message.role == "tool" and not message.tool_call_id:
        raise InvalidMessageError("a tool message needs the tool_call_id of the call it answers")
    check_json_value(message.content, "content", InvalidMessageError)
    check_json_value(message.metadata, "metadata", InvalidMessageError)
    for i, call in enumerate(message.tool_calls):
        check_json_value(call.model_dump(), f"tool_calls[{i}]", InvalidMessageError)
    if message.token_count is not None and not 0 <= message.token_count <= MAX_TOKEN_COUNT:
        raise InvalidMessageError(f"token_count must be 0..{MAX_TOKEN_COUNT}")
    for field in ("name", "tool_call_id"):
        value = getattr(message, field)
        if value is not None:
            _check_text(value, field, InvalidMessageError)
    data = message.to_json()
    if len(data) > max_bytes:
        raise MessageTooLargeError(
            f"message {message.id!r} is {len(data)} bytes; the limit is {max_bytes}"
        )
    return data


def check_id(kind: str, value: object) -> str:
    """Validate a tenant, user, session or message id and return it unchanged.

    An id is a non-empty string of at most :data:`MAX_ID_LENGTH` characters with no control
    characters (NUL included) and valid UTF-8. Any other character is allowed: ids are
    percent-encoded wherever they become part of a key.
    """
    if not isinstance(value, str):
        raise InvalidIdError(f"{kind} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidIdError(f"{kind} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{kind} is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    if _CONTROL_CHARS.search(value):
        raise InvalidIdError(f"{kind} contains a control character (NUL, newline, ...)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdError(f"{kind} is not valid UTF-8 (lone surrogate)") from None
    return value


@dataclass(frozen=True, slots=True)
class SessionKey:
    """The identity of one conversation: ``(tenant, user, session)``, validated.

    The same session id under two users is two different sessions: a session can never be
    read by naming another user's or another tenant's session id.
    """

    tenant: str
    user: str
    session: str

    def __post_init__(self) -> None:
        check_id("tenant", self.tenant)
        check_id("user", self.user)
        check_id("session", self.session)

    @property
    def tag(self) -> str:
        """Collision-free, hash-tag-safe encoding: each id percent-encoded, joined by ``:``.

        ``quote(..., safe="")`` encodes ``:``, ``{``, ``}``, ``%`` and every non-ASCII byte, so
        the separator cannot occur inside a part and no id can end a Redis hash tag early.
        """
        return ":".join(quote(part, safe="") for part in (self.tenant, self.user, self.session))
