"""Deterministic fake models for tests (the real offline components are tested on their own)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence

from langmem_tiered.models import Message


class CountingSummarizer:
    """Records every range it is asked to fold; the summary lists the ranges folded so far.

    With ``log_path`` each call is also appended to a file, so calls made in several
    processes can be counted together.
    """

    name = "counting-fake"

    def __init__(self, delay: float = 0.0, log_path: str | None = None) -> None:
        self.delay = delay
        self.log_path = log_path
        self.calls: list[tuple[str, list[int]]] = []
        self._lock = threading.Lock()

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        if self.delay:
            time.sleep(self.delay)
        seqs = [m.seq or 0 for m in messages]
        with self._lock:
            self.calls.append((previous_summary, seqs))
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "seqs": seqs}) + "\n")
        part = f"[{seqs[0]}-{seqs[-1]}]"
        return f"{previous_summary} {part}".strip()

    async def asummarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        return self.summarize(previous_summary, messages, vertical, max_tokens=max_tokens)
