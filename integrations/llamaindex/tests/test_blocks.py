"""Memory blocks inside LlamaIndex's Memory, with truncation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory

from llama_index.memory.langmem_tiered import (
    RecallMemoryBlock,
    SummaryMemoryBlock,
    TemporalFactsMemoryBlock,
    TieredChatStore,
)


def _session(fields: dict[str, Any], session: str) -> Any:
    return TieredChatStore(**fields)._async_session(session)


async def test_blocks_in_memory(fields: dict[str, Any], aclients: None) -> None:
    session = _session(fields, "b-1")
    past = datetime.now(timezone.utc) - timedelta(days=30)
    await session.remember("city", "Porto", valid_at=past)
    await session.remember("city", "Lisbon")
    blocks = [
        TemporalFactsMemoryBlock(**fields, priority=1),
        RecallMemoryBlock(**fields, priority=2),
        SummaryMemoryBlock(**fields, priority=3),
    ]
    memory = Memory.from_defaults(
        session_id="b-1",
        chat_store=TieredChatStore(**fields),
        memory_blocks=blocks,
        token_limit=4000,
    )
    await memory.aput(ChatMessage(role="user", content="I moved recently, remember where?"))
    got = await memory.aget()
    system = got[0].content or ""
    assert "<TemporalFacts>" in system and "city: Lisbon" in system
    assert "Porto" not in system
    old = TemporalFactsMemoryBlock(**fields, as_of=past + timedelta(days=1))
    assert "city: Porto" in await old.aget(session_id="b-1")


async def test_truncation(fields: dict[str, Any], aclients: None) -> None:
    session = _session(fields, "b-2")
    for i in range(20):
        await session.remember(f"key_{i}", "value " * 10)
    block = TemporalFactsMemoryBlock(**fields, priority=1)
    full = await block.aget(session_id="b-2")
    cut = await block.atruncate(full, 50)
    assert cut is not None and len(cut) < len(full) and full.startswith(cut)
    assert await block.atruncate(full, 10_000) is None
    memory = Memory.from_defaults(
        session_id="b-2",
        chat_store=TieredChatStore(**fields),
        memory_blocks=[block],
        token_limit=350,
    )
    await memory.aput(ChatMessage(role="user", content="hi"))
    got = await memory.aget()
    text = got[0].content or ""
    assert "key_" in text and text.count("key_") < 20
