-- Temporal facts about a user (across sessions): every value with the interval it was true.

CREATE TABLE lmt_facts (
    tenant_id       text        NOT NULL,
    user_id         text        NOT NULL,
    fact_id         bigint      GENERATED ALWAYS AS IDENTITY,
    key             text        NOT NULL,
    value           jsonb       NOT NULL,
    value_hash      text        GENERATED ALWAYS AS (md5(value::text)) STORED,
    multi           boolean     NOT NULL DEFAULT false,
    valid_at        timestamptz NOT NULL,
    invalid_at      timestamptz,
    source_session  text,
    source_seq_from bigint,
    source_seq_to   bigint,
    confidence      real        NOT NULL DEFAULT 1.0 CHECK (confidence BETWEEN 0 AND 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL,
    PRIMARY KEY (tenant_id, user_id, fact_id),
    CHECK (invalid_at IS NULL OR invalid_at >= valid_at)
);

-- The current value of a single-valued key is one probe of this index, and two current
-- values for such a key are impossible. A multi-valued key may hold each value once.
CREATE UNIQUE INDEX lmt_facts_current_single ON lmt_facts (tenant_id, user_id, key)
    WHERE invalid_at IS NULL AND NOT multi;
CREATE UNIQUE INDEX lmt_facts_current_multi ON lmt_facts (tenant_id, user_id, key, value_hash)
    WHERE invalid_at IS NULL AND multi;
-- All current facts of a user: one range scan. Not on key, so that it never ties with
-- lmt_facts_current_single for the current value of one key.
CREATE INDEX lmt_facts_current ON lmt_facts (tenant_id, user_id) WHERE invalid_at IS NULL;
-- History and as_of queries.
CREATE INDEX lmt_facts_timeline ON lmt_facts (tenant_id, user_id, key, valid_at);

-- Bumped with every change to a user's facts: composed contexts are cached under it.
CREATE TABLE lmt_fact_versions (
    tenant_id text   NOT NULL,
    user_id   text   NOT NULL,
    version   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, user_id)
);

-- How far each session's messages have been read by the fact extractor.
ALTER TABLE lmt_sessions ADD COLUMN facts_upto_seq bigint NOT NULL DEFAULT 0;
