"""Compliance building blocks: PII redaction policies and field encryption at rest.

Framework-free and engine-free: :class:`Redactor` / :class:`PolicySet` redact text by a
per-tenant :class:`RedactionPolicy`; :class:`FieldCipher` encrypts fields with Fernet keys and
rotates them.
"""

from __future__ import annotations

from .crypto import PREFIX as CIPHER_PREFIX
from .crypto import FieldCipher
from .records import (
    DEFAULT_RETENTION,
    FOLLOWUP_STATUSES,
    AuditEntry,
    ErasureReport,
    Handover,
    RetentionAction,
    RetentionPolicy,
    RetentionReport,
    RetentionRules,
)
from .redaction import (
    DETECTORS,
    CustomPattern,
    Detection,
    Detector,
    PolicySet,
    RedactionPolicy,
    RedactionResult,
    Redactor,
    Stage,
    Where,
    names_from_facts,
)

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
    "CIPHER_PREFIX",
    "DETECTORS",
    "CustomPattern",
    "Detection",
    "Detector",
    "FieldCipher",
    "PolicySet",
    "RedactionPolicy",
    "RedactionResult",
    "Redactor",
    "Stage",
    "Where",
    "names_from_facts",
]
