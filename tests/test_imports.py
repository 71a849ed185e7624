"""The public names are the contract: pin them."""

import langmem_tiered

EXPECTED = {
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
    "AsyncRecallProvider",
    "DEFAULT_CACHE_TTL_SECONDS",
    "AsyncContentCache",
    "CacheEntry",
    "ContentCache",
    "cache_digest",
    "Embedder",
    "FunctionEmbedder",
    "LocalEmbedder",
    "RecallHit",
    "RecallProvider",
    "SourceMessage",
    "ROLES",
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
    "InvalidInputError",
    "InvalidMessageError",
    "LangmemError",
    "MemoryClosedError",
    "Message",
    "MessageTooLargeError",
    "MigrationError",
    "RecordNotFoundError",
    "RedisTier",
    "Role",
    "Session",
    "SessionKey",
    "StoreError",
    "StoreUnavailableError",
    "TierError",
    "TierUnavailableError",
    "TieredMemory",
    "Tokenizer",
    "ToolCall",
    "__version__",
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
    "ModelError",
    "SummarizationError",
    "DEFAULT_MULTI_VALUED_KEYS",
    "AsyncUserHandle",
    "Fact",
    "FactExtractor",
    "FactOperation",
    "RuleBasedExtractor",
    "UserHandle",
    "InvalidImportError",
    "SessionInfo",
    "SessionView",
    "TenantInfo",
    "UserInfo",
}


def test_all_is_pinned() -> None:
    assert set(langmem_tiered.__all__) == EXPECTED
    for name in langmem_tiered.__all__:
        assert hasattr(langmem_tiered, name), name


def test_core_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, langmem_tiered; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', "
        "'llama_index', 'langgraph')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_hierarchy() -> None:
    from langmem_tiered import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, langmem_tiered.LangmemError)
        assert cls.__module__ == "langmem_tiered"
    assert issubclass(langmem_tiered.InvalidIdError, ValueError)
    assert issubclass(langmem_tiered.RecordNotFoundError, KeyError)
