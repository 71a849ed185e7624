"""Which core memories a LangChain class uses, and their connection pools (shared helpers).

Every class of this package takes a sync :class:`~langmem_tiered.TieredMemory`, an
:class:`~langmem_tiered.AsyncTieredMemory`, both (``memory=`` + ``async_memory=``), or (where it
offers it) connection settings from which it opens a memory of each kind itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory

__all__ = ["async_pool", "resolve_memories", "sync_pool"]


def resolve_memories(
    memory: Any,
    async_memory: Any = None,
    *,
    postgres_url: str | None = None,
    redis_url: str | None = None,
    memory_options: Mapping[str, Any] | None = None,
    urls: bool = True,
) -> tuple[TieredMemory | None, AsyncTieredMemory | None, list[Any]]:
    """``(sync memory, async memory, memories opened here)`` from a class's arguments.

    Raises:
        ConfigurationError: no memory at all, both a memory and ``postgres_url``, a wrong type,
            or ``redis_url`` without ``postgres_url``.
    """
    sync_memory: TieredMemory | None = None
    owned: list[Any] = []
    if postgres_url is not None:
        if memory is not None or async_memory is not None:
            raise ConfigurationError("give memory= or postgres_url=, not both")
        options = dict(memory_options or {})
        sync_memory = TieredMemory(postgres_url=postgres_url, redis_url=redis_url, **options)
        async_memory = AsyncTieredMemory(postgres_url=postgres_url, redis_url=redis_url, **options)
        owned = [sync_memory, async_memory]
    elif isinstance(memory, AsyncTieredMemory):
        if async_memory is not None:
            raise ConfigurationError("memory is already an AsyncTieredMemory")
        async_memory = memory
    elif isinstance(memory, TieredMemory):
        sync_memory = memory
    elif memory is None:
        if async_memory is None:
            raise ConfigurationError(
                "give memory= (TieredMemory/AsyncTieredMemory)"
                + (" or postgres_url=" if urls else "")
            )
    else:
        raise ConfigurationError(
            f"memory must be a TieredMemory or AsyncTieredMemory, not {type(memory).__name__}"
        )
    if async_memory is not None and not isinstance(async_memory, AsyncTieredMemory):
        raise ConfigurationError("async_memory must be an AsyncTieredMemory")
    if redis_url is not None and postgres_url is None:
        raise ConfigurationError("redis_url goes with postgres_url")
    return sync_memory, async_memory, owned


def sync_pool(memory: TieredMemory | AsyncTieredMemory, what: str) -> Any:
    """The connection pool of a sync memory, opened if needed."""
    if isinstance(memory, AsyncTieredMemory):
        raise ConfigurationError(f"{what} over an AsyncTieredMemory: use the a* methods")
    if memory.store is None:
        memory.open()
    assert memory.store is not None
    return memory.store.pool


async def async_pool(memory: AsyncTieredMemory) -> Any:
    """The connection pool of an async memory, opened if needed."""
    if memory.store is None:
        await memory.open()
    assert memory.store is not None
    return memory.store.pool
