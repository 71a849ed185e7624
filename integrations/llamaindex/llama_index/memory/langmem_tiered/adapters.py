"""Adapters: LlamaIndex's tokenizer and embedding models as the core's Tokenizer and Embedder.

Token counting stays offline: :class:`LlamaIndexTokenizer` defaults to ``Settings.tokenizer``
(llama-index-core's bundled tiktoken ``cl100k_base`` files, which it uses unless the user set
``TIKTOKEN_CACHE_DIR``; then that folder is respected).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from langmem_tiered import ConfigurationError, FunctionEmbedder, FunctionTokenizer

__all__ = ["LlamaIndexTokenizer", "llama_index_embedder"]


class LlamaIndexTokenizer(FunctionTokenizer):
    """A ``tokenizer_fn`` (``text -> tokens``) as the core's Tokenizer.

    Args:
        tokenizer_fn: Default ``llama_index.core.Settings.tokenizer``.
        name: Stored with token counts (a different tokenizer is a different name).
    """

    def __init__(
        self, tokenizer_fn: Callable[[str], Sequence[Any]] | None = None, name: str | None = None
    ) -> None:
        if tokenizer_fn is None:
            from llama_index.core import Settings

            tokenizer_fn = Settings.tokenizer
        if not callable(tokenizer_fn):
            raise ConfigurationError("tokenizer_fn must be callable: text -> list of tokens")
        fn = tokenizer_fn
        super().__init__(lambda text: len(fn(text)), name=name or "llama_index")


def llama_index_embedder(
    embed_model: BaseEmbedding, *, model_id: str | None = None, dimension: int | None = None
) -> FunctionEmbedder:
    """A LlamaIndex ``BaseEmbedding`` as the core's Embedder (``dimension`` is probed once with
    ``get_query_embedding`` when not given)."""
    if not isinstance(embed_model, BaseEmbedding):
        raise ConfigurationError(
            f"expected a LlamaIndex BaseEmbedding, not {type(embed_model).__name__}"
        )
    size = dimension if dimension is not None else len(embed_model.get_query_embedding("probe"))
    return FunctionEmbedder(
        documents=lambda texts: embed_model.get_text_embedding_batch(list(texts)),
        query=embed_model.get_query_embedding,
        model_id=model_id or f"llama_index:{embed_model.class_name()}:{embed_model.model_name}",
        dimension=size,
    )
