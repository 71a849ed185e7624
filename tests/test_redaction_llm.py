"""The ``llm`` redaction stage: text leaving for a user's model is redacted; storage keeps it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langmem_tiered import FunctionEmbedder, Message, TieredMemory
from langmem_tiered.compliance import RedactionPolicy
from langmem_tiered.facts import Fact, FactOperation

SECRET = "meu CPF é 529.982.247-25 e o e-mail ana.souza@example.com"


class RecordingSummarizer:
    """A user's summarizer (not one of the package's offline ones): it records its input."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        self.seen += [m.text for m in messages]
        return "resumo: a cliente quer marcar uma consulta"

    async def asummarize(self, *args: Any, **kwargs: Any) -> str:
        return self.summarize(*args, **kwargs)


class RecordingExtractor:
    name = "recording-extractor"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def extract(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[FactOperation]:
        self.seen += [m.text for m in messages]
        return []

    async def aextract(
        self, messages: Sequence[Message], current: Sequence[Fact]
    ) -> list[FactOperation]:
        return self.extract(messages, current)


def _embedder(seen: list[str]) -> FunctionEmbedder:
    def documents(texts: list[str]) -> list[list[float]]:
        seen.extend(texts)
        return [[float(len(t) % 7 + 1), 1.0, 0.5] for t in texts]

    return FunctionEmbedder(documents, model_id="recording-3", dimension=3)


def test_text_for_user_models_is_redacted_and_storage_keeps_it(
    memory_options: dict[str, Any],
) -> None:
    summarizer, extractor, embedded = RecordingSummarizer(), RecordingExtractor(), []
    mem = TieredMemory.connect(
        **memory_options,
        redaction=RedactionPolicy(where="llm"),
        summarizer=summarizer,
        extractor=extractor,
        embedder=_embedder(embedded),
        buffer_tokens=20,
        min_fold_tokens=10,
    )
    try:
        s = mem.session("t", "u", "s")
        for n in range(4):
            s.add_message(role="user", content=f"Olá {n}, {SECRET}. Quero uma consulta.")
            s.add_message(role="assistant", content=f"Certo {n}, vou verificar a agenda.")
        assert mem.flush(timeout=60)
        assert mem.user("t", "u").recall("agenda consulta", k=3)  # the query is redacted too
        for what, seen in (("summarizer", summarizer.seen), ("extractor", extractor.seen)):
            assert seen, what
            joined = "\n".join(seen)
            assert "529.982.247-25" not in joined and "ana.souza@" not in joined, what
            assert "***.***.***-25" in joined, what
        assert embedded and not any("529.982.247-25" in t for t in embedded)
        # stored as written: the policy redacts only what leaves
        assert SECRET in s.messages()[0].text
        assert mem.pii_counts.get("cpf", 0) >= 4
    finally:
        mem.close()


def test_offline_models_see_the_text_as_stored(memory_options: dict[str, Any]) -> None:
    mem = TieredMemory.connect(
        **memory_options,
        redaction=RedactionPolicy(where="llm"),
        buffer_tokens=20,
        min_fold_tokens=10,
    )
    try:
        s = mem.session("t", "u", "s")
        for n in range(4):
            s.add_message(role="user", content=f"Olá {n}, {SECRET}. Quero uma consulta.")
        assert mem.flush(timeout=60)
        # the extractive summarizer runs in this process: nothing left, nothing redacted
        assert mem.pii_counts == {}
        assert SECRET in s.messages()[0].text
    finally:
        mem.close()
