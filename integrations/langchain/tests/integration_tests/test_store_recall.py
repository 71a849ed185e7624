"""TieredStore search through the memory's recall tier: with the memory's own embedder (the
default), store items are recall items of kind "memory", ranked by hybrid recall, and recalled
into the session's composed context; deletes and TTL sweeps remove them there too."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langmem_tiered import AsyncTieredMemory, InvalidInputError, TieredMemory

from langchain_langmem_tiered import LangChainEmbedder
from langchain_langmem_tiered.store import TieredStore

DOCS = {
    "tea": "the user drinks green tea every morning",
    "bike": "the user rides a bicycle to work",
    "cat": "the user has a cat named Miso",
}


def _options(memory_options: dict[str, Any]) -> dict[str, Any]:
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=16), dimension=16)
    return {**memory_options, "embedder": embedder, "redis_url": None}


@pytest.fixture
def hot() -> str:
    return "inprocess"


@pytest.fixture
def rmemory(memory_options: dict[str, Any]) -> Iterator[TieredMemory]:
    with TieredMemory.connect(**_options(memory_options)) as m:
        yield m


@pytest.fixture
async def armemory(memory_options: dict[str, Any]) -> AsyncIterator[AsyncTieredMemory]:
    m = await AsyncTieredMemory.connect(**_options(memory_options))
    yield m
    await m.close()


def _memory_items(postgres_url: str, schema: str) -> list[str]:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            f"SELECT source_key FROM {schema}.lmt_recall_items WHERE kind = 'memory' "
            "ORDER BY source_key"
        ).fetchall()
    return [r[0] for r in rows]


def test_search_ranks_by_recall_and_context_recalls_it(
    rmemory: TieredMemory, postgres_url: str, schema: str
) -> None:
    store = TieredStore(rmemory, index={"fields": ["text"]})
    for key, text in DOCS.items():
        store.put(("clinic", "ana", "prefs"), key, {"text": text, "n": len(key)})
    store.put(("clinic", "bob", "prefs"), "tea", {"text": DOCS["tea"]})
    for key, text in DOCS.items():
        hits = store.search(("clinic", "ana"), query=text, limit=2)
        assert hits[0].key == key and hits[0].namespace == ("clinic", "ana", "prefs")
        assert hits[0].score is not None and hits[0].score > 0
        assert hits[0].value == {"text": text, "n": len(key)}
    # another user's identical item never comes back; prefix and filter still apply
    assert {h.key for h in store.search(("clinic", "ana"), query=DOCS["tea"])} <= set(DOCS)
    assert store.search(("clinic", "ana", "other"), query=DOCS["tea"]) == []
    assert [h.key for h in store.search(("clinic", "ana"), query="tea", filter={"n": 4})] == [
        "bike"
    ]
    # what the agent stored is long-term memory of the user: recall and context see it
    hits = rmemory.user("clinic", "ana").recall("green tea morning", kinds=("memory",), k=1)
    assert hits[0].key == '["prefs", "tea"]'
    s = rmemory.session("clinic", "ana", "chat-1")
    s.add_message(role="user", content="what do I drink in the morning?")
    assert "green tea" in s.context(query="drink green tea morning", budget_tokens=2000).to_text()
    # updates and deletes reach the recall tier
    store.put(("clinic", "ana", "prefs"), "tea", {"text": "the user now drinks coffee"})
    assert "coffee" in store.search(("clinic", "ana"), query="coffee", limit=1)[0].value["text"]
    store.delete(("clinic", "ana", "prefs"), "bike")
    store.put(("clinic", "ana", "prefs"), "cat", {"text": DOCS["cat"]}, index=False)
    # left: ana's tea and bob's tea (each user's own item)
    assert _memory_items(postgres_url, schema) == ['k:["prefs", "tea"]'] * 2


def test_ttl_sweep_forgets_in_recall(rmemory: TieredMemory, postgres_url: str, schema: str) -> None:
    store = TieredStore(rmemory)
    store.put(("t", "u", "n"), "short", {"text": "expires soon"}, ttl=0.01)
    store.put(("t", "u", "n"), "long", {"text": "stays a while"})
    time.sleep(1.0)
    assert store.sweep_ttl() == 1
    assert _memory_items(postgres_url, schema) == ['k:["n", "long"]']


def test_refused_memory_stores_nothing(rmemory: TieredMemory) -> None:
    store = TieredStore(rmemory)
    with pytest.raises(InvalidInputError):
        store.put(("t", "u", "n"), "k" * 2000, {"text": "a key too long for recall"})
    assert store.get(("t", "u", "n"), "k" * 2000) is None


async def test_async_search_through_recall(armemory: AsyncTieredMemory) -> None:
    store = TieredStore(armemory, index={"fields": ["text"]})
    for key, text in DOCS.items():
        await store.aput(("t", "u", "facts"), key, {"text": text})
    for key, text in DOCS.items():
        hits = await store.asearch(("t", "u"), query=text, limit=1)
        assert [h.key for h in hits] == [key]
    await store.adelete(("t", "u", "facts"), "cat")
    assert [h.key for h in await store.asearch(("t", "u"), query=DOCS["cat"])] != ["cat"]
