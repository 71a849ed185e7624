"""Facts and recall retrievers, with provenance in node metadata."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import ContextChatEngine
from llama_index.core.llms import MockLLM

from llama_index.memory.langmem_tiered import (
    TieredFactsRetriever,
    TieredRecallRetriever,
)


async def test_facts_retriever_as_of(
    make_memory: Any, fields: dict[str, Any], aclients: None
) -> None:
    memory = make_memory(session="r-1")
    session = memory._session()
    past = datetime.now(timezone.utc) - timedelta(days=10)
    session.remember("city", "Porto", valid_at=past)
    session.remember("city", "Lisbon")
    nodes = TieredFactsRetriever(session="r-1", **fields).retrieve("which city?")
    assert [n.node.get_content() for n in nodes] == ["city: Lisbon"]
    assert nodes[0].node.metadata["valid_at"] and nodes[0].node.metadata["invalid_at"] is None
    old = TieredFactsRetriever(session="r-1", as_of=past + timedelta(days=1), **fields)
    got = await old.aretrieve("city")
    assert [n.node.get_content() for n in got] == ["city: Porto"]
    assert got[0].node.metadata["invalid_at"] is not None
    engine = ContextChatEngine.from_defaults(
        retriever=TieredFactsRetriever(session="r-1", **fields), llm=MockLLM(max_tokens=3)
    )
    response = engine.chat("where is my city?")
    assert response.source_nodes[0].node.metadata["key"] == "city"


def test_recall_retriever(make_memory: Any, fields: dict[str, Any]) -> None:
    memory = make_memory(session="r-2")
    memory.put_messages(
        [
            ChatMessage(role="user", content="My dog Rex loves the beach at Cascais."),
            ChatMessage(role="assistant", content="Rex sounds like a happy dog."),
        ]
        + [ChatMessage(role="user", content=f"unrelated talk {i}") for i in range(6)]
    )
    memory._sync_memory().flush(30)
    nodes = TieredRecallRetriever(session="r-2", **fields).retrieve("beach dog")
    assert nodes and "Rex" in nodes[0].node.get_content()
    meta = nodes[0].node.metadata
    assert meta["session"] == "r-2" and meta["seqs"] and meta["source_ids"]
