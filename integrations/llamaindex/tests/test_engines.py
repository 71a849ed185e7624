"""TieredMemory as the memory= of LlamaIndex chat engines, sync, async and streaming."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import (
    CondensePlusContextChatEngine,
    ContextChatEngine,
    SimpleChatEngine,
)
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from llama_index.memory.langmem_tiered import TieredMemory

from ._helpers import roles

TURNS = ["hello there", "my name is Ana", "what is my name?"]


def _retriever() -> Any:
    index = VectorStoreIndex.from_documents(
        [Document(text="Lisbon is the capital of Portugal.")],
        embed_model=MockEmbedding(embed_dim=8),
    )
    return index.as_retriever(similarity_top_k=1)


def _engine(kind: str, memory: TieredMemory) -> Any:
    llm = MockLLM(max_tokens=5)
    if kind == "simple":
        return SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="sys")
    if kind == "context":
        return ContextChatEngine.from_defaults(retriever=_retriever(), llm=llm, memory=memory)
    return CondensePlusContextChatEngine.from_defaults(
        retriever=_retriever(), llm=llm, memory=memory
    )


def _check_history(memory: TieredMemory, n: int) -> None:
    history = memory.get_all()
    assert roles(history) == ["user", "assistant"] * n
    assert [m.content for m in history[::2]] == TURNS[:n]
    assert all(m.content for m in history[1::2])


@pytest.mark.parametrize("kind", ["simple", "context", "condense"])
def test_sync_chat(kind: str, make_memory: Any) -> None:
    memory = make_memory()
    engine = _engine(kind, memory)
    for turn in TURNS:
        response = engine.chat(turn)
        assert str(response)
    _check_history(memory, 3)
    assert engine.chat_history == memory.get_all()
    # a new engine (new process, same fields) continues the conversation
    again = _engine(kind, TieredMemory.from_dict(memory.to_dict()))
    again.chat("one more")
    assert len(memory.get_all()) == 8
    engine.reset()
    assert memory.get_all() == []


@pytest.mark.parametrize("kind", ["simple", "context", "condense"])
def test_sync_stream_chat(kind: str, make_memory: Any) -> None:
    memory = make_memory()
    engine = _engine(kind, memory)
    for turn in TURNS:
        response = engine.stream_chat(turn)
        text = "".join(response.response_gen)
        assert text
    _check_history(memory, 3)


@pytest.mark.parametrize("kind", ["simple", "context", "condense"])
async def test_async_chat_and_stream(kind: str, make_memory: Any, aclients: None) -> None:
    memory = make_memory()
    engine = _engine(kind, memory)
    assert str(await engine.achat(TURNS[0]))
    assert str(await engine.achat(TURNS[1]))
    response = await engine.astream_chat(TURNS[2])
    chunks = [token async for token in response.async_response_gen()]
    assert "".join(chunks)
    _check_history(memory, 3)


def test_chat_with_chat_history_replaces(make_memory: Any) -> None:
    memory = make_memory()
    engine = _engine("simple", memory)
    engine.chat("first")
    seed = [ChatMessage(role="user", content="seeded"), ChatMessage(role="assistant", content="ok")]
    engine.chat("second", chat_history=seed)
    assert [m.content for m in memory.get_all()][:3] == ["seeded", "ok", "second"]


def test_memory_cls_from_defaults(fields: dict[str, Any]) -> None:
    class Configured(TieredMemory):
        @classmethod
        def from_defaults(cls, **kwargs: Any) -> TieredMemory:  # type: ignore[override]
            return TieredMemory.from_defaults(session="mc-1", **fields, **kwargs)

    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=3), memory_cls=Configured)
    engine.chat("hi")
    memory = engine._memory
    assert isinstance(memory, TieredMemory)
    assert memory.token_limit == 3900 - 256
    assert len(memory.get_all()) == 2


class _Recording(TieredMemory):
    """Records what engines pass to get() (configuration only, so still a real memory)."""

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        _SEEN.append(kwargs)
        return super().get(input, **kwargs)


_SEEN: list[dict[str, Any]] = []


def test_simple_engine_counts_its_system_prompt(fields: dict[str, Any]) -> None:
    """SimpleChatEngine measures its prefix messages with memory.tokenizer_fn; get() then
    leaves room for them."""
    _SEEN.clear()
    memory = _Recording(**fields, session="sp-1", token_limit=120)
    prompt = "You are a careful assistant who answers in one short sentence. " * 3
    engine = SimpleChatEngine.from_defaults(
        llm=MockLLM(max_tokens=5), memory=memory, system_prompt=prompt
    )
    for i in range(6):
        engine.chat(f"question {i} " + "about the weather " * 4)
    initial = _SEEN[-1]["initial_token_count"]
    assert initial == len(memory.tokenizer_fn(prompt)) > 0
    seen = memory.get(initial_token_count=initial)
    assert 0 < len(seen) < len(memory.get()) < len(memory.get_all())
    assert (seen[0].content or "").startswith("question")
