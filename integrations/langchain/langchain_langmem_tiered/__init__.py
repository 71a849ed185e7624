"""LangChain integration of langmem-tiered.

* :class:`TieredChatMessageHistory`: a ``BaseChatMessageHistory`` (for
  ``RunnableWithMessageHistory``) on langmem-tiered's Postgres + Redis store, lossless for every
  LangChain message type.
* Adapters that plug LangChain models into the core: :class:`LangChainEmbedder`,
  :class:`LangChainSummarizer`, :class:`LangChainFactExtractor`, :class:`LangChainTokenizer`.
* :class:`TieredMemory`: the classic ``BaseMemory`` (``langchain_classic``) for
  ``ConversationChain``, ``LLMChain`` and ``AgentExecutor``: the composed context in, the turn out.
* :class:`TieredFactsRetriever` / :class:`TieredRecallRetriever`: ``BaseRetriever``s over a
  user's facts (``as_of``) and over hybrid recall, with provenance metadata.

Importing this package makes no network call.
"""

from ._convert import RESERVED_METADATA_KEY, from_core, to_core
from .adapters import (
    LangChainEmbedder,
    LangChainFactExtractor,
    LangChainSummarizer,
    LangChainTokenizer,
)
from .chat_message_histories import TieredChatMessageHistory
from .memory import TieredMemory
from .retrievers import TieredFactsRetriever, TieredRecallRetriever
from .version import __version__

__all__ = [
    "RESERVED_METADATA_KEY",
    "LangChainEmbedder",
    "LangChainFactExtractor",
    "LangChainSummarizer",
    "LangChainTokenizer",
    "TieredChatMessageHistory",
    "TieredFactsRetriever",
    "TieredMemory",
    "TieredRecallRetriever",
    "__version__",
    "from_core",
    "to_core",
]
