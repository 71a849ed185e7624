"""Versioned SQL migrations: what they are, and the SQL that applies them (no I/O here).

Migrations are the files ``migrations/NNNN_name.sql``, applied in order, each in the same
transaction as its row in ``lmt_schema_version`` (version, name, sha256 of the file). The
whole run holds a transaction-scoped advisory lock keyed on the schema name, so two processes
connecting at once apply each migration exactly once: the second waits, then finds nothing
left to do. An applied migration whose file changed, or a database newer than this code,
raises :class:`~langmem_tiered.MigrationError` instead of guessing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from ..errors import ConfigurationError

__all__ = ["Migration", "check_schema_name", "load_migrations", "lock_key"]

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS lmt_schema_version (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("langmem_tiered.store.migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration files are not numbered 1..n: {versions}")
    return found


def check_schema_name(schema: str) -> str:
    """Validate a Postgres schema name (lower-case identifier, no quoting needed)."""
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema):
        raise ConfigurationError(
            f"schema must be a lower-case identifier ([a-z_][a-z0-9_]*), got {schema!r}"
        )
    return schema


def lock_key(schema: str) -> int:
    """A stable 63-bit advisory-lock key for migrating ``schema``."""
    digest = hashlib.sha256(f"langmem_tiered:migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF
