"""What every hot tier stores, and the pure rules that decide whether its answer can be trusted.

A hot tier keeps, per session, a *window* (the last ``window_size`` messages) and a *meta*
record: ``seq`` (the highest seq it knows was committed), ``ok`` (whether the window is
complete up to ``seq``), ``lo`` (the session's lowest stored seq when the window was filled)
and the session state with its version. The rules, shared by the Redis Lua scripts and the
in-process tier:

* **append(first, last)**: meta missing -> if ``first == 1`` the session is new and the
  window is complete, else remember ``seq=last`` but mark the window incomplete;
  ``last <= seq`` -> already covered, nothing to do; ``first <= seq + 1`` -> extend the
  window (if complete) with the messages beyond ``seq`` and advance ``seq``; anything else
  is a gap -> mark incomplete.
* **fill(seq, lo, messages)** from Postgres: applied only if no newer commit is known
  (``meta.seq <= seq``) and nothing below ``lo`` was deleted since (``meta.lo <= lo``: ``lo``
  only rises, by clear or retention); marks the window complete.
* **invalidate** is a tombstone: window and cached state go, ``seq``, ``lo`` and the state
  version stay, so a slow reader's stale refill is still refused.
* **put_state(version)**: refused only if a newer version is cached.
* **read(n)**: only a complete window is returned, and :func:`usable_window` still checks
  that its seqs are contiguous, end at ``seq``, and cover ``n`` messages or reach ``lo``.

Because the durable store assigns seqs under a row lock and appends reach the hot tier
after commit, a window that passes these rules holds the session's latest messages as far as
this hot tier has heard. A tier that every writer uses (Redis) is *authoritative*; the
in-process tier is not (other processes write past it) unless declared exclusive, and the
engine then confirms the last seq with Postgres before serving a window. What no rule can see
is a writer that dies between its commit and its hot write: that session's window lags until
its next append or its TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Message

__all__ = [
    "DEFAULT_HOT_TTL_SECONDS",
    "DEFAULT_WINDOW_SIZE",
    "MAX_CONTEXTS_PER_SESSION",
    "MAX_WINDOW_SIZE",
    "HotRead",
    "HotState",
    "usable_window",
]

DEFAULT_WINDOW_SIZE = 50
MAX_WINDOW_SIZE = 2000
MAX_CONTEXTS_PER_SESSION = 16
DEFAULT_HOT_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class HotRead:
    """A complete window as a hot tier returned it."""

    last_seq: int
    lo: int
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HotState:
    """Session state cached in the hot tier, with the version it had in Postgres."""

    state: dict[str, Any]
    version: int


def usable_window(read: HotRead, n: int) -> list[Message] | None:
    """Return the last ``n`` messages of ``read`` if the window provably holds them, else None.

    None means "repair from Postgres": the window has a gap in seq, does not end at the
    known last seq, or is shorter than ``n`` without reaching the session's first message.
    """
    msgs = read.messages
    if msgs:
        if msgs[-1].seq != read.last_seq:
            return None
        first = msgs[0].seq
        if first is None or any(m.seq != first + i for i, m in enumerate(msgs)):
            return None
        if len(msgs) >= n:
            return msgs[len(msgs) - n :] if n > 0 else []
        return msgs if first <= read.lo else None
    # An empty complete window is valid only for a session with no messages left.
    return [] if read.lo > read.last_seq else None
