"""What compliance operations return and are configured with: audit entries, erasure reports,
retention policies and reports, handovers (pydantic models, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_RETENTION",
    "FOLLOWUP_STATUSES",
    "AuditEntry",
    "ErasureReport",
    "Handover",
    "RetentionAction",
    "RetentionPolicy",
    "RetentionReport",
    "RetentionRules",
]

RetentionAction = Literal["delete", "anonymize", "archive"]

FOLLOWUP_STATUSES = frozenset({"escalated", "pending"})
"""Resolution statuses after which the AI must follow up (``requires_followup``)."""


class AuditEntry(BaseModel):
    """One row of the audit trail: what was done, when, with what counts; never whose data."""

    model_config = ConfigDict(frozen=True)

    audit_id: int
    request_id: UUID
    action: Literal["erase_user", "erase_tenant", "retention", "rotate_keys"]
    status: Literal["running", "done", "failed"]
    dry_run: bool
    details: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None


class ErasureReport(BaseModel):
    """The result of :meth:`TieredMemory.erase_user` (or ``erase_tenant``).

    ``residue`` is the proof: rows left per table and hot-tier keys left, from a verification
    that queries every table of the schema with the ids' columns and scans the hot tier. It is
    empty when ``verified``.
    """

    model_config = ConfigDict(frozen=True)

    request_id: UUID
    tenant: str
    deleted: dict[str, int]
    sessions: int
    hot_keys_deleted: int
    residue: dict[str, int]
    verified: bool


class RetentionPolicy(BaseModel):
    """How long a session is kept after its last change, and what happens then.

    ``delete`` removes it from every tier; ``anonymize`` rewrites its text with every PII
    detector and keeps it; ``archive`` writes it to a gzip JSONL file in ``archive_dir``, then
    removes it from the hot and warm tiers.
    """

    model_config = ConfigDict(frozen=True)

    days: float = Field(gt=0)
    action: RetentionAction = "delete"


DEFAULT_RETENTION: dict[str, RetentionPolicy] = {
    "generic": RetentionPolicy(days=90, action="delete"),
    "dental": RetentionPolicy(days=20 * 365, action="archive"),
    "medical": RetentionPolicy(days=20 * 365, action="archive"),
    "legal": RetentionPolicy(days=5 * 365, action="archive"),
    "retail": RetentionPolicy(days=90, action="anonymize"),
}
"""Defaults per vertical, from seed 004: health records 20 years; generic conversations 90 days.
Override any of them (and per tenant) with :class:`RetentionRules`."""


class RetentionRules(BaseModel):
    """Retention policy per vertical, overridden per tenant."""

    model_config = ConfigDict(frozen=True)

    verticals: dict[str, RetentionPolicy] = Field(default_factory=lambda: dict(DEFAULT_RETENTION))
    tenants: dict[str, RetentionPolicy] = Field(default_factory=dict)

    @field_validator("verticals")
    @classmethod
    def _has_generic(cls, value: Mapping[str, RetentionPolicy]) -> dict[str, RetentionPolicy]:
        merged = {**DEFAULT_RETENTION, **value}
        return merged

    def for_tenant(self, tenant: str, vertical: str) -> RetentionPolicy:
        """The tenant's own policy, else its vertical's, else ``generic``'s."""
        if tenant in self.tenants:
            return self.tenants[tenant]
        policy = self.verticals.get(vertical) or self.verticals.get("generic")
        if policy is None:
            raise ConfigurationError(f"no retention policy for vertical {vertical!r}")
        return policy


class RetentionReport(BaseModel):
    """What one :meth:`TieredMemory.gc` run did (or, with ``dry_run``, would do)."""

    model_config = ConfigDict(frozen=True)

    request_id: UUID
    dry_run: bool
    sessions: dict[str, int]
    """Sessions per action: ``delete``, ``anonymize``, ``archive``."""
    messages: int
    archives: list[str]
    tenants: int


class Handover(BaseModel):
    """A human operator's handover of one session."""

    model_config = ConfigDict(frozen=True)

    handover_id: int
    operator_id: str
    started_at: datetime
    from_seq: int
    ended_at: datetime | None = None
    upto_seq: int | None = None
    resolution_status: str | None = None
    requires_followup: bool | None = None
    summary: str | None = None
    token_count: int | None = None
    summarizer: str | None = None

    @property
    def open(self) -> bool:
        """True while the operator has the session."""
        return self.ended_at is None
