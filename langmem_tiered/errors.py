"""The exception hierarchy of langmem-tiered.

Every error the package raises on purpose derives from :class:`LangmemError`, so one
``except LangmemError`` catches them all. Errors about bad input also derive from
:class:`ValueError`, and a missing record from :class:`KeyError`, so code written against
the standard exceptions keeps working::

    LangmemError
    ├── ConfigurationError (ValueError)        bad settings, URLs, limits
    ├── InvalidInputError (ValueError)         bad data handed to a public method
    │   ├── InvalidIdError                     bad tenant, user, session or message id
    │   ├── InvalidImportError                 a bad line in (or a conflict of) a JSONL import
    │   └── InvalidMessageError                unknown role, bad content, NUL bytes, duplicate ids
    │       └── MessageTooLargeError           over ``max_message_bytes``
    ├── StoreError                             the durable Postgres store
    │   ├── StoreUnavailableError              cannot connect / connection lost after retries
    │   └── MigrationError                     schema newer than the code, or an edited migration
    ├── TierError                              the hot tier (Redis or in-process)
    │   └── TierUnavailableError               the hot tier did not answer
    ├── ModelError                             a user-supplied model (LLM, embedder) failed
    │   └── SummarizationError                 a summarizer failed; summary_upto_seq stays
    ├── RecordNotFoundError (KeyError)
    ├── MemoryClosedError                      the memory object was closed
    ├── HandoverError                          begin with one open / end with none open
    ├── RedactionError                         PII redaction failed (bad input to the redactor)
    │   └── RedactionPolicyError (ConfigurationError)  an invalid redaction policy or pattern
    └── EncryptionError                        field encryption at rest
        ├── EncryptionKeyError (ConfigurationError)    a malformed or missing key
        └── DecryptionError                    a token no configured key opens (wrong key, tampered)

Driver exceptions are wrapped with ``raise ... from exc`` so the original stays visible.
Bad input is always rejected before anything is written: a raised ``InvalidInputError``
means the store is unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "DecryptionError",
    "EncryptionError",
    "EncryptionKeyError",
    "HandoverError",
    "InvalidIdError",
    "InvalidImportError",
    "InvalidInputError",
    "InvalidMessageError",
    "LangmemError",
    "MemoryClosedError",
    "MessageTooLargeError",
    "MigrationError",
    "ModelError",
    "RecordNotFoundError",
    "RedactionError",
    "RedactionPolicyError",
    "StoreError",
    "StoreUnavailableError",
    "SummarizationError",
    "TierError",
    "TierUnavailableError",
]


class LangmemError(Exception):
    """Base class of every error raised by langmem-tiered."""


class ConfigurationError(LangmemError, ValueError):
    """A setting, URL or limit given to the package is invalid."""


class InvalidInputError(LangmemError, ValueError):
    """Data handed to a public method is invalid; nothing was written."""


class InvalidIdError(InvalidInputError):
    """A tenant, user, session or message id is empty, too long, or holds forbidden characters."""


class InvalidImportError(InvalidInputError):
    """A JSONL import holds a malformed line, or a record that conflicts with stored data;
    nothing was imported. ``line`` is the 1-based line number, when one line is at fault."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_import_error, (str(self), self.line))


def _rebuild_import_error(message: str, line: int | None) -> InvalidImportError:
    return InvalidImportError(message, line=line)


class InvalidMessageError(InvalidInputError):
    """A message is malformed: unknown role, bad content, NUL bytes or invalid UTF-8."""


class MessageTooLargeError(InvalidMessageError):
    """A message is larger than the configured ``max_message_bytes``."""


class StoreError(LangmemError):
    """The durable Postgres store failed."""


class StoreUnavailableError(StoreError):
    """The durable store could not be reached, even after retrying."""


class MigrationError(StoreError):
    """The database schema cannot be brought to the version this code needs."""


class TierError(LangmemError):
    """The hot tier failed."""


class TierUnavailableError(TierError):
    """The hot tier did not answer (connection refused, reset or timed out)."""


class ModelError(LangmemError):
    """A model the user plugged in (LLM, embedder, extractor) failed or answered unusably."""


class SummarizationError(ModelError):
    """A summarizer failed (timeout, refusal, empty or over-budget answer); nothing was folded."""


class RecordNotFoundError(LangmemError, KeyError):
    """A requested record does not exist."""


class MemoryClosedError(LangmemError):
    """The memory object has been closed and cannot be used any more."""


class RedactionError(LangmemError):
    """PII redaction failed: the redactor was handed something it cannot redact."""


class RedactionPolicyError(RedactionError, ConfigurationError):
    """A redaction policy is invalid: unknown detector or region, a custom pattern that does not
    compile, or a replacement that refers to a group the pattern lacks."""


class EncryptionError(LangmemError):
    """Field encryption at rest failed."""


class EncryptionKeyError(EncryptionError, ConfigurationError):
    """An encryption key is malformed (not 32 url-safe base64-encoded bytes) or none was given."""


class DecryptionError(EncryptionError):
    """A value cannot be decrypted: no configured key opens it, or it was tampered with or is
    not a token at all."""


class HandoverError(LangmemError):
    """A handover cannot begin (one is open) or end (none is open) in this session."""


for _cls in (
    LangmemError,
    ConfigurationError,
    InvalidInputError,
    InvalidIdError,
    InvalidImportError,
    InvalidMessageError,
    MessageTooLargeError,
    StoreError,
    StoreUnavailableError,
    MigrationError,
    TierError,
    TierUnavailableError,
    ModelError,
    SummarizationError,
    RecordNotFoundError,
    MemoryClosedError,
    RedactionError,
    RedactionPolicyError,
    EncryptionError,
    EncryptionKeyError,
    DecryptionError,
    HandoverError,
):
    _cls.__module__ = "langmem_tiered"
