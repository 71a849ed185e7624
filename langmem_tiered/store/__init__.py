"""The durable store: PostgreSQL via psycopg 3, versioned migrations, and the embedded server."""

from ._pg import PostgresStore
from ._pg_async import AppendResult, AsyncPostgresStore
from .embedded import default_data_path, start_embedded
from .schema import Migration, load_migrations

__all__ = [
    "AppendResult",
    "AsyncPostgresStore",
    "Migration",
    "PostgresStore",
    "default_data_path",
    "load_migrations",
    "start_embedded",
]
