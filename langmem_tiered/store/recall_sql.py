"""SQL of semantic recall (no I/O): indexing items, embeddings, and the hybrid search.

The hybrid search is one statement:

* **scope**: exact column predicates on tenant and user (and session, kinds, time range) —
  never a prefix or LIKE pattern, so ``john_doe`` never matches ``john-doe`` or ``john%``;
* **full-text ranking**: BM25 (k1 1.2, b 0.75) computed from the items' ``tsvector`` — term
  frequencies from the lexemes' positions, document frequency and average length over the
  scope — for the query's terms OR-ed (``websearch_to_tsquery`` with ``or``);
* **vector ranking**: cosine kNN through the dimension's HNSW index on ``halfvec``; the
  connection runs with ``hnsw.iterative_scan = relaxed_order`` (pgvector 0.8), so a selective
  scope still fills the candidate list, and candidates are re-sorted by exact distance;
* **fusion**: reciprocal rank, ``w / (rrf_k + rank)`` per ranking, plus an optional recency
  ranking over the fused candidates;
* **provenance**: the source messages (seq, id, role, time, metadata) of each returned item.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = [
    "SQL_ADD_ITEMS",
    "SQL_RECALL_PROGRESS",
    "hnsw_index_sql",
    "search_sql",
]

_PK = "tenant_id = %(t)s AND user_id = %(u)s AND session_id = %(s)s"

SQL_RECALL_PROGRESS = f"SELECT recall_upto_seq, last_seq FROM lmt_sessions WHERE {_PK}"
SQL_ADVANCE = (
    f"UPDATE lmt_sessions SET recall_upto_seq = %(new)s WHERE {_PK} AND recall_upto_seq = %(old)s"
)

# One row per draft; tsvector and BM25 length computed here, embeddings optional.
SQL_ADD_ITEMS = """
INSERT INTO lmt_recall_items (tenant_id, user_id, kind, source_key, session_id, seq_from,
                              seq_to, fact_id, text, token_count, ts_config, tsv, doc_len,
                              occurred_at)
SELECT %(t)s, %(u)s, d.kind, d.source_key, d.session_id, d.seq_from, d.seq_to, d.fact_id, d.text,
       d.token_count, d.cfg::regconfig, v.tsv,
       (SELECT coalesce(sum(coalesce(cardinality(x.positions), 1)), 0) FROM unnest(v.tsv) x),
       d.occurred_at
FROM unnest(%(kinds)s::text[], %(keys)s::text[], %(sessions)s::text[], %(froms)s::bigint[],
            %(tos)s::bigint[], %(facts)s::bigint[], %(texts)s::text[], %(tokens)s::integer[],
            %(cfgs)s::text[], %(times)s::timestamptz[], %(search)s::text[])
     AS d(kind, source_key, session_id, seq_from, seq_to, fact_id, text, token_count, cfg,
          occurred_at, search_text)
CROSS JOIN LATERAL (SELECT to_tsvector(d.cfg::regconfig, coalesce(d.search_text, d.text)) AS tsv) v
ON CONFLICT (tenant_id, user_id, source_key) DO NOTHING
RETURNING item_id, text
"""

SQL_DELETE_ITEMS = """
DELETE FROM lmt_recall_items
WHERE tenant_id = %(t)s AND user_id = %(u)s AND source_key = ANY(%(keys)s::text[])
"""

SQL_SET_EMBEDDINGS = """
UPDATE lmt_recall_items i
SET embedding = e.vec::halfvec, embedding_dim = %(dim)s, embedding_model = %(model)s
FROM unnest(%(ts)s::text[], %(us)s::text[], %(ids)s::bigint[], %(vecs)s::text[])
     AS e(tenant_id, user_id, item_id, vec)
WHERE i.tenant_id = e.tenant_id AND i.user_id = e.user_id AND i.item_id = e.item_id
"""

# Items without a vector of the current model, oldest first (backfill / re-embedding).
SQL_STALE_ITEMS = """
SELECT tenant_id, user_id, item_id, text FROM lmt_recall_items
WHERE (embedding_model IS NULL OR embedding_model <> %(model)s)
  AND (%(t)s::text IS NULL OR tenant_id = %(t)s)
  AND (tenant_id, user_id, item_id) > (%(after_t)s, %(after_u)s, %(after_id)s)
ORDER BY tenant_id, user_id, item_id
LIMIT %(limit)s
"""

SQL_COUNT_STALE = """
SELECT count(*) FROM lmt_recall_items
WHERE (embedding_model IS NULL OR embedding_model <> %(model)s)
  AND (%(t)s::text IS NULL OR tenant_id = %(t)s)
"""

SQL_MODELS = """
SELECT coalesce(embedding_model, ''), count(*) FROM lmt_recall_items
WHERE (%(t)s::text IS NULL OR tenant_id = %(t)s)
GROUP BY 1 ORDER BY 1
"""

# Sessions whose messages or summaries are not all turned into items yet.
SQL_BEHIND_SESSIONS = """
SELECT s.tenant_id, s.user_id, s.session_id FROM lmt_sessions s
WHERE (%(t)s::text IS NULL OR s.tenant_id = %(t)s)
  AND (s.recall_upto_seq < s.last_seq
       OR EXISTS (SELECT 1 FROM lmt_summaries sm
                  WHERE sm.tenant_id = s.tenant_id AND sm.user_id = s.user_id
                    AND sm.session_id = s.session_id
                    AND NOT EXISTS (
                        SELECT 1 FROM lmt_recall_items i
                        WHERE i.tenant_id = sm.tenant_id AND i.user_id = sm.user_id
                          AND i.source_key = 's:' || sm.session_id || ':' || sm.version)))
ORDER BY s.tenant_id, s.user_id, s.session_id
"""

SQL_USERS_UNINDEXED_FACTS = """
SELECT DISTINCT f.tenant_id, f.user_id FROM lmt_facts f
WHERE (%(t)s::text IS NULL OR f.tenant_id = %(t)s)
  AND NOT EXISTS (SELECT 1 FROM lmt_recall_items i
                  WHERE i.tenant_id = f.tenant_id AND i.user_id = f.user_id
                    AND i.source_key = 'f:' || f.fact_id)
ORDER BY 1, 2
"""

SQL_REGISTER_MODEL = """
WITH mine AS (
    INSERT INTO lmt_embedding_models (model_id, dimension) VALUES (%(model)s, %(dim)s)
    ON CONFLICT (model_id) DO UPDATE SET last_used = now()
)
SELECT model_id FROM lmt_embedding_models WHERE model_id <> %(model)s
  AND EXISTS (SELECT 1 FROM lmt_recall_items i WHERE i.embedding_model = model_id LIMIT 1)
ORDER BY model_id
"""

# Changes whenever an item of the user is added or removed (composed-context cache stamp).
SQL_RECALL_VERSION = """
SELECT coalesce(max(item_id), 0), count(*) FROM lmt_recall_items
WHERE tenant_id = %(t)s AND user_id = %(u)s
"""

SQL_UNINDEXED_SUMMARIES = f"""
SELECT version, from_seq, upto_seq, text, token_count, covered_tokens, summarizer, vertical,
       created_at
FROM lmt_summaries sm
WHERE sm.{_PK.replace(" AND ", " AND sm.")}
  AND NOT EXISTS (SELECT 1 FROM lmt_recall_items i
                  WHERE i.tenant_id = sm.tenant_id AND i.user_id = sm.user_id
                    AND i.source_key = 's:' || sm.session_id || ':' || sm.version)
ORDER BY version
"""

SQL_UNINDEXED_FACTS = """
SELECT f.fact_id, f.key, f.value, f.valid_at, f.invalid_at, f.source_session, f.source_seq_from,
       f.source_seq_to, f.confidence, f.created_at, f.created_by, f.value_enc
FROM lmt_facts f
WHERE f.tenant_id = %(t)s AND f.user_id = %(u)s
  AND NOT EXISTS (SELECT 1 FROM lmt_recall_items i
                  WHERE i.tenant_id = f.tenant_id AND i.user_id = f.user_id
                    AND i.source_key = 'f:' || f.fact_id)
ORDER BY f.fact_id
LIMIT 500
"""


SQL_DELETE_SESSION_ITEMS = f"DELETE FROM lmt_recall_items WHERE {_PK}"

SQL_VECTOR_SUPPORT = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'),
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')
"""


HNSW_INLINE_MAX_ROWS = 200_000
"""Above this many recall items, the HNSW index of a new dimension is not built in the request
path that first needs it (minutes at a million rows) but by ``backfill()``, concurrently."""

COVERING_MAX_DIM = 1000
"""Up to this dimension a user's vectors are also kept in a covering B-tree (tenant, user),
so the exact per-user kNN reads them index-only, in order, instead of one heap page per item
(a B-tree entry holds at most ~2.7 kB: a 1,536-d halfvec would not fit)."""

SQL_ITEM_ESTIMATE = (
    "SELECT reltuples::bigint FROM pg_class WHERE oid = 'lmt_recall_items'::regclass"
)


def covering_index_sql(dim: int) -> str:
    """The covering B-tree that makes the exact per-user kNN an index-only scan."""
    dim = int(dim)
    return (
        f"CREATE INDEX IF NOT EXISTS lmt_recall_vectors_{dim} ON lmt_recall_items "
        f"(tenant_id, user_id, kind) INCLUDE (item_id, session_id, occurred_at, seq_from, "
        f"embedding_model, embedding) WHERE embedding_dim = {dim}"
    )


def hnsw_index_name(dim: int) -> str:
    return f"lmt_recall_hnsw_{int(dim)}"


def hnsw_index_sql(dim: int, *, concurrently: bool = False) -> str:
    """The partial HNSW index (cosine, on ``halfvec``) for vectors of dimension ``dim``."""
    dim = int(dim)
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS lmt_recall_hnsw_{dim} ON lmt_recall_items "
        f"USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) "
        f"WHERE embedding_dim = {dim}"
    )


def _scope(alias: str, *, session: bool, since: bool, until: bool, exclude: bool) -> str:
    a = alias + "."
    parts = [
        f"{a}tenant_id = %(t)s",
        f"{a}user_id = %(u)s",
        f"{a}kind = ANY(%(kinds)s)",
    ]
    if session:
        parts.append(f"{a}session_id = %(s)s")
    if since:
        parts.append(f"{a}occurred_at >= %(since)s")
    if until:
        parts.append(f"{a}occurred_at < %(until)s")
    if exclude:
        # what a composed context of the session shows already: spans wholly inside its
        # verbatim part, and its own running summary
        parts.append(
            f"NOT ({a}session_id = %(xs)s AND ({a}kind = 'summary' "
            f"OR ({a}kind = 'message' AND {a}seq_from > %(xa)s)))"
        )
    return " AND ".join(parts)


@lru_cache(maxsize=256)  # a few dozen shapes: build each statement once
def search_sql(
    *,
    dim: int | None,
    lexical: bool,
    configs: int = 1,
    session: bool,
    since: bool,
    until: bool,
    exclude: bool,
    recency: bool,
    part: str = "all",
) -> str:
    """The hybrid search statement for the parts in use.

    ``part="all"`` is the whole search in one statement. For a hybrid search on a large scope
    the two rankings are better run side by side on two connections: ``part="vector"`` returns
    ``(item_id, vector_rank, distance)``, ``part="text"`` returns ``(item_id, text_rank)``, and
    ``part="fuse"`` takes the candidates as arrays (``ids``, ``vrs``, ``trs``, ``dists``) and
    returns what ``"all"`` returns.

    Parameters it takes: ``t``, ``u``, ``kinds`` (text[]), ``s``, ``since``, ``until``,
    ``xs``/``xa`` (exclude the session's items after that seq), ``cfg0``.. (the ``configs``
    text-search configurations to parse the query with), ``terms``/``content_terms`` (the
    query's words / its words that are no stopword, joined by `` or ``), ``words`` /
    ``content_words`` (the same joined by spaces),
    ``q`` (query vector text), ``model``, ``n`` (candidates per ranking), ``rrf_k``, ``wv``,
    ``wt``, ``wr``, ``k``. Returns rows ``(item_id, kind, session_id, seq_from, seq_to, fact_id,
    text, token_count, occurred_at, ts_config, score, vector_rank, text_rank, similarity,
    scope_n, invalid_at, sources json)`` (``scope_n``: items in the scope, when the full-text
    side ran, for choosing the plan of the next search; ``invalid_at``: when a fact item's fact
    stopped being true); a source is ``[seq, id, role, created_at,
    metadata, name, content, tool_calls]``.
    """
    if part == "fuse":
        return "WITH " + _fused(
            "SELECT * FROM unnest(%(ids)s::bigint[], %(vrs)s::bigint[], %(trs)s::bigint[], "
            "%(dists)s::float8[]) AS c(item_id, vr, tr, dist)",
            recency,
            "NULL::bigint",
        )
    if dim is None and not lexical:
        raise ValueError("a search needs the vector side, the full-text side, or both")
    scope = _scope("i", session=session, since=since, until=until, exclude=exclude)
    ctes: list[str] = []
    ranked: list[str] = []
    if dim is not None:
        d = int(dim)
        ctes.append(
            f"""vec AS MATERIALIZED (
    SELECT i.item_id, i.embedding::halfvec({d}) <=> %(q)s::halfvec({d}) AS dist
    FROM lmt_recall_items i
    WHERE {scope} AND i.embedding_dim = {d} AND i.embedding_model = %(model)s
    ORDER BY i.embedding::halfvec({d}) <=> %(q)s::halfvec({d})
    LIMIT %(n)s
),
vec_ranked AS (
    SELECT item_id, row_number() OVER (ORDER BY dist, item_id) AS vr, NULL::bigint AS tr, dist
    FROM vec
)"""
        )
        ranked.append("SELECT item_id, vr, tr, dist FROM vec_ranked")
    if lexical:
        cfgs = [f"%(cfg{i})s::regconfig" for i in range(configs)]
        words_tsv = " || ".join(
            [f"to_tsvector({c}, %(words)s)" for c in cfgs]
            + ["to_tsvector('simple', %(content_words)s)"]
        )
        tsq = " || ".join(
            [f"websearch_to_tsquery({c}, %(terms)s)" for c in cfgs]
            + ["websearch_to_tsquery('simple', %(content_terms)s)"]
        )
        ctes.append(
            f"""query AS (
    SELECT q.tsq,
           (SELECT coalesce(array_agg(DISTINCT x.lexeme), '{{}}')
            FROM unnest({words_tsv}) x) AS lexemes
    FROM (SELECT {tsq} AS tsq) q
),
stats AS (
    SELECT greatest(count(*), 1)::float8 AS n, greatest(avg(i.doc_len), 1)::float8 AS avgdl
    FROM lmt_recall_items i WHERE {scope}
),
hits AS (
    SELECT i.item_id, i.doc_len, x.lexeme, coalesce(cardinality(x.positions), 1)::float8 AS tf
    FROM query, lmt_recall_items i, unnest(i.tsv) x
    WHERE {scope} AND i.tsv @@ query.tsq AND x.lexeme = ANY(query.lexemes)
),
df AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme),
text_ranked AS (
    SELECT hits.item_id, NULL::bigint AS vr,
           row_number() OVER (
               ORDER BY sum(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5))
                            * hits.tf * 2.2
                            / (hits.tf + 1.2 * (0.25 + 0.75 * hits.doc_len / stats.avgdl)))
                        DESC, hits.item_id) AS tr
    FROM hits JOIN df USING (lexeme) CROSS JOIN stats
    GROUP BY hits.item_id
    ORDER BY tr
    LIMIT %(n)s
)"""
        )
        ranked.append("SELECT item_id, vr, tr, NULL::float8 AS dist FROM text_ranked")
    with_ = ",\n".join(ctes)
    if part == "vector":
        return f"WITH {with_}\nSELECT item_id, vr, dist FROM vec_ranked ORDER BY vr"
    if part == "text":
        return (
            f"WITH {with_}\nSELECT item_id, tr, (SELECT n FROM stats)::bigint AS scope_n "
            "FROM text_ranked ORDER BY tr"
        )
    union = " UNION ALL ".join(ranked)
    return f"WITH {with_},\n" + _fused(
        f"SELECT item_id, min(vr) AS vr, min(tr) AS tr, min(dist) AS dist "
        f"FROM ({union}) r GROUP BY item_id",
        recency,
        "(SELECT n FROM stats)::bigint" if lexical else "NULL::bigint",
    )


def _fused(candidates: str, recency: bool, scope_n: str) -> str:
    """Fusion of the candidates' ranks, their rows and their source messages."""
    recency_term = (
        "+ %(wr)s / (%(rrf_k)s + row_number() OVER (ORDER BY i.occurred_at DESC, i.item_id))"
        if recency
        else ""
    )
    return f"""candidates AS ({candidates}),
fused AS (
    SELECT i.item_id, i.kind, i.session_id, i.seq_from, i.seq_to, i.fact_id, i.text,
           i.token_count, i.occurred_at, i.ts_config::text AS ts_config,
           coalesce(%(wv)s / (%(rrf_k)s + c.vr), 0) + coalesce(%(wt)s / (%(rrf_k)s + c.tr), 0)
           {recency_term} AS score,
           c.vr, c.tr, 1 - c.dist AS similarity, i.source_key
    FROM candidates c
    -- one primary-key probe per candidate (never a scan of the user's items)
    CROSS JOIN LATERAL (
        SELECT * FROM lmt_recall_items x
        WHERE x.tenant_id = %(t)s AND x.user_id = %(u)s AND x.item_id = c.item_id
    ) i
    ORDER BY score DESC, i.item_id
    LIMIT %(k)s
)
SELECT f.*, {scope_n} AS scope_n, (
    -- a fact item says what was true from its valid_at; when it no longer is, say until when
    SELECT fa.invalid_at FROM lmt_facts fa
    WHERE f.kind = 'fact' AND fa.tenant_id = %(t)s AND fa.user_id = %(u)s
      AND fa.fact_id = f.fact_id
) AS invalid_at, (
    SELECT json_agg(json_build_array(m.seq, m.message_id, m.role, m.created_at, m.metadata,
                                     m.name, m.content, m.tool_calls)
                    ORDER BY m.seq)
    FROM lmt_messages m
    WHERE m.tenant_id = %(t)s AND m.user_id = %(u)s AND m.session_id = f.session_id
      AND m.seq BETWEEN f.seq_from AND f.seq_to AND m.role <> 'system'
) AS sources
FROM fused f
ORDER BY f.score DESC, f.item_id"""
