"""Run in a NEW process: continue a ConversationChain whose TieredMemory is in Postgres.

argv: options JSON (memory options), mode ("sync" or "async"), session id, input text.
Prints a JSON object: the prompt the model saw and the stored messages (role, text).
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.integration_tests._classic import Capture, agent_executor, agent_replies, text_chain


def main() -> None:
    options = json.loads(sys.argv[1])
    mode, session, text = sys.argv[2], sys.argv[3], sys.argv[4]
    capture = Capture()
    if mode == "agent":
        from langmem_tiered import TieredMemory as Core

        from langchain_langmem_tiered import TieredMemory

        core = Core.connect(**options)
        memory = TieredMemory(
            memory=core, tenant="t1", user="u1", session=session, memory_key="chat_history"
        )
        executor = agent_executor(memory, agent_replies("Friday", "Friday 09:00"), capture)
        executor.invoke({"input": text})
        stored = core.session("t1", "u1", session).messages()
        core.close()
    elif mode == "sync":
        from langmem_tiered import TieredMemory as Core

        from langchain_langmem_tiered import TieredMemory

        core = Core.connect(**options)
        memory = TieredMemory(memory=core, tenant="t1", user="u1", session=session)
        text_chain(memory, ["Continuing in a new process."], capture).invoke({"input": text})
        stored = core.session("t1", "u1", session).messages()
        core.close()
    else:

        async def run() -> list:
            from langmem_tiered import AsyncTieredMemory

            from langchain_langmem_tiered import TieredMemory

            core = await AsyncTieredMemory.connect(**options)
            memory = TieredMemory(memory=core, tenant="t1", user="u1", session=session)
            chain = text_chain(memory, ["Continuing in a new process."], capture)
            await chain.ainvoke({"input": text})
            found = await core.session("t1", "u1", session).messages()
            await core.close()
            return found

        stored = asyncio.run(run())
    print(  # noqa: T201
        json.dumps({"prompt": capture.prompts[-1], "stored": [[m.role, m.text] for m in stored]})
    )


if __name__ == "__main__":
    main()
