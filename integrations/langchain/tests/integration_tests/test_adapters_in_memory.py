"""The adapters plugged into a real memory (Postgres + Redis), sync and async."""

from __future__ import annotations

import itertools
import json

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import GenericFakeChatModel
from langmem_tiered import AsyncTieredMemory, TieredMemory

from langchain_langmem_tiered import (
    LangChainEmbedder,
    LangChainFactExtractor,
    LangChainSummarizer,
    LangChainTokenizer,
)

SUMMARY = "Ana Souza booked orthodontics with Dr. Gustavo on Tuesday at 09:00."


def _turns(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append(
            {
                "role": "user",
                "content": f"Message {i}: I would like to talk about braces, "
                "prices, payment plans and the schedule of Dr. Gustavo next week.",
            }
        )
        out.append(
            {
                "role": "assistant",
                "content": f"Answer {i}: sure, orthodontics is on "
                "Tuesdays and Thursdays, and the first visit costs 200.",
            }
        )
    return out  # fmt: skip


def _options(memory_options: dict, **extra) -> dict:
    return {
        **memory_options,
        "buffer_tokens": 60,
        "min_fold_tokens": 40,
        "extract_facts": False,
        **extra,
    }


def _summarizer() -> LangChainSummarizer:
    return LangChainSummarizer(GenericFakeChatModel(messages=itertools.cycle([SUMMARY])))


def test_summarizer_folds_the_session(memory_options):
    mem = TieredMemory.connect(**_options(memory_options, summarizer=_summarizer()))
    try:
        s = mem.session("t1", "u1", "s1")
        s.add_messages(_turns(6))
        assert mem.flush(timeout=60)
        summary = s.summary()
        assert summary is not None and summary.text == SUMMARY
        assert summary.summarizer == "langchain:generic-fake-chat-model"
        assert SUMMARY in s.context(budget_tokens=2000).to_text()
    finally:
        mem.close()


async def test_summarizer_folds_the_session_async(memory_options):
    mem = await AsyncTieredMemory.connect(**_options(memory_options, summarizer=_summarizer()))
    try:
        s = mem.session("t1", "u1", "s1")
        await s.add_messages(_turns(6))
        assert await mem.flush(timeout=60)
        summary = await s.summary()
        assert summary is not None and summary.text == SUMMARY
    finally:
        await mem.close()


def _extractor() -> LangChainFactExtractor:
    answer = json.dumps(
        {
            "operations": [
                {
                    "op": "ADD", "key": "name", "value": "Ana Souza", "valid_at": None,
                    "confidence": 0.9, "source_seqs": [1], "evidence": "I am Ana Souza",
                }
            ]
        }
    )  # fmt: skip
    return LangChainFactExtractor(GenericFakeChatModel(messages=itertools.cycle([answer])))


def test_fact_extractor_writes_facts(memory_options):
    mem = TieredMemory.connect(**memory_options, extractor=_extractor(), summarize=False)
    try:
        s = mem.session("t1", "u1", "s1")
        s.add_message(role="user", content="Hi, I am Ana Souza")
        assert mem.flush(timeout=60)
        facts = mem.user("t1", "u1").facts()
        assert [(f.key, f.value) for f in facts] == [("name", "Ana Souza")]
        assert facts[0].created_by == "langchain:generic-fake-chat-model"
    finally:
        mem.close()


async def test_fact_extractor_writes_facts_async(memory_options):
    mem = await AsyncTieredMemory.connect(**memory_options, extractor=_extractor(), summarize=False)
    try:
        s = mem.session("t1", "u1", "s1")
        await s.add_message(role="user", content="Hi, I am Ana Souza")
        assert await mem.flush(timeout=60)
        facts = await mem.user("t1", "u1").facts()
        assert [(f.key, f.value) for f in facts] == [("name", "Ana Souza")]
    finally:
        await mem.close()


def test_embedder_gives_semantic_recall(memory_options):
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=32))
    mem = TieredMemory.connect(
        **memory_options, embedder=embedder, summarize=False, extract_facts=False
    )
    try:
        s = mem.session("t1", "u1", "s1")
        s.add_messages(_turns(3))
        assert mem.flush(timeout=60)
        status = mem.recall_status()
        assert status["embedder"] == "langchain:DeterministicFakeEmbedding:32"
        assert mem.stats()["items_embedded"] > 0
        hits = s.recall("braces and prices", k=3)
        assert hits and all(h.kind == "message" for h in hits)
    finally:
        mem.close()


async def test_embedder_gives_semantic_recall_async(memory_options):
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=32))
    mem = await AsyncTieredMemory.connect(
        **memory_options, embedder=embedder, summarize=False, extract_facts=False
    )
    try:
        s = mem.session("t1", "u1", "s1")
        await s.add_messages(_turns(3))
        assert await mem.flush(timeout=60)
        assert mem.stats()["items_embedded"] > 0
        assert await s.recall("braces and prices", k=3)
    finally:
        await mem.close()


def test_tokenizer_counts_stored_messages(memory_options):
    llm = GenericFakeChatModel(messages=iter([]), custom_get_token_ids=lambda t: t.split())
    tokenizer = LangChainTokenizer(llm, name="words")
    mem = TieredMemory.connect(**memory_options, tokenizer=tokenizer, summarize=False)
    other = TieredMemory.connect(**memory_options, summarize=False)
    try:
        stored = mem.session("t1", "u1", "s1").add_message(role="user", content="one two three")
        default = other.session("t1", "u1", "s2").add_message(role="user", content="one two three")
        # same framing overhead, but the words tokenizer says 3 for the text
        assert stored.token_count is not None and stored.token_count >= 3
        assert stored.token_count - 3 == default.token_count - other.tokenizer.count(
            "one two three"
        )
    finally:
        mem.close()
        other.close()
