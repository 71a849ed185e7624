"""Long-term memories written by key (user.put_memory): recall items of kind "memory"."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from langmem_tiered import AsyncTieredMemory, InvalidInputError, TieredMemory


def _count(postgres_url: str, schema: str) -> int:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {schema}.lmt_recall_items WHERE kind = 'memory'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_put_recall_replace_delete(memory: TieredMemory, postgres_url: str, schema: str) -> None:
    u = memory.user("clinic-1", "ana")
    u.put_memory("pets", "Ana has a cat called Mingau who is allergic to chicken")
    u.put_memories({"insurance": "Ana's health insurance is Unimed", "noise": "likes blue"})
    hits = u.recall("cat allergy", kinds=("memory",), k=3)
    assert hits[0].kind == "memory" and hits[0].key == "pets"
    assert hits[0].provenance["key"] == "pets" and hits[0].session is None
    u.put_memory("pets", "Ana's dog Rex eats only fish")  # replaces the key's text
    assert _count(postgres_url, schema) == 3
    hits = u.recall("dog", kinds=("memory",), k=3)
    assert [h.key for h in hits] == ["pets"] and "Rex" in hits[0].text
    assert u.recall("Mingau", kinds=("memory",)) == []
    u.delete_memories(["pets", "absent"])
    assert _count(postgres_url, schema) == 2
    # memories are in the default kinds, so the composed context recalls them
    s = memory.session("clinic-1", "ana", "chat-1")
    s.add_message(role="user", content="Which insurance do I have?")
    bundle = s.context(query="insurance", budget_tokens=2000)
    assert "Unimed" in bundle.to_text()


def test_isolation_between_users_and_tenants(memory: TieredMemory) -> None:
    memory.user("t", "john_doe").put_memory("k", "secret plan alpha")
    for tenant, user in (("t", "john-doe"), ("t", "john%"), ("t2", "john_doe"), ("t%", "john_doe")):
        assert memory.user(tenant, user).recall("secret plan alpha", kinds=("memory",)) == []


@pytest.mark.parametrize(
    "memories",
    [
        {"": "text"},
        {"k": ""},
        {"k": "   "},
        {"k": "nul\x00"},
        {"k\x00": "text"},
        {"k" * 1025: "text"},
        {"ok": "fine", "bad": 3},
    ],
)
def test_bad_input_writes_nothing(
    memory: TieredMemory, postgres_url: str, schema: str, memories: dict[str, Any]
) -> None:
    u = memory.user("t", "u")
    u.put_memory("kept", "this stays")
    with pytest.raises(InvalidInputError):
        u.put_memories(memories)
    assert _count(postgres_url, schema) == 1
    with pytest.raises(InvalidInputError):
        u.delete_memories("kept")
    assert _count(postgres_url, schema) == 1


async def test_async_twin(amemory: AsyncTieredMemory) -> None:
    u = amemory.user("t", "u")
    assert await u.put_memories({"a": "the meeting is on Friday", "b": "the car is red"}) == 2
    hits = await u.recall("car colour red", kinds=("memory",), k=1)
    assert hits[0].key == "b"
    await u.delete_memories(["b"])
    assert await u.recall("car red", kinds=("memory",)) == []
