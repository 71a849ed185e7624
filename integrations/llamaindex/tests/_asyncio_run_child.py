"""Three ``asyncio.run`` calls on one memory, with clients never closed (what a script or a
request handler does): each must return, and so must the interpreter. Prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import sys

from llama_index.core.base.llms.types import ChatMessage

from llama_index.memory.langmem_tiered import TieredMemory

memory = TieredMemory.from_json(sys.argv[1])


async def turn(i: int) -> int:
    await memory.aput(ChatMessage(role="user", content=f"run {i}"))
    return len(await memory.aget_all())


sys.stdout.write(json.dumps([asyncio.run(turn(i)) for i in range(3)]) + "\n")
