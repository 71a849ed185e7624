"""TieredChatStore as the queue of LlamaIndex's Memory."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from llama_index.memory.langmem_tiered import TieredChatStore, close_clients

from ._helpers import texts


def _msg(i: int) -> ChatMessage:
    return ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"m{i} " + "x " * 20)


async def test_store_api(fields: dict[str, Any], aclients: None) -> None:
    store = TieredChatStore(**fields)
    assert isinstance(store, AsyncDBChatStore)
    await store.add_messages("k1", [_msg(i) for i in range(5)])
    assert await store.count_messages("k1") == 5
    moved = await store.archive_oldest_messages("k1", 2)
    assert len(moved) == 2
    assert await store.count_messages("k1") == 3
    assert await store.count_messages("k1", MessageStatus.ARCHIVED) == 2
    assert len(await store.get_messages("k1", status=None)) == 5
    removed = await store.delete_message("k1", 2)
    assert removed is not None and (removed.content or "").startswith("m2")
    assert [t.split()[0] for t in texts(await store.get_messages("k1"))] == ["m3", "m4"]
    assert len(await store.delete_oldest_messages("k1", 1)) == 1
    await store.delete_messages("k1", MessageStatus.ACTIVE)
    assert await store.count_messages("k1", None) == 2
    await store.set_messages("k1", [_msg(9)])
    assert await store.count_messages("k1", None) == 1
    await store.add_messages("k2", [_msg(0)])
    assert await store.get_keys() == ["k1", "k2"]
    # another store object (another process) lists the same keys: they come from Postgres
    assert await TieredChatStore(**fields).get_keys() == ["k1", "k2"]
    await store.delete_messages("k1")
    assert await store.get_keys() == ["k2"]
    assert await store.count_messages("k1", None) == 0
    # round trip of the config
    assert TieredChatStore.model_validate(store.model_dump()).db_schema == store.db_schema


async def test_memory_with_tiered_chat_store(fields: dict[str, Any], aclients: None) -> None:
    store = TieredChatStore(**fields)
    memory = Memory.from_defaults(
        session_id="mem-1", chat_store=store, token_limit=200, token_flush_size=40
    )
    assert memory.sql_store is store
    for i in range(12):
        await memory.aput(_msg(i))
    active = await store.get_messages("mem-1")
    everything = await store.get_messages("mem-1", status=None)
    assert len(everything) == 12  # archiving kept everything in Postgres
    assert 0 < len(active) < 12
    got = await memory.aget()
    assert texts(got)[-1] == texts([_msg(11)])[0]
    # a new Memory (new process) reads the same active queue
    again = Memory.from_defaults(session_id="mem-1", chat_store=TieredChatStore(**fields))
    assert texts(await again.aget_all(status=MessageStatus.ACTIVE)) == texts(active)
    assert len(await again.aget_all()) == 12


async def test_concurrent_aput_on_memory(fields: dict[str, Any], aclients: None) -> None:
    """Concurrent ``Memory.aput`` on one session, with flushes: llama-index-core 0.14.25's
    ``Memory`` takes no lock, so both calls ask to archive the same oldest messages; nothing
    is lost and the active queue keeps the newest turn."""
    store = TieredChatStore(**fields)
    memory = Memory.from_defaults(
        session_id="mem-2", chat_store=store, token_limit=120, token_flush_size=30
    )
    for round_ in range(3):
        await asyncio.gather(*(memory.aput(_msg(2 * i)) for i in range(round_ * 8, round_ * 8 + 8)))
        active = await store.get_messages("mem-2")
        assert active and active[-1].role == "user"
        assert any(m.role == "user" for m in active)
    everything = await store.get_messages("mem-2", status=None)
    assert sorted(texts(everything)) == sorted(texts([_msg(2 * i) for i in range(24)]))
    assert await memory.aget()


async def test_archive_keeps_the_newest_turn(fields: dict[str, Any], aclients: None) -> None:
    store = TieredChatStore(**fields)
    await store.add_messages("k3", [_msg(i) for i in range(6)])  # u a u a u a
    moved = await store.archive_oldest_messages("k3", 100)
    assert len(moved) == 4
    assert [m.role for m in await store.get_messages("k3")] == ["user", "assistant"]
    assert await store.archive_oldest_messages("k3", 1) == []


def test_sync_memory_from_a_worker_thread(fields: dict[str, Any]) -> None:
    """A sync ``Memory`` used from a thread (what ``stream_chat`` does): each call runs in a
    fresh event loop (``asyncio_run``); the store's work runs on the integration's loop."""
    store = TieredChatStore(**fields)
    memory = Memory.from_defaults(session_id="mem-t", chat_store=store, token_limit=100000)

    def work() -> None:
        for i in range(6):
            memory.put(_msg(i))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert texts(memory.get_all()) == texts([_msg(i) for i in range(6)])
    close_clients()
