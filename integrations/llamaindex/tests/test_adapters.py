"""Tokenizer and embedder adapters, used by a real memory."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.embeddings import MockEmbedding

from llama_index.memory.langmem_tiered import (
    LlamaIndexTokenizer,
    llama_index_embedder,
    register_profile,
)


def test_tokenizer_offline() -> None:
    tokenizer = LlamaIndexTokenizer()
    assert tokenizer.count("hello world") == 2
    assert LlamaIndexTokenizer(lambda t: t.split(), name="words").count("a b c") == 3


def test_embedder_and_tokenizer_in_a_memory(make_memory: Any) -> None:
    embedder = llama_index_embedder(MockEmbedding(embed_dim=16))
    assert embedder.dimension == 16
    assert len(embedder.embed_documents(["a", "b"])) == 2
    register_profile("adapters-test", tokenizer=LlamaIndexTokenizer(), embedder=embedder)
    memory = make_memory(profile="adapters-test")
    memory.put(ChatMessage(role="user", content="hello world"))
    core = memory._sync_memory()
    assert isinstance(core.tokenizer, LlamaIndexTokenizer)
    assert core.embedder is not None
    assert memory._session().messages()[0].token_count is not None
