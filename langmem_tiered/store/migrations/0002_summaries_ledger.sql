-- Running summaries (every version kept: originals and older summaries are never overwritten),
-- the summarization lease, and the token-usage ledger.

ALTER TABLE lmt_sessions
    ADD COLUMN summary_upto_seq    bigint      NOT NULL DEFAULT 0,
    ADD COLUMN summary_version     bigint      NOT NULL DEFAULT 0,
    ADD COLUMN summary_lease_until timestamptz,
    ADD COLUMN summary_lease_owner text;

CREATE TABLE lmt_summaries (
    tenant_id      text        NOT NULL,
    user_id        text        NOT NULL,
    session_id     text        NOT NULL,
    version        bigint      NOT NULL,
    from_seq       bigint      NOT NULL,
    upto_seq       bigint      NOT NULL,
    text           text        NOT NULL,
    token_count    integer     NOT NULL,
    covered_tokens bigint      NOT NULL,  -- tokens of every message folded so far (all versions)
    summarizer     text        NOT NULL,
    vertical       text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, session_id, version),
    FOREIGN KEY (tenant_id, user_id, session_id)
        REFERENCES lmt_sessions (tenant_id, user_id, session_id) ON DELETE CASCADE
);

-- Tokens spent (and saved) per tenant, day, operation and session. Rows are upserted with
-- increments, so concurrent writers add up instead of overwriting each other.
CREATE TABLE lmt_token_usage (
    tenant_id     text   NOT NULL,
    day           date   NOT NULL,
    operation     text   NOT NULL,
    user_id       text   NOT NULL,
    session_id    text   NOT NULL,
    calls         bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    saved_tokens  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, operation, user_id, session_id)
);
