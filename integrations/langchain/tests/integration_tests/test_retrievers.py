"""TieredFactsRetriever and TieredRecallRetriever against real Postgres (and Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import RetrieversIntegrationTests
from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory

from langchain_langmem_tiered import (
    LangChainEmbedder,
    TieredFactsRetriever,
    TieredRecallRetriever,
)

TURNS = [
    ("user", "My dentist appointment is on Tuesday"),
    ("assistant", "Your dentist appointment is booked for Tuesday"),
    ("user", "My insurance is Unimed"),
    ("assistant", "Insurance Unimed noted"),
    ("user", "I am allergic to penicillin"),
    ("assistant", "Allergy to penicillin recorded"),
    ("user", "Can the dentist see me in the morning?"),
    ("assistant", "The dentist has morning slots"),
]


def _seed(memory: TieredMemory, session: str = "s1") -> None:
    memory.session("t1", "u1", session).add_messages([{"role": r, "content": c} for r, c in TURNS])
    memory.flush()


def _options(memory_options: dict[str, Any]) -> dict[str, Any]:
    return {
        **memory_options,
        "embedder": LangChainEmbedder(DeterministicFakeEmbedding(size=32)),
        "summarize": False,
        "extract_facts": False,
    }


def test_facts_retriever_current_and_as_of(memory):
    u = memory.user("t1", "u1")
    past = datetime.now(timezone.utc) - timedelta(days=30)
    u.remember("preferred_times", "morning", valid_at=past - timedelta(days=30))
    u.remember("preferred_times", "afternoon")
    u.remember("insurance", "Unimed")
    memory.flush()
    r = TieredFactsRetriever(memory=memory, tenant="t1", user="u1", k=5)
    docs = r.invoke("insurance")
    assert docs and docs[0].page_content == "insurance: Unimed"
    meta = docs[0].metadata
    assert meta["key"] == "insurance" and meta["value"] == "Unimed"
    assert meta["invalid_at"] is None and meta["valid_at"] and meta["fact_id"]
    assert {"source_session", "seqs"} <= set(meta)
    assert "preferred_times: afternoon" in [d.page_content for d in r.invoke("preferred times")]
    then = TieredFactsRetriever(memory=memory, tenant="t1", user="u1", as_of=past)
    old = [d.page_content for d in then.invoke("")]
    assert old == ["preferred_times: morning"]
    assert len(r.invoke("", k=1)) == 1


async def test_facts_retriever_async(amemory, memory):
    amemory_user = amemory.user("t1", "u1")
    await amemory_user.remember("insurance", "Unimed")
    await amemory.flush()
    r = TieredFactsRetriever(memory=amemory, tenant="t1", user="u1")
    docs = await r.ainvoke("insurance")
    assert docs[0].page_content == "insurance: Unimed"
    with pytest.raises(ConfigurationError):
        r.invoke("insurance")
    threaded = TieredFactsRetriever(memory=memory, tenant="t1", user="u1")
    assert (await threaded.ainvoke("insurance"))[0].page_content == "insurance: Unimed"


def test_recall_retriever_lexical_and_provenance(memory):
    _seed(memory)
    r = TieredRecallRetriever(memory=memory, tenant="t1", user="u1", k=2)
    docs = r.invoke("penicillin allergy")
    assert 1 <= len(docs) <= 2 and all(isinstance(d, Document) for d in docs)
    assert "penicillin" in docs[0].page_content
    meta = docs[0].metadata
    assert meta["session"] == "s1" and meta["seqs"] and meta["kind"] == "message"
    assert isinstance(meta["score"], float) and len(meta["message_ids"]) == len(meta["seqs"])
    with pytest.raises(ConfigurationError):
        TieredRecallRetriever(memory=memory, tenant="t1", user="u1", scope="session")


def test_recall_retriever_session_scope(memory):
    _seed(memory, "s1")
    memory.session("t1", "u1", "s2").add_messages(
        [{"role": "user", "content": "penicillin question again"}]
    )
    memory.flush()
    everywhere = TieredRecallRetriever(memory=memory, tenant="t1", user="u1", k=10)
    assert {d.metadata["session"] for d in everywhere.invoke("penicillin")} == {"s1", "s2"}
    one = TieredRecallRetriever(
        memory=memory, tenant="t1", user="u1", k=10, scope="session", session="s2"
    )
    assert {d.metadata["session"] for d in one.invoke("penicillin")} == {"s2"}


async def test_recall_retriever_semantic_async(memory_options):
    sync = TieredMemory.connect(**_options(memory_options))
    try:
        _seed(sync)
    finally:
        sync.close()
    amem = await AsyncTieredMemory.connect(**_options(memory_options))
    try:
        r = TieredRecallRetriever(
            memory=amem, tenant="t1", user="u1", k=3, mode="vector", merge=False
        )
        docs = await r.ainvoke("dentist")
        assert len(docs) == 3 and all(d.metadata["kind"] == "message" for d in docs)
    finally:
        await amem.close()


class TestRecallRetrieverStandard(RetrieversIntegrationTests):
    """langchain-tests' standard retriever suite, over seeded conversations."""

    @pytest.fixture(autouse=True)
    def _memory(self, memory_options: dict[str, Any]) -> Iterator[None]:
        mem = TieredMemory.connect(**_options(memory_options))
        _seed(mem, "s1")
        _seed(mem, "s2")
        self._mem = mem
        yield
        mem.close()

    @property
    def retriever_constructor(self) -> type[TieredRecallRetriever]:
        return TieredRecallRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        # merge off: each indexed span is one hit, so k hits exist for any k <= 3
        return {"memory": self._mem, "tenant": "t1", "user": "u1", "merge": False}

    @property
    def retriever_query_example(self) -> str:
        return "dentist appointment"
