"""Hot tiers: the recent window and state of active sessions, behind one protocol.

:class:`AsyncHotTier` / :class:`HotTier` is the protocol; :class:`AsyncRedisTier` /
:class:`RedisTier` serve production, :class:`AsyncInProcessTier` / :class:`InProcessTier`
the embedded default and single-process use. The sync classes are generated from the async
ones by ``tools/async_to_sync.py``.
"""

from ._inprocess import InProcessTier
from ._inprocess_async import AsyncInProcessTier
from ._redis import RedisTier
from ._redis_async import AsyncRedisTier
from .base import DEFAULT_HOT_TTL_SECONDS, DEFAULT_WINDOW_SIZE, HotRead, HotState, usable_window
from .protocol import HotTier
from .protocol_async import AsyncHotTier

__all__ = [
    "DEFAULT_HOT_TTL_SECONDS",
    "DEFAULT_WINDOW_SIZE",
    "AsyncHotTier",
    "AsyncInProcessTier",
    "AsyncRedisTier",
    "HotRead",
    "HotState",
    "HotTier",
    "InProcessTier",
    "RedisTier",
    "usable_window",
]
