"""Context blocks and the composed bundle (pure data, no I/O).

A :class:`ContextBundle` is what ``session.context(...)`` returns: named
:class:`ContextBlock` objects in the fixed order of :data:`BLOCK_ORDER`, each with its text or
messages and its token count, plus the budget, the total and the tokens saved against sending
the whole history. It flattens deterministically:

* every text block (all but ``input``) becomes one section of a single leading ``system``
  message, in block order; the ``system`` block's text comes first and unlabelled, the others
  under a ``## Title`` line (``## Session state``, ``## Known facts``...);
* every message block (``recent``, custom ones) follows verbatim, in block order;
* the ``input`` block comes last: a ``user`` message for text, or its messages verbatim.

The bundle round-trips losslessly through JSON (``to_json``/``from_json`` or pydantic's
``model_dump_json``/``model_validate_json``), which is how the composed-context cache stores it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..models import Message
from ..tokens import arguments_json as tool_args_json
from ..tokens import content_tokens

__all__ = [
    "BLOCK_ORDER",
    "CUSTOM_BLOCK_PRIORITY",
    "DEFAULT_PRIORITIES",
    "DEFAULT_TITLES",
    "DEFAULT_TRIM_SIDES",
    "DEFAULT_TRIM_UNITS",
    "ContextBlock",
    "ContextBundle",
    "TrimSide",
    "TrimUnit",
    "flatten_blocks",
    "message_tokens",
    "render_message",
    "section_text",
    "split_units",
    "system_text",
    "text_message_tokens",
    "tool_args_json",
]

BLOCK_ORDER: tuple[str, ...] = (
    "system",
    "state",
    "facts",
    "handover",
    "summary",
    "recalled",
    "recent",
    "input",
)
"""The fixed order of the standard blocks in a bundle (a custom block sorts by its ``order``)."""

DEFAULT_PRIORITIES: dict[str, int] = {
    "input": 100,
    "recent": 90,
    "system": 80,
    "state": 70,
    "facts": 60,
    "handover": 55,
    "summary": 50,
    "recalled": 40,
}
"""Priority of each standard block when none is given: higher is kept longer when trimming."""

CUSTOM_BLOCK_PRIORITY = 50
"""Priority of a custom block when none is given."""

DEFAULT_TITLES: dict[str, str] = {
    "system": "",
    "state": "Session state",
    "facts": "Known facts",
    "handover": "Handover from a human operator",
    "summary": "Summary of earlier conversation",
    "recalled": "Recalled from earlier",
    "recent": "Recent conversation",
    "input": "Current input",
}
"""Section titles used when flattening; a custom block is titled by its name."""

TrimSide = Literal["start", "end"]
TrimUnit = Literal["sentence", "line", "paragraph"]

DEFAULT_TRIM_SIDES: dict[str, TrimSide] = {"recent": "start", "summary": "start"}
DEFAULT_TRIM_UNITS: dict[str, TrimUnit] = {
    "state": "line",
    "facts": "line",
    "recalled": "paragraph",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# A unit ends after sentence punctuation followed by whitespace (or the end of the text),
# after CJK full stops, or at a line break. The separator stays with the unit before it, so
# the units always concatenate back to the exact text.
_SENTENCE_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]\u00bb]*(?:\s+|$)|[\u3002\uff01\uff1f]+\s*|\n\s*"
)
_LINE_END = re.compile(r"\n\s*")
_PARAGRAPH_END = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_UNIT_PATTERNS: dict[str, re.Pattern[str]] = {
    "sentence": _SENTENCE_END,
    "line": _LINE_END,
    "paragraph": _PARAGRAPH_END,
}


def split_units(text: str, unit: TrimUnit) -> list[str]:
    """Split ``text`` into trimming units that concatenate back to exactly ``text``.

    Args:
        text: The text to split.
        unit: ``sentence`` (sentence ends and line breaks), ``line`` or ``paragraph``
            (separated by a blank line).

    Returns:
        The units, each keeping the separator that follows it.
    """
    units: list[str] = []
    start = 0
    for match in _UNIT_PATTERNS[unit].finditer(text):
        end = match.end()
        if end > start:
            units.append(text[start:end])
            start = end
    if start < len(text):
        units.append(text[start:])
    return units


class ContextBlock(BaseModel):
    """One named part of a composed context.

    Exactly one of ``text`` and ``messages`` is set. Unset fields get defaults from the block's
    name (see :data:`DEFAULT_PRIORITIES`): ``recent`` and ``summary`` trim from the start
    (oldest first), every other block from the end; ``facts`` and ``state`` trim whole lines,
    ``recalled`` whole paragraphs (separate recalled items with a blank line), every other text
    block whole sentences.

    Attributes:
        name: One of :data:`BLOCK_ORDER`, or a custom name (which then needs ``order``).
        priority: Higher is kept longer when the budget is tight.
        text: The block's text (a section of the leading system message, or the user input).
        messages: The block's messages, flattened verbatim (``recent``, custom message blocks).
        tokens: Token count; :func:`~langmem_tiered.context.compose` recounts it (text only
            for text blocks; every message with its per-message overhead for message blocks).
        min_tokens: The block may be shrunk down to this; ``0`` means it may be dropped. Only
            when the budget cannot be met otherwise is a block cut below it.
        trimmable_from: ``start`` drops the oldest part first, ``end`` the last part first.
        trim_unit: For text blocks: the smallest piece removed (``sentence``, ``line``,
            ``paragraph``). Message blocks always lose whole messages (tool-call groups whole).
        order: Sort position of a custom block (a standard block sits at its index in
            :data:`BLOCK_ORDER`, so ``order=2.5`` falls between ``facts`` and ``handover``).
            Must be left unset for standard blocks.
        title: Section title when flattened; default from :data:`DEFAULT_TITLES` or the name.
        metadata: JSON data about the block (provenance, ``summary_upto_seq``...), kept as is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    priority: int = CUSTOM_BLOCK_PRIORITY
    text: str | None = None
    messages: list[Message] | None = None
    tokens: int = Field(default=0, ge=0)
    min_tokens: int = Field(default=0, ge=0)
    trimmable_from: TrimSide = "end"
    trim_unit: TrimUnit = "sentence"
    order: float | None = None
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_name(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("name")
        if not isinstance(name, str):
            return data
        filled = dict(data)
        if filled.get("priority") is None:
            filled["priority"] = DEFAULT_PRIORITIES.get(name, CUSTOM_BLOCK_PRIORITY)
        if filled.get("trimmable_from") is None:
            filled["trimmable_from"] = DEFAULT_TRIM_SIDES.get(name, "end")
        if filled.get("trim_unit") is None:
            filled["trim_unit"] = DEFAULT_TRIM_UNITS.get(name, "sentence")
        return filled

    @model_validator(mode="after")
    def _check(self) -> ContextBlock:
        if (self.text is None) == (self.messages is None):
            raise ValueError(f"block {self.name!r}: set exactly one of text and messages")
        if self.name in BLOCK_ORDER:
            if self.order is not None:
                raise ValueError(
                    f"block {self.name!r} is a standard block with a fixed place; leave order unset"
                )
        elif self.order is None or not math.isfinite(self.order):
            raise ValueError(
                f"custom block {self.name!r} needs a finite order "
                f"(standard blocks sit at 0..{len(BLOCK_ORDER) - 1})"
            )
        return self

    @property
    def position(self) -> float:
        """Where the block sorts: its index in :data:`BLOCK_ORDER`, or its ``order``."""
        if self.order is not None:
            return self.order
        return float(BLOCK_ORDER.index(self.name))

    @property
    def sort_key(self) -> tuple[float, str]:
        """Key that puts blocks in bundle order (ties between custom blocks broken by name)."""
        return (self.position, self.name)

    @property
    def section_title(self) -> str:
        """The title this block gets when flattened (empty: no header line)."""
        if self.title is not None:
            return self.title
        return DEFAULT_TITLES.get(self.name, self.name)

    @property
    def is_empty(self) -> bool:
        """True for a block with no messages or only whitespace text."""
        if self.messages is not None:
            return not self.messages
        return not (self.text or "").strip()


def message_tokens(message: Message, count: Callable[[str], int], overhead: int) -> int:
    """Tokens one flattened message costs, counted the way OpenAI chat models bill them.

    ``overhead`` + role + text (text parts of structured content only: images and other
    parts are not text) + name (plus ``TOKENS_PER_NAME``) + for each tool call its name, its
    arguments as compact JSON and ``TOKENS_PER_TOOL_CALL``. With ``overhead=3`` this equals
    :func:`langmem_tiered.tokens.message_tokens`.

    Args:
        message: The message.
        count: The tokenizer's ``count(text) -> int``.
        overhead: Framing tokens the chat format adds per message.

    Returns:
        The token count.
    """
    return overhead + content_tokens(message, count)


def text_message_tokens(role: str, text: str, count: Callable[[str], int], overhead: int) -> int:
    """What :func:`message_tokens` gives for a plain ``role`` message holding ``text``."""
    return overhead + count(role) + count(text)


def section_text(block: ContextBlock, text: str) -> str:
    """The text a text block contributes to the leading system message ("" when empty)."""
    body = text.strip()
    if not body:
        return ""
    title = block.section_title
    return f"## {title}\n{body}" if title else body


def system_text(blocks: Sequence[ContextBlock]) -> str:
    """Text of the leading system message built from the text blocks (all but ``input``)."""
    sections = []
    for block in blocks:
        if block.text is not None and block.name != "input":
            section = section_text(block, block.text)
            if section:
                sections.append(section)
    return "\n\n".join(sections)


def _synthetic(role: Literal["system", "user"], text: str, blocks: list[str]) -> Message:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return Message(
        id=f"context-{role}-{digest}",
        role=role,
        content=text,
        created_at=_EPOCH,
        metadata={"context_blocks": blocks},
    )


def flatten_blocks(blocks: Sequence[ContextBlock]) -> list[Message]:
    """Flatten blocks (already in bundle order) to chat messages; see the module docstring.

    Messages made here (the system message, a text input) have deterministic ids derived
    from their text, ``created_at`` at the Unix epoch and no ``seq``: they are not stored
    messages. Their metadata lists the blocks they were built from under ``context_blocks``.
    """
    out: list[Message] = []
    names = [
        b.name
        for b in blocks
        if b.text is not None and b.name != "input" and section_text(b, b.text)
    ]
    text = system_text(blocks)
    if text:
        out.append(_synthetic("system", text, names))
    for block in blocks:
        if block.messages is not None:
            out.extend(block.messages)
        elif block.name == "input" and block.text is not None and block.text.strip():
            out.append(_synthetic("user", block.text, ["input"]))
    return out


def render_message(message: Message) -> str:
    """Plain-text rendering of one message: ``role: text``, tool calls as ``role -> f(args)``."""
    who: str = message.role
    if message.role == "tool" and message.tool_call_id:
        who = f"tool [{message.tool_call_id}]"
    if message.name:
        who = f"{who} ({message.name})"
    lines = []
    if message.text or not message.tool_calls:
        lines.append(f"{who}: {message.text}")
    for call in message.tool_calls:
        args = tool_args_json(call.args)
        ident = f" [{call.id}]" if call.id else ""
        lines.append(f"{who} -> {call.name}({args}){ident}")
    return "\n".join(lines)


class ContextBundle(BaseModel):
    """A composed context: blocks in bundle order, within a token budget.

    Attributes:
        blocks: The kept blocks, in :data:`BLOCK_ORDER` (custom blocks by ``order``).
        budget_tokens: The budget the bundle was composed for.
        total_tokens: Tokens of :meth:`to_messages`, per-message overhead included.
        full_history_tokens: Tokens of sending the whole history instead (as reported by the
            caller, counted the same way).
        tokens_saved: ``max(0, full_history_tokens - total_tokens)``.
        dropped: What was trimmed or dropped, and why, one line each.
        overhead_per_message: The per-message overhead used in the counts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    blocks: list[ContextBlock] = Field(default_factory=list)
    budget_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)
    full_history_tokens: int = Field(ge=0)
    tokens_saved: int = Field(default=-1)
    dropped: list[str] = Field(default_factory=list)
    overhead_per_message: int = Field(default=3, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_saved(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tokens_saved") is None:
            full, total = data.get("full_history_tokens"), data.get("total_tokens")
            if isinstance(full, int) and isinstance(total, int):
                return {**data, "tokens_saved": max(0, full - total)}
        return data

    @model_validator(mode="after")
    def _check(self) -> ContextBundle:
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique, got {names}")
        keys = [b.sort_key for b in self.blocks]
        if keys != sorted(keys):
            raise ValueError(f"blocks must be in bundle order, got {names}")
        if self.tokens_saved != max(0, self.full_history_tokens - self.total_tokens):
            raise ValueError("tokens_saved must be max(0, full_history_tokens - total_tokens)")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the kept blocks, in order."""
        return tuple(b.name for b in self.blocks)

    def block(self, name: str) -> ContextBlock | None:
        """The block called ``name``, or None when it is absent (not provided or dropped)."""
        for candidate in self.blocks:
            if candidate.name == name:
                return candidate
        return None

    def to_messages(self) -> list[Message]:
        """Flatten to chat messages: one leading system message, the messages, the input."""
        return flatten_blocks(self.blocks)

    def to_text(self) -> str:
        """Flatten to plain text: the system message's text, then each message block titled.

        Messages render as ``role: text`` lines (see :func:`render_message`).
        """
        parts = []
        head = system_text(self.blocks)
        if head:
            parts.append(head)
        for block in self.blocks:
            if block.messages is not None:
                body = "\n".join(render_message(m) for m in block.messages)
            elif block.name == "input" and block.text is not None and block.text.strip():
                body = f"user: {block.text}"
            else:
                continue
            title = block.section_title
            parts.append(f"## {title}\n{body}" if title else body)
        return "\n\n".join(parts)

    def count_tokens(self, count: Callable[[str], int]) -> int:
        """Recount :meth:`to_messages` with ``count`` and this bundle's per-message overhead.

        Uses :func:`message_tokens`; the reply priming a request adds once is not included.
        """
        return sum(message_tokens(m, count, self.overhead_per_message) for m in self.to_messages())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``model_dump(mode="json")``)."""
        return self.model_dump(mode="json")

    def to_json(self) -> bytes:
        """Compact JSON bytes; :meth:`from_json` gives back an equal bundle."""
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> ContextBundle:
        """Inverse of :meth:`to_json`."""
        return cls.model_validate_json(data)
