-- Sessions and messages: the durable record of every conversation.
-- Every primary key starts with tenant_id so the schema distributes by tenant (Citus) unchanged.

CREATE TABLE lmt_sessions (
    tenant_id      text        NOT NULL,
    user_id        text        NOT NULL,
    session_id     text        NOT NULL,
    last_seq       bigint      NOT NULL DEFAULT 0,
    state          jsonb       NOT NULL DEFAULT '{}',
    state_version  bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, session_id)
);

-- content, tool_calls and metadata are `json`, not `jsonb`: json keeps the client's text
-- verbatim (key order, number spelling), which is what "metadata kept verbatim" promises.
CREATE TABLE lmt_messages (
    tenant_id     text        NOT NULL,
    user_id       text        NOT NULL,
    session_id    text        NOT NULL,
    seq           bigint      NOT NULL,
    message_id    text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool', 'operator')),
    content       json        NOT NULL,
    name          text,
    tool_calls    json        NOT NULL DEFAULT '[]',
    tool_call_id  text,
    metadata      json        NOT NULL DEFAULT '{}',
    token_count   integer,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, session_id, seq),
    UNIQUE (tenant_id, user_id, session_id, message_id),
    FOREIGN KEY (tenant_id, user_id, session_id)
        REFERENCES lmt_sessions (tenant_id, user_id, session_id) ON DELETE CASCADE
);

-- Append a batch of messages to one session in one round trip.
--
-- The upsert of the session row takes its row lock, so concurrent writers to one session
-- queue here and each sees the last_seq its predecessor committed: seqs are gap-free and
-- strictly increasing. Messages whose id is already stored are not inserted again (a
-- retried append is idempotent) and are returned with their original seq. Each statement
-- of a VOLATILE plpgsql function takes a fresh snapshot, so after the lock is granted the
-- existence check sees what the previous writer committed.
CREATE FUNCTION lmt_append(p_tenant text, p_user text, p_session text, p_msgs json)
RETURNS TABLE (message_id text, seq bigint, created_at timestamptz, inserted boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_last bigint;
    v_new  bigint;
BEGIN
    INSERT INTO lmt_sessions AS s (tenant_id, user_id, session_id)
    VALUES (p_tenant, p_user, p_session)
    ON CONFLICT (tenant_id, user_id, session_id) DO UPDATE SET updated_at = now()
    RETURNING s.last_seq INTO v_last;

    WITH input AS (
        SELECT e.value AS m, e.ord
        FROM json_array_elements(p_msgs) WITH ORDINALITY AS e(value, ord)
    ), fresh AS (
        SELECT i.m, row_number() OVER (ORDER BY i.ord) AS rn
        FROM input i
        WHERE NOT EXISTS (
            SELECT 1 FROM lmt_messages x
            WHERE x.tenant_id = p_tenant AND x.user_id = p_user AND x.session_id = p_session
              AND x.message_id = i.m ->> 'id')
    ), ins AS (
        INSERT INTO lmt_messages (tenant_id, user_id, session_id, seq, message_id, role, content,
                                  name, tool_calls, tool_call_id, metadata, token_count, created_at)
        SELECT p_tenant, p_user, p_session, v_last + f.rn, f.m ->> 'id', f.m ->> 'role',
               f.m -> 'content', f.m ->> 'name', coalesce(f.m -> 'tool_calls', '[]'::json),
               f.m ->> 'tool_call_id', coalesce(f.m -> 'metadata', '{}'::json),
               (f.m ->> 'token_count')::integer,
               coalesce((f.m ->> 'created_at')::timestamptz, now())
        FROM fresh f
        RETURNING 1
    )
    SELECT count(*) INTO v_new FROM ins;

    IF v_new > 0 THEN
        UPDATE lmt_sessions SET last_seq = v_last + v_new, updated_at = now()
        WHERE tenant_id = p_tenant AND user_id = p_user AND session_id = p_session;
    END IF;

    RETURN QUERY
    SELECT x.message_id, x.seq, x.created_at, x.seq > v_last
    FROM json_array_elements(p_msgs) WITH ORDINALITY AS e(value, ord)
    JOIN lmt_messages x
      ON x.tenant_id = p_tenant AND x.user_id = p_user AND x.session_id = p_session
     AND x.message_id = e.value ->> 'id'
    ORDER BY e.ord;
END
$$;
