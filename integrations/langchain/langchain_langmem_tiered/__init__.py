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
* :class:`TieredMemoryMiddleware`: memory for LangChain 1.x ``create_agent`` (which takes no
  ``memory=``): the composed context before each model call, the new messages recorded once.
* :class:`TieredCache`: a ``BaseCache`` for ``set_llm_cache``: Redis first, Postgres
  (``lmt_llm_cache``) behind, TTL 90 days by default, hit/miss and tokens-saved ``stats()``.
* :class:`TieredStore`: a LangGraph ``BaseStore`` (``create_agent(store=...)``) whose namespaces
  are ``(tenant, user, *path)`` with tenant and user compared exactly.

Importing this package makes no network call.
"""

from ._convert import RESERVED_METADATA_KEY, from_core, to_core
from .adapters import (
    LangChainEmbedder,
    LangChainFactExtractor,
    LangChainSummarizer,
    LangChainTokenizer,
)
from .cache import TieredCache
from .chat_message_histories import TieredChatMessageHistory
from .memory import TieredMemory
from .middleware import TieredMemoryMiddleware, TieredMemoryState
from .retrievers import TieredFactsRetriever, TieredRecallRetriever
from .store import TieredStore
from .version import __version__

__all__ = [
    "RESERVED_METADATA_KEY",
    "LangChainEmbedder",
    "LangChainFactExtractor",
    "LangChainSummarizer",
    "LangChainTokenizer",
    "TieredCache",
    "TieredChatMessageHistory",
    "TieredFactsRetriever",
    "TieredMemory",
    "TieredMemoryMiddleware",
    "TieredMemoryState",
    "TieredRecallRetriever",
    "TieredStore",
    "__version__",
    "from_core",
    "to_core",
]
