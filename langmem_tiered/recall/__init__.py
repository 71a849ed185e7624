"""Semantic recall (L3): messages, summaries and facts found again by meaning and words.

Items live in Postgres with a full-text vector and, when an :class:`Embedder` is configured
and the server has pgvector, an embedding; a search fuses both rankings by reciprocal rank and
returns :class:`RecallHit` objects with their provenance.
"""

from ._recall import RecallProvider
from ._recall_async import AsyncRecallProvider
from .embedders import Embedder, FunctionEmbedder, LocalEmbedder, resolve_embedder
from .items import TEXT_SEARCH_CONFIGS, detect_config
from .model import RECALL_KINDS, RecallHit, SourceMessage

__all__ = [
    "RECALL_KINDS",
    "TEXT_SEARCH_CONFIGS",
    "AsyncRecallProvider",
    "Embedder",
    "FunctionEmbedder",
    "LocalEmbedder",
    "RecallHit",
    "RecallProvider",
    "SourceMessage",
    "detect_config",
    "resolve_embedder",
]
