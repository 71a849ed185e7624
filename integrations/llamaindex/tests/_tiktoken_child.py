"""Build the default ``LlamaIndexTokenizer`` in a fresh interpreter (tiktoken and llama-index
cache encodings per process) and report which tiktoken files were opened (an audit hook on
``open``), as one JSON line. Run with the environment under test (``TIKTOKEN_CACHE_DIR``, a
proxy that refuses connections)."""

from __future__ import annotations

import json
import os
import sys

opened: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and isinstance(args[0], str):
        opened.append(os.path.abspath(args[0]))


sys.addaudithook(_audit)

from langmem_tiered import ConfigurationError  # noqa: E402

from llama_index.memory.langmem_tiered import LlamaIndexTokenizer  # noqa: E402

result: dict[str, object] = {}
try:
    tokenizer = LlamaIndexTokenizer()
    result.update(name=tokenizer.name, count=tokenizer.count("hello world, tiktoken"))
except ConfigurationError as exc:
    result["error"] = str(exc)
result["opened"] = [p for p in opened if "tiktoken" in p or "9b5ad71b" in p]
result["env"] = os.environ.get("TIKTOKEN_CACHE_DIR")
sys.stdout.write(json.dumps(result) + "\n")
