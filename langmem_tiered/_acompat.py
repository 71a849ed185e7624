"""Names that differ between the async code and its generated sync twin.

The async modules (``*_async.py``) import from here; ``tools/async_to_sync.py`` renames
``ALock`` to ``Lock`` and ``to_thread`` to ``call_sync`` in the sync twin, and drops the
bodies of ``if ASYNC:`` blocks in favour of their ``else:`` branch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["ALock", "ASYNC", "Lock", "call_sync", "to_thread"]

P = ParamSpec("P")
T = TypeVar("T")

ASYNC = True
ALock = asyncio.Lock
Lock = threading.Lock
to_thread = asyncio.to_thread


def call_sync(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Sync twin of :func:`asyncio.to_thread`: just call the function."""
    return func(*args, **kwargs)
