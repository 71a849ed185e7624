-- Long-term memories written by key (an agent's LangGraph store, user.put_memory) are recall
-- items too: kind 'memory', source_key 'k:<key>', no session and no source messages.
ALTER TABLE lmt_recall_items DROP CONSTRAINT lmt_recall_items_kind_check;
ALTER TABLE lmt_recall_items ADD CONSTRAINT lmt_recall_items_kind_check
    CHECK (kind IN ('message', 'summary', 'fact', 'memory'));
