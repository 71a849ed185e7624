"""TieredMemoryMiddleware with LangChain 1.x create_agent, a tool and a LangGraph checkpointer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.runtime import Runtime
from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory
from pydantic import Field

from langchain_langmem_tiered.middleware import TieredMemoryMiddleware

ROOT = Path(__file__).resolve().parents[2]


class CapturingModel(GenericFakeChatModel):
    """A fake chat model that records what it receives and accepts tools."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> CapturingModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@tool
def lookup(topic: str) -> str:
    """Look up clinic information about a topic."""
    return f"The clinic opens at 9h ({topic})."


def _replies() -> list[AIMessage]:
    return [
        AIMessage(
            "",
            id="ai-1",
            tool_calls=[{"name": "lookup", "args": {"topic": "hours"}, "id": "call-1"}],
        ),
        AIMessage("We open at 9h, Ana.", id="ai-2"),
        AIMessage("Tuesday at 9h is booked.", id="ai-3"),
        AIMessage("Your email is noted.", id="ai-4"),
    ]


TURNS = [
    "Hi, my name is Ana. When does the clinic open?",
    "I want Tuesday at 9h with Dr. Gustavo.",
    "My email is ana@example.com",
]


@pytest.fixture
def small_options(memory_options: dict[str, object]) -> dict[str, object]:
    """Memory options with a tiny verbatim buffer, so a few turns get summarized."""
    return {**memory_options, "buffer_tokens": 40, "min_fold_tokens": 10}


@pytest.fixture
def small_memory(small_options: dict[str, object]) -> Iterator[TieredMemory]:
    mem = TieredMemory.connect(**small_options)  # type: ignore[arg-type]
    yield mem
    mem.close()


def _system(seen: list[BaseMessage]) -> str:
    assert isinstance(seen[0], SystemMessage)
    return seen[0].text


def _check_store(mem: TieredMemory, thread: str, state_messages: list[BaseMessage]) -> None:
    stored = mem.session("t1", "u1", thread).messages()
    ids = [m.id for m in stored]
    assert len(ids) == len(set(ids))
    assert ids == [m.id for m in state_messages]
    roles = [m.role for m in stored]
    assert roles == ["user", "assistant", "tool", "assistant"] + ["user", "assistant"] * 2
    assert stored[1].tool_calls[0].name == "lookup"
    assert stored[2].tool_call_id == "call-1"


def test_multi_turn_with_checkpointer(small_memory: TieredMemory) -> None:
    model = CapturingModel(messages=iter(_replies()))
    agent = create_agent(
        model,
        [lookup],
        system_prompt="You are a clinic assistant.",
        middleware=[TieredMemoryMiddleware(small_memory, tenant="t1", user="u1")],
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "chat-1"}}
    for text in TURNS:
        agent.invoke({"messages": [HumanMessage(text)]}, config=config)
        small_memory.flush()
    state = agent.get_state(config).values
    assert len(state["messages"]) == 8  # the checkpointer keeps the whole thread
    _check_store(small_memory, "chat-1", state["messages"])
    # turn 1, second model call: the tool result of this turn (not yet recorded) is there
    assert [type(m).__name__ for m in model.seen[1][1:]] == [
        "HumanMessage", "AIMessage", "ToolMessage"
    ]  # fmt: skip
    assert _system(model.seen[1]).startswith("You are a clinic assistant.")
    # last turn: the composed context is injected (summary and/or facts), and the older
    # history it covers is not sent again
    last = model.seen[-1]
    system = _system(last)
    assert system.startswith("You are a clinic assistant.\n\n")
    summary = small_memory.session("t1", "u1", "chat-1").summary()
    assert summary is not None
    assert "Ana" in system
    sent_ids = [m.id for m in last[1:]]
    assert "ai-1" not in sent_ids  # summarized, only seen through the summary
    assert last[-1].text == TURNS[-1]
    assert len(last) - 1 < len(state["messages"])
    # the recorded marker is in the state
    assert state["tiered_memory_recorded_id"] == "ai-4"


def test_replayed_state_is_not_stored_twice(memory: TieredMemory) -> None:
    """Even without the marker (state written by others), ids make the write idempotent."""
    model = CapturingModel(messages=iter(_replies()))
    middleware = TieredMemoryMiddleware(memory, tenant="t1", user="u1")
    agent = create_agent(model, [lookup], middleware=[middleware], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "chat-2"}}
    for text in TURNS:
        agent.invoke({"messages": [HumanMessage(text)]}, config=config)
    state = agent.get_state(config).values
    _check_store(memory, "chat-2", state["messages"])
    # the after_agent hook replayed with the whole thread and no marker (as a checkpointer
    # restored by another deployment would give it): nothing new is stored
    replay = TieredMemoryMiddleware(memory, tenant="t1", user="u1", session="chat-2")
    update = replay.after_agent({"messages": state["messages"]}, Runtime(context=None))
    assert update == {"tiered_memory_recorded_id": "ai-4"}
    _check_store(memory, "chat-2", state["messages"])


def test_session_from_context_schema(memory: TieredMemory) -> None:
    from dataclasses import dataclass

    @dataclass
    class Ctx:
        tenant: str
        user: str
        session: str

    model = CapturingModel(messages=iter([AIMessage("Hello.", id="ai-ctx")]))
    agent = create_agent(
        model, [lookup], middleware=[TieredMemoryMiddleware(memory)], context_schema=Ctx
    )
    agent.invoke({"messages": [HumanMessage("Oi")]}, context=Ctx("t9", "u9", "s9"))
    assert [m.content for m in memory.session("t9", "u9", "s9").messages()] == ["Oi", "Hello."]


def test_missing_session_is_an_error(memory: TieredMemory) -> None:
    model = CapturingModel(messages=iter([AIMessage("Hello.")]))
    agent = create_agent(model, [], middleware=[TieredMemoryMiddleware(memory, tenant="t1")])
    with pytest.raises(ConfigurationError, match="no user"):
        agent.invoke({"messages": [HumanMessage("Oi")]}, config={"configurable": {}})
    with pytest.raises(ConfigurationError):
        TieredMemoryMiddleware(None)


def _subprocess(options: dict[str, object], mode: str, session: str, text: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration_tests._continue_agent",
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
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_new_process_without_checkpointer(
    small_memory: TieredMemory, small_options: dict[str, object]
) -> None:
    model = CapturingModel(messages=iter(_replies()))
    agent = create_agent(
        model,
        [lookup],
        middleware=[TieredMemoryMiddleware(small_memory, tenant="t1", user="u1")],
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "chat-3"}}
    for text in TURNS:
        agent.invoke({"messages": [HumanMessage(text)]}, config=config)
    small_memory.flush()
    result = _subprocess(small_options, "sync", "chat-3", "What is my name?")
    seen = result["seen"]
    assert seen[0]["type"] == "system"
    assert "Ana" in seen[0]["data"]["content"]  # summary / facts from Postgres
    assert seen[-1]["data"]["content"] == "What is my name?"
    assert result["stored"][-2:] == ["What is my name?", "Continuing."]
    assert len(result["stored"]) == 10


async def test_async_twin(small_options: dict[str, object]) -> None:
    amem = await AsyncTieredMemory.connect(**small_options)  # type: ignore[arg-type]
    try:
        model = CapturingModel(messages=iter(_replies()))
        agent = create_agent(
            model,
            [lookup],
            system_prompt="You are a clinic assistant.",
            middleware=[TieredMemoryMiddleware(amem, tenant="t1", user="u1")],
            checkpointer=InMemorySaver(),
        )
        config: Any = {"configurable": {"thread_id": "chat-4"}}
        for text in TURNS:
            await agent.ainvoke({"messages": [HumanMessage(text)]}, config=config)
            await amem.flush()
        state = (await agent.aget_state(config)).values
        stored = await amem.session("t1", "u1", "chat-4").messages()
        assert [m.id for m in stored] == [m.id for m in state["messages"]]
        assert len(stored) == 8
        system = _system(model.seen[-1])
        assert system.startswith("You are a clinic assistant.\n\n")
        assert "Ana" in system
        assert "ai-1" not in [m.id for m in model.seen[-1]]
    finally:
        await amem.close()
    result = await asyncio.to_thread(
        _subprocess, small_options, "async", "chat-4", "What is my name?"
    )
    assert "Ana" in result["seen"][0]["data"]["content"]
    assert len(result["stored"]) == 10
