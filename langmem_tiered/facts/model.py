"""Pure data of temporal facts: the operations an extractor proposes and the facts a store keeps.

An extractor (rule-based or LLM-backed, see :mod:`langmem_tiered.facts.protocol`) reads new
messages and the user's current facts and returns :class:`FactOperation` objects; the store
applies them on each key's timeline and returns :class:`Fact` rows.

Keys are snake_case (``name``, ``phones``, ``preferred_times``...). A key is either
*single-valued* (one current value; asserting a new one retires the old one) or
*multi-valued* (values accumulate until one is retracted); :data:`DEFAULT_MULTI_VALUED_KEYS`
lists the multi-valued keys known out of the box.

Both models are frozen and, like :class:`~langmem_tiered.models.Message`, raise
:class:`~langmem_tiered.errors.InvalidInputError` on bad shape, never pydantic's own error.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as _PydanticValidationError

from ..errors import InvalidInputError
from ..models import check_json_value

__all__ = [
    "DEFAULT_MULTI_VALUED_KEYS",
    "FACT_OPS",
    "MAX_EVIDENCE_CHARS",
    "MAX_KEY_LENGTH",
    "Fact",
    "FactOp",
    "FactOperation",
    "check_fact_key",
]

FactOp = Literal["ADD", "UPDATE", "INVALIDATE", "NONE"]
"""What an extractor proposes for one key:

* ``ADD``: a key with no current fact (or a new value of a multi-valued key);
* ``UPDATE``: a new value for a single-valued key whose current value differs;
* ``INVALIDATE``: the user retracted a value (``value``) or the whole key (``value`` None);
* ``NONE``: nothing changes (an LLM may say so explicitly; the store ignores it).
"""

FACT_OPS: tuple[str, ...] = get_args(FactOp)

DEFAULT_MULTI_VALUED_KEYS: frozenset[str] = frozenset(
    {"allergies", "medications", "conditions", "phones", "emails"}
)
"""Keys whose values accumulate (one current fact per value) until a value is retracted."""

MAX_KEY_LENGTH = 64
MAX_EVIDENCE_CHARS = 500
_KEY = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def check_fact_key(key: object) -> str:
    """Validate a fact key and return it unchanged.

    A key is snake_case ASCII: lowercase letters and digits in words joined by single
    underscores, starting with a letter, at most :data:`MAX_KEY_LENGTH` characters.

    Raises:
        InvalidInputError: the key is not such a string.
    """
    if not isinstance(key, str):
        raise InvalidInputError(f"a fact key must be a string, not {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidInputError(
            f"invalid fact key {key[:80]!r}: expected snake_case (e.g. 'preferred_times'), "
            f"at most {MAX_KEY_LENGTH} characters"
        )
    return key


def _aware_utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware")
    return value.astimezone(timezone.utc)


def _describe(kind: str, exc: _PydanticValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or kind
    return f"invalid {kind}: {where}: {first['msg']}"


class FactOperation(BaseModel):
    """One change to a user's facts, proposed by an extractor.

    Attributes:
        op: ``ADD``, ``UPDATE``, ``INVALIDATE`` or ``NONE`` (see :data:`FactOp`).
        key: snake_case key (``name``, ``email``, ``phones``, ``cpf``, ``preferred_times``,
            ``doctor``, ``appointment_date``, ``allergies``...).
        value: The value, as JSON (strings normalized: E.164 phones, digits-only CPF, ISO
            dates, ``"HH:MM"`` times...). ``None`` only for ``INVALIDATE`` of a whole key or
            for ``NONE``.
        valid_at: When the fact became true, if the message says so ("since March");
            ``None`` means the source message's ``created_at``. Aware, stored in UTC.
        confidence: How sure the extractor is, in [0, 1].
        source_seqs: Provenance: the seqs of the messages the operation came from.
        evidence: The matched text span, short (at most :data:`MAX_EVIDENCE_CHARS`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: FactOp
    key: str
    value: Any = None
    valid_at: datetime | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    source_seqs: list[int] = Field(default_factory=list)
    evidence: str = Field(default="", max_length=MAX_EVIDENCE_CHARS)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except _PydanticValidationError as exc:
            raise InvalidInputError(_describe("fact operation", exc)) from None

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        try:
            return check_fact_key(value)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("valid_at")
    @classmethod
    def _check_valid_at(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware_utc(value, "valid_at")

    @field_validator("source_seqs")
    @classmethod
    def _check_seqs(cls, value: list[int]) -> list[int]:
        if any(seq < 0 for seq in value):
            raise ValueError("source seqs must not be negative")
        return value

    @model_validator(mode="after")
    def _check_value(self) -> FactOperation:
        if self.op in ("ADD", "UPDATE") and self.value is None:
            raise ValueError(f"{self.op} needs a value")
        try:
            check_json_value(self.value, "value")
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return self


class Fact(BaseModel):
    """One stored fact: a value of a key over the interval ``[valid_at, invalid_at)``.

    Attributes:
        id: The store's id of the row.
        key: snake_case key.
        value: The value (JSON).
        valid_at: When the value became true (a fact is valid *at* its ``valid_at``).
        invalid_at: When it stopped being true (no longer valid *at* ``invalid_at``);
            ``None`` while it is current.
        source_session: Session the fact was extracted from (``None`` if set through the API
            outside a session).
        source_seq_from: First message seq it came from.
        source_seq_to: Last message seq it came from.
        confidence: The extractor's confidence, in [0, 1].
        created_at: When the store recorded it (the system clock, as opposed to
            ``valid_at``, the world's clock).
        created_by: Who asserted it: an extractor's name (``"rules"``), ``"api"``...
    """

    model_config = ConfigDict(frozen=True)

    id: int
    key: str
    value: Any
    valid_at: datetime
    invalid_at: datetime | None = None
    source_session: str | None = None
    source_seq_from: int | None = None
    source_seq_to: int | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    created_at: datetime
    created_by: str

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except _PydanticValidationError as exc:
            raise InvalidInputError(_describe("fact", exc)) from None

    @field_validator("valid_at", "created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware_utc(value, "timestamps")

    @field_validator("invalid_at")
    @classmethod
    def _utc_or_none(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware_utc(value, "invalid_at")

    @property
    def current(self) -> bool:
        """Whether the fact is still current (``invalid_at`` is None)."""
        return self.invalid_at is None
