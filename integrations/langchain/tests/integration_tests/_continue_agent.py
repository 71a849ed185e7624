"""Run in a NEW process: continue an agent conversation with the middleware, no checkpointer.

argv: options JSON (memory options), mode ("sync" or "async"), session id, input text.
Prints a JSON object: the system message and messages the model saw, and the stored history.
"""

from __future__ import annotations

import asyncio
import json
import sys

from langchain_core.messages import AIMessage, messages_to_dict


def main() -> None:
    from langchain.agents import create_agent

    from langchain_langmem_tiered.middleware import TieredMemoryMiddleware
    from tests.integration_tests.test_middleware import CapturingModel, lookup

    options = json.loads(sys.argv[1])
    mode, session, text = sys.argv[2], sys.argv[3], sys.argv[4]
    model = CapturingModel(messages=iter([AIMessage("Continuing.", id="reply-new-process")]))
    config = {"configurable": {"thread_id": session}}
    if mode == "sync":
        from langmem_tiered import TieredMemory

        memory = TieredMemory.connect(**options)
        agent = create_agent(
            model, [lookup], middleware=[TieredMemoryMiddleware(memory, tenant="t1", user="u1")]
        )
        agent.invoke({"messages": [("human", text)]}, config=config)
        stored = memory.session("t1", "u1", session).messages()
        memory.close()
    else:

        async def run() -> list:
            from langmem_tiered import AsyncTieredMemory

            memory = await AsyncTieredMemory.connect(**options)
            agent = create_agent(
                model,
                [lookup],
                middleware=[TieredMemoryMiddleware(memory, tenant="t1", user="u1")],
            )
            await agent.ainvoke({"messages": [("human", text)]}, config=config)
            found = await memory.session("t1", "u1", session).messages()
            await memory.close()
            return found

        stored = asyncio.run(run())
    print(  # noqa: T201
        json.dumps(
            {
                "seen": messages_to_dict(model.seen[-1]),
                "stored": [m.content for m in stored],
            }
        )
    )


if __name__ == "__main__":
    main()
