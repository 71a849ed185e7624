# WARNING: this file is generated from langmem_tiered/tiers/protocol_async.py by tools/async_to_sync.py. DO NOT EDIT.
"""The hot-tier protocol (async; the sync ``HotTier`` in ``protocol.py`` is generated).

Tiers need not inherit from it. Every method may raise :class:`~langmem_tiered.TierError`;
the engine treats the hot tier as a cache and never loses data because of such an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..models import Message, SessionKey
from .base import HotRead, HotState

__all__ = ["HotTier"]


@runtime_checkable
class HotTier(Protocol):
    """Recent window and session state of active sessions (see :mod:`.base` for the rules)."""

    name: str
    window_size: int
    authoritative: bool
    "True if every writer of these sessions writes through this tier (see :mod:`.base`)."

    def append(self, key: SessionKey, messages: Sequence[Message]) -> None:
        """Record messages just committed, with contiguous seqs."""
        ...

    def fill(self, key: SessionKey, last_seq: int, lo: int, messages: Sequence[Message]) -> None:
        """Replace the window with Postgres's latest messages, unless a newer commit is known."""
        ...

    def read(self, key: SessionKey, n: int) -> HotRead | None:
        """Return the complete window (refreshing its TTL), or None on a miss."""
        ...

    def put_state(self, key: SessionKey, state: HotState) -> None:
        """Cache the session state unless a newer version is cached."""
        ...

    def get_state(self, key: SessionKey) -> HotState | None:
        """Return the cached state, or None on a miss."""
        ...

    def invalidate(self, key: SessionKey) -> None:
        """Tombstone the session: drop window, state and contexts; keep the guards."""
        ...

    def drop(self, key: SessionKey) -> int:
        """Delete every key of the session, guards included (erasure, retention); returns how
        many keys existed. Only for a session whose Postgres rows are gone."""
        ...

    def user_keys(self, tenant: str, user: str | None = None) -> list[str]:
        """Names of every key this tier holds for the tenant (or one of its users): the
        erasure's proof. With ``user=None`` the tenant's content-cache keys are included."""
        ...

    def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete keys named by :meth:`user_keys`; returns how many existed."""
        ...

    def get_context(self, key: SessionKey, stamp: str) -> bytes | None:
        """A composed context cached under ``stamp`` (which encodes every version it used)."""
        ...

    def put_context(self, key: SessionKey, stamp: str, data: bytes, ttl: float) -> None:
        """Cache a composed context for ``ttl`` seconds."""
        ...

    def cache_get(self, tenant: str, namespace: str, digests: Sequence[str]) -> list[bytes | None]:
        """Content-cache entries (:mod:`langmem_tiered.cache`), one per digest (None: absent)."""
        ...

    def cache_put(
        self, tenant: str, namespace: str, digest: str, data: bytes, ttl: float | None
    ) -> None:
        """Cache a content entry for ``ttl`` seconds (None: the tier's own limit)."""
        ...

    def cache_delete(self, tenant: str, namespace: str, digests: Sequence[str] | None) -> None:
        """Drop these content entries, or the whole namespace when ``digests`` is None."""
        ...

    def ping(self) -> bool:
        """True when the tier answers."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
