"""Adapters: LlamaIndex's tokenizer and embedding models as the core's Tokenizer and Embedder.

Token counting stays offline: :class:`LlamaIndexTokenizer` defaults to ``Settings.tokenizer``
(llama-index-core's bundled tiktoken ``cl100k_base`` files, which it uses unless the user set
``TIKTOKEN_CACHE_DIR``; then that folder is respected).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from langmem_tiered import ConfigurationError, FunctionEmbedder, FunctionTokenizer

__all__ = ["LlamaIndexTokenizer", "llama_index_embedder"]

_CL100K_CACHE_KEY = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
"""tiktoken's cache name of ``cl100k_base`` (SHA-1 of its download URL)."""


def _tokenizer_name(fn: Callable[..., Any]) -> str:
    """``tiktoken:<encoding>`` for a (partial of a) tiktoken ``Encoding.encode`` (what
    ``Settings.tokenizer`` is by default), so counts match the core's own tiktoken counts;
    else ``llama_index:<qualified name>``."""
    inner = fn.func if isinstance(fn, functools.partial) else fn
    owner = getattr(inner, "__self__", None)
    encoding = getattr(owner, "name", None)
    if type(owner).__module__.startswith("tiktoken") and isinstance(encoding, str):
        return f"tiktoken:{encoding}"
    qualname = getattr(inner, "__qualname__", type(inner).__qualname__)
    module = getattr(inner, "__module__", None)
    return f"llama_index:{module}.{qualname}" if module else f"llama_index:{qualname}"


def _settings_tokenizer() -> Callable[[str], Sequence[Any]]:
    from llama_index.core import Settings

    try:
        return Settings.tokenizer
    except Exception as exc:  # tiktoken could not load its file (offline, bad cache dir)
        cache = os.environ.get("TIKTOKEN_CACHE_DIR")
        where = (
            f"TIKTOKEN_CACHE_DIR={cache!r} holds no usable cl100k_base file "
            f"({_CL100K_CACHE_KEY}; llama-index-core ships one in "
            "llama_index/core/_static/tiktoken_cache)"
            if cache is not None
            else "the tiktoken file could not be loaded"
        )
        raise ConfigurationError(
            f"Settings.tokenizer failed: {where} and it could not be downloaded ({exc}); "
            "copy the file there, unset TIKTOKEN_CACHE_DIR, or pass tokenizer_fn="
        ) from exc


class LlamaIndexTokenizer(FunctionTokenizer):
    """A ``tokenizer_fn`` (``text -> tokens``) as the core's Tokenizer.

    Args:
        tokenizer_fn: Default ``llama_index.core.Settings.tokenizer`` (tiktoken ``cl100k_base``
            from llama-index-core's bundled file, or from ``$TIKTOKEN_CACHE_DIR`` when set).
        name: Stored with token counts; default ``tiktoken:<encoding>`` for a tiktoken
            encoder, else ``llama_index:<function>`` (a different tokenizer, a different name).

    Raises:
        ConfigurationError: ``tokenizer_fn`` is not callable, or the default tokenizer cannot
            load its file (e.g. ``TIKTOKEN_CACHE_DIR`` points at a folder without it and
            there is no network); nothing falls back silently to other counts.
    """

    def __init__(
        self, tokenizer_fn: Callable[[str], Sequence[Any]] | None = None, name: str | None = None
    ) -> None:
        if tokenizer_fn is None:
            tokenizer_fn = _settings_tokenizer()
        if not callable(tokenizer_fn):
            raise ConfigurationError("tokenizer_fn must be callable: text -> list of tokens")
        fn = tokenizer_fn
        super().__init__(lambda text: len(fn(text)), name=name or _tokenizer_name(fn))


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
