"""langmem-tiered: long conversational memory for LLM agents at a fraction of the tokens.

Postgres keeps every message, a hot tier (Redis, or in-process) serves the recent part.
``TieredMemory`` is the sync API, ``AsyncTieredMemory`` the async one; both are one
implementation (the sync code is generated from the async code).
"""

from ._engine import Session, TieredMemory, UserHandle
from ._engine_async import AsyncSession, AsyncTieredMemory, AsyncUserHandle
from .admin import SessionInfo, SessionView, TenantInfo, UserInfo
from .cache import (
    DEFAULT_CACHE_TTL_SECONDS,
    AsyncContentCache,
    CacheEntry,
    ContentCache,
    cache_digest,
)
from .compliance import (
    AuditEntry,
    ErasureReport,
    Handover,
    RetentionPolicy,
    RetentionReport,
    RetentionRules,
)
from .compression import VERTICALS, ExtractiveSummarizer, Summarizer, render_summary_prompt
from .context import BlockProvider, ContextBlock, ContextBundle, ContextRequest
from .errors import (
    ConfigurationError,
    DecryptionError,
    EncryptionError,
    EncryptionKeyError,
    HandoverError,
    InvalidIdError,
    InvalidImportError,
    InvalidInputError,
    InvalidMessageError,
    LangmemError,
    MemoryClosedError,
    MessageTooLargeError,
    MigrationError,
    ModelError,
    RecordNotFoundError,
    RedactionError,
    RedactionPolicyError,
    StoreError,
    StoreUnavailableError,
    SummarizationError,
    TierError,
    TierUnavailableError,
)
from .facts import (
    DEFAULT_MULTI_VALUED_KEYS,
    Fact,
    FactExtractor,
    FactOperation,
    RuleBasedExtractor,
)
from .models import ROLES, Message, Role, SessionKey, Summary, ToolCall
from .recall import (
    AsyncRecallProvider,
    Embedder,
    FunctionEmbedder,
    LocalEmbedder,
    RecallHit,
    RecallProvider,
    SourceMessage,
)
from .tiers import (
    AsyncHotTier,
    AsyncInProcessTier,
    AsyncRedisTier,
    HotTier,
    InProcessTier,
    RedisTier,
)
from .tokens import (
    EstimatingTokenizer,
    FunctionTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    count_messages,
    message_tokens,
)
from .version import __version__

__all__ = [
    "AuditEntry",
    "ErasureReport",
    "Handover",
    "HandoverError",
    "RetentionPolicy",
    "RetentionReport",
    "RetentionRules",
    "DecryptionError",
    "EncryptionError",
    "EncryptionKeyError",
    "RedactionError",
    "RedactionPolicyError",
    "DEFAULT_CACHE_TTL_SECONDS",
    "AsyncContentCache",
    "CacheEntry",
    "ContentCache",
    "cache_digest",
    "AsyncRecallProvider",
    "Embedder",
    "FunctionEmbedder",
    "LocalEmbedder",
    "RecallHit",
    "RecallProvider",
    "SourceMessage",
    "DEFAULT_MULTI_VALUED_KEYS",
    "AsyncUserHandle",
    "Fact",
    "FactExtractor",
    "FactOperation",
    "RuleBasedExtractor",
    "UserHandle",
    "ROLES",
    "VERTICALS",
    "BlockProvider",
    "ContextBlock",
    "ContextBundle",
    "ContextRequest",
    "ExtractiveSummarizer",
    "FunctionTokenizer",
    "Summarizer",
    "Summary",
    "TiktokenTokenizer",
    "count_messages",
    "message_tokens",
    "render_summary_prompt",
    "AsyncHotTier",
    "AsyncInProcessTier",
    "AsyncRedisTier",
    "AsyncSession",
    "AsyncTieredMemory",
    "ConfigurationError",
    "EstimatingTokenizer",
    "HotTier",
    "InProcessTier",
    "InvalidIdError",
    "InvalidImportError",
    "InvalidInputError",
    "SessionInfo",
    "SessionView",
    "TenantInfo",
    "UserInfo",
    "InvalidMessageError",
    "LangmemError",
    "MemoryClosedError",
    "Message",
    "MessageTooLargeError",
    "MigrationError",
    "ModelError",
    "RecordNotFoundError",
    "RedisTier",
    "Role",
    "Session",
    "SessionKey",
    "StoreError",
    "StoreUnavailableError",
    "SummarizationError",
    "TierError",
    "TierUnavailableError",
    "TieredMemory",
    "Tokenizer",
    "ToolCall",
    "__version__",
]

for _name in (
    "TieredMemory",
    "AsyncTieredMemory",
    "Session",
    "AsyncSession",
    "UserHandle",
    "AsyncUserHandle",
    "ContentCache",
    "AsyncContentCache",
):
    globals()[_name].__module__ = "langmem_tiered"
del _name
