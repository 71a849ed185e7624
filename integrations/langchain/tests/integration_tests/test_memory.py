"""TieredMemory (classic BaseMemory) with classic chains, against real Postgres and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langmem_tiered import AsyncTieredMemory, ConfigurationError

from langchain_langmem_tiered import TieredMemory
from tests.integration_tests._classic import (
    Capture,
    agent_executor,
    agent_replies,
    chat_chain,
    text_chain,
)

ROOT = Path(__file__).resolve().parents[2]


def _memory(core, session="s1", **kw):
    return TieredMemory(memory=core, tenant="t1", user="u1", session=session, **kw)


def _subprocess(options: dict, mode: str, session: str, text: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration_tests._continue_memory",
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


def test_is_a_classic_base_memory(memory):
    mem = _memory(memory)
    assert isinstance(mem, BaseMemory)
    assert mem.memory_variables == ["history"]
    assert _memory(memory, memory_key="chat").memory_variables == ["chat"]


def test_configuration_errors(memory):
    with pytest.raises(ConfigurationError):
        TieredMemory(tenant="t1", user="u1", session="s1")
    with pytest.raises(ConfigurationError):
        TieredMemory(memory=object(), tenant="t1", user="u1", session="s1")
    mem = TieredMemory(async_memory=None, memory=memory, tenant="t1", user="u1", session="s1")
    assert mem.core_session.session_id == "s1"


def test_save_and_load_text_and_messages(memory):
    mem = _memory(memory)
    assert mem.load_memory_variables({"input": "hi"}) == {"history": ""}
    mem.save_context({"input": "Hi, I am Ana"}, {"response": "Hello Ana"})
    mem.save_context({"input": "I want Tuesday"}, {"response": "Tuesday it is"})
    text = mem.load_memory_variables({"input": "which day?"})["history"]
    assert "Human: Hi, I am Ana\nAI: Hello Ana\nHuman: I want Tuesday\nAI: Tuesday it is" in text
    prefixed = _memory(memory, human_prefix="Patient", ai_prefix="Clinic")
    assert (
        "Patient: Hi, I am Ana\nClinic: Hello Ana" in prefixed.load_memory_variables({})["history"]
    )
    msgs = _memory(memory, return_messages=True).load_memory_variables({"input": "x"})["history"]
    turns = [m for m in msgs if not isinstance(m, SystemMessage)]
    assert turns == [
        HumanMessage("Hi, I am Ana"),
        AIMessage("Hello Ana"),
        HumanMessage("I want Tuesday"),
        AIMessage("Tuesday it is"),
    ]
    stored = memory.session("t1", "u1", "s1").messages()
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]


def test_input_output_key_inference(memory):
    mem = _memory(memory)
    # the memory variable and "stop" are not the input
    mem.save_context({"question": "Q1", "history": "old", "stop": ["x"]}, {"answer": "A1"})
    with pytest.raises(ValueError, match="One input key"):
        mem.save_context({"a": "1", "b": "2"}, {"answer": "A"})
    with pytest.raises(ValueError, match="output_key"):
        mem.save_context({"question": "Q"}, {"a": "1", "b": "2"})
    mem.save_context({"question": "Q2"}, {"output": "A2", "intermediate_steps": []})
    explicit = _memory(memory, input_key="b", output_key="y")
    explicit.save_context({"a": "ignored", "b": "Q3"}, {"x": "no", "y": "A3"})
    stored = [m.text for m in memory.session("t1", "u1", "s1").messages()]
    assert stored == ["Q1", "A1", "Q2", "A2", "Q3", "A3"]


def test_clear(memory):
    mem = _memory(memory)
    mem.save_context({"input": "Hi"}, {"response": "Hello"})
    mem.clear()
    assert memory.session("t1", "u1", "s1").messages() == []
    assert mem.load_memory_variables({"input": "x"}) == {"history": ""}


def test_facts_and_summary_reach_the_context(memory):
    memory.user("t1", "u1").remember("insurance", "Unimed")
    mem = _memory(memory, return_messages=True)
    mem.save_context({"input": "Hello"}, {"response": "Hi"})
    msgs = mem.load_memory_variables({"input": "which insurance?"})["history"]
    assert isinstance(msgs[0], SystemMessage) and "Unimed" in msgs[0].text
    assert "Unimed" in _memory(memory).load_memory_variables({"input": "x"})["history"]


def test_conversation_chain_multi_turn_and_new_process(memory, memory_options):
    capture = Capture()
    chain = text_chain(_memory(memory), ["Hello Ana!", "Tuesday at 9 is free."], capture)
    chain.invoke({"input": "Hi, I am Ana"})
    chain.invoke({"input": "Can I come on Tuesday?"})
    assert "Human: Hi, I am Ana\nAI: Hello Ana!" in capture.prompts[1]
    assert capture.prompts[1].rstrip().endswith("Human: Can I come on Tuesday?\nAI:")
    # a NEW process continues from Postgres
    out = _subprocess(memory_options, "sync", "s1", "What is my name?")
    assert "Human: Hi, I am Ana\nAI: Hello Ana!" in out["prompt"]
    assert "Human: Can I come on Tuesday?\nAI: Tuesday at 9 is free." in out["prompt"]
    assert out["stored"][-2:] == [
        ["user", "What is my name?"],
        ["assistant", "Continuing in a new process."],
    ]
    assert len(out["stored"]) == 6


def test_conversation_chain_with_messages(memory):
    capture = Capture()
    chain = chat_chain(_memory(memory, return_messages=True), ["Hello Ana!", "Noted."], capture)
    chain.invoke({"input": "Hi, I am Ana"})
    chain.invoke({"input": "I prefer mornings"})
    seen = [m for m in capture.chats[1] if not isinstance(m, SystemMessage)]
    assert seen == [
        HumanMessage("Hi, I am Ana"),
        AIMessage("Hello Ana!"),
        HumanMessage("I prefer mornings"),
    ]


async def test_conversation_chain_async_and_new_process(amemory, memory_options):
    capture = Capture()
    chain = text_chain(_memory(amemory), ["Hello Ana!", "Tuesday at 9 is free."], capture)
    await chain.ainvoke({"input": "Hi, I am Ana"})
    await chain.ainvoke({"input": "Can I come on Tuesday?"})
    assert "Human: Hi, I am Ana\nAI: Hello Ana!" in capture.prompts[1]
    out = _subprocess(memory_options, "async", "s1", "What is my name?")
    assert "Human: Can I come on Tuesday?\nAI: Tuesday at 9 is free." in out["prompt"]
    assert len(out["stored"]) == 6
    mem = _memory(amemory)
    with pytest.raises(ConfigurationError):
        mem.load_memory_variables({})
    await mem.aclear()
    assert await amemory.session("t1", "u1", "s1").messages() == []


async def test_async_methods_with_sync_memory_use_a_thread(memory):
    mem = _memory(memory, return_messages=True)
    await mem.asave_context({"input": "Hi"}, {"response": "Hello"})
    loaded = await mem.aload_memory_variables({"input": "x"})
    assert loaded["history"][-2:] == [HumanMessage("Hi"), AIMessage("Hello")]
    await mem.aclear()
    assert memory.session("t1", "u1", "s1").messages() == []


async def test_async_memory_chat_chain(amemory):
    assert isinstance(amemory, AsyncTieredMemory)
    capture = Capture()
    mem = _memory(amemory, return_messages=True)
    chain = chat_chain(mem, ["Hello Ana!", "Noted."], capture)
    await chain.ainvoke({"input": "Hi, I am Ana"})
    await chain.ainvoke({"input": "I prefer mornings"})
    seen = [m for m in capture.chats[1] if not isinstance(m, SystemMessage)]
    assert seen[:2] == [HumanMessage("Hi, I am Ana"), AIMessage("Hello Ana!")]


def test_agent_executor_with_tool_and_new_process(memory, memory_options):
    capture = Capture()
    mem = _memory(memory, memory_key="chat_history")
    executor = agent_executor(mem, agent_replies("Tuesday", "Tuesday 09:00 or 14:00"), capture)
    result = executor.invoke({"input": "Any slot on Tuesday?"})
    assert result["output"] == "Tuesday 09:00 or 14:00"
    # the tool ran: its observation is in the second prompt
    assert "Observation: Tuesday: 09:00, 14:00" in capture.prompts[1]
    stored = memory.session("t1", "u1", "s1").messages()
    assert [[m.role, m.text] for m in stored] == [
        ["user", "Any slot on Tuesday?"],
        ["assistant", "Tuesday 09:00 or 14:00"],
    ]
    out = _subprocess(memory_options, "agent", "s1", "And Friday?")
    assert "Human: Any slot on Tuesday?\nAI: Tuesday 09:00 or 14:00" in out["prompt"]
    assert out["stored"][-2:] == [["user", "And Friday?"], ["assistant", "Friday 09:00"]]


async def test_agent_executor_async(amemory):
    capture = Capture()
    mem = _memory(amemory, memory_key="chat_history")
    first = agent_executor(mem, agent_replies("Tuesday", "Tuesday 09:00"), capture)
    await first.ainvoke({"input": "Any slot on Tuesday?"})
    second = agent_executor(mem, agent_replies("Friday", "Friday 14:00"), capture)
    result = await second.ainvoke({"input": "And Friday?"})
    assert result["output"] == "Friday 14:00"
    assert "Human: Any slot on Tuesday?\nAI: Tuesday 09:00" in capture.prompts[2]
    stored = await amemory.session("t1", "u1", "s1").messages()
    assert len(stored) == 4
