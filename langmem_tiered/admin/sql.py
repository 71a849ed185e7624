"""SQL of the admin operations (no I/O here): listings, export pages, import and delete.

Every statement takes the tenant as an exact ``tenant_id = %(t)s`` predicate (and the user and
session the same way): no id is ever part of a pattern. Pages are keyset pages, ``(key) >
(last key seen)`` in primary-key order, so a page costs the same wherever it starts.

A few columns exist only in schemas that have them (the ciphertext columns of encryption at
rest, the retention mark): :data:`OPTIONAL_COLUMNS` lists them and the statements that touch
them are composed with the ones the schema has (:func:`export_sql`, :func:`import_sql`).
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = [
    "OPTIONAL_COLUMNS",
    "SQL_COLUMNS",
    "SQL_LIST_SESSIONS",
    "SQL_LIST_TENANTS",
    "SQL_LIST_USERS",
    "export_sql",
    "import_sql",
]

PAGE = 500
"""Rows per export page (and per import batch)."""

_PK = "tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s"
_LIVE = "(expires_at IS NULL OR expires_at > now())"

OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "lmt_sessions": ("retention",),
    "lmt_messages": ("content_enc",),
    "lmt_summaries": ("text_enc",),
    "lmt_facts": ("value_enc",),
}
"""Columns the export carries when the schema has them."""

SQL_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name = ANY(%(columns)s)
"""

# -- listings ----------------------------------------------------------------------------

SQL_LIST_TENANTS = f"""
WITH sessions AS (
    SELECT tenant_id, count(*) AS n, max(updated_at) AS last_active FROM lmt_sessions
    GROUP BY tenant_id
), messages AS (
    SELECT tenant_id, count(*) AS n FROM lmt_messages GROUP BY tenant_id
), facts AS (
    SELECT tenant_id, count(*) AS n FROM lmt_facts GROUP BY tenant_id
), memories AS (
    SELECT tenant_id, count(*) AS n FROM lmt_recall_items WHERE kind = 'memory'
    GROUP BY tenant_id
), cache AS (
    SELECT tenant_id, count(*) AS n FROM lmt_content_cache WHERE {_LIVE} GROUP BY tenant_id
), users AS (
    SELECT tenant_id, count(*) AS n FROM (
        SELECT tenant_id, user_id FROM lmt_sessions
        UNION SELECT tenant_id, user_id FROM lmt_facts
        UNION SELECT tenant_id, user_id FROM lmt_recall_items WHERE kind = 'memory'
    ) u GROUP BY tenant_id
), tenants AS (
    SELECT tenant_id FROM users UNION SELECT tenant_id FROM cache
)
SELECT t.tenant_id, coalesce(u.n, 0), coalesce(s.n, 0), coalesce(m.n, 0), coalesce(f.n, 0),
       coalesce(r.n, 0), coalesce(c.n, 0), s.last_active
FROM tenants t
LEFT JOIN users u USING (tenant_id)
LEFT JOIN sessions s USING (tenant_id)
LEFT JOIN messages m USING (tenant_id)
LEFT JOIN facts f USING (tenant_id)
LEFT JOIN memories r USING (tenant_id)
LEFT JOIN cache c USING (tenant_id)
ORDER BY t.tenant_id
"""

# One page of users (of sessions, facts or memories), then their figures by index range scans.
SQL_LIST_USERS = """
WITH page AS (
    SELECT user_id FROM (
        SELECT user_id FROM lmt_sessions WHERE tenant_id = %(t)s AND user_id > %(after)s
        UNION SELECT user_id FROM lmt_facts WHERE tenant_id = %(t)s AND user_id > %(after)s
        UNION SELECT user_id FROM lmt_recall_items
              WHERE tenant_id = %(t)s AND kind = 'memory' AND user_id > %(after)s
    ) u ORDER BY user_id LIMIT %(limit)s
)
SELECT p.user_id,
       (SELECT count(*) FROM lmt_sessions WHERE tenant_id = %(t)s AND user_id = p.user_id),
       (SELECT count(*) FROM lmt_messages WHERE tenant_id = %(t)s AND user_id = p.user_id),
       (SELECT count(*) FROM lmt_facts
        WHERE tenant_id = %(t)s AND user_id = p.user_id AND invalid_at IS NULL),
       (SELECT count(*) FROM lmt_facts WHERE tenant_id = %(t)s AND user_id = p.user_id),
       (SELECT count(*) FROM lmt_recall_items
        WHERE tenant_id = %(t)s AND user_id = p.user_id AND kind = 'memory'),
       (SELECT max(updated_at) FROM lmt_sessions WHERE tenant_id = %(t)s AND user_id = p.user_id)
FROM page p ORDER BY p.user_id
"""

_SESSION_INFO = """
SELECT s.user_id, s.session_id, coalesce(m.n, 0), s.last_seq, m.first_at, m.last_at,
       s.created_at, s.updated_at, s.summary_version, s.state_version
FROM lmt_sessions s
LEFT JOIN LATERAL (
    SELECT count(*) AS n, min(created_at) AS first_at, max(created_at) AS last_at
    FROM lmt_messages x
    WHERE x.tenant_id = s.tenant_id AND x.user_id = s.user_id AND x.session_id = s.session_id
) m ON true
"""
SQL_LIST_SESSIONS = (
    _SESSION_INFO + "WHERE s.tenant_id = %(t)s AND (s.user_id, s.session_id) > (%(au)s, %(as)s) "
    "ORDER BY s.user_id, s.session_id LIMIT %(limit)s"
)
SQL_LIST_USER_SESSIONS = (
    _SESSION_INFO + "WHERE s.tenant_id = %(t)s AND s.user_id = %(u)s AND s.session_id > %(as)s "
    "ORDER BY s.session_id LIMIT %(limit)s"
)
SQL_SESSION_INFO = (
    _SESSION_INFO + "WHERE s.tenant_id = %(t)s AND s.user_id = %(u)s AND s.session_id = %(s)s"
)

# -- delete ------------------------------------------------------------------------------

# One statement, one snapshot: the counts are read before the rows go. Messages, summaries and
# handovers go with the session row (ON DELETE CASCADE); facts are the user's and stay.
SQL_DELETE_SESSION = f"""
WITH target AS (
    -- locked, so an append racing a retention run waits and then finds the session gone;
    -- %(before)s: only if the session has not changed since (retention)
    SELECT 1 FROM lmt_sessions
    WHERE {_PK} AND (%(before)s::timestamptz IS NULL OR updated_at < %(before)s)
    FOR UPDATE
), counts AS (
    SELECT (SELECT count(*) FROM lmt_messages WHERE {_PK}) AS messages,
           (SELECT count(*) FROM lmt_summaries WHERE {_PK}) AS summaries
), items AS (
    DELETE FROM lmt_recall_items
    WHERE {_PK} AND kind IN ('message', 'summary') AND EXISTS (SELECT 1 FROM target)
    RETURNING 1
), gone AS (
    DELETE FROM lmt_sessions WHERE {_PK} AND EXISTS (SELECT 1 FROM target) RETURNING 1
)
SELECT (SELECT count(*) FROM gone),
       CASE WHEN EXISTS (SELECT 1 FROM target) THEN c.messages ELSE 0 END,
       CASE WHEN EXISTS (SELECT 1 FROM target) THEN c.summaries ELSE 0 END,
       (SELECT count(*) FROM items)
FROM counts c
"""

# -- export ------------------------------------------------------------------------------

_SCOPES = {
    # table: (key columns in page order, scope predicates by scope kind)
    "sessions": ("lmt_sessions", ("user_id", "session_id")),
    "messages": ("lmt_messages", ("user_id", "session_id", "seq")),
    "summaries": ("lmt_summaries", ("user_id", "session_id", "version")),
    "facts": ("lmt_facts", ("user_id", "fact_id")),
    "memories": ("lmt_recall_items", ("user_id", "source_key")),
    "cache": ("lmt_content_cache", ("namespace", "digest")),
}

_SELECT = {
    "sessions": (
        "state, state_version, last_seq, summary_upto_seq, summary_version, facts_upto_seq, "
        "created_at, updated_at"
    ),
    "messages": (
        "message_id, role, content, name, tool_calls, tool_call_id, metadata, token_count, "
        "created_at"
    ),
    "summaries": (
        "from_seq, upto_seq, text, token_count, covered_tokens, summarizer, vertical, created_at"
    ),
    "facts": (
        "key, value, multi, valid_at, invalid_at, source_session, source_seq_from, "
        "source_seq_to, confidence, created_at, created_by"
    ),
    "memories": "text, occurred_at",
    "cache": "key_text, value, tokens, created_at, expires_at",
}
STAGES: tuple[str, ...] = tuple(_SCOPES)
"""Export sections, in file order."""


def _scope_where(stage: str, user: bool, session: bool) -> str:
    parts = ["tenant_id = %(t)s"]
    if stage == "cache":
        return parts[0] + f" AND {_LIVE}"
    if user:
        parts.append("user_id = %(u)s")
    if session:
        parts.append("source_session = %(s)s" if stage == "facts" else "session_id = %(s)s")
    if stage == "memories":
        parts.append("kind = 'memory'")
    return " AND ".join(parts)


def export_sql(
    stage: str, *, user: bool, session: bool, optional: Collection[str] = ()
) -> tuple[str, str, int]:
    """``(count statement, page statement, key width)`` of one export section.

    The page statement returns the key columns first, then the section's columns (then the
    ``optional`` ones, in the order given); it takes ``t``, ``u``, ``s``, ``after`` (the last
    key, as a row) and ``limit``.
    """
    table, keys = _SCOPES[stage]
    where = _scope_where(stage, user, session)
    key_list = ", ".join(keys)
    columns = _SELECT[stage]
    extra = "".join(", " + c for c in optional)
    count = f"SELECT count(*) FROM {table} WHERE {where}"
    marks = ", ".join(f"%(k{i})s" for i in range(len(keys)))
    page = (
        f"SELECT {key_list}, {columns}{extra} FROM {table} "
        f"WHERE {where} AND ({key_list}) > ({marks}) ORDER BY {key_list} LIMIT %(limit)s"
    )
    return count, page, len(keys)


# -- import ------------------------------------------------------------------------------

_INSERT_SESSIONS = """
INSERT INTO lmt_sessions (tenant_id, user_id, session_id, state, state_version, last_seq,
                          summary_upto_seq, summary_version, facts_upto_seq, created_at,
                          updated_at{extra})
SELECT %(t)s, d.u, d.s, d.state, d.sv, d.last, d.sup, d.sver, d.fup, d.created, d.updated{dx}
FROM unnest(%(us)s::text[], %(ss)s::text[], %(states)s::jsonb[], %(svs)s::bigint[],
            %(lasts)s::bigint[], %(sups)s::bigint[], %(svers)s::bigint[], %(fups)s::bigint[],
            %(createds)s::timestamptz[], %(updateds)s::timestamptz[]{ax})
     AS d(u, s, state, sv, last, sup, sver, fup, created, updated{dn})
ON CONFLICT (tenant_id, user_id, session_id) DO NOTHING
RETURNING user_id, session_id
"""
_INSERT_MESSAGES = """
INSERT INTO lmt_messages (tenant_id, user_id, session_id, seq, message_id, role, content, name,
                          tool_calls, tool_call_id, metadata, token_count, created_at{extra})
SELECT %(t)s, d.u, d.s, d.seq, d.id, d.role, d.content, d.name, d.calls, d.call_id, d.meta,
       d.tokens, d.created{dx}
FROM unnest(%(us)s::text[], %(ss)s::text[], %(seqs)s::bigint[], %(ids)s::text[],
            %(roles)s::text[], %(contents)s::json[], %(names)s::text[], %(calls)s::json[],
            %(call_ids)s::text[], %(metas)s::json[], %(tokens)s::integer[],
            %(createds)s::timestamptz[]{ax})
     AS d(u, s, seq, id, role, content, name, calls, call_id, meta, tokens, created{dn})
ON CONFLICT DO NOTHING
RETURNING 1
"""
# Every imported (seq, id) must now be stored as such: a slot taken by another message, or an
# id stored at another seq, is a conflict.
SQL_MESSAGES_MATCH = """
SELECT count(*) FROM unnest(%(us)s::text[], %(ss)s::text[], %(seqs)s::bigint[], %(ids)s::text[])
     AS d(u, s, seq, id)
JOIN lmt_messages m ON m.tenant_id = %(t)s AND m.user_id = d.u AND m.session_id = d.s
                   AND m.seq = d.seq AND m.message_id = d.id
"""
_INSERT_SUMMARIES = """
INSERT INTO lmt_summaries (tenant_id, user_id, session_id, version, from_seq, upto_seq, text,
                           token_count, covered_tokens, summarizer, vertical, created_at{extra})
SELECT %(t)s, d.u, d.s, d.version, d.from_seq, d.upto_seq, d.text, d.tokens, d.covered,
       d.summarizer, d.vertical, d.created{dx}
FROM unnest(%(us)s::text[], %(ss)s::text[], %(versions)s::bigint[], %(froms)s::bigint[],
            %(uptos)s::bigint[], %(texts)s::text[], %(tokens)s::integer[],
            %(covereds)s::bigint[], %(summarizers)s::text[], %(verticals)s::text[],
            %(createds)s::timestamptz[]{ax})
     AS d(u, s, version, from_seq, upto_seq, text, tokens, covered, summarizer, vertical,
          created{dn})
ON CONFLICT DO NOTHING
RETURNING 1
"""
# A fact version is the same version when everything it says is the same; such a one is not
# inserted twice. Rows keep the file's order, so fact ids (not exported) keep it too.
_INSERT_FACTS = """
INSERT INTO lmt_facts (tenant_id, user_id, key, value, multi, valid_at, invalid_at,
                       source_session, source_seq_from, source_seq_to, confidence, created_at,
                       created_by{extra})
SELECT %(t)s, d.u, d.key, d.value, d.multi, d.valid_at, d.invalid_at, d.session, d.seq_from,
       d.seq_to, d.confidence, d.created, d.created_by{dx}
FROM unnest(%(us)s::text[], %(keys)s::text[], %(values)s::jsonb[], %(multis)s::boolean[],
            %(valids)s::timestamptz[], %(invalids)s::timestamptz[], %(sessions)s::text[],
            %(froms)s::bigint[], %(tos)s::bigint[], %(confidences)s::real[],
            %(createds)s::timestamptz[], %(bys)s::text[]{ax})
     WITH ORDINALITY AS d(u, key, value, multi, valid_at, invalid_at, session, seq_from, seq_to,
                          confidence, created, created_by{dn}, n)
WHERE NOT EXISTS (
    SELECT 1 FROM lmt_facts f
    WHERE f.tenant_id = %(t)s AND f.user_id = d.u AND f.key = d.key AND f.value = d.value
      AND f.multi = d.multi AND f.valid_at = d.valid_at
      AND f.invalid_at IS NOT DISTINCT FROM d.invalid_at AND f.created_at = d.created
)
ORDER BY d.n
RETURNING user_id
"""
SQL_BUMP_FACT_VERSIONS = """
INSERT INTO lmt_fact_versions AS v (tenant_id, user_id, version)
SELECT %(t)s, u, 1 FROM unnest(%(us)s::text[]) AS u
ON CONFLICT (tenant_id, user_id) DO UPDATE SET version = v.version + 1
"""
SQL_INSERT_CACHE = """
INSERT INTO lmt_content_cache (tenant_id, namespace, digest, key_text, value, tokens, created_at,
                               expires_at)
SELECT %(t)s, d.ns, d.digest, d.key_text, d.value, d.tokens, d.created, d.expires
FROM unnest(%(nss)s::text[], %(digests)s::text[], %(key_texts)s::text[], %(values)s::jsonb[],
            %(tokens)s::integer[], %(createds)s::timestamptz[], %(expires)s::timestamptz[])
     AS d(ns, digest, key_text, value, tokens, created, expires)
ON CONFLICT DO NOTHING
RETURNING 1
"""
# Sessions that were there before the import may now hold later messages.
SQL_RAISE_LAST_SEQ = """
UPDATE lmt_sessions s SET last_seq = m.top, updated_at = now()
FROM (SELECT d.u, d.s, (SELECT max(seq) FROM lmt_messages x
                        WHERE x.tenant_id = %(t)s AND x.user_id = d.u AND x.session_id = d.s)
      FROM unnest(%(us)s::text[], %(ss)s::text[]) AS d(u, s)) AS m(u, s, top)
WHERE s.tenant_id = %(t)s AND s.user_id = m.u AND s.session_id = m.s AND s.last_seq < m.top
"""

_TYPES = {
    "retention": "text",
    "content_enc": "text",
    "text_enc": "text",
    "value_enc": "text",
}
_INSERTS = {
    "sessions": ("lmt_sessions", _INSERT_SESSIONS),
    "messages": ("lmt_messages", _INSERT_MESSAGES),
    "summaries": ("lmt_summaries", _INSERT_SUMMARIES),
    "facts": ("lmt_facts", _INSERT_FACTS),
}


def import_sql(stage: str, optional: Collection[str] = ()) -> str:
    """The batch insert of one section, with the ``optional`` columns the schema has (their
    arrays are the parameters named like the columns)."""
    _, template = _INSERTS[stage]
    cols = list(optional)
    return template.format(
        extra="".join(", " + c for c in cols),
        dx="".join(f", d.{c}" for c in cols),
        ax="".join(f", %({c})s::{_TYPES[c]}[]" for c in cols),
        dn="".join(", " + c for c in cols),
    )
