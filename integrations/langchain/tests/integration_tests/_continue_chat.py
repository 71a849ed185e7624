"""Run in a NEW process: continue a conversation through RunnableWithMessageHistory.

argv: options JSON (memory options), mode ("sync" or "async"), session id, input text.
Prints a JSON object: what the model saw (message dicts) and the stored history afterwards.
"""

from __future__ import annotations

import asyncio
import json
import sys

from langchain_core.messages import AIMessage, messages_to_dict

from tests.integration_tests._chain import build_chain


def main() -> None:
    options = json.loads(sys.argv[1])
    mode, session, text = sys.argv[2], sys.argv[3], sys.argv[4]
    seen: list = []
    reply = AIMessage("Continuing: you are Ana.", id="reply-new-process")
    if mode == "sync":
        from langmem_tiered import TieredMemory

        from langchain_langmem_tiered import TieredChatMessageHistory

        memory = TieredMemory.connect(**options)
        chain = build_chain(
            lambda sid: TieredChatMessageHistory(memory, tenant="t1", user="u1", session=sid),
            [reply],
            seen,
        )
        chain.invoke({"input": text}, config={"configurable": {"session_id": session}})
        stored = TieredChatMessageHistory(memory, tenant="t1", user="u1", session=session).messages
        memory.close()
    else:

        async def run() -> list:
            from langmem_tiered import AsyncTieredMemory

            from langchain_langmem_tiered import TieredChatMessageHistory

            memory = await AsyncTieredMemory.connect(**options)
            chain = build_chain(
                lambda sid: TieredChatMessageHistory(memory, tenant="t1", user="u1", session=sid),
                [reply],
                seen,
            )
            await chain.ainvoke({"input": text}, config={"configurable": {"session_id": session}})
            hist = TieredChatMessageHistory(memory, tenant="t1", user="u1", session=session)
            stored = await hist.aget_messages()
            await memory.close()
            return stored

        stored = asyncio.run(run())
    print(json.dumps({"seen": messages_to_dict(seen[-1]), "stored": messages_to_dict(stored)}))  # noqa: T201


if __name__ == "__main__":
    main()
