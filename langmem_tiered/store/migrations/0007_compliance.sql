-- Compliance: an audit trail of erasures, retention runs and key rotations (no personal data:
-- no user or session ids, no text; a request id the caller can file), human handovers, the
-- retention state of a session, and the ciphertext columns of encryption at rest.
CREATE TABLE lmt_audit (
    tenant_id   text        NOT NULL,
    audit_id    bigint      GENERATED ALWAYS AS IDENTITY,
    request_id  uuid        NOT NULL,
    action      text        NOT NULL
        CHECK (action IN ('erase_user', 'erase_tenant', 'retention', 'rotate_keys')),
    status      text        NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    dry_run     boolean     NOT NULL DEFAULT false,
    details     jsonb       NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, audit_id)
);
CREATE INDEX lmt_audit_request ON lmt_audit (tenant_id, request_id);

-- 'anonymized': retention rewrote the session's text; later runs leave it alone.
ALTER TABLE lmt_sessions ADD COLUMN retention text CHECK (retention IN ('anonymized'));
CREATE INDEX lmt_sessions_age ON lmt_sessions (tenant_id, updated_at);

-- One row per handover to a human operator; at most one open per session.
CREATE TABLE lmt_handovers (
    tenant_id         text        NOT NULL,
    user_id           text        NOT NULL,
    session_id        text        NOT NULL,
    handover_id       bigint      GENERATED ALWAYS AS IDENTITY,
    operator_id       text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    from_seq          bigint      NOT NULL,  -- messages after this seq belong to the handover
    ended_at          timestamptz,
    upto_seq          bigint,
    resolution_status text,
    requires_followup boolean,
    summary           text,
    token_count       integer,
    summarizer        text,
    PRIMARY KEY (tenant_id, user_id, session_id, handover_id),
    FOREIGN KEY (tenant_id, user_id, session_id)
        REFERENCES lmt_sessions (tenant_id, user_id, session_id) ON DELETE CASCADE,
    CHECK ((ended_at IS NULL) = (resolution_status IS NULL))
);
CREATE UNIQUE INDEX lmt_handovers_open ON lmt_handovers (tenant_id, user_id, session_id)
    WHERE ended_at IS NULL;

-- Encryption at rest: a fact's value then holds a keyed digest (so equality and the uniqueness
-- of current values still work) and value_enc its ciphertext. Message content is sealed in
-- place ({"$enc": ...}), summaries and handover summaries as 'lmt1:' text.
ALTER TABLE lmt_facts ADD COLUMN value_enc text;
