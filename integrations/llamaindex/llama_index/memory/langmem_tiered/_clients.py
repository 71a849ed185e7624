"""Core memories shared per process, created lazily from JSON configuration.

LlamaIndex re-creates memories from their serialized form (an agent's ``Context`` is rebuilt
from ``to_dict()`` on every run), so the integration's classes keep only configuration in
their fields and look their core memory up here: one sync
:class:`langmem_tiered.TieredMemory` and one :class:`langmem_tiered.AsyncTieredMemory` per
configuration.

The async memories live on one event loop of this module's own (a daemon thread, started on
first use), and every async call of the integration runs there (:func:`on_runner`,
:class:`RemoteAsync`), awaited from the caller's loop. The callers' loops come and go:
``asyncio.run(agent.run(...))`` per request, ``llama_index.core.async_utils.asyncio_run`` in a
fresh loop per call from a worker thread (a sync ``Memory`` in ``stream_chat``). A connection
pool and the core's background jobs bound to such a loop would be cut off when it closes (and
``asyncio.run`` hangs while cancelling a psycopg pool that is still opening connections), or
frozen while that loop is blocked; on the runner loop they are not.

Objects that are not JSON (a summarizer, a tokenizer, an embedder...) are registered under a
profile name with :func:`register_profile`; the configuration then names the profile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from langmem_tiered import AsyncTieredMemory, ConfigurationError, TieredMemory

__all__ = [
    "RemoteAsync",
    "aclose_clients",
    "async_client",
    "close_clients",
    "config_key",
    "on_runner",
    "register_profile",
    "runner_loop",
    "sync_client",
]

T = TypeVar("T")

_lock = threading.RLock()
_profiles: dict[str, dict[str, Any]] = {}
_sync: dict[str, TieredMemory] = {}
_async: dict[str, AsyncTieredMemory] = {}
_runner: asyncio.AbstractEventLoop | None = None


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


def runner_loop() -> asyncio.AbstractEventLoop:
    """The module's event loop (a daemon thread ``langmem-llama-index``, started once)."""
    global _runner
    with _lock:
        if _runner is None or _runner.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="langmem-llama-index", daemon=True).start()
            ready.wait()
            _runner = loop
        return _runner


async def on_runner(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the runner loop (directly when already there)."""
    loop = runner_loop()
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def run_on_runner(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the runner loop and wait for it from a thread without a running loop."""
    future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, runner_loop())
    return future.result(timeout)


class RemoteAsync:
    """Calls the async methods of a core object (``target()``, looked up on the runner loop)
    there: ``await RemoteAsync(lambda: memory.session(...)).messages()``."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            async def run() -> Any:
                return await getattr(self._target(), name)(*args, **kwargs)

            return await on_runner(run())

        return call


def async_client(config: Mapping[str, Any]) -> AsyncTieredMemory:
    """The process's async core memory for ``config``; use it on the runner loop only."""
    key = config_key(config)
    with _lock:
        memory = _async.get(key)
        if memory is None:
            memory = AsyncTieredMemory(**_options(config))
            _async[key] = memory
        return memory


async def _close_async(memories: list[AsyncTieredMemory]) -> None:
    for memory in memories:
        await memory.close()


def close_clients() -> None:
    """Close this process's core memories, waiting for their background work (they are
    re-created on next use). Call it from code without a running event loop."""
    with _lock:
        memories = list(_sync.values())
        _sync.clear()
        amemories = list(_async.values())
        _async.clear()
    for memory in memories:
        memory.close()
    if amemories:
        run_on_runner(_close_async(amemories))


async def aclose_clients() -> None:
    """Async :func:`close_clients`."""
    with _lock:
        memories = list(_sync.values())
        _sync.clear()
        amemories = list(_async.values())
        _async.clear()
    for memory in memories:
        await asyncio.to_thread(memory.close)
    if amemories:
        await on_runner(_close_async(amemories))
