"""LlamaIndex integration of langmem-tiered (``llama-index-memory-langmem-tiered``)."""

from ._clients import aclose_clients, close_clients, register_profile
from ._convert import RESERVED_METADATA_KEY, from_core, to_core
from .adapters import LlamaIndexTokenizer, llama_index_embedder
from .blocks import RecallMemoryBlock, SummaryMemoryBlock, TemporalFactsMemoryBlock
from .chat_store import ARCHIVED_STATE_SLOT, TieredChatStore
from .memory import TieredMemory
from .models import (
    FactOperationOutput,
    FactOperations,
    LlamaIndexFactExtractor,
    LlamaIndexSummarizer,
    llm_label,
)
from .retrievers import TieredFactsRetriever, TieredRecallRetriever
from .version import __version__

__all__ = [
    "FactOperationOutput",
    "FactOperations",
    "LlamaIndexFactExtractor",
    "LlamaIndexSummarizer",
    "llm_label",
    "LlamaIndexTokenizer",
    "llama_index_embedder",
    "TieredFactsRetriever",
    "TieredRecallRetriever",
    "RecallMemoryBlock",
    "SummaryMemoryBlock",
    "TemporalFactsMemoryBlock",
    "ARCHIVED_STATE_SLOT",
    "TieredChatStore",
    "RESERVED_METADATA_KEY",
    "TieredMemory",
    "__version__",
    "aclose_clients",
    "close_clients",
    "from_core",
    "register_profile",
    "to_core",
]
