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
-- strictly increasing. It optimistically reserves one seq per message. Each message is then
-- inserted with ON CONFLICT DO NOTHING on (tenant, user, session, message_id), an index probe
-- whatever the session's length; a message whose id is already stored (a retried append) is
-- not inserted again, takes no seq, and is returned with its original seq. Only in that case
-- is last_seq corrected by a second write to the session row.
CREATE FUNCTION lmt_append(
    p_tenant text, p_user text, p_session text,
    p_ids text[], p_roles text[], p_contents json[], p_names text[], p_tool_calls json[],
    p_tool_call_ids text[], p_metadata json[], p_token_counts integer[], p_created_at timestamptz[])
RETURNS TABLE (message_id text, seq bigint, created_at timestamptz, inserted boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_count   bigint := cardinality(p_ids);
    v_last    bigint;
    v_seq     bigint;
    v_created timestamptz;
BEGIN
    INSERT INTO lmt_sessions AS s (tenant_id, user_id, session_id, last_seq)
    VALUES (p_tenant, p_user, p_session, v_count)
    ON CONFLICT (tenant_id, user_id, session_id)
    DO UPDATE SET last_seq = s.last_seq + v_count, updated_at = now()
    RETURNING s.last_seq - v_count INTO v_last;
    v_seq := v_last;

    FOR i IN 1 .. v_count LOOP
        INSERT INTO lmt_messages (tenant_id, user_id, session_id, seq, message_id, role, content,
                                  name, tool_calls, tool_call_id, metadata, token_count, created_at)
        VALUES (p_tenant, p_user, p_session, v_seq + 1, p_ids[i], p_roles[i], p_contents[i],
                p_names[i], p_tool_calls[i], p_tool_call_ids[i], p_metadata[i],
                p_token_counts[i], p_created_at[i])
        ON CONFLICT (tenant_id, user_id, session_id, message_id) DO NOTHING
        RETURNING created_at INTO v_created;
        message_id := p_ids[i];
        IF FOUND THEN
            v_seq := v_seq + 1;
            seq := v_seq;
            created_at := v_created;
            inserted := true;
        ELSE
            SELECT x.seq, x.created_at INTO seq, created_at
            FROM lmt_messages x
            WHERE x.tenant_id = p_tenant AND x.user_id = p_user AND x.session_id = p_session
              AND x.message_id = p_ids[i];
            inserted := false;
        END IF;
        RETURN NEXT;
    END LOOP;

    IF v_seq <> v_last + v_count THEN
        UPDATE lmt_sessions SET last_seq = v_seq
        WHERE tenant_id = p_tenant AND user_id = p_user AND session_id = p_session;
    END IF;
END
$$;
