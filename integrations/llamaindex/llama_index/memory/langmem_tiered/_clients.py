"""Core memories shared per process, created lazily from JSON configuration.

LlamaIndex re-creates memories from their serialized form (an agent's ``Context`` is rebuilt
from ``to_dict()`` on every run), so the integration's classes keep only configuration in
their fields and look their core memory up here: one sync
:class:`langmem_tiered.TieredMemory` per configuration, and one
:class:`langmem_tiered.AsyncTieredMemory` per configuration *and event loop* (an async
connection pool belongs to the loop that opened it; ``llama_index.core.async_utils.asyncio_run``
may run each call in a fresh loop).

Objects that are not JSON (a summarizer, a tokenizer, an embedder...) are registered under a
profile name with :func:`register_profile`; the configuration then names the profile.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory

__all__ = [
    "aclose_clients",
    "async_client",
    "close_clients",
    "config_key",
    "register_profile",
    "sync_client",
]

_lock = threading.RLock()
_profiles: dict[str, dict[str, Any]] = {}
_sync: dict[str, TieredMemory] = {}
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncTieredMemory]] = (
    weakref.WeakKeyDictionary()
)


def register_profile(name: str, **options: Any) -> None:
    """Register core constructor options (any objects) under ``name`` for this process.

    Example: ``register_profile("prod", summarizer=LlamaIndexSummarizer(llm),
    tokenizer=LlamaIndexTokenizer())`` and then ``TieredMemory(..., profile="prod")``.
    Memories already created for the profile keep their old options (call
    :func:`close_clients` first to change them).

    Raises:
        ConfigurationError: an empty name, or connection options (they belong in the fields).
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError("a profile name is a non-empty string")
    bad = {"postgres_url", "redis_url", "schema", "redis_prefix", "path"} & set(options)
    if bad:
        raise ConfigurationError(f"give {sorted(bad)} as fields of the memory, not in a profile")
    with _lock:
        _profiles[name] = dict(options)


def config_key(config: Mapping[str, Any]) -> str:
    """Stable key of a configuration (JSON, keys sorted)."""
    try:
        return json.dumps(dict(config), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"memory options must be JSON values: {exc}") from exc


def _options(config: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(config.get("options") or {})
    profile = config.get("profile")
    if profile is not None:
        with _lock:
            if profile not in _profiles:
                raise ConfigurationError(
                    f"profile {profile!r} is not registered in this process (register_profile)"
                )
            options = {**_profiles[profile], **options}
    kwargs: dict[str, Any] = {
        "schema": config["schema"],
        "redis_prefix": config["redis_prefix"],
        **options,
    }
    if config.get("postgres_url") is not None:
        kwargs["postgres_url"] = config["postgres_url"]
        kwargs["redis_url"] = config.get("redis_url")
    else:
        if config.get("redis_url") is not None:
            kwargs["redis_url"] = config["redis_url"]
        if config.get("path") is not None:
            kwargs["path"] = config["path"]
    return kwargs


def sync_client(config: Mapping[str, Any]) -> TieredMemory:
    """The process's sync core memory for ``config`` (created on first use, opened lazily)."""
    key = config_key(config)
    with _lock:
        memory = _sync.get(key)
        if memory is None:
            memory = TieredMemory(**_options(config))
            _sync[key] = memory
        return memory


def async_client(config: Mapping[str, Any]) -> AsyncTieredMemory:
    """The async core memory for ``config`` in the running event loop."""
    loop = asyncio.get_running_loop()
    key = config_key(config)
    with _lock:
        per_loop = _async.get(loop)
        if per_loop is None:
            per_loop = {}
            _async[loop] = per_loop
        memory = per_loop.get(key)
        if memory is None:
            memory = AsyncTieredMemory(**_options(config))
            per_loop[key] = memory
        return memory


def close_clients() -> None:
    """Close the sync core memories of this process (they are re-created on next use)."""
    with _lock:
        memories = list(_sync.values())
        _sync.clear()
    for memory in memories:
        memory.close()


async def aclose_clients() -> None:
    """Close the async core memories of the running loop (re-created on next use)."""
    loop = asyncio.get_running_loop()
    with _lock:
        per_loop = _async.pop(loop, {})
    for memory in per_loop.values():
        await memory.close()
