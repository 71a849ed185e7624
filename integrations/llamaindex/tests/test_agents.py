"""TieredMemory with FunctionAgent, ReActAgent and AgentWorkflow: tool calls, Context reuse and
serialization, a new process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import MessageRole, ToolCallBlock
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context

from llama_index.memory.langmem_tiered import TieredMemory, aclose_clients, close_clients

ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 90.0


def lookup(city: str = "Lisbon") -> str:
    """Look up the weather of a city."""
    return f"sunny in {city}"


def _function_agent() -> FunctionAgent:
    return FunctionAgent(
        tools=[FunctionTool.from_defaults(lookup)],
        llm=MockFunctionCallingLLM(),
        system_prompt="You are a weather bot.",
    )


def _check_tool_turn(history: list[Any]) -> None:
    assert [m.role for m in history[:4]] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.TOOL,
        MessageRole.ASSISTANT,
    ]
    call = history[1].blocks[0]
    assert isinstance(call, ToolCallBlock) and call.tool_name == "lookup"
    assert history[2].additional_kwargs["tool_call_id"] == call.tool_call_id
    assert "sunny in Lisbon" in (history[2].content or "")


async def test_function_agent_stores_tool_call(make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    agent = _function_agent()
    result = await agent.run(user_msg="weather?", memory=memory)
    assert "Tool calls complete." in str(result)
    history = await memory.aget_all()
    _check_tool_turn(history)
    # what comes back from the core is what the agent put there
    assert (await memory.aget())[-4:] == history
    await agent.run(user_msg="and tomorrow?", memory=memory)
    assert len(await memory.aget_all()) == 6


async def test_context_reuse_and_serialization(make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    agent = _function_agent()
    ctx = Context(agent)
    await agent.run(user_msg="first", memory=memory, ctx=ctx)
    await agent.run(user_msg="second", ctx=ctx)  # the memory comes from the (rebuilt) ctx
    restored = Context.from_dict(agent, ctx.to_dict())
    await agent.run(user_msg="third", ctx=restored)
    history = await memory.aget_all()
    users = [m.content for m in history if m.role == MessageRole.USER]
    assert users == ["first", "second", "third"]
    stored = await restored.store.get("memory")
    assert isinstance(stored, TieredMemory) and stored.session == memory.session


async def test_react_agent(make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    agent = ReActAgent(tools=[FunctionTool.from_defaults(lookup)], llm=MockLLM(max_tokens=8))
    for turn in ("hi", "again", "third"):
        handler = agent.run(user_msg=turn, memory=memory)
        await handler
    history = await memory.aget_all()
    assert [m.content for m in history if m.role == MessageRole.USER] == ["hi", "again", "third"]
    assert len(history) >= 6


async def test_agent_workflow(make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    workflow = AgentWorkflow(agents=[_function_agent()])
    await workflow.run(user_msg="weather?", memory=memory)
    ctx = Context(workflow)
    await workflow.run(user_msg="again", memory=memory, ctx=ctx)
    await workflow.run(user_msg="third", ctx=ctx)
    history = await memory.aget_all()
    _check_tool_turn(history)
    assert [m.content for m in history if m.role == MessageRole.USER] == [
        "weather?",
        "again",
        "third",
    ]


async def _run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``tests._restart_child`` in a new interpreter without blocking this event loop.

    A blocking ``subprocess.run`` here froze the parent's loop (when the async core memory
    still lived on the caller's loop) while one of its background jobs (recall indexing) sat
    in an open transaction holding the session row; the child's first append then waited for
    that row lock forever and the parent waited for the child: a deadlock (pg_stat_activity
    showed the parent's connection "idle in transaction" and the child's INSERT waiting on a
    transactionid lock).
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests._restart_child",
        json.dumps(job),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), CHILD_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


async def test_restart_in_a_new_process(make_memory: Any, aclients: None) -> None:
    """An agent (with its Context serialized) and a sync chat engine; this process's clients
    are closed (the process is gone), a new interpreter restores both from their JSON and
    continues: its models see the whole history, and so does this process afterwards."""
    agent_memory = make_memory()
    agent = _function_agent()
    ctx = Context(agent)
    await agent.run(user_msg="weather?", memory=agent_memory, ctx=ctx)
    chat_memory = make_memory()
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=4), memory=chat_memory)
    await asyncio.to_thread(engine.chat, "my name is Ana")
    job = {"ctx": json.loads(json.dumps(ctx.to_dict())), "chat": chat_memory.to_json()}
    await aclose_clients()
    close_clients()

    result = await _run_child(job)

    assert result["agent_memory_type"] == "TieredMemory"
    # the child's model saw the user's facts (read by the first process from the chat, in
    # another session: facts are per user), the first run's tool turn, then its own input
    saw = result["agent_saw"]
    assert "name: Ana" in saw[0]
    assert saw[1:] == ["weather?", "", "sunny in Lisbon", "Tool calls complete.", "from the child"]
    assert result["agent_history"] == saw[1:] + ["Tool calls complete."]
    # MockLLM echoes its prompt: the child's chat model saw the first process's turn
    assert "my name is Ana" in result["chat_reply"]
    assert result["chat_history"][0] == "my name is Ana"
    assert result["chat_history"][2] == "chat from the child"
    # and this process sees what the child wrote (new clients, from Postgres / Redis)
    history = await agent_memory.aget_all()
    _check_tool_turn(history)
    assert [m.content or "" for m in history] == result["agent_history"]
    composed = [m.content or "" for m in await agent_memory.aget()]
    assert composed[-6:] == result["agent_history"]
    assert [m.content or "" for m in chat_memory.get_all()] == result["chat_history"]


def test_asyncio_run_per_call_without_closing(make_memory: Any) -> None:
    """``asyncio.run(...)`` per call, clients never closed: the async core memory lives on the
    integration's own loop, so a closing caller loop neither cuts off its pool nor hangs
    cancelling it (an AsyncTieredMemory bound to the caller's loop hung there)."""
    memory = make_memory()
    out = subprocess.run(
        [sys.executable, "-m", "tests._asyncio_run_child", memory.to_json()],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [1, 2, 3]
    assert [m.content for m in memory.get_all()] == ["run 0", "run 1", "run 2"]


@pytest.mark.parametrize("runs", [2])
async def test_same_memory_object_many_runs(runs: int, make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    agent = _function_agent()
    for i in range(runs):
        await agent.run(user_msg=f"run {i}", memory=memory)
    assert len(await memory.aget_all()) == 4 + 2 * (runs - 1)
