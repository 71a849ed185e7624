"""Content cache (seed 001): generated content by key or payload, with a TTL (90 days by
default), in the hot tier and Postgres; batch checks, forced regeneration, statistics and
export. ``memory.content_cache(tenant, namespace)`` gives one."""

from ._content import ContentCache
from ._content_async import AsyncContentCache
from .entries import DEFAULT_CACHE_TTL_SECONDS, CacheEntry, cache_digest

__all__ = [
    "DEFAULT_CACHE_TTL_SECONDS",
    "AsyncContentCache",
    "CacheEntry",
    "ContentCache",
    "cache_digest",
]
