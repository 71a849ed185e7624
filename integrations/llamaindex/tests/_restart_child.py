"""A new process continuing an agent (from its serialized ``Context``) and a chat engine on
the same Postgres and Redis (``python -m tests._restart_child '<json>'``, used by
``test_agents.test_restart_in_a_new_process``). Prints one JSON line: what each model saw
and the stored histories."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

os.environ.setdefault("LANGMEM_EMBEDDER", "none")

from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402
from llama_index.core.chat_engine import SimpleChatEngine  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.llms.mock import (  # noqa: E402
    MockFunctionCallingLLMWithChatMemoryOfLastCall,
)
from llama_index.core.tools import FunctionTool  # noqa: E402
from llama_index.core.workflow import Context  # noqa: E402

from llama_index.memory.langmem_tiered import (  # noqa: E402
    TieredMemory,
    aclose_clients,
    close_clients,
)
from tests.test_agents import lookup  # noqa: E402


def _contents(messages: Any) -> list[str]:
    return [m.content or "" for m in messages]


async def main(job: dict[str, Any]) -> dict[str, Any]:
    llm = MockFunctionCallingLLMWithChatMemoryOfLastCall()
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(lookup)], llm=llm)
    ctx = Context.from_dict(agent, job["ctx"])  # the memory is in the serialized context
    await agent.run(user_msg="from the child", ctx=ctx)
    memory = await ctx.store.get("memory")
    out: dict[str, Any] = {
        "agent_memory_type": type(memory).__name__,
        "agent_saw": _contents(llm.last_chat_messages or []),
        "agent_history": _contents(await memory.aget_all()),
    }
    # the chat engine, sync, in a worker thread (its sync API is what users call)
    chat = TieredMemory.from_json(job["chat"])
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(), memory=chat)  # MockLLM echoes
    reply = await asyncio.to_thread(engine.chat, "chat from the child")
    out["chat_reply"] = str(reply)
    out["chat_history"] = _contents(chat.get_all())
    await aclose_clients()
    close_clients()
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))) + "\n")
