# WARNING: this file is generated from langmem_tiered/tiers/_inprocess_async.py by tools/async_to_sync.py. DO NOT EDIT.
"""In-process hot tier: a bounded LRU of session windows with a sliding TTL.

For the embedded default and single-process use. It follows the same rules as the Redis tier
(:mod:`.base`) so the engine cannot tell them apart; the tier contract tests run against both.
A plain :class:`threading.Lock` guards the dict: no ``await`` happens while it is held, so the
async twin can share it with threads (Jupyter, ``asyncio.to_thread``) safely.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..errors import ConfigurationError
from ..models import Message, SessionKey
from .base import (
    DEFAULT_HOT_TTL_SECONDS,
    DEFAULT_WINDOW_SIZE,
    MAX_CONTEXTS_PER_SESSION,
    MAX_WINDOW_SIZE,
    HotRead,
    HotState,
)

__all__ = ["InProcessTier"]


@dataclass
class _Entry:
    seq: int | None = None
    ok: bool = False
    lo: int | None = None
    window: deque[Message] = field(default_factory=deque)
    state: dict[str, Any] | None = None
    state_version: int | None = None
    contexts: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    expires_at: float = 0.0


class InProcessTier:
    """Hot tier living in this process's memory.

    Args:
        window_size: Messages kept per session.
        ttl_seconds: Sliding time-to-live of a session's entry.
        max_sessions: Least-recently-used sessions beyond this are dropped.
        exclusive: True when this process is the only writer of the sessions it serves (a
            single-process app). Otherwise (the default) another process sharing the same
            Postgres may have appended, so the engine checks each window's last seq against
            Postgres (one primary-key lookup) before serving it.
    """

    name = "inprocess"

    def __init__(
        self,
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
        ttl_seconds: float = DEFAULT_HOT_TTL_SECONDS,
        max_sessions: int = 10000,
        exclusive: bool = False,
        max_cached: int = 10000,
    ) -> None:
        if not 1 <= window_size <= MAX_WINDOW_SIZE or ttl_seconds <= 0 or max_sessions < 1:
            raise ConfigurationError(
                f"window_size must be 1..{MAX_WINDOW_SIZE}; ttl_seconds and max_sessions positive"
            )
        self.authoritative = exclusive
        self.window_size = window_size
        self.ttl_seconds = float(ttl_seconds)
        self.max_sessions = max_sessions
        self._entries: OrderedDict[SessionKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._cached: OrderedDict[tuple[str, str, str], tuple[bytes, float]] = OrderedDict()
        self.max_cached = max_cached

    def _touch(self, key: SessionKey, create: bool) -> _Entry | None:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            entry = None
        if entry is None:
            if not create:
                return None
            entry = _Entry(window=deque(maxlen=self.window_size))
            self._entries[key] = entry
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        entry.expires_at = now + self.ttl_seconds
        return entry

    def append(self, key: SessionKey, messages: Sequence[Message]) -> None:
        if not messages:
            return
        first, last = (messages[0].seq, messages[-1].seq)
        assert first is not None and last is not None
        with self._lock:
            entry = self._touch(key, create=True)
            assert entry is not None
            if entry.seq is None and first == 1:
                entry.window.clear()
                entry.window.extend(messages[-self.window_size :])
                entry.seq, entry.ok, entry.lo = (last, True, 1)
            elif entry.seq is None:
                entry.seq, entry.ok = (last, False)
                entry.window.clear()
            elif last <= entry.seq:
                pass
            elif first <= entry.seq + 1:
                if entry.ok:
                    known = entry.seq
                    entry.window.extend(
                        (m for m in messages[-self.window_size :] if (m.seq or 0) > known)
                    )
                entry.seq = last
            else:
                entry.seq, entry.ok = (last, False)
                entry.window.clear()

    def fill(self, key: SessionKey, last_seq: int, lo: int, messages: Sequence[Message]) -> None:
        with self._lock:
            entry = self._touch(key, create=True)
            assert entry is not None
            if entry.seq is not None and entry.seq > last_seq:
                return
            if entry.lo is not None and entry.lo > lo:
                return
            entry.window.clear()
            entry.window.extend(messages[-self.window_size :])
            entry.seq, entry.ok, entry.lo = (last_seq, True, lo)

    def read(self, key: SessionKey, n: int) -> HotRead | None:
        with self._lock:
            entry = self._touch(key, create=False)
            if entry is None or not entry.ok or entry.seq is None:
                return None
            start = max(0, len(entry.window) - n)
            window = [entry.window[i] for i in range(start, len(entry.window))]
            return HotRead(entry.seq, entry.lo or 1, window)

    def put_state(self, key: SessionKey, state: HotState) -> None:
        with self._lock:
            entry = self._touch(key, create=True)
            assert entry is not None
            if entry.state_version is None or entry.state_version <= state.version:
                entry.state = dict(state.state)
                entry.state_version = state.version

    def get_state(self, key: SessionKey) -> HotState | None:
        with self._lock:
            entry = self._touch(key, create=False)
            if entry is None or entry.state is None or entry.state_version is None:
                return None
            return HotState(dict(entry.state), entry.state_version)

    def invalidate(self, key: SessionKey) -> None:
        """Tombstone: drop the window and state, keep seq, lo and the state version as guards."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.ok = False
                entry.window.clear()
                entry.state = None
                entry.contexts.clear()

    def drop(self, key: SessionKey) -> int:
        with self._lock:
            return 1 if self._entries.pop(key, None) is not None else 0

    def user_keys(self, tenant: str, user: str | None = None) -> list[str]:
        with self._lock:
            names = [
                f"session:{key.tag}"
                for key in self._entries
                if key.tenant == tenant and (user is None or key.user == user)
            ]
            if user is None:
                names += [
                    f"cc:{quote(t, safe='')}:{quote(ns, safe='')}:{digest}"
                    for t, ns, digest in self._cached
                    if t == tenant
                ]
        return sorted(names)

    def delete_keys(self, keys: Sequence[str]) -> int:
        wanted = set(keys)
        with self._lock:
            sessions = [k for k in self._entries if f"session:{k.tag}" in wanted]
            cached = [
                k
                for k in self._cached
                if f"cc:{quote(k[0], safe='')}:{quote(k[1], safe='')}:{k[2]}" in wanted
            ]
            for key in sessions:
                del self._entries[key]
            for ckey in cached:
                del self._cached[ckey]
        return len(sessions) + len(cached)

    def get_context(self, key: SessionKey, stamp: str) -> bytes | None:
        with self._lock:
            entry = self._touch(key, create=False)
            if entry is None:
                return None
            found = entry.contexts.get(stamp)
            if found is None or found[1] <= time.monotonic():
                return None
            return found[0]

    def put_context(self, key: SessionKey, stamp: str, data: bytes, ttl: float) -> None:
        with self._lock:
            entry = self._touch(key, create=True)
            assert entry is not None
            if len(entry.contexts) >= MAX_CONTEXTS_PER_SESSION:
                entry.contexts.clear()
            entry.contexts[stamp] = (data, time.monotonic() + ttl)

    def cache_get(self, tenant: str, namespace: str, digests: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        found: list[bytes | None] = []
        with self._lock:
            for digest in digests:
                key = (tenant, namespace, digest)
                item = self._cached.get(key)
                if item is not None and item[1] <= now:
                    del self._cached[key]
                    item = None
                if item is not None:
                    self._cached.move_to_end(key)
                found.append(None if item is None else item[0])
        return found

    def cache_put(
        self, tenant: str, namespace: str, digest: str, data: bytes, ttl: float | None
    ) -> None:
        lifetime = self.ttl_seconds if ttl is None else min(ttl, self.ttl_seconds)
        with self._lock:
            key = (tenant, namespace, digest)
            self._cached[key] = (data, time.monotonic() + lifetime)
            self._cached.move_to_end(key)
            while len(self._cached) > self.max_cached:
                self._cached.popitem(last=False)

    def cache_delete(self, tenant: str, namespace: str, digests: Sequence[str] | None) -> None:
        with self._lock:
            if digests is None:
                for key in [k for k in self._cached if k[0] == tenant and k[1] == namespace]:
                    del self._cached[key]
            else:
                for digest in digests:
                    self._cached.pop((tenant, namespace, digest), None)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._cached.clear()

    def __len__(self) -> int:
        return len(self._entries)
