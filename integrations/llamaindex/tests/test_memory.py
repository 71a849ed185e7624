"""TieredMemory as BaseMemory: storage, composed context, budget, round trip."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langmem_tiered import (
    ConfigurationError,
    InvalidIdError,
    InvalidInputError,
    LangmemError,
)
from langmem_tiered.tokens import message_tokens
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.memory import BaseMemory

from llama_index.memory.langmem_tiered import (
    TieredMemory,
    close_clients,
    register_profile,
    to_core,
)

from ._helpers import roles, texts

TOOL_TURN = [
    ChatMessage(role="user", content="what is 2+3?"),
    ChatMessage(
        role="assistant",
        blocks=[
            ToolCallBlock(tool_call_id="call_1", tool_name="add", tool_kwargs={"a": 2, "b": 3})
        ],
        additional_kwargs={"provider": {"finish": "tool_calls"}},
    ),
    ChatMessage(
        role=MessageRole.TOOL,
        content="5",
        additional_kwargs={"tool_call_id": "call_1", "name": "add"},
    ),
    ChatMessage(role="assistant", content="2+3 is 5."),
]


def test_is_base_memory_and_class_name(make_memory: Any) -> None:
    memory = make_memory()
    assert isinstance(memory, BaseMemory)
    assert TieredMemory.class_name() == "LangmemTieredMemory"
    assert memory.to_dict()["class_name"] == "LangmemTieredMemory"


def test_put_get_all_round_trip_is_lossless(make_memory: Any) -> None:
    memory = make_memory()
    extra = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(
            role="user",
            blocks=[TextBlock(text="look"), ImageBlock(url="https://example.com/a.png")],
        ),
        ChatMessage(role="developer", content="dev note"),
    ]
    for message in TOOL_TURN + extra:
        memory.put(message)
    assert memory.get_all() == TOOL_TURN + extra
    # the core sees the real conversation
    core = memory._session().messages()
    assert [m.role for m in core[:4]] == ["user", "assistant", "tool", "assistant"]
    assert core[1].tool_calls[0].name == "add" and core[1].tool_calls[0].args == {"a": 2, "b": 3}
    assert core[2].tool_call_id == "call_1"


async def test_async_round_trip(make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    await memory.aput(TOOL_TURN[0])
    await memory.aput_messages(TOOL_TURN[1:])
    assert await memory.aget_all() == TOOL_TURN
    got = await memory.aget()
    assert got[-4:] == TOOL_TURN
    await memory.aset(TOOL_TURN[:1])
    assert await memory.aget_all() == TOOL_TURN[:1]
    await memory.areset()
    assert await memory.aget_all() == []


def test_get_composes_within_budget(make_memory: Any) -> None:
    memory = make_memory(system_prompt="You are helpful.", token_limit=4000)
    memory.put_messages(TOOL_TURN)
    got = memory.get()
    assert roles(got)[0] == "system" and "You are helpful." in (got[0].content or "")
    assert got[1:] == TOOL_TURN
    memory._session().remember("city", "Lisbon")
    got = memory.get(input="where do I live?")
    assert "Lisbon" in (got[0].content or "")
    # a tight budget keeps the newest turns, starts on a user message, and stays within
    # token_limit - initial_token_count (the core's count: content + framing per message)
    for i in range(30):
        memory.put(ChatMessage(role="user", content=f"message number {i} " + "word " * 20))
        memory.put(ChatMessage(role="assistant", content=f"reply {i} " + "fine " * 7))
    tokenizer = memory._sync_memory().tokenizer
    for limit, initial in ((400, 100), (400, 0), (120, 70), (120, 20)):
        small = make_memory(session=memory.session, token_limit=limit)
        got = small.get(initial_token_count=initial)
        body = [m for m in got if m.role != MessageRole.SYSTEM]
        assert body and (body[0].role == MessageRole.USER or len(body) == 1)
        assert texts(got)[-1].startswith("reply 29")
        used = sum(message_tokens(tokenizer, to_core(m)) for m in got)
        assert used <= limit - initial, (limit, initial, used)
    # nothing fits: the newest message alone (as ChatMemoryBuffer), so the LLM sees the overflow
    tiny = make_memory(session=memory.session, token_limit=5)
    assert texts(tiny.get()) == [texts(memory.get_all())[-1]]
    assert texts(tiny.get(initial_token_count=5)) == [texts(memory.get_all())[-1]]
    with pytest.raises(InvalidInputError):
        tiny.get(initial_token_count=6)
    with pytest.raises(InvalidInputError):
        tiny.get(initial_token_count=-1)


def test_trimmed_window_never_starts_on_a_tool_result(make_memory: Any) -> None:
    memory = make_memory()
    for _ in range(6):
        memory.put_messages(TOOL_TURN)
    count = memory._sync_memory().tokenizer.count
    whole = sum(count(m.content or "") + 5 for m in memory.get_all())
    for limit in range(20, whole, 7):
        got = make_memory(session=memory.session, token_limit=limit).get()
        users = [m for m in got if m.role == MessageRole.USER]
        assert got[0].role == MessageRole.USER or not users, limit
        assert got[0].role != MessageRole.TOOL
        calls = {b.tool_call_id for m in got for b in m.blocks if isinstance(b, ToolCallBlock)}
        results = [m for m in got if m.role == MessageRole.TOOL]
        assert all(m.additional_kwargs["tool_call_id"] in calls for m in results)


def test_tokenizer_fn_counts_like_the_budget(make_memory: Any) -> None:
    memory = make_memory()
    count = memory._sync_memory().tokenizer.count
    assert len(memory.tokenizer_fn("You are a helpful assistant.")) == count(
        "You are a helpful assistant."
    )
    assert len(memory.tokenizer_fn("")) == 0


def test_lazy_clients() -> None:
    """Creating, serializing, restoring a memory and asking for its tokenizer open nothing (an
    unreachable server is only noticed on first use)."""
    memory = TieredMemory(
        postgres_url="postgresql://nobody@127.0.0.1:9/none", schema="lazy", session="lazy"
    )
    again = TieredMemory.from_dict(memory.to_dict())
    assert again == memory and again.to_dict() == memory.to_dict()
    assert len(again.tokenizer_fn("hello world")) > 0
    assert again._sync_memory().store is None  # never opened
    close_clients()


def test_set_and_reset(make_memory: Any) -> None:
    memory = make_memory()
    memory.put_messages(TOOL_TURN)
    memory.set([ChatMessage(role="user", content="fresh")])
    assert texts(memory.get_all()) == ["fresh"]
    memory.reset()
    assert memory.get_all() == []
    assert memory.get() == []


def test_from_defaults_rejects_unknown_arguments(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        TieredMemory.from_defaults(postgress_url="postgresql://x/y", session="x")
    with pytest.raises(ConfigurationError):
        TieredMemory(**{**fields, "options": {"tokenizer": object()}}, session="x")


def test_from_defaults(make_memory: Any, fields: dict[str, Any]) -> None:
    memory = TieredMemory.from_defaults(
        chat_history=TOOL_TURN, token_limit=1234, session="fd-1", llm=None, **fields
    )
    assert memory.token_limit == 1234
    assert memory.get_all() == TOOL_TURN
    # an empty chat_history (what SimpleChatEngine passes) keeps the stored history
    again = TieredMemory.from_defaults(chat_history=[], session="fd-1", **fields)
    assert again.get_all() == TOOL_TURN


def test_serialization_round_trip_shares_state(make_memory: Any) -> None:
    memory = make_memory()
    memory.put(TOOL_TURN[0])
    copy = TieredMemory.from_json(memory.to_json())
    assert copy == memory
    copy.put(TOOL_TURN[1])
    assert memory.get_all() == TOOL_TURN[:2]


def test_concurrent_sync_puts_from_threads(make_memory: Any) -> None:
    memory = make_memory()
    n = 40

    def worker(k: int) -> None:
        for i in range(n // 4):
            memory.put(ChatMessage(role="user", content=f"{k}-{i}"))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(texts(memory.get_all())) == sorted(
        f"{k}-{i}" for k in range(4) for i in range(10)
    )


async def test_concurrent_aput_loses_nothing(make_memory: Any, aclients: None) -> None:
    memory = make_memory(token_limit=200)
    # two copies, as two agent runs sharing a session would have
    other = TieredMemory.from_dict(memory.to_dict())
    await asyncio.gather(
        *(
            (memory if i % 2 else other).aput(ChatMessage(role="user", content=f"m{i}"))
            for i in range(50)
        )
    )
    stored = await memory.aget_all()
    assert sorted(texts(stored)) == sorted(f"m{i}" for i in range(50))
    assert await memory.aget()  # the budget-limited view is not empty


def test_errors_are_core_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidIdError):
        TieredMemory(**{**fields, "session": ""})
    with pytest.raises(LangmemError):
        TieredMemory(**fields, session="x", profile="nope").get()
    with pytest.raises(ConfigurationError):
        register_profile("p", postgres_url="x")
    with pytest.raises(LangmemError):
        TieredMemory(**fields, session="x").put("not a message")  # type: ignore[arg-type]
