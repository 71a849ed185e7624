-- Semantic recall (L3): messages, summary snapshots and facts as searchable items, each with a
-- full-text vector, an embedding (when an embedder is configured) and its provenance.

-- The embedding itself (a pgvector `halfvec` column and one partial HNSW index per dimension)
-- is added by the store when an embedder is first used (AsyncPostgresStore.ensure_vectors), so
-- a server without pgvector still gets full-text recall.
CREATE TABLE lmt_recall_items (
    tenant_id       text        NOT NULL,
    user_id         text        NOT NULL,
    item_id         bigint      GENERATED ALWAYS AS IDENTITY,
    kind            text        NOT NULL CHECK (kind IN ('message', 'summary', 'fact')),
    -- one item per source: 'm:<session>:<seq_from>', 's:<session>:<version>', 'f:<fact_id>'
    source_key      text        NOT NULL,
    session_id      text,                      -- NULL for a fact asserted outside any session
    seq_from        bigint,                    -- provenance: the source messages' seq range
    seq_to          bigint,
    fact_id         bigint,
    text            text        NOT NULL,
    token_count     integer     NOT NULL,
    ts_config       regconfig   NOT NULL,
    tsv             tsvector    NOT NULL,
    doc_len         integer     NOT NULL,      -- lexeme occurrences in tsv (BM25 length)
    embedding_dim   integer,
    embedding_model text,
    occurred_at     timestamptz NOT NULL,      -- when the source was said / became true
    indexed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, item_id),
    UNIQUE (tenant_id, user_id, source_key),
    CHECK ((embedding_dim IS NULL) = (embedding_model IS NULL))
);

-- Scope of a search (tenant + user + kinds) and its BM25 statistics, read index-only: every
-- column a scope predicate or the statistics use is in the index.
CREATE INDEX lmt_recall_scope ON lmt_recall_items (tenant_id, user_id, kind)
    INCLUDE (doc_len, session_id, occurred_at, seq_from);
-- Tenants and users are not independent columns: without this the planner multiplies their
-- selectivities and expects ~100 times fewer rows per user than there are.
CREATE STATISTICS lmt_recall_items_scope (ndistinct, dependencies)
    ON tenant_id, user_id FROM lmt_recall_items;
-- Full-text matches of one user: with btree_gin (a trusted contrib extension) one GIN index
-- answers "tenant, user and words" at once; without it, GIN on the words alone.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gin')
       OR EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gin') THEN
        CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;
        CREATE INDEX lmt_recall_tsv ON lmt_recall_items USING gin (tenant_id, user_id, tsv);
    ELSE
        CREATE INDEX lmt_recall_tsv ON lmt_recall_items USING gin (tsv);
    END IF;
END
$$;
-- Items waiting for (re-)embedding, found by backfill.
CREATE INDEX lmt_recall_unembedded ON lmt_recall_items (tenant_id, user_id, item_id)
    WHERE embedding_model IS NULL;

-- How far each session's messages have been turned into recall items.
ALTER TABLE lmt_sessions ADD COLUMN recall_upto_seq bigint NOT NULL DEFAULT 0;

-- Every embedding model that has written vectors here: a memory opened with another model
-- finds the older vectors stale (never compared with its queries) and backfill re-embeds them.
CREATE TABLE lmt_embedding_models (
    model_id   text        PRIMARY KEY,
    dimension  integer     NOT NULL,
    first_used timestamptz NOT NULL DEFAULT now(),
    last_used  timestamptz NOT NULL DEFAULT now()
);
