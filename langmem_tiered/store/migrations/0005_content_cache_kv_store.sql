-- Content cache (seed 001): generated content kept by key for a TTL, Redis in front.
-- One row per (tenant, namespace, digest of the key or payload). Rows past expires_at are
-- never returned and are removed by gc.
CREATE TABLE lmt_content_cache (
    tenant_id   text        NOT NULL,
    namespace   text        NOT NULL,
    digest      text        NOT NULL,            -- sha256 hex of the key (or canonical payload)
    key_text    text,                            -- the key as given (NULL for a payload)
    value       jsonb       NOT NULL,
    tokens      integer     NOT NULL DEFAULT 0,  -- what a hit saves generating
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    hits        bigint      NOT NULL DEFAULT 0,  -- hits served from Postgres (not the hot tier)
    last_hit_at timestamptz,
    PRIMARY KEY (tenant_id, namespace, digest)
);
CREATE INDEX lmt_content_cache_expires ON lmt_content_cache (tenant_id, expires_at)
    WHERE expires_at IS NOT NULL;

-- The LangChain integration's LLM cache kept its rows in lmt_llm_cache (created on first use,
-- before this migration), keyed by a hash of (model, prompt) without the prompt: they cannot be
-- re-keyed into the content cache, and a cache entry is regenerated on a miss, so it goes.
DROP TABLE IF EXISTS lmt_llm_cache;

-- Key-value items of the LangGraph BaseStore of the LangChain integration: namespaces are
-- (tenant, user, *path), tenant and user are columns compared with = only. IF NOT EXISTS:
-- the integration created this table itself before this migration.
CREATE TABLE IF NOT EXISTS lmt_lg_store (
    tenant_id   text        NOT NULL,
    user_id     text        NOT NULL,
    namespace   text[]      NOT NULL,
    key         text        NOT NULL,
    value       jsonb       NOT NULL,
    search_text text        NOT NULL DEFAULT '',
    tsv         tsvector    NOT NULL DEFAULT ''::tsvector,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    ttl_minutes double precision,
    expires_at  timestamptz,
    PRIMARY KEY (tenant_id, user_id, namespace, key)
);
CREATE INDEX IF NOT EXISTS lmt_lg_store_expires ON lmt_lg_store (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS lmt_lg_store_tsv ON lmt_lg_store USING gin (tsv);
