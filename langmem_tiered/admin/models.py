"""Pure data of the admin operations: listings, the session view, and the JSONL export records.

An export file is JSON Lines, UTF-8, one object per line, each with a ``type``:

* ``header``: first line, ``format`` (:data:`EXPORT_FORMAT`) and the scope exported
  (``tenant``, and ``user`` / ``session`` when narrower);
* ``session``: a session row: state, its versions and progress counters, times;
* ``message``: one stored message, verbatim (content, tool calls, metadata, token count);
* ``summary``: one version of a session's running summary (every version is kept);
* ``fact``: one version of a temporal fact, with when it was true (``valid_at`` /
  ``invalid_at``) and when it was recorded (``created_at``);
* ``memory``: a long-term memory written by key (recall item of kind ``memory``);
* ``cache``: a live content-cache entry (tenant exports only).

Records of one type come in key order (sessions and messages by user, session and seq, and so
on) and sessions before their messages and summaries. Derived data is not exported: recall
items of messages, summaries and facts and every embedding are rebuilt by ``backfill()``, and
hot-tier copies are refilled from Postgres. Encrypted fields (``content_enc``, ``value_enc``,
``text_enc``) travel as stored, ciphertext included, so an export of an encrypted store stays
encrypted.

Every record is validated with pydantic in strict mode plus the checks the engine applies on
write (ids, NUL characters, JSON values, fact keys), so a file that imports is a file whose
rows the engine itself could have written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic import ValidationError as _PydanticValidationError

from ..errors import InvalidImportError, InvalidInputError
from ..facts.model import Fact, check_fact_key
from ..models import Message, Role, Summary, check_id, check_json_value, check_message_for_write

__all__ = [
    "EXPORT_FORMAT",
    "CacheRecord",
    "ExportHeader",
    "ExportRecord",
    "FactRecord",
    "MemoryRecord",
    "MessageRecord",
    "SessionInfo",
    "SessionRecord",
    "SessionView",
    "SummaryRecord",
    "TenantInfo",
    "UserInfo",
    "dump_record",
    "parse_record",
]

EXPORT_FORMAT = "langmem-tiered/1"
"""The ``format`` of an export file's header line."""

_MAX_MEMORY_KEY = 512
_MAX_NAMESPACE = 256
_DIGEST = re.compile(r"[0-9a-f]{64}")


# -- listings ----------------------------------------------------------------------------


class TenantInfo(BaseModel):
    """One tenant and how much it holds.

    Attributes:
        tenant: The tenant id.
        users: Distinct users with a session, a fact or a memory.
        sessions: Sessions (rows of ``lmt_sessions``).
        messages: Stored messages.
        facts: Fact versions (current and past).
        memories: Long-term memories written by key.
        cache_entries: Live content-cache entries.
        last_active_at: Latest change to one of its sessions.
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    users: int
    sessions: int
    messages: int
    facts: int
    memories: int
    cache_entries: int
    last_active_at: datetime | None


class UserInfo(BaseModel):
    """One user of a tenant.

    Attributes:
        tenant: The tenant id.
        user: The user id.
        sessions: The user's sessions.
        messages: Messages over all of them.
        facts: Current facts (one per single-valued key, one per value of a multi-valued key).
        fact_versions: Fact versions, current and past.
        memories: Long-term memories written by key.
        last_active_at: Latest change to one of the user's sessions.
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    user: str
    sessions: int
    messages: int
    facts: int
    fact_versions: int
    memories: int
    last_active_at: datetime | None


class SessionInfo(BaseModel):
    """One session, as listed.

    Attributes:
        tenant, user, session: Its identity.
        messages: Messages stored (fewer than ``last_seq`` after a ``clear()``).
        last_seq: The last seq ever assigned.
        first_message_at / last_message_at: Earliest and latest ``created_at`` of its messages.
        created_at / updated_at: When the session row was created and last changed.
        summary_version: Versions of its running summary (0: none yet).
        state_version: Changes of its state so far.
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    user: str
    session: str
    messages: int
    last_seq: int
    first_message_at: datetime | None
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime
    summary_version: int
    state_version: int

    @property
    def cursor(self) -> tuple[str, str]:
        """``(user, session)``: pass as ``after=`` to get the next page."""
        return (self.user, self.session)


class SessionView(BaseModel):
    """What ``show_session`` returns: the session, its messages, state and latest summary, and
    the current facts of its user."""

    model_config = ConfigDict(frozen=True)

    info: SessionInfo
    messages: list[Message]
    state: dict[str, Any]
    summary: Summary | None
    facts: list[Fact]


# -- export records ----------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ExportHeader(_Record):
    """First line of an export: its format and scope."""

    type: Literal["header"] = "header"
    format: Literal["langmem-tiered/1"] = "langmem-tiered/1"
    tenant: str
    user: str | None = None
    session: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ExportHeader:
        check_id("tenant", self.tenant)
        if self.user is not None:
            check_id("user", self.user)
        if self.session is not None:
            if self.user is None:
                raise ValueError("a session scope needs its user")
            check_id("session", self.session)
        return self


class SessionRecord(_Record):
    """A session row (state and counters); written before the session's messages."""

    type: Literal["session"] = "session"
    tenant: str
    user: str
    session: str
    state: dict[str, Any]
    state_version: int = Field(ge=0)
    last_seq: int = Field(ge=0)
    summary_upto_seq: int = Field(ge=0)
    summary_version: int = Field(ge=0)
    facts_upto_seq: int = Field(ge=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    retention: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SessionRecord:
        _check_session_ids(self.tenant, self.user, self.session)
        check_json_value(self.state, "state")
        if self.summary_upto_seq > self.last_seq or self.facts_upto_seq > self.last_seq:
            raise ValueError("summary_upto_seq and facts_upto_seq cannot pass last_seq")
        return self


class MessageRecord(_Record):
    """One stored message, verbatim. ``content`` is JSON null when ``content_enc`` holds it."""

    type: Literal["message"] = "message"
    tenant: str
    user: str
    session: str
    seq: int = Field(ge=1)
    id: str
    role: Role
    content: Any
    name: str | None
    tool_calls: list[dict[str, Any]]
    tool_call_id: str | None
    metadata: dict[str, Any]
    token_count: int | None
    created_at: AwareDatetime
    content_enc: str | None = None

    @model_validator(mode="after")
    def _check(self) -> MessageRecord:
        _check_session_ids(self.tenant, self.user, self.session)
        if self.content_enc is not None:
            check_json_value(self.content_enc, "content_enc")
            if self.content is not None:
                raise ValueError("an encrypted message has JSON null content")
            content: Any = ""
        elif isinstance(self.content, dict):
            # sealed in place by encryption at rest: {"$enc": token[, "$orig": token]}
            if set(self.content) - {"$enc", "$orig"} or not all(
                isinstance(v, str) and v.startswith("lmt1:") for v in self.content.values()
            ):
                raise ValueError("an object content must be encrypted content ($enc/$orig)")
            content = ""
        else:
            content = self.content
        message = Message(
            id=self.id,
            role=self.role,
            content=content,
            name=self.name,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            metadata=self.metadata,
            seq=self.seq,
            created_at=self.created_at,
            token_count=self.token_count,
        )
        # the size limit is the importing memory's, checked by the importer
        check_message_for_write(message, 2**62)
        return self

    def message(self) -> Message:
        """The message (content of an encrypted one is left empty)."""
        return Message(
            id=self.id,
            role=self.role,
            content=self.content
            if self.content_enc is None and isinstance(self.content, (str, list))
            else "",
            name=self.name,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            metadata=self.metadata,
            seq=self.seq,
            created_at=self.created_at,
            token_count=self.token_count,
        )


class SummaryRecord(_Record):
    """One version of a session's running summary."""

    type: Literal["summary"] = "summary"
    tenant: str
    user: str
    session: str
    version: int = Field(ge=1)
    from_seq: int = Field(ge=0)
    upto_seq: int = Field(ge=0)
    text: str
    token_count: int = Field(ge=0)
    covered_tokens: int = Field(ge=0)
    summarizer: str
    vertical: str
    created_at: AwareDatetime
    text_enc: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SummaryRecord:
        _check_session_ids(self.tenant, self.user, self.session)
        if self.from_seq > self.upto_seq:
            raise ValueError("from_seq is after upto_seq")
        for field in ("text", "summarizer", "vertical", "text_enc"):
            check_json_value(getattr(self, field), field)
        return self


class FactRecord(_Record):
    """One version of a temporal fact: true from ``valid_at`` until ``invalid_at`` (None: still
    true), recorded at ``created_at``."""

    type: Literal["fact"] = "fact"
    tenant: str
    user: str
    key: str
    value: Any
    multi: bool
    valid_at: AwareDatetime
    invalid_at: AwareDatetime | None
    source_session: str | None
    source_seq_from: int | None
    source_seq_to: int | None
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    created_at: AwareDatetime
    created_by: str
    value_enc: str | None = None

    @model_validator(mode="after")
    def _check(self) -> FactRecord:
        check_id("tenant", self.tenant)
        check_id("user", self.user)
        check_fact_key(self.key)
        check_json_value(self.value, "value")
        if self.source_session is not None:
            check_id("source_session", self.source_session)
        if self.invalid_at is not None and self.invalid_at < self.valid_at:
            raise ValueError("invalid_at is before valid_at")
        check_json_value(self.created_by, "created_by")
        check_json_value(self.value_enc, "value_enc")
        return self


class MemoryRecord(_Record):
    """A long-term memory written by key (``user.put_memory``)."""

    type: Literal["memory"] = "memory"
    tenant: str
    user: str
    key: str = Field(min_length=1, max_length=_MAX_MEMORY_KEY)
    text: str
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _check(self) -> MemoryRecord:
        check_id("tenant", self.tenant)
        check_id("user", self.user)
        check_json_value(self.key, "key")
        check_json_value(self.text, "text")
        if not self.text.strip():
            raise ValueError("a memory's text is a non-empty string")
        return self


class CacheRecord(_Record):
    """A live content-cache entry (the hit counters, statistics, are not exported)."""

    type: Literal["cache"] = "cache"
    tenant: str
    namespace: str = Field(max_length=_MAX_NAMESPACE)
    digest: str
    key_text: str | None
    value: Any
    tokens: int = Field(ge=0, le=2**31 - 1)
    created_at: AwareDatetime
    expires_at: AwareDatetime | None

    @model_validator(mode="after")
    def _check(self) -> CacheRecord:
        check_id("tenant", self.tenant)
        check_id("namespace", self.namespace)
        if not _DIGEST.fullmatch(self.digest):
            raise ValueError("digest is 64 lowercase hex digits (sha256)")
        if self.value is None:
            raise ValueError("a cached value cannot be null")
        check_json_value(self.value, "value")
        check_json_value(self.key_text, "key_text")
        return self


ExportRecord = Annotated[
    ExportHeader
    | SessionRecord
    | MessageRecord
    | SummaryRecord
    | FactRecord
    | MemoryRecord
    | CacheRecord,
    Field(discriminator="type"),
]
"""Any line of an export file."""

_RECORD: TypeAdapter[ExportRecord] = TypeAdapter(ExportRecord)
# Fields written only when set: absent from a store without encryption at rest / retention.
_OPTIONAL = frozenset({"content_enc", "text_enc", "value_enc", "retention"})


def _check_session_ids(tenant: str, user: str, session: str) -> None:
    check_id("tenant", tenant)
    check_id("user", user)
    check_id("session", session)


def parse_record(line: bytes | str, number: int = 0) -> ExportRecord:
    """Validate one line of an export file.

    Raises:
        InvalidImportError: the line is not JSON, or not a valid record; ``line`` says which.
    """
    try:
        return _RECORD.validate_json(line, strict=True)
    except _PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidImportError(
            f"line {number}: {where + ': ' if where else ''}{message}", line=number
        ) from None
    except InvalidInputError as exc:  # raised by a nested model (Message, ToolCall)
        raise InvalidImportError(f"line {number}: {exc}", line=number) from None


def dump_record(record: BaseModel) -> bytes:
    """One export line (without its newline): compact JSON, fields in declaration order, the
    optional encrypted/retention fields only when set. The same record always gives the same
    bytes."""
    data: Mapping[str, Any] = record.__dict__
    skip = {f for f in _OPTIONAL if f in data and data[f] is None}
    return record.model_dump_json(exclude=skip or None).encode("utf-8")
