"""TieredChatMessageHistory against real Postgres and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langmem_tiered import (
    AsyncTieredMemory,
    ConfigurationError,
    InvalidIdError,
    InvalidMessageError,
    MessageTooLargeError,
    TieredMemory,
)

from langchain_langmem_tiered import TieredChatMessageHistory
from tests._messages import every_message
from tests.integration_tests._chain import build_chain

ROOT = Path(__file__).resolve().parents[2]


def _history(memory, session="s1", **kw):
    return TieredChatMessageHistory(memory, tenant="t1", user="u1", session=session, **kw)


def _subprocess(options: dict, mode: str, session: str, text: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration_tests._continue_chat",
            json.dumps(options),
            mode,
            session,
            text,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- round trip -------------------------------------------------------------------------------


def test_every_message_type_round_trips_through_postgres(memory, memory_options):
    originals = every_message()
    _history(memory).add_messages(originals[:4])
    for m in originals[4:]:
        _history(memory).add_message(m)
    assert _history(memory).messages == originals
    # a fresh memory object (new pool, empty in-process tier): the messages come from Postgres
    fresh = TieredMemory.connect(**memory_options)
    try:
        reloaded = _history(fresh).messages
        assert reloaded == originals
        assert [type(m) for m in reloaded] == [type(m) for m in originals]
        # the core sees ordinary messages: roles, tool calls, token counts
        stored = fresh.session("t1", "u1", "s1").messages()
        assert [m.seq for m in stored] == list(range(1, len(originals) + 1))
        assert stored[5].tool_calls[0].name == "slots" and stored[6].tool_call_id == "call_1"
        assert all(m.token_count is not None for m in stored)
    finally:
        fresh.close()


async def test_every_message_type_round_trips_async(amemory, memory_options):
    originals = every_message()
    await _history(amemory).aadd_messages(originals)
    assert await _history(amemory).aget_messages() == originals
    fresh = await AsyncTieredMemory.connect(**memory_options)
    try:
        assert await _history(fresh).aget_messages() == originals
    finally:
        await fresh.close()


def test_sessions_are_isolated_and_clear(memory):
    a, b = _history(memory, "a"), _history(memory, "b")
    a.add_messages([HumanMessage("in a")])
    b.add_messages([HumanMessage("in b")])
    other_user = TieredChatMessageHistory(memory, tenant="t1", user="u2", session="a")
    assert other_user.messages == []
    assert a.messages == [HumanMessage("in a")]
    a.clear()
    assert a.messages == []
    assert b.messages == [HumanMessage("in b")]
    a.add_user_message("again")
    a.add_ai_message("ok")
    assert a.messages == [HumanMessage("again"), AIMessage("ok")]


async def test_async_clear_and_isolation(amemory):
    a, b = _history(amemory, "a"), _history(amemory, "b")
    await a.aadd_messages([HumanMessage("in a")])
    await b.aadd_messages([HumanMessage("in b")])
    await a.aclear()
    assert await a.aget_messages() == []
    assert await b.aget_messages() == [HumanMessage("in b")]


def test_message_ids_make_retries_idempotent(memory):
    h = _history(memory)
    msg = AIMessage("hello", id="run-1")
    h.add_messages([HumanMessage("hi", id="in-1"), msg])
    h.add_messages([HumanMessage("hi", id="in-1"), msg])  # a retried turn
    assert h.messages == [HumanMessage("hi", id="in-1"), msg]


def test_max_messages_window_drops_leading_orphan_tool_message(memory):
    h = _history(memory)
    h.add_messages(every_message()[5:9])  # AI(tool calls), Tool, Tool, AI
    window = _history(memory, max_messages=3).messages
    assert [type(m) for m in window] == [AIMessage]  # the two tool results lost their call
    assert _history(memory, max_messages=4).messages == every_message()[5:9]


def test_metadata_is_stored_with_every_message(memory):
    h = _history(memory, metadata={"channel": "wa"})
    h.add_messages([HumanMessage("oi")])
    stored = memory.session("t1", "u1", "s1").messages()
    assert stored[0].metadata["channel"] == "wa"
    assert h.messages == [HumanMessage("oi")]


def test_sync_memory_serves_async_methods_in_a_thread(memory):
    import asyncio

    h = _history(memory)

    async def run():
        await h.aadd_messages([HumanMessage("x")])
        got = await h.aget_messages()
        await h.aclear()
        return got

    assert asyncio.run(run()) == [HumanMessage("x")]
    assert h.messages == []


def test_history_from_urls_owns_its_memories(memory_options):
    options = dict(memory_options)
    url, redis_url = options.pop("postgres_url"), options.pop("redis_url")
    with TieredChatMessageHistory(
        tenant="t1", user="u1", session="s1",
        postgres_url=url, redis_url=redis_url, memory_options=options,
    ) as h:  # fmt: skip
        h.add_messages([HumanMessage("x")])
        assert h.messages == [HumanMessage("x")]


async def test_history_from_urls_async(memory_options):
    options = dict(memory_options)
    url, redis_url = options.pop("postgres_url"), options.pop("redis_url")
    async with TieredChatMessageHistory(
        tenant="t1", user="u1", session="s1",
        postgres_url=url, redis_url=redis_url, memory_options=options,
    ) as h:  # fmt: skip
        await h.aadd_messages([HumanMessage("x")])
        assert await h.aget_messages() == [HumanMessage("x")]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["", "a\x00b", "x" * 300, "line\nbreak"])
def test_bad_ids_raise_invalid_id(memory, tenant):
    with pytest.raises(InvalidIdError):
        TieredChatMessageHistory(memory, tenant=tenant, user="u1", session="s1")


def test_bad_messages_raise_core_errors_and_write_nothing(memory):
    h = _history(memory)
    ok = HumanMessage("fine")
    cases = [
        ([ok, ToolMessage("r", tool_call_id="c", artifact=object())], InvalidMessageError),
        ([ok, HumanMessage("nul \x00 inside")], InvalidMessageError),
        ([ok, AIMessage("x", additional_kwargs={"v": float("nan")})], InvalidMessageError),
        ([ok, HumanMessage("x", id="bad\nid")], InvalidIdError),
        ([ok, HumanMessage("x" * 600_000)], MessageTooLargeError),
        ([ok, "not a message"], InvalidMessageError),
        ([HumanMessage("x", id="dup"), AIMessage("y", id="dup")], InvalidMessageError),
    ]
    for batch, error in cases:
        with pytest.raises(error):
            h.add_messages(batch)
    assert h.messages == []


async def test_bad_messages_async(amemory):
    h = _history(amemory)
    with pytest.raises(InvalidMessageError):
        await h.aadd_messages([HumanMessage("ok"), HumanMessage("nul \x00")])
    with pytest.raises(InvalidIdError):
        TieredChatMessageHistory(amemory, tenant="t1", user="", session="s1")
    assert await h.aget_messages() == []


async def test_configuration_errors(amemory, memory):
    h = _history(amemory)
    with pytest.raises(ConfigurationError):
        h.messages  # noqa: B018  (sync access with only an async memory)
    with pytest.raises(ConfigurationError):
        h.add_messages([HumanMessage("x")])
    with pytest.raises(ConfigurationError):
        TieredChatMessageHistory(tenant="t", user="u", session="s")
    with pytest.raises(ConfigurationError):
        TieredChatMessageHistory("not a memory", tenant="t", user="u", session="s")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        _history(memory, metadata={"langchain": 1})
    with pytest.raises(ConfigurationError):
        _history(memory, max_messages=0)
    # both faces: sync for sync methods, async for a* methods
    both = _history(memory, async_memory=amemory)
    both.add_messages([HumanMessage("sync")])
    await both.aadd_messages([HumanMessage("async")])
    assert await both.aget_messages() == [HumanMessage("sync"), HumanMessage("async")]


# -- RunnableWithMessageHistory, continued in a new process -------------------------------------


def test_runnable_with_message_history_continues_in_new_process(memory, memory_options):
    seen: list = []
    replies = [AIMessage("Olá Ana!", id="r1"), AIMessage("Terça às 9h.", id="r2")]
    chain = build_chain(lambda sid: _history(memory, sid), replies, seen)
    cfg = {"configurable": {"session_id": "chat-9"}}
    assert chain.invoke({"input": "Sou a Ana"}, config=cfg).content == "Olá Ana!"
    chain.invoke({"input": "Quero terça"}, config=cfg)
    assert len(seen[1]) == 1 + 2 + 1  # system + first turn + input

    result = _subprocess(memory_options, "sync", "chat-9", "Qual é meu nome?")
    seen_there = [m["data"]["content"] for m in result["seen"]]
    assert seen_there == [
        "You are a clinic assistant.", "Sou a Ana", "Olá Ana!", "Quero terça", "Terça às 9h.",
        "Qual é meu nome?",
    ]  # fmt: skip
    # and what the other process wrote is here, from Postgres
    stored = _history(memory, "chat-9").messages
    assert [m.content for m in stored] == seen_there[1:] + ["Continuing: you are Ana."]
    assert stored[1] == AIMessage("Olá Ana!", id="r1")
    assert stored[-1].id == "reply-new-process"


async def test_runnable_with_message_history_async_continues_in_new_process(
    amemory, memory_options
):
    seen: list = []
    replies = [AIMessage("Olá Ana!", id="r1"), AIMessage("Terça às 9h.", id="r2")]
    chain = build_chain(lambda sid: _history(amemory, sid), replies, seen)
    cfg = {"configurable": {"session_id": "chat-a"}}
    await chain.ainvoke({"input": "Sou a Ana"}, config=cfg)
    await chain.ainvoke({"input": "Quero terça"}, config=cfg)
    assert [m.content for m in seen[1]][1:3] == ["Sou a Ana", "Olá Ana!"]

    import asyncio

    result = await asyncio.to_thread(
        _subprocess, memory_options, "async", "chat-a", "Qual é meu nome?"
    )
    assert [m["data"]["content"] for m in result["seen"]][1:] == [
        "Sou a Ana", "Olá Ana!", "Quero terça", "Terça às 9h.", "Qual é meu nome?",
    ]  # fmt: skip
    stored = await _history(amemory, "chat-a").aget_messages()
    assert len(stored) == 6 and stored[-1].content == "Continuing: you are Ana."


def test_tool_turns_through_the_history_keep_tool_calls(memory):
    """An agent-style turn (AI tool call -> tool result -> answer) as history of the next turn."""
    h = _history(memory, "tools")
    turn = [
        SystemMessage("sys"),
        HumanMessage("slots?"),
        AIMessage("", tool_calls=[{"name": "slots", "args": {"d": 1}, "id": "c1"}], id="a1"),
        ToolMessage('["09:00"]', tool_call_id="c1", artifact=["09:00"]),
        AIMessage("09:00 is free", id="a2"),
    ]
    h.add_messages(turn)
    assert _history(memory, "tools").messages == turn
