"""SQL of erasure, retention, the audit trail and handovers (no I/O here).

Erasure does not keep its own list of tables: it asks the catalog for every table of the
schema with ``tenant_id`` and ``user_id`` columns (the package's, and the integrations' that
live beside them), so a table added later cannot be forgotten by the erasure or by its proof.
"""

from __future__ import annotations

from psycopg import sql

__all__ = [
    "SQL_AUDIT_BEGIN",
    "SQL_AUDIT_FINISH",
    "SQL_AUDIT_LIST",
    "SQL_TABLES_WITH",
    "SQL_USAGE_TO_ERASED",
    "ERASED_ID",
    "count_rows",
    "delete_rows",
]

ERASED_ID = "~erased"
"""User and session id that an erased user's token-usage totals are folded into (billing keeps
its sums, without the person)."""

# Children before parents, so each table's own count is reported (the foreign keys cascade).
_ORDER = {"lmt_messages": 0, "lmt_summaries": 0, "lmt_handovers": 0, "lmt_sessions": 2}

SQL_TABLES_WITH = """
SELECT table_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name = ANY(%(columns)s)
GROUP BY table_name HAVING count(*) = cardinality(%(columns)s)
ORDER BY table_name
"""


def ordered(tables: list[str]) -> list[str]:
    """Tables in deletion order: children of ``lmt_sessions`` first, ``lmt_sessions`` last."""
    return sorted(tables, key=lambda t: (_ORDER.get(t, 1), t))


def _where(user: bool, session: bool = False) -> sql.Composable:
    parts = [sql.SQL("tenant_id = %(tenant)s")]
    if user:
        parts.append(sql.SQL("user_id = %(user)s"))
    if session:
        parts.append(sql.SQL("session_id = %(session)s"))
    return sql.SQL(" AND ").join(parts)


def delete_rows(table: str, *, user: bool, session: bool = False) -> sql.Composed:
    """``DELETE FROM <table> WHERE tenant_id = ... [AND user_id = ...] [AND session_id = ...]``."""
    return sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table), _where(user, session))


def count_rows(tables: list[str], *, user: bool) -> sql.Composed:
    """One query: ``(table, rows of the tenant [and user])`` for every table."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, count(*) FROM {} WHERE {}").format(
            sql.Literal(t), sql.Identifier(t), _where(user)
        )
        for t in tables
    )


SQL_USAGE_TO_ERASED = f"""
INSERT INTO lmt_token_usage AS u (tenant_id, day, operation, user_id, session_id, calls,
                                  input_tokens, output_tokens, saved_tokens)
SELECT tenant_id, day, operation, '{ERASED_ID}', '{ERASED_ID}', sum(calls), sum(input_tokens),
       sum(output_tokens), sum(saved_tokens)
FROM lmt_token_usage
WHERE tenant_id = %(tenant)s AND user_id = %(user)s
GROUP BY tenant_id, day, operation
ON CONFLICT (tenant_id, day, operation, user_id, session_id) DO UPDATE
SET calls = u.calls + excluded.calls, input_tokens = u.input_tokens + excluded.input_tokens,
    output_tokens = u.output_tokens + excluded.output_tokens,
    saved_tokens = u.saved_tokens + excluded.saved_tokens
"""

SQL_AUDIT_BEGIN = """
INSERT INTO lmt_audit (tenant_id, request_id, action, status, dry_run, details)
VALUES (%(tenant)s, %(request_id)s, %(action)s, 'running', %(dry_run)s, %(details)s)
RETURNING audit_id, started_at
"""

SQL_AUDIT_FINISH = """
UPDATE lmt_audit
SET status = %(status)s, details = %(details)s,
    finished_at = CASE WHEN %(status)s = 'running' THEN NULL ELSE now() END
WHERE tenant_id = %(tenant)s AND audit_id = %(audit_id)s
"""

SQL_AUDIT_LIST = """
SELECT audit_id, request_id, action, status, dry_run, details, started_at, finished_at
FROM lmt_audit
WHERE tenant_id = %(tenant)s AND (%(action)s::text IS NULL OR action = %(action)s)
ORDER BY audit_id DESC
LIMIT %(limit)s
"""

# -- handovers ------------------------------------------------------------------------------

HANDOVER_COLUMNS = (
    "handover_id, operator_id, started_at, from_seq, ended_at, upto_seq, resolution_status, "
    "requires_followup, summary, token_count, summarizer"
)

SQL_BEGIN_HANDOVER = f"""
WITH s AS (
    INSERT INTO lmt_sessions AS s (tenant_id, user_id, session_id)
    VALUES (%(t)s, %(u)s, %(s)s)
    ON CONFLICT (tenant_id, user_id, session_id) DO UPDATE SET updated_at = now()
    RETURNING last_seq
)
INSERT INTO lmt_handovers (tenant_id, user_id, session_id, operator_id, from_seq)
SELECT %(t)s, %(u)s, %(s)s, %(operator)s, s.last_seq FROM s
RETURNING {HANDOVER_COLUMNS}
"""

SQL_OPEN_HANDOVER = f"""
SELECT {HANDOVER_COLUMNS}, (SELECT last_seq FROM lmt_sessions
                            WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s)
FROM lmt_handovers
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s AND ended_at IS NULL
"""

SQL_END_HANDOVER = f"""
WITH h AS (
    UPDATE lmt_handovers
    SET ended_at = now(), upto_seq = %(upto)s, resolution_status = %(status)s,
        requires_followup = %(followup)s, summary = %(summary)s, token_count = %(tokens)s,
        summarizer = %(summarizer)s
    WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
      AND handover_id = %(id)s AND ended_at IS NULL
    RETURNING {HANDOVER_COLUMNS}
), touched AS (
    -- a composed context depends on the handover: its stamp reads updated_at
    UPDATE lmt_sessions SET updated_at = now()
    WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
      AND EXISTS (SELECT 1 FROM h)
)
SELECT * FROM h
"""

SQL_HANDOVERS = f"""
SELECT {HANDOVER_COLUMNS} FROM lmt_handovers
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
ORDER BY handover_id DESC
LIMIT %(limit)s
"""

# -- retention ----------------------------------------------------------------------------

SQL_RETENTION_TENANTS = "SELECT DISTINCT tenant_id FROM lmt_sessions ORDER BY tenant_id"

SQL_EXPIRED_COUNT = """
SELECT count(*), coalesce(sum(last_seq), 0)
FROM lmt_sessions
WHERE tenant_id = %(tenant)s AND updated_at < %(cutoff)s
  AND (%(skip_anonymized)s = false OR retention IS NULL)
"""

SQL_EXPIRED_PAGE = """
SELECT s.user_id, s.session_id,
       (SELECT count(*) FROM lmt_messages m
        WHERE m.tenant_id = s.tenant_id AND m.user_id = s.user_id AND m.session_id = s.session_id)
FROM lmt_sessions s
WHERE s.tenant_id = %(tenant)s AND s.updated_at < %(cutoff)s
  AND (%(skip_anonymized)s = false OR s.retention IS NULL)
  AND (s.user_id, s.session_id) > (%(after_user)s, %(after_session)s)
ORDER BY s.user_id, s.session_id
LIMIT %(limit)s
"""

SQL_LOCK_EXPIRED = """
SELECT 1 FROM lmt_sessions
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
  AND updated_at < %(cutoff)s AND retention IS NULL
FOR UPDATE
"""

SQL_ANONYMIZE_MESSAGE = """
UPDATE lmt_messages SET content = %(content)s::json
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s AND seq = %(seq)s
"""

SQL_ANONYMIZE_SUMMARY = """
UPDATE lmt_summaries SET text = %(text)s
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s AND version = %(version)s
"""

SQL_ANONYMIZE_HANDOVERS = """
UPDATE lmt_handovers SET summary = %(text)s
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s AND handover_id = %(id)s
"""

SQL_ANONYMIZE_SESSION = """
WITH items AS (
    DELETE FROM lmt_recall_items
    WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
      AND kind IN ('message', 'summary')
)
UPDATE lmt_sessions
SET state = %(state)s::jsonb, state_version = state_version + 1,
    summary_version = summary_version + 1, retention = 'anonymized', recall_upto_seq = 0
WHERE tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s
"""

# -- key rotation -------------------------------------------------------------------------

SEALED_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    # table: (primary-key columns after tenant_id, the sealed column)
    "lmt_messages": (("user_id", "session_id", "seq"), "content"),
    "lmt_summaries": (("user_id", "session_id", "version"), "text"),
    "lmt_handovers": (("user_id", "session_id", "handover_id"), "summary"),
    "lmt_facts": (("user_id", "fact_id"), "value_enc"),
}


def sealed_page(table: str) -> sql.Composed:
    """A keyset page of one table's sealed column: ``(key..., value[, value])``."""
    keys, column = SEALED_FIELDS[table]
    cols = [sql.Identifier("tenant_id"), *map(sql.Identifier, keys)]
    extra = sql.SQL(", key, value") if table == "lmt_facts" else sql.SQL("")
    return sql.SQL(
        "SELECT {cols}, {col}{extra} FROM {table} WHERE ({cols}) > ({marks}) "
        "{not_null} ORDER BY {cols} LIMIT %(limit)s"
    ).format(
        # a fact without ciphertext is sealed when encryption is switched on
        not_null=sql.SQL("" if table == "lmt_facts" else "AND {} IS NOT NULL").format(
            sql.Identifier(column)
        ),
        cols=sql.SQL(", ").join(cols),
        col=sql.Identifier(column),
        extra=extra,
        table=sql.Identifier(table),
        marks=sql.SQL(", ").join(sql.Placeholder(f"k{i}") for i in range(len(cols))),
    )


def sealed_update(table: str, *, fact_value: bool = False) -> sql.Composed:
    keys, column = SEALED_FIELDS[table]
    cols = ["tenant_id", *keys]
    sets: list[sql.Composable] = [sql.SQL("{} = %(v)s").format(sql.Identifier(column))]
    if table == "lmt_messages":
        sets = [sql.SQL("content = %(v)s::json")]
    if fact_value:
        sets.append(sql.SQL("value = %(fv)s::jsonb"))
    return sql.SQL("UPDATE {table} SET {sets} WHERE {where}").format(
        table=sql.Identifier(table),
        sets=sql.SQL(", ").join(sets),
        where=sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"k{i}"))
            for i, c in enumerate(cols)
        ),
    )


SQL_RESET_INDEX = """
WITH gone AS (
    DELETE FROM lmt_recall_items WHERE kind IN ('message', 'summary', 'fact')
)
UPDATE lmt_sessions SET recall_upto_seq = 0
"""
