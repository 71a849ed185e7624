# WARNING: this file is generated from langmem_tiered/store/_pg_async.py by tools/async_to_sync.py. DO NOT EDIT.
"""The durable store on PostgreSQL (psycopg 3 async pool; the sync twin ``_pg.py`` is generated).

Postgres is the source of truth: a message is acknowledged only after the statement that
stores it has committed. Connections run in autocommit mode and every write is a single
statement (``lmt_append`` does the whole append server-side), so a write costs one round trip
and is atomic. Operations that may be retried safely (all of them: appends are idempotent by
message id) are retried with tenacity when the connection fails.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import psycopg
import psycopg.errors
from psycopg import Connection, pq, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..compliance.crypto import FieldCipher
from ..compliance.redaction import names_from_facts
from ..errors import (
    ConfigurationError,
    EncryptionKeyError,
    MigrationError,
    StoreError,
    StoreUnavailableError,
)
from ..facts.model import Fact
from ..facts.temporal import FactChange, plan_assert, plan_retract
from ..models import Message, SessionKey, Summary, json_dumps, json_loads
from ..recall.items import ItemDraft
from ..tiers.base import HotState
from . import compliance_sql, recall_sql
from .schema import CREATE_VERSION_TABLE, check_schema_name, load_migrations, lock_key

__all__ = ["PostgresStore", "AppendResult"]
_log = logging.getLogger("langmem_tiered")
AppendResult = tuple[str, int, datetime, bool]
"``(message_id, seq, created_at, inserted)`` for each message of an append, in order."
_COLUMNS = "seq, message_id, role, content, name, tool_calls, tool_call_id, metadata, token_count, created_at"
_PK = "tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s"
_SQL_APPEND = "SELECT message_id, seq, created_at, inserted FROM lmt_append(%s, %s, %s, %s, %s, %s::json[], %s, %s::json[], %s, %s::json[], %s::integer[], %s)"
_SQL_APPEND_ONE = """
WITH existing AS (
    SELECT message_id, seq, created_at FROM lmt_messages
    WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s AND message_id = %(id)s
), bump AS (
    INSERT INTO lmt_sessions AS x (tenant_id, user_id, session_id, last_seq)
    SELECT %(t)s, %(u)s, %(s)s, 1 WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (tenant_id, user_id, session_id)
    DO UPDATE SET last_seq = x.last_seq + 1, updated_at = now()
    RETURNING x.last_seq
), ins AS (
    INSERT INTO lmt_messages (tenant_id, user_id, session_id, seq, message_id, role, content,
                              name, tool_calls, tool_call_id, metadata, token_count, created_at)
    SELECT %(t)s, %(u)s, %(s)s, bump.last_seq, %(id)s, %(role)s, %(content)s::json, %(name)s,
           %(tool_calls)s::json, %(tool_call_id)s, %(metadata)s::json, %(tokens)s, %(created)s
    FROM bump
    RETURNING message_id, seq, created_at
)
SELECT message_id, seq, created_at, true FROM ins
UNION ALL
SELECT message_id, seq, created_at, false FROM existing
"""
_SQL_MESSAGES = f"SELECT {_COLUMNS} FROM lmt_messages WHERE {_PK} AND seq > %(after)s ORDER BY seq LIMIT %(limit)s"
_SQL_TAIL = f"\nSELECT s.last_seq,\n       (SELECT min(seq) FROM lmt_messages WHERE {_PK}),\n       m.*\nFROM lmt_sessions s\nLEFT JOIN LATERAL (\n    SELECT {_COLUMNS} FROM lmt_messages WHERE {_PK} ORDER BY seq DESC LIMIT %(n)s\n) m ON true\nWHERE s.{_PK.replace(' AND ', ' AND s.')}\nORDER BY m.seq\n"
_SQL_GET_STATE = f"SELECT state, state_version FROM lmt_sessions WHERE {_PK}"
_SQL_VERSIONS = f"SELECT last_seq, state_version FROM lmt_sessions WHERE {_PK}"
_SQL_CONTEXT_VERSIONS = f"\nSELECT last_seq, state_version, summary_version, updated_at,\n       (SELECT coalesce(max(h.handover_id)::text || ':' || count(h.ended_at), '')\n        FROM lmt_handovers h WHERE h.{_PK.replace(' AND ', ' AND h.')})\nFROM lmt_sessions WHERE {_PK}\n"
_SQL_BY_IDS = f"SELECT {_COLUMNS} FROM lmt_messages WHERE {_PK} AND message_id = ANY(%(ids)s)"
_SQL_UPDATE_STATE = """
INSERT INTO lmt_sessions AS s (tenant_id, user_id, session_id, state, state_version)
VALUES (%(t)s, %(u)s, %(s)s, %(state)s::jsonb, 1)
ON CONFLICT (tenant_id, user_id, session_id) DO UPDATE
SET state = s.state || EXCLUDED.state, state_version = s.state_version + 1, updated_at = now()
RETURNING state, state_version
"""
_SQL_CLEAR = f"\nWITH gone AS (DELETE FROM lmt_messages WHERE {_PK} RETURNING 1),\n     old_summaries AS (DELETE FROM lmt_summaries WHERE {_PK}),\n     old_items AS (DELETE FROM lmt_recall_items WHERE {_PK} AND kind IN ('message', 'summary'))\nUPDATE lmt_sessions\nSET state = '{{}}', state_version = state_version + 1, updated_at = now(),\n    summary_upto_seq = last_seq, summary_version = summary_version + 1,\n    -- nothing left to index or read facts from: a job that read the deleted messages\n    -- before this loses its compare-and-set and stores nothing\n    recall_upto_seq = last_seq, facts_upto_seq = last_seq\nWHERE {_PK}\nRETURNING (SELECT count(*) FROM gone), last_seq, state_version\n"
_SUMMARY_COLUMNS = "version, from_seq, upto_seq, text, token_count, covered_tokens, summarizer, vertical, created_at"
_SQL_SUMMARY_STATUS = f"\nSELECT s.summary_upto_seq, s.summary_version,\n       coalesce((SELECT sum(m.token_count) FROM lmt_messages m\n                 WHERE m.tenant_id = s.tenant_id AND m.user_id = s.user_id\n                   AND m.session_id = s.session_id AND m.seq > s.summary_upto_seq), 0)\nFROM lmt_sessions s WHERE s.{_PK.replace(' AND ', ' AND s.')}\n"
_SQL_ACQUIRE_LEASE = f"\nUPDATE lmt_sessions\nSET summary_lease_until = now() + make_interval(secs => %(seconds)s),\n    summary_lease_owner = %(owner)s\nWHERE {_PK} AND (summary_lease_until IS NULL OR summary_lease_until < now())\nRETURNING summary_upto_seq, summary_version\n"
_SQL_RENEW_LEASE = f"\nUPDATE lmt_sessions SET summary_lease_until = now() + make_interval(secs => %(seconds)s)\nWHERE {_PK} AND summary_lease_owner = %(owner)s\n"
_SQL_RELEASE_LEASE = f"\nUPDATE lmt_sessions SET summary_lease_until = NULL, summary_lease_owner = NULL\nWHERE {_PK} AND summary_lease_owner = %(owner)s\n"
_SQL_SAVE_SUMMARY = f"\nWITH s AS (\n    UPDATE lmt_sessions\n    SET summary_upto_seq = %(upto)s, summary_version = summary_version + 1,\n        summary_lease_until = NULL, summary_lease_owner = NULL\n    WHERE {_PK} AND summary_version = %(expected)s AND summary_lease_owner = %(owner)s\n    RETURNING summary_version\n)\nINSERT INTO lmt_summaries (tenant_id, user_id, session_id, version, from_seq, upto_seq, text,\n                           token_count, covered_tokens, summarizer, vertical)\nSELECT %(t)s, %(u)s, %(s)s, s.summary_version, %(from)s, %(upto)s, %(text)s, %(tokens)s,\n       %(covered)s, %(summarizer)s, %(vertical)s\nFROM s\nRETURNING {_SUMMARY_COLUMNS}\n"
_SM_COLUMNS = ", ".join(("sm." + c for c in _SUMMARY_COLUMNS.split(", ")))
_SQL_COMPOSE_INPUTS = f"\nSELECT s.summary_upto_seq, s.summary_version, s.last_seq, {_SM_COLUMNS}\nFROM lmt_sessions s\nLEFT JOIN LATERAL (\n    SELECT {_SUMMARY_COLUMNS} FROM lmt_summaries\n    WHERE {_PK} ORDER BY version DESC LIMIT 1\n) sm ON true\nWHERE s.{_PK.replace(' AND ', ' AND s.')}\n"
_SQL_SUMMARIES = f"SELECT {_SUMMARY_COLUMNS} FROM lmt_summaries WHERE {_PK} ORDER BY version"
_SQL_LATEST_SUMMARY = (
    f"SELECT {_SUMMARY_COLUMNS} FROM lmt_summaries WHERE {_PK} ORDER BY version DESC LIMIT 1"
)
_SQL_RECORD_USAGE = """
INSERT INTO lmt_token_usage AS u (tenant_id, day, operation, user_id, session_id, calls,
                                  input_tokens, output_tokens, saved_tokens)
VALUES (%(t)s, (now() AT TIME ZONE 'UTC')::date, %(op)s, %(u)s, %(s)s, %(calls)s, %(input)s,
        %(output)s, %(saved)s)
ON CONFLICT (tenant_id, day, operation, user_id, session_id) DO UPDATE
SET calls = u.calls + EXCLUDED.calls, input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    saved_tokens = u.saved_tokens + EXCLUDED.saved_tokens
"""
_SQL_TENANT_USAGE = """
SELECT operation, sum(calls), sum(input_tokens), sum(output_tokens), sum(saved_tokens)
FROM lmt_token_usage WHERE tenant_id = %(t)s AND day = %(day)s
GROUP BY operation ORDER BY operation
"""
_CC_LIVE = "(expires_at IS NULL OR expires_at > now())"
_SQL_CACHE_GET = f"\nUPDATE lmt_content_cache SET hits = hits + 1, last_hit_at = now()\nWHERE tenant_id = %(t)s AND namespace = %(ns)s AND digest = ANY(%(ds)s) AND {_CC_LIVE}\n  AND set_config('synchronous_commit', 'off', true) IS NOT NULL\nRETURNING digest, value::text, tokens, EXTRACT(EPOCH FROM (expires_at - now()))::float8\n"
_SQL_CACHE_PUT = """
INSERT INTO lmt_content_cache AS c (tenant_id, namespace, digest, key_text, value, tokens,
                                    expires_at)
VALUES (%(t)s, %(ns)s, %(d)s, %(k)s, %(v)s::jsonb, %(tok)s,
        CASE WHEN %(ttl)s::float8 IS NULL THEN NULL
             ELSE now() + make_interval(secs => %(ttl)s::float8) END)
ON CONFLICT (tenant_id, namespace, digest) DO UPDATE
SET key_text = EXCLUDED.key_text, value = EXCLUDED.value, tokens = EXCLUDED.tokens,
    created_at = now(), expires_at = EXCLUDED.expires_at, hits = 0, last_hit_at = NULL
"""
_SQL_CACHE_DELETE = """
WITH gone AS (
    DELETE FROM lmt_content_cache
    WHERE tenant_id = %(t)s AND namespace = %(ns)s
      AND (%(ds)s::text[] IS NULL OR digest = ANY(%(ds)s::text[]))
    RETURNING 1
) SELECT count(*) FROM gone
"""
_SQL_CACHE_NAMESPACES = """
SELECT DISTINCT namespace FROM lmt_content_cache WHERE tenant_id = %(t)s ORDER BY namespace
"""
_SQL_CACHE_USAGE = f"\nSELECT count(*), count(*) FILTER (WHERE {_CC_LIVE}),\n       coalesce(sum(tokens) FILTER (WHERE {_CC_LIVE}), 0), coalesce(sum(hits), 0),\n       coalesce(sum(hits * tokens), 0)\nFROM lmt_content_cache WHERE tenant_id = %(t)s AND namespace = %(ns)s\n"
_SQL_CACHE_EXPORT = f"\nSELECT digest, key_text, value::text, tokens, created_at, expires_at, hits\nFROM lmt_content_cache\nWHERE tenant_id = %(t)s AND namespace = %(ns)s AND digest > %(after)s AND {_CC_LIVE}\nORDER BY digest LIMIT %(limit)s\n"
_SQL_CACHE_EXPIRE = """
WITH gone AS (
    DELETE FROM lmt_content_cache
    WHERE expires_at <= now() AND (%(t)s::text IS NULL OR tenant_id = %(t)s::text)
    RETURNING 1
) SELECT count(*) FROM gone
"""


@contextmanager
def _store_errors() -> Generator[None, None, None]:
    """Map driver errors to the package's: a lost connection, or any other Postgres error."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(f"Postgres unavailable: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"Postgres error: {exc}") from exc


def _json_text(value: Any) -> str:
    return json_dumps(value).decode("utf-8")


_FACT_COLUMNS = "fact_id, key, value, valid_at, invalid_at, source_session, source_seq_from, source_seq_to, confidence, created_at, created_by, value_enc"
_FACT_NAMES = [
    "id",
    "key",
    "value",
    "valid_at",
    "invalid_at",
    "source_session",
    "source_seq_from",
    "source_seq_to",
    "confidence",
    "created_at",
    "created_by",
]
_USER = "tenant_id = %(t)s AND user_id = %(u)s"
_SQL_CURRENT_FACTS = f"SELECT {_FACT_COLUMNS} FROM lmt_facts WHERE {_USER} AND invalid_at IS NULL ORDER BY key, valid_at, fact_id"
_SQL_CURRENT_FACT = f"SELECT {_FACT_COLUMNS} FROM lmt_facts WHERE {_USER} AND key = %(key)s AND invalid_at IS NULL AND NOT multi"
_SQL_FACTS_AS_OF = f"SELECT {_FACT_COLUMNS} FROM lmt_facts WHERE {_USER} AND valid_at <= %(at)s AND (invalid_at IS NULL OR invalid_at > %(at)s) ORDER BY key, valid_at, fact_id"
_SQL_FACT_HISTORY = f"SELECT {_FACT_COLUMNS} FROM lmt_facts WHERE {_USER} AND key = %(key)s ORDER BY valid_at, fact_id"
_SQL_FACT_VERSION = f"SELECT version FROM lmt_fact_versions WHERE {_USER}"
_SQL_FACTS_UPTO = f"SELECT facts_upto_seq, last_seq FROM lmt_sessions WHERE {_PK}"


def _row_to_fact(row: Sequence[Any], cipher: FieldCipher | None = None) -> Fact:
    """A fact from its row (``value_enc`` last: the value's ciphertext, if encrypted)."""
    data = dict(zip(_FACT_NAMES, row[:-1], strict=True))
    if row[-1] is not None:
        data["value"] = json_loads(_cipher(cipher).decrypt(row[-1]))
    return Fact.model_validate(data)


def _cipher(cipher: FieldCipher | None) -> FieldCipher:
    if cipher is None:
        raise EncryptionKeyError("the store holds encrypted fields: configure encryption keys")
    return cipher


ENC = "$enc"
ORIG = "$orig"
"""Keys of an encrypted message content: ``{"$enc": token}`` (plus ``"$orig"``, the
ciphertext of the original when the redaction policy keeps originals). A message's content
is text or a list of parts, never an object, so the two cannot be confused."""


def _open_content(row: Sequence[Any], cipher: FieldCipher | None, original: bool) -> Any:
    return unseal_content(row[3], cipher, original)


def unseal_content(content: Any, cipher: FieldCipher | None, original: bool = False) -> Any:
    """A message content column's value, opened if it is sealed (encryption at rest)."""
    if isinstance(content, dict) and ENC in content:
        token = str(content[ORIG] if original and content.get(ORIG) else content[ENC])
        return json_loads(_cipher(cipher).decrypt(token))
    return content


def _open_text(text: str, cipher: FieldCipher | None) -> str:
    return _cipher(cipher).decrypt(text) if FieldCipher.is_encrypted(text) else text


def _fact_lock_key(tenant: str, user: str, key: str) -> int:
    digest = hashlib.sha256("\x00".join(("fact", tenant, user, key)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _row_to_summary(row: Sequence[Any], cipher: FieldCipher | None = None) -> Summary:
    names = _SUMMARY_COLUMNS.split(", ")
    data = dict(zip(names, row, strict=True))
    data["text"] = _open_text(data["text"], cipher)
    return Summary.model_validate(data)


_SQL_SCOPE = "SELECT set_config('role', %s, true), set_config('langmem.tenant', %s, true)"


def _tenant_of(params: Any) -> str | None:
    """The tenant a statement is for: its ``t``/``tenant`` parameter (or the first of a list,
    as ``append`` passes it); None if it names none."""
    if isinstance(params, dict):
        value = params.get("t", params.get("tenant"))
        return value if isinstance(value, str) else None
    if isinstance(params, (list, tuple)) and params and isinstance(params[0], str):
        return params[0]
    return None


def _every_tenant(params: Any) -> bool:
    """A statement whose tenant parameter is given as None: one over every tenant (backfill,
    expiry), run by the owner."""
    if not isinstance(params, dict):
        return False
    return any((k in params and params[k] is None for k in ("t", "tenant")))


def _key_params(key: SessionKey) -> dict[str, Any]:
    return {"t": key.tenant, "u": key.user, "s": key.session}


def _row_to_message(
    row: Sequence[Any], cipher: FieldCipher | None = None, original: bool = False
) -> Message:
    return Message.model_validate(
        {
            "seq": row[0],
            "id": row[1],
            "role": row[2],
            "content": _open_content(row, cipher, original),
            "name": row[4],
            "tool_calls": row[5],
            "tool_call_id": row[6],
            "metadata": row[7],
            "token_count": row[8],
            "created_at": row[9],
        }
    )


class PostgresStore:
    """Sessions and messages in PostgreSQL.

    Args:
        url: libpq connection string or ``postgresql://`` URL.
        schema: Postgres schema holding the tables (created if missing).
        min_size: Connections kept open in the pool.
        max_size: Upper bound of the pool.
        connect_timeout: Seconds to wait for a connection before giving up.
        attempts: Tries per operation when the connection fails (operations are idempotent).
        hnsw_ef_search: Candidate list size of pgvector's HNSW scans (recall vs. latency).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "langmem",
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout: float = 10.0,
        attempts: int = 3,
        hnsw_ef_search: int = 100,
        row_level_security: bool = False,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ConfigurationError("postgres_url must be a non-empty string")
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(f"invalid postgres_url: {exc}") from None
        if not isinstance(hnsw_ef_search, int) or not 1 <= hnsw_ef_search <= 1000:
            raise ConfigurationError("hnsw_ef_search must be an int in 1..1000")
        if not 1 <= min_size <= max_size or attempts < 1:
            raise ConfigurationError("need 1 <= min_size <= max_size and attempts >= 1")
        self.url = url
        self.schema = check_schema_name(schema)
        self._connect_timeout = connect_timeout
        self._attempts = attempts
        self._vector_dims: set[int] = set()
        self.row_level_security = bool(row_level_security)
        """Row-level-security mode: every per-tenant statement runs in a transaction as the
        schema's tenant role with ``langmem.tenant`` set, so Postgres itself hides and refuses
        other tenants' rows (see :meth:`enable_row_level_security`)."""
        self.tenant_role = "lmt_rls_" + self.schema[:54]
        self.cipher: FieldCipher | None = None
        self.index_redactor: Callable[[str, str, Sequence[str]], str] | None = None
        """``(tenant, text, known names) -> text`` applied to recall items of messages,
        summaries and facts before they are stored (set by the engine when encryption is on,
        so the index holds no plaintext of sealed fields)."""
        """Encryption at rest of message content, summaries and fact values (set by the
        engine); None stores them in plaintext. Reads open either."""
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=connect_timeout,
            kwargs={
                "autocommit": True,
                "options": f"-c search_path={self.schema},public -c timezone=UTC -c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search={hnsw_ef_search}",
            },
        )

    def open(self) -> None:
        """Open the pool and apply pending migrations (the pool is closed again on failure)."""
        try:
            self._pool.open(wait=True, timeout=self._connect_timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise StoreUnavailableError(f"cannot connect to Postgres: {exc}") from exc
        try:
            self.migrate()
            if self.row_level_security:
                self.enable_row_level_security()
        except BaseException:
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (autocommit connections, ``search_path`` set to the schema), for
        integrations that keep tables of their own beside the store's."""
        return self._pool

    @contextmanager
    def _tx(self, tenant: str | None) -> Iterator[Connection[Any]]:
        """A connection in a transaction; in row-level-security mode scoped to ``tenant`` (the
        tenant role, ``langmem.tenant`` set for this transaction only). Without a tenant the
        scope matches no row: a statement that forgets its tenant sees and writes nothing."""
        with self._pool.connection() as conn, conn.transaction():
            if self.row_level_security:
                conn.execute(_SQL_SCOPE, [self.tenant_role, tenant or ""])
            yield conn

    def scoped(self, tenant: str | None) -> AbstractContextManager[Connection[Any]]:
        """A connection in a transaction scoped to ``tenant`` as the store's own statements
        are in row-level-security mode (for integrations' tables and for checks)."""
        return self._tx(tenant)

    def enable_row_level_security(self) -> list[str]:
        """Switch on row-level security for every table of the schema with ``tenant_id``:
        create the schema's tenant role (no login; granted to the connecting user), grant it
        the tables, and add one policy per table that admits only rows whose ``tenant_id``
        equals ``current_setting('langmem.tenant')`` (reads and writes). The owner, which
        runs migrations and cross-tenant maintenance (backfill, gc, key rotation), is not
        subject to it. Idempotent; returns the tables covered."""
        tables = self.tables_with("tenant_id")
        role = sql.Identifier(self.tenant_role)
        with _store_errors():
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(f"rls:{self.schema}")])
                cur = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.tenant_role])
                if cur.fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
                schema = sql.Identifier(self.schema)
                for statement in (
                    "GRANT USAGE ON SCHEMA {schema}, public TO {role}",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
                    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}",
                ):
                    conn.execute(sql.SQL(statement).format(schema=schema, role=role))
                for table in tables:
                    name = sql.Identifier(table)
                    conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name))
                    conn.execute(
                        sql.SQL("DROP POLICY IF EXISTS lmt_tenant_isolation ON {}").format(name)
                    )
                    conn.execute(
                        sql.SQL(
                            "CREATE POLICY lmt_tenant_isolation ON {} TO {} USING (tenant_id = current_setting('langmem.tenant', true)) WITH CHECK (tenant_id = current_setting('langmem.tenant', true))"
                        ).format(name, role)
                    )
        return tables

    def _retrying(self, retry_unique: bool) -> Retrying:
        retryable: tuple[type[BaseException], ...] = (psycopg.OperationalError,)
        if retry_unique:
            retryable += (psycopg.errors.UniqueViolation,)
        return Retrying(
            retry=retry_if_exception_type(retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        )

    def _fetch_once(
        self,
        query: str | sql.Composed,
        params: Any,
        prepare: bool | None = None,
        all_tenants: bool = False,
    ) -> list[tuple[Any, ...]]:
        if self.row_level_security and (not (all_tenants or _every_tenant(params))):
            with self._tx(_tenant_of(params)) as conn:
                cur = conn.execute(query, params, prepare=prepare)
                result = cur.pgresult
                if result is None or result.status != pq.ExecStatus.TUPLES_OK:
                    return []
                return cur.fetchall()
        with self._pool.connection() as conn:
            cur = conn.execute(query, params, prepare=prepare)
            result = cur.pgresult
            if result is None or result.status != pq.ExecStatus.TUPLES_OK:
                return []
            return cur.fetchall()

    def _fetch(
        self,
        query: str | sql.Composed,
        params: Any,
        *,
        retry_unique: bool = False,
        prepare: bool | None = None,
        all_tenants: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows; retry with backoff if the connection fails.

        The first try runs without tenacity (its bookkeeping costs ~30 µs on the hot path);
        every statement this store runs is idempotent, so retrying after a lost connection is safe.
        ``retry_unique`` also retries a unique violation (two appends racing with one message id).
        """
        try:
            return self._fetch_once(query, params, prepare, all_tenants)
        except psycopg.OperationalError:
            pass
        except psycopg.errors.UniqueViolation as exc:
            if not retry_unique:
                raise StoreError(f"Postgres error: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"Postgres error: {exc}") from exc
        with _store_errors():
            for attempt in self._retrying(retry_unique):
                with attempt:
                    return self._fetch_once(query, params, prepare, all_tenants)
        raise AssertionError("unreachable")

    def migrate(self) -> list[int]:
        """Apply pending migrations under an advisory lock; return the versions applied."""
        migrations = load_migrations()
        applied: list[int] = []
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(self.schema)])
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                conn.execute(f"SET LOCAL search_path TO {self.schema}, public")
                conn.execute(CREATE_VERSION_TABLE)
                cur = conn.execute("SELECT version, checksum FROM lmt_schema_version")
                done = {row[0]: row[1] for row in cur.fetchall()}
                known = {m.version for m in migrations}
                newer = sorted((v for v in done if v not in known))
                if newer:
                    raise MigrationError(
                        f"schema {self.schema!r} has migrations {newer} this version of langmem-tiered does not know; upgrade the package"
                    )
                for m in migrations:
                    if m.version in done:
                        if done[m.version] != m.checksum:
                            raise MigrationError(
                                f"migration {m.version:04d}_{m.name} was changed after it was applied"
                            )
                        continue
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO lmt_schema_version (version, name, checksum) VALUES (%s, %s, %s)",
                        [m.version, m.name, m.checksum],
                    )
                    applied.append(m.version)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"Postgres unavailable during migration: {exc}") from exc
        except psycopg.Error as exc:
            raise MigrationError(f"migration failed: {exc}") from exc
        return applied

    def schema_version(self) -> int:
        """Highest applied migration version (0 when none)."""
        rows = self._fetch(
            "SELECT coalesce(max(version), 0) FROM lmt_schema_version", None, all_tenants=True
        )
        return int(rows[0][0])

    def _seal_content(self, content: Any, original: Any = None) -> str:
        """The content column's JSON: plain, or ``{"$enc": ..., "$orig": ...}`` when encrypted."""
        if self.cipher is None:
            if original is not None:
                raise EncryptionKeyError("keeping originals needs encryption keys")
            return _json_text(content)
        sealed = {ENC: self.cipher.encrypt(_json_text(content))}
        if original is not None:
            sealed[ORIG] = self.cipher.encrypt(_json_text(original))
        return _json_text(sealed)

    def _seal_value(self, tenant: str, user: str, key: str, value: Any) -> dict[str, Any]:
        """A fact value's columns: plain JSON, or a keyed digest (so equality and the
        uniqueness of current values still work) with the ciphertext beside it."""
        text = _json_text(value)
        if self.cipher is None:
            return {"value": text, "value_enc": None}
        digest = self.cipher.digest("\x00".join((tenant, user, key, text)))
        return {"value": _json_text({"$digest": digest}), "value_enc": self.cipher.encrypt(text)}

    def seal_text(self, text: str) -> str:
        """``text`` as stored: its ciphertext when encryption is on."""
        return text if self.cipher is None else self.cipher.encrypt(text)

    def open_text(self, text: str) -> str:
        return _open_text(text, self.cipher)

    def append(
        self, key: SessionKey, messages: Sequence[Message], originals: dict[str, Any] | None = None
    ) -> list[AppendResult]:
        """Append validated messages atomically; see ``lmt_append`` in migration 0001.

        Columns travel as parallel arrays (binary-friendly, no JSON parsing of whole messages
        on the server); JSON fields are encoded here so their text is stored verbatim.
        """
        params = [
            key.tenant,
            key.user,
            key.session,
            [m.id for m in messages],
            [m.role for m in messages],
            [self._seal_content(m.content, (originals or {}).get(m.id)) for m in messages],
            [m.name for m in messages],
            [_json_text([c.model_dump() for c in m.tool_calls]) for m in messages],
            [m.tool_call_id for m in messages],
            [_json_text(m.metadata) for m in messages],
            [m.token_count for m in messages],
            [m.created_at for m in messages],
        ]
        if len(messages) == 1:
            m = messages[0]
            one = _key_params(key)
            one.update(
                id=m.id,
                role=m.role,
                content=params[5][0],
                name=m.name,
                tool_calls=params[7][0],
                tool_call_id=m.tool_call_id,
                metadata=params[9][0],
                tokens=m.token_count,
                created=m.created_at,
            )
            rows = self._fetch(_SQL_APPEND_ONE, one, retry_unique=True)
        else:
            rows = self._fetch(_SQL_APPEND, params, retry_unique=True)
        return [(r[0], int(r[1]), r[2], bool(r[3])) for r in rows]

    def messages(
        self,
        key: SessionKey,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        original: bool = False,
    ) -> list[Message]:
        """Durable history in seq order (``original``: as written, where the redaction policy
        kept originals)."""
        params = _key_params(key)
        params.update(after=after_seq, limit=limit)
        return [
            _row_to_message(r, self.cipher, original) for r in self._fetch(_SQL_MESSAGES, params)
        ]

    def tail(self, key: SessionKey, n: int) -> tuple[int, int, list[Message]]:
        """``(last_seq, lowest seq, last n messages)`` read in one snapshot."""
        params = _key_params(key)
        params["n"] = n
        rows = self._fetch(_SQL_TAIL, params)
        if not rows:
            return (0, 1, [])
        last_seq = int(rows[0][0])
        lo = int(rows[0][1]) if rows[0][1] is not None else last_seq + 1
        return (
            last_seq,
            lo,
            [_row_to_message(r[2:], self.cipher) for r in rows if r[2] is not None],
        )

    def get_state(self, key: SessionKey) -> HotState:
        rows = self._fetch(_SQL_GET_STATE, _key_params(key))
        return HotState(rows[0][0], int(rows[0][1])) if rows else HotState({}, 0)

    def update_state(self, key: SessionKey, slots: dict[str, Any]) -> HotState:
        params = _key_params(key)
        params["state"] = json_dumps(slots).decode("utf-8")
        rows = self._fetch(_SQL_UPDATE_STATE, params)
        return HotState(rows[0][0], int(rows[0][1]))

    def clear(self, key: SessionKey) -> tuple[int, int, int]:
        """Delete the session's messages, summaries and state (seqs continue).

        Returns ``(messages removed, last_seq, new state version)``.
        """
        rows = self._fetch(_SQL_CLEAR, _key_params(key))
        return (int(rows[0][0]), int(rows[0][1]), int(rows[0][2])) if rows else (0, 0, 0)

    def versions(self, key: SessionKey) -> tuple[int, int]:
        """``(last_seq, state_version)``: one primary-key lookup."""
        rows = self._fetch(_SQL_VERSIONS, _key_params(key))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def context_versions(self, key: SessionKey) -> tuple[int, int, int, datetime | None, str]:
        """``(last_seq, state_version, summary_version, updated_at, handovers)``: one primary-key
        lookup; ``handovers`` changes when a handover begins or ends."""
        rows = self._fetch(_SQL_CONTEXT_VERSIONS, _key_params(key))
        if not rows:
            return (0, 0, 0, None, "")
        row = rows[0]
        return (int(row[0]), int(row[1]), int(row[2]), row[3], str(row[4]))

    def messages_by_ids(self, key: SessionKey, ids: Sequence[str]) -> dict[str, Message]:
        """Stored messages of the session with these ids."""
        params = _key_params(key)
        params["ids"] = list(ids)
        return {
            m.id: m
            for m in (_row_to_message(r, self.cipher) for r in self._fetch(_SQL_BY_IDS, params))
        }

    def summary_status(self, key: SessionKey) -> tuple[int, int, int]:
        """``(summary_upto_seq, summary_version, tokens not yet summarized)``."""
        rows = self._fetch(_SQL_SUMMARY_STATUS, _key_params(key))
        return (int(rows[0][0]), int(rows[0][1]), int(rows[0][2])) if rows else (0, 0, 0)

    def acquire_summary_lease(
        self, key: SessionKey, owner: str, seconds: float
    ) -> tuple[int, int] | None:
        """Take the session's summarization lease; ``(upto_seq, version)`` or None if held."""
        params = _key_params(key)
        params.update(owner=owner, seconds=seconds)
        rows = self._fetch(_SQL_ACQUIRE_LEASE, params)
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def renew_summary_lease(self, key: SessionKey, owner: str, seconds: float) -> bool:
        """Extend our lease; False if it is no longer ours."""
        params = _key_params(key)
        params.update(owner=owner, seconds=seconds)
        with _store_errors():
            with self._tx(key.tenant) as conn:
                cur = conn.execute(_SQL_RENEW_LEASE, params)
                return cur.rowcount == 1

    def release_summary_lease(self, key: SessionKey, owner: str) -> None:
        params = _key_params(key)
        params["owner"] = owner
        self._fetch(_SQL_RELEASE_LEASE, params)

    def save_summary(
        self,
        key: SessionKey,
        *,
        owner: str,
        expected_version: int,
        from_seq: int,
        upto_seq: int,
        text: str,
        token_count: int,
        covered_tokens: int,
        summarizer: str,
        vertical: str,
    ) -> Summary | None:
        """Store the next summary version if ``expected_version`` is still current and the
        lease is still ours (compare-and-set); releases the lease. None if it lost the race."""
        params = _key_params(key)
        params.update(
            owner=owner,
            expected=expected_version,
            upto=upto_seq,
            text=self.seal_text(text),
            tokens=token_count,
            covered=covered_tokens,
            summarizer=summarizer,
            vertical=vertical,
        )
        params["from"] = from_seq
        rows = self._fetch(_SQL_SAVE_SUMMARY, params)
        return _row_to_summary(rows[0], self.cipher) if rows else None

    def summary_state(self, key: SessionKey) -> tuple[int, int, int, Summary | None]:
        """``(summary_upto_seq, summary_version, last_seq, latest summary)`` in one snapshot."""
        rows = self._fetch(_SQL_COMPOSE_INPUTS, _key_params(key))
        if not rows:
            return (0, 0, 0, None)
        row = rows[0]
        summary = _row_to_summary(row[3:], self.cipher) if row[3] is not None else None
        return (int(row[0]), int(row[1]), int(row[2]), summary)

    def latest_summary(self, key: SessionKey) -> Summary | None:
        rows = self._fetch(_SQL_LATEST_SUMMARY, _key_params(key))
        return _row_to_summary(rows[0], self.cipher) if rows else None

    def summaries(self, key: SessionKey) -> list[Summary]:
        """Every summary version of the session, oldest first."""
        return [
            _row_to_summary(r, self.cipher) for r in self._fetch(_SQL_SUMMARIES, _key_params(key))
        ]

    def apply_facts(
        self,
        tenant: str,
        user: str,
        changes: Sequence[FactChange],
        *,
        advance: tuple[SessionKey, int, int] | None = None,
    ) -> list[Fact] | None:
        """Apply fact changes atomically; return the facts inserted or closed.

        Each key is locked (transaction-scoped advisory lock) before its timeline is read, so
        concurrent writers of one key take turns and there is always at most one current value.
        ``advance=(session, from_seq, to_seq)`` also moves the session's ``facts_upto_seq`` from
        ``from_seq`` to ``to_seq`` in the same transaction, and returns None without changing
        anything if another process moved it first (so a batch is never applied twice).
        """
        with _store_errors():
            with self._tx(tenant) as conn:
                if advance is not None:
                    skey, old, new = advance
                    params = _key_params(skey)
                    params.update(old=old, new=new)
                    cur = conn.execute(
                        f"UPDATE lmt_sessions SET facts_upto_seq = %(new)s WHERE {_PK} AND facts_upto_seq = %(old)s",
                        params,
                    )
                    if cur.rowcount != 1:
                        return None
                keys = sorted({c.key for c in changes})
                for key in keys:
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", [_fact_lock_key(tenant, user, key)]
                    )
                cur = conn.execute(
                    f"SELECT {_FACT_COLUMNS}, multi FROM lmt_facts WHERE {_USER} AND key = ANY(%(keys)s)",
                    {"t": tenant, "u": user, "keys": keys},
                )
                facts = {
                    r[0]: (_row_to_fact(r[:-1], self.cipher), bool(r[-1])) for r in cur.fetchall()
                }
                changed: list[Fact] = []
                for change in changes:
                    timeline = [
                        f
                        for f, multi in facts.values()
                        if f.key == change.key
                        and multi == change.multi
                        and (not change.multi or change.value is None or f.value == change.value)
                    ]
                    if change.retract:
                        plan = plan_retract(timeline, change.valid_at)
                    else:
                        plan = plan_assert(timeline, change.value, change.valid_at)
                    for fact_id, invalid_at in plan.close.items():
                        cur = conn.execute(
                            f"UPDATE lmt_facts SET invalid_at = %(at)s WHERE {_USER} AND fact_id = %(id)s RETURNING {_FACT_COLUMNS}",
                            {"t": tenant, "u": user, "id": fact_id, "at": invalid_at},
                        )
                        row = cur.fetchone()
                        assert row is not None
                        fact = _row_to_fact(row, self.cipher)
                        facts[fact.id] = (fact, facts[fact.id][1])
                        changed.append(fact)
                    if plan.insert is not None:
                        new_valid, new_invalid = plan.insert
                        cur = conn.execute(
                            f"INSERT INTO lmt_facts (tenant_id, user_id, key, value, multi, valid_at, invalid_at, source_session, source_seq_from, source_seq_to, confidence, created_by, value_enc) VALUES (%(t)s, %(u)s, %(key)s, %(value)s::jsonb, %(multi)s, %(valid)s, %(invalid)s, %(session)s, %(from)s, %(to)s, %(confidence)s, %(by)s, %(value_enc)s) RETURNING {_FACT_COLUMNS}",
                            {
                                "t": tenant,
                                "u": user,
                                "key": change.key,
                                **self._seal_value(tenant, user, change.key, change.value),
                                "multi": change.multi,
                                "valid": new_valid,
                                "invalid": new_invalid,
                                "session": change.source_session,
                                "from": change.source_seq_from,
                                "to": change.source_seq_to,
                                "confidence": change.confidence,
                                "by": change.created_by,
                            },
                        )
                        row = cur.fetchone()
                        assert row is not None
                        fact = _row_to_fact(row, self.cipher)
                        facts[fact.id] = (fact, change.multi)
                        changed.append(fact)
                if changed:
                    conn.execute(
                        "INSERT INTO lmt_fact_versions AS v (tenant_id, user_id, version) VALUES (%(t)s, %(u)s, 1) ON CONFLICT (tenant_id, user_id) DO UPDATE SET version = v.version + 1",
                        {"t": tenant, "u": user},
                    )
                return changed

    def current_facts(self, tenant: str, user: str) -> list[Fact]:
        """The user's current facts: one range scan of a partial index."""
        rows = self._fetch(_SQL_CURRENT_FACTS, {"t": tenant, "u": user})
        return [_row_to_fact(r, self.cipher) for r in rows]

    def current_fact(self, tenant: str, user: str, key: str) -> Fact | None:
        """The current value of a single-valued key: one probe of a unique partial index."""
        rows = self._fetch(_SQL_CURRENT_FACT, {"t": tenant, "u": user, "key": key})
        return _row_to_fact(rows[0], self.cipher) if rows else None

    def facts_as_of(self, tenant: str, user: str, at: datetime) -> list[Fact]:
        rows = self._fetch(_SQL_FACTS_AS_OF, {"t": tenant, "u": user, "at": at})
        return [_row_to_fact(r, self.cipher) for r in rows]

    def fact_history(self, tenant: str, user: str, key: str) -> list[Fact]:
        rows = self._fetch(_SQL_FACT_HISTORY, {"t": tenant, "u": user, "key": key})
        return [_row_to_fact(r, self.cipher) for r in rows]

    def fact_version(self, tenant: str, user: str) -> int:
        rows = self._fetch(_SQL_FACT_VERSION, {"t": tenant, "u": user})
        return int(rows[0][0]) if rows else 0

    def facts_progress(self, key: SessionKey) -> tuple[int, int]:
        """``(facts_upto_seq, last_seq)`` of a session."""
        rows = self._fetch(_SQL_FACTS_UPTO, _key_params(key))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def ensure_vectors(self, dim: int) -> bool:
        """Make recall ready for vectors of dimension ``dim``: the pgvector extension, the
        ``embedding`` column and the dimension's partial HNSW index. Idempotent; returns False
        (recall stays full-text only) when the server does not have pgvector."""
        if dim in self._vector_dims:
            return True
        with _store_errors():
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", [lock_key("langmem_tiered:vectors")]
                )
                cur = conn.execute(recall_sql.SQL_VECTOR_SUPPORT)
                row = cur.fetchone()
                assert row is not None
                installed, available = row
                if not installed:
                    if not available:
                        return False
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
                conn.execute(
                    "ALTER TABLE lmt_recall_items ADD COLUMN IF NOT EXISTS embedding halfvec"
                )
                if dim <= recall_sql.COVERING_MAX_DIM:
                    conn.execute(recall_sql.covering_index_sql(dim))
                cur = conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", [recall_sql.hnsw_index_name(dim)]
                )
                have = cur.fetchone()
                cur = conn.execute(recall_sql.SQL_ITEM_ESTIMATE)
                rows = cur.fetchone()
                if not (have and have[0]):
                    if rows and rows[0] > recall_sql.HNSW_INLINE_MAX_ROWS:
                        _log.warning(
                            "recall: %s items and no HNSW index for dimension %d yet; searches are exact until backfill() builds it (concurrently)",
                            rows[0],
                            dim,
                        )
                    else:
                        conn.execute(recall_sql.hnsw_index_sql(dim))
        self._vector_dims.add(dim)
        return True

    def vector_support(self) -> tuple[bool, bool]:
        """``(pgvector installed, pgvector available to install)``."""
        rows = self._fetch(recall_sql.SQL_VECTOR_SUPPORT, None, all_tenants=True)
        return (bool(rows[0][0]), bool(rows[0][1]))

    def build_vector_index(self, dim: int, maintenance_work_mem: str = "1GB") -> bool:
        """Build the HNSW index of dimension ``dim`` with ``CREATE INDEX CONCURRENTLY`` (writes
        go on meanwhile); False if it exists already."""
        rows = self._fetch("SELECT to_regclass(%s) IS NOT NULL", [recall_sql.hnsw_index_name(dim)])
        if rows and rows[0][0]:
            return False
        with _store_errors():
            with self._pool.connection() as conn:
                conn.execute(
                    "SELECT set_config('maintenance_work_mem', %s, false)", [maintenance_work_mem]
                )
                try:
                    conn.execute(recall_sql.hnsw_index_sql(dim, concurrently=True))
                finally:
                    conn.execute("RESET maintenance_work_mem")
        return True

    def recall_progress(self, key: SessionKey) -> tuple[int, int]:
        """``(recall_upto_seq, last_seq)`` of a session."""
        rows = self._fetch(recall_sql.SQL_RECALL_PROGRESS, _key_params(key))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def replace_recall_items(
        self, tenant: str, user: str, source_keys: Sequence[str], drafts: Sequence[ItemDraft]
    ) -> list[tuple[int, str]]:
        """Delete the items of ``source_keys`` and store ``drafts`` in one transaction; return
        ``(item_id, text)`` of those inserted."""
        drafts = self._for_index(tenant, user, drafts)
        params = self._draft_params(tenant, user, drafts)
        with _store_errors():
            with self._tx(tenant) as conn:
                conn.execute(
                    recall_sql.SQL_DELETE_ITEMS, {"t": tenant, "u": user, "keys": list(source_keys)}
                )
                if not drafts:
                    return []
                cur = conn.execute(recall_sql.SQL_ADD_ITEMS, params)
                return [(int(r[0]), r[1]) for r in cur.fetchall()]

    def _for_index(
        self, tenant: str, user: str, drafts: Sequence[ItemDraft]
    ) -> Sequence[ItemDraft]:
        redact = self.index_redactor
        sealed = [d for d in drafts if d.kind in ("message", "summary", "fact")]
        if redact is None or not sealed:
            return drafts
        names = names_from_facts(self.current_facts(tenant, user))

        def clean(text: str) -> str:
            return redact(tenant, text, names)

        return [
            replace(
                d,
                text=clean(d.text),
                search_text=None if d.search_text is None else clean(d.search_text),
            )
            if d.kind in ("message", "summary", "fact")
            else d
            for d in drafts
        ]

    @staticmethod
    def _draft_params(tenant: str, user: str, drafts: Sequence[ItemDraft]) -> dict[str, Any]:
        return {
            "t": tenant,
            "u": user,
            "kinds": [d.kind for d in drafts],
            "keys": [d.source_key for d in drafts],
            "sessions": [d.session for d in drafts],
            "froms": [d.seq_from for d in drafts],
            "tos": [d.seq_to for d in drafts],
            "facts": [d.fact_id for d in drafts],
            "texts": [d.text for d in drafts],
            "tokens": [d.token_count for d in drafts],
            "cfgs": [d.ts_config for d in drafts],
            "times": [d.occurred_at for d in drafts],
            "search": [d.search_text for d in drafts],
        }

    def add_recall_items(
        self,
        tenant: str,
        user: str,
        drafts: Sequence[ItemDraft],
        *,
        advance: tuple[SessionKey, int, int] | None = None,
    ) -> list[tuple[int, str]] | None:
        """Store recall items (their tsvector computed here) in one transaction; return
        ``(item_id, text)`` of those inserted (a draft whose source is indexed already is
        skipped). ``advance=(session, from_seq, to_seq)`` moves the session's
        ``recall_upto_seq`` with a compare-and-set; None means another process moved it first
        and nothing was stored."""
        drafts = self._for_index(tenant, user, drafts)
        params = self._draft_params(tenant, user, drafts)
        with _store_errors():
            with self._tx(tenant) as conn:
                if advance is not None:
                    skey, old, new = advance
                    moved = _key_params(skey)
                    moved.update(old=old, new=new)
                    cur = conn.execute(recall_sql.SQL_ADVANCE, moved)
                    if cur.rowcount != 1:
                        return None
                if not drafts:
                    return []
                cur = conn.execute(recall_sql.SQL_ADD_ITEMS, params)
                return [(int(r[0]), r[1]) for r in cur.fetchall()]

    def set_embeddings(
        self, rows: Sequence[tuple[str, str, int]], vectors: Sequence[str], *, model: str, dim: int
    ) -> None:
        """Store the vectors (pgvector text form) of items ``(tenant, user, item_id)``."""
        if not rows:
            return
        params = {
            "ts": [r[0] for r in rows],
            "us": [r[1] for r in rows],
            "ids": [r[2] for r in rows],
            "vecs": list(vectors),
            "model": model,
            "dim": dim,
        }
        self._fetch(recall_sql.SQL_SET_EMBEDDINGS, params)

    def stale_items(
        self,
        model: str,
        *,
        tenant: str | None = None,
        after: tuple[str, str, int] = ("", "", 0),
        limit: int = 256,
    ) -> list[tuple[str, str, int, str]]:
        """Items without a vector of ``model``: ``(tenant, user, item_id, text)``, in key order
        after ``after`` (pages of a backfill)."""
        params = {
            "model": model,
            "t": tenant,
            "after_t": after[0],
            "after_u": after[1],
            "after_id": after[2],
            "limit": limit,
        }
        rows = self._fetch(recall_sql.SQL_STALE_ITEMS, params)
        return [(r[0], r[1], int(r[2]), r[3]) for r in rows]

    def count_stale_items(self, model: str, tenant: str | None = None) -> int:
        rows = self._fetch(recall_sql.SQL_COUNT_STALE, {"model": model, "t": tenant})
        return int(rows[0][0])

    def embedding_models(self, tenant: str | None = None) -> dict[str, int]:
        """Recall items per embedding model (``""``: no vector yet)."""
        rows = self._fetch(recall_sql.SQL_MODELS, {"t": tenant})
        return {r[0]: int(r[1]) for r in rows}

    def sessions_behind(self, tenant: str | None = None) -> list[SessionKey]:
        """Sessions with messages not yet turned into recall items."""
        rows = self._fetch(recall_sql.SQL_BEHIND_SESSIONS, {"t": tenant})
        return [SessionKey(r[0], r[1], r[2]) for r in rows]

    def users_with_unindexed_facts(self, tenant: str | None = None) -> list[tuple[str, str]]:
        rows = self._fetch(recall_sql.SQL_USERS_UNINDEXED_FACTS, {"t": tenant})
        return [(r[0], r[1]) for r in rows]

    def register_embedding_model(self, model: str, dim: int) -> list[str]:
        """Record that ``model`` writes vectors here; return the other models that have."""
        rows = self._fetch(
            recall_sql.SQL_REGISTER_MODEL, {"model": model, "dim": dim}, all_tenants=True
        )
        return [r[0] for r in rows]

    def recall_version(self, tenant: str, user: str) -> str:
        """Changes when an item of the user is added or removed."""
        rows = self._fetch(recall_sql.SQL_RECALL_VERSION, {"t": tenant, "u": user})
        return f"{rows[0][0]}.{rows[0][1]}"

    def unindexed_summaries(self, key: SessionKey) -> list[Summary]:
        rows = self._fetch(recall_sql.SQL_UNINDEXED_SUMMARIES, _key_params(key))
        return [_row_to_summary(r, self.cipher) for r in rows]

    def unindexed_facts(self, tenant: str, user: str) -> list[Fact]:
        rows = self._fetch(recall_sql.SQL_UNINDEXED_FACTS, {"t": tenant, "u": user})
        return [_row_to_fact(r, self.cipher) for r in rows]

    def search_recall(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a statement made by :func:`~langmem_tiered.store.recall_sql.search_sql`.

        Never as a prepared statement: a generic plan guesses the size of the user's scope, and
        the right plan (exact scan of a small scope, GIN for rare terms, HNSW for a huge one)
        depends on it; planning costs well under a millisecond."""
        return self._fetch(sql, params, prepare=False)

    def record_usage_batch(
        self, rows: Sequence[tuple[SessionKey, str, int, int, int, int]]
    ) -> None:
        """Add many ``(session, operation, calls, input, output, saved)`` rows in one
        transaction, without retrying: increments are not idempotent."""
        with _store_errors():
            with self._tx(None) as conn:
                for key, operation, calls, inp, out, saved in rows:
                    if self.row_level_security:
                        conn.execute(_SQL_SCOPE, [self.tenant_role, key.tenant])
                    params = _key_params(key)
                    params.update(op=operation, calls=calls, input=inp, output=out, saved=saved)
                    conn.execute(_SQL_RECORD_USAGE, params)

    def tenant_usage(self, tenant: str, day: date) -> dict[str, dict[str, int]]:
        """Usage of one tenant on one day, per operation."""
        rows = self._fetch(_SQL_TENANT_USAGE, {"t": tenant, "day": day})
        return {
            r[0]: {
                "calls": int(r[1]),
                "input_tokens": int(r[2]),
                "output_tokens": int(r[3]),
                "saved_tokens": int(r[4]),
            }
            for r in rows
        }

    def cache_get(
        self, tenant: str, namespace: str, digests: Sequence[str]
    ) -> dict[str, tuple[str, int, float | None]]:
        """Live entries by digest: ``(value JSON text, tokens, seconds left or None)``; each
        one found counts a hit."""
        rows = self._fetch(_SQL_CACHE_GET, {"t": tenant, "ns": namespace, "ds": list(digests)})
        return {r[0]: (r[1], int(r[2]), None if r[3] is None else float(r[3])) for r in rows}

    def cache_put(
        self,
        tenant: str,
        namespace: str,
        digest: str,
        key_text: str | None,
        value_json: str,
        tokens: int,
        ttl: float | None,
    ) -> None:
        """Insert or replace one entry (its hit count starts again)."""
        params = {
            "t": tenant,
            "ns": namespace,
            "d": digest,
            "k": key_text,
            "v": value_json,
            "tok": tokens,
            "ttl": ttl,
        }
        self._fetch(_SQL_CACHE_PUT, params)

    def cache_delete(self, tenant: str, namespace: str, digests: Sequence[str] | None) -> int:
        """Delete these entries (or the namespace's all); return how many."""
        ds = None if digests is None else list(digests)
        rows = self._fetch(_SQL_CACHE_DELETE, {"t": tenant, "ns": namespace, "ds": ds})
        return int(rows[0][0])

    def cache_namespaces(self, tenant: str) -> list[str]:
        """The tenant's cache namespaces."""
        return [r[0] for r in self._fetch(_SQL_CACHE_NAMESPACES, {"t": tenant})]

    def cache_usage(self, tenant: str, namespace: str) -> dict[str, int]:
        """Durable figures of one namespace."""
        row = self._fetch(_SQL_CACHE_USAGE, {"t": tenant, "ns": namespace})[0]
        return {
            "entries": int(row[0]),
            "live_entries": int(row[1]),
            "stored_tokens": int(row[2]),
            "postgres_hits": int(row[3]),
            "postgres_tokens_saved": int(row[4]),
        }

    def cache_export_page(
        self, tenant: str, namespace: str, after: str, limit: int
    ) -> list[tuple[Any, ...]]:
        """Live entries with a digest after ``after``, in digest order (keyset pages)."""
        params = {"t": tenant, "ns": namespace, "after": after, "limit": limit}
        return self._fetch(_SQL_CACHE_EXPORT, params)

    def cache_expire(self, tenant: str | None = None) -> int:
        """Delete expired entries (of one tenant, or all); return how many."""
        return int(self._fetch(_SQL_CACHE_EXPIRE, {"t": tenant})[0][0])

    def tables_with(self, *columns: str) -> list[str]:
        """Tables of the schema that have every one of ``columns`` (from the catalog)."""
        rows = self._fetch(
            compliance_sql.SQL_TABLES_WITH, {"columns": list(columns)}, all_tenants=True
        )
        return [str(r[0]) for r in rows]

    def user_sessions(self, tenant: str, user: str | None = None) -> list[SessionKey]:
        """Every session of a tenant (or of one of its users) that has a row."""
        rows = self._fetch(
            "SELECT user_id, session_id FROM lmt_sessions WHERE tenant_id = %(tenant)s AND (%(user)s::text IS NULL OR user_id = %(user)s) ORDER BY user_id, session_id",
            {"tenant": tenant, "user": user},
        )
        return [SessionKey(tenant, str(u), str(s)) for u, s in rows]

    def erase(self, tenant: str, user: str | None) -> dict[str, int]:
        """Delete every row of one user (or, with ``user=None``, of the whole tenant) from every
        table that has the ids' columns, in one transaction; returns rows deleted per table.

        The audit trail is kept. An erased user's token usage is folded into the
        ``~erased`` totals of its day and operation (a whole tenant's is deleted).
        """
        by_user = user is not None
        tables = (
            self.tables_with("tenant_id", "user_id")
            if by_user
            else [t for t in self.tables_with("tenant_id") if t != "lmt_audit"]
        )
        params = {"tenant": tenant, "user": user}
        counts: dict[str, int] = {}
        with _store_errors():
            with self._tx(tenant) as conn:
                if by_user:
                    conn.execute(compliance_sql.SQL_USAGE_TO_ERASED, params)
                for table in compliance_sql.ordered(tables):
                    cur = conn.execute(compliance_sql.delete_rows(table, user=by_user), params)
                    if cur.rowcount:
                        counts[table] = counts.get(table, 0) + cur.rowcount
        return counts

    def residue(self, tenant: str, user: str | None) -> dict[str, int]:
        """Rows left per table for the tenant (and user): the erasure's proof, empty when none."""
        by_user = user is not None
        tables = (
            self.tables_with("tenant_id", "user_id")
            if by_user
            else [t for t in self.tables_with("tenant_id") if t != "lmt_audit"]
        )
        if not tables:
            return {}
        rows = self._fetch(
            compliance_sql.count_rows(tables, user=by_user), {"tenant": tenant, "user": user}
        )
        return {str(t): int(n) for t, n in rows if n}

    def audit_begin(
        self, tenant: str, action: str, request_id: Any, *, dry_run: bool, details: Any
    ) -> int:
        rows = self._fetch(
            compliance_sql.SQL_AUDIT_BEGIN,
            {
                "tenant": tenant,
                "action": action,
                "request_id": request_id,
                "dry_run": dry_run,
                "details": Jsonb(details),
            },
        )
        return int(rows[0][0])

    def audit_finish(self, tenant: str, audit_id: int, status: str, details: Any) -> None:
        self._fetch(
            compliance_sql.SQL_AUDIT_FINISH,
            {"tenant": tenant, "audit_id": audit_id, "status": status, "details": Jsonb(details)},
        )

    def audit_entries(
        self, tenant: str, action: str | None = None, limit: int = 100
    ) -> list[tuple[Any, ...]]:
        return self._fetch(
            compliance_sql.SQL_AUDIT_LIST, {"tenant": tenant, "action": action, "limit": limit}
        )

    def retention_tenants(self) -> list[str]:
        return [
            str(r[0])
            for r in self._fetch(compliance_sql.SQL_RETENTION_TENANTS, None, all_tenants=True)
        ]

    def expired_count(
        self, tenant: str, cutoff: datetime, *, skip_anonymized: bool
    ) -> tuple[int, int]:
        """``(sessions, messages ever stored)`` unchanged since ``cutoff``."""
        rows = self._fetch(
            compliance_sql.SQL_EXPIRED_COUNT,
            {"tenant": tenant, "cutoff": cutoff, "skip_anonymized": skip_anonymized},
        )
        return (int(rows[0][0]), int(rows[0][1]))

    def expired_page(
        self,
        tenant: str,
        cutoff: datetime,
        *,
        skip_anonymized: bool,
        after: tuple[str, str] = ("", ""),
        limit: int = 100,
    ) -> list[tuple[SessionKey, int]]:
        """Sessions unchanged since ``cutoff`` after ``after`` in (user, session) order, with
        their message counts (keyset pages)."""
        rows = self._fetch(
            compliance_sql.SQL_EXPIRED_PAGE,
            {
                "tenant": tenant,
                "cutoff": cutoff,
                "skip_anonymized": skip_anonymized,
                "after_user": after[0],
                "after_session": after[1],
                "limit": limit,
            },
        )
        return [(SessionKey(tenant, str(u), str(s)), int(n)) for u, s, n in rows]

    def anonymize_session(
        self,
        key: SessionKey,
        cutoff: datetime,
        *,
        messages: Sequence[tuple[int, Any]],
        summaries: Sequence[tuple[int, str]],
        handovers: Sequence[tuple[int, str]],
        state: dict[str, Any],
    ) -> bool:
        """Rewrite a session's text (messages ``(seq, content)``, summaries,
        handover summaries, state) and mark it anonymized, in one transaction; its message and
        summary recall items are deleted (to be indexed again from the new text). False, and
        nothing changed, if the session changed since ``cutoff`` or is anonymized already."""
        params = _key_params(key)
        with _store_errors():
            with self._tx(key.tenant) as conn:
                cur = conn.execute(compliance_sql.SQL_LOCK_EXPIRED, {**params, "cutoff": cutoff})
                if cur.fetchone() is None:
                    return False
                with conn.cursor() as c:
                    if messages:
                        c.executemany(
                            compliance_sql.SQL_ANONYMIZE_MESSAGE,
                            [
                                {**params, "seq": seq, "content": self._seal_content(content)}
                                for seq, content in messages
                            ],
                        )
                    if summaries:
                        c.executemany(
                            compliance_sql.SQL_ANONYMIZE_SUMMARY,
                            [
                                {**params, "version": v, "text": self.seal_text(t)}
                                for v, t in summaries
                            ],
                        )
                    if handovers:
                        c.executemany(
                            compliance_sql.SQL_ANONYMIZE_HANDOVERS,
                            [{**params, "id": i, "text": self.seal_text(t)} for i, t in handovers],
                        )
                conn.execute(
                    compliance_sql.SQL_ANONYMIZE_SESSION,
                    {**params, "state": json_dumps(state).decode("utf-8")},
                )
        return True

    def reseal_page(
        self, table: str, after: tuple[Any, ...] | None, *, limit: int, encrypt_plaintext: bool
    ) -> tuple[tuple[Any, ...] | None, int, int]:
        """Re-encrypt one keyset page of a table's sealed column with the primary key (and
        seal plaintext when ``encrypt_plaintext``). Returns ``(next page's start or None,
        rows read, rows rewritten)``; each page is one transaction, so a run can be resumed."""
        cipher = _cipher(self.cipher)
        keys, _ = compliance_sql.SEALED_FIELDS[table]
        width = 1 + len(keys)
        if after is None:
            after = ("", "", *([""] if len(keys) == 3 else []), -1)
        params: dict[str, Any] = {f"k{i}": v for i, v in enumerate(after)}
        params["limit"] = limit
        rows = self._fetch(compliance_sql.sealed_page(table), params, all_tenants=True)
        updates: list[dict[str, Any]] = []
        for row in rows:
            new = self._resealed(table, row[width:], row[0], row[1], cipher, encrypt_plaintext)
            if new is not None:
                updates.append({**{f"k{i}": v for i, v in enumerate(row[:width])}, **new})
        if updates:
            statement = compliance_sql.sealed_update(table, fact_value=table == "lmt_facts")
            with _store_errors():
                with self._pool.connection() as conn, conn.transaction():
                    with conn.cursor() as cur:
                        cur.executemany(statement, updates)
        following = tuple(rows[-1][:width]) if len(rows) == limit else None
        return (following, len(rows), len(updates))

    def _resealed(
        self,
        table: str,
        values: Sequence[Any],
        tenant: str,
        user: str,
        cipher: FieldCipher,
        encrypt_plaintext: bool,
    ) -> dict[str, Any] | None:
        """The new column values of one row, or None if it is current."""
        if table == "lmt_messages":
            content = values[0]
            if isinstance(content, dict) and ENC in content:
                if not any((cipher.needs_rotation(v) for v in content.values())):
                    return None
                return {"v": _json_text({k: cipher.rotate(v) for k, v in content.items()})}
            return {"v": self._seal_content(content)} if encrypt_plaintext else None
        if table == "lmt_facts":
            enc, key, value = values
            if enc is None:
                if not encrypt_plaintext:
                    return None
                text = _json_text(value)
                enc_new = cipher.encrypt(text)
            else:
                text = cipher.decrypt(enc)
                enc_new = cipher.rotate(enc) if cipher.needs_rotation(enc) else enc
            digest = cipher.digest("\x00".join((tenant, user, key, text)))
            if enc_new == enc and isinstance(value, dict) and (value.get("$digest") == digest):
                return None
            return {"v": enc_new, "fv": _json_text({"$digest": digest})}
        text = values[0]
        if FieldCipher.is_encrypted(text):
            return {"v": cipher.rotate(text)} if cipher.needs_rotation(text) else None
        return {"v": cipher.encrypt(text)} if encrypt_plaintext else None

    def count_rows(self, table: str) -> int:
        """Rows of one of the package's tables (progress totals)."""
        if table not in compliance_sql.SEALED_FIELDS:
            raise ValueError(f"not a sealed table: {table}")
        rows = self._fetch(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)), None, all_tenants=True
        )
        return int(rows[0][0])

    def reset_recall_index(self) -> None:
        """Drop the recall items of messages, summaries and facts so that they are built
        again (from redacted text when encryption is on): ``backfill`` re-indexes them."""
        self._fetch(compliance_sql.SQL_RESET_INDEX, None, all_tenants=True)

    def begin_handover(self, key: SessionKey, operator: str) -> tuple[Any, ...] | None:
        """Open a handover from the session's last seq; None if one is open already."""
        params = {**_key_params(key), "operator": operator}
        try:
            rows = self._fetch(compliance_sql.SQL_BEGIN_HANDOVER, params)
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                return None
            raise
        return rows[0]

    def open_handover(self, key: SessionKey) -> tuple[tuple[Any, ...], int] | None:
        """The open handover's row and the session's last seq, or None."""
        rows = self._fetch(compliance_sql.SQL_OPEN_HANDOVER, _key_params(key))
        return (rows[0][:-1], int(rows[0][-1])) if rows else None

    def end_handover(
        self,
        key: SessionKey,
        handover_id: int,
        *,
        upto_seq: int,
        status: str,
        followup: bool,
        summary: str,
        tokens: int,
        summarizer: str,
    ) -> tuple[Any, ...] | None:
        """Close the open handover ``handover_id``; None if it was closed meanwhile."""
        params = {
            **_key_params(key),
            "id": handover_id,
            "upto": upto_seq,
            "status": status,
            "followup": followup,
            "summary": self.seal_text(summary),
            "tokens": tokens,
            "summarizer": summarizer,
        }
        rows = self._fetch(compliance_sql.SQL_END_HANDOVER, params)
        return self._open_handover(rows[0]) if rows else None

    def _open_handover(self, row: Sequence[Any]) -> tuple[Any, ...]:
        summary = row[8]
        return (*row[:8], summary if summary is None else self.open_text(summary), *row[9:])

    def handovers(self, key: SessionKey, limit: int = 100) -> list[tuple[Any, ...]]:
        """The session's handovers, newest first."""
        return self._fetch(compliance_sql.SQL_HANDOVERS, {**_key_params(key), "limit": limit})

    def ping(self) -> bool:
        try:
            self._fetch("SELECT 1", None, all_tenants=True)
            return True
        except StoreError:
            return False
