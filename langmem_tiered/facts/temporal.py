"""Where an assertion goes on a key's timeline (pure; the store applies the plan).

Every value of a key lives on an interval ``[valid_at, invalid_at)`` (``invalid_at`` None =
still current); a fact is true at its ``valid_at`` and no longer at its ``invalid_at``. For a
single-valued key the intervals never overlap. Asserting value V from time T:

* the fact covering T already has V: nothing changes (re-asserting is idempotent);
* another value covers T: it is closed at T, and V holds from T until that fact's old end
  (so a newer fact is never retired by an older assertion: the assertion lands in history);
* nothing covers T (before the first fact, or after a ``forget``): V holds from T until the
  next fact begins, or stays current if there is none.

A multi-valued key (e.g. ``allergies``) keeps one such timeline per value, so values
accumulate until one is retracted. Retracting closes the current fact at T; nothing is ever
deleted (erasure aside).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["FactChange", "Interval", "TimelinePlan", "plan_assert", "plan_retract"]


@dataclass(frozen=True, slots=True)
class FactChange:
    """One change to apply to a user's facts.

    ``retract`` closes current facts of ``key`` at ``valid_at`` (for a multi-valued key only
    the one holding ``value``, or all of them if ``value`` is None); otherwise ``value`` is
    asserted from ``valid_at`` (see :func:`plan_assert`).
    """

    key: str
    value: Any
    valid_at: datetime
    multi: bool = False
    retract: bool = False
    confidence: float = 1.0
    source_session: str | None = None
    source_seq_from: int | None = None
    source_seq_to: int | None = None
    created_by: str = "api"


class Interval(Protocol):
    """What the planner needs of a stored fact."""

    @property
    def id(self) -> int: ...
    @property
    def value(self) -> Any: ...
    @property
    def valid_at(self) -> datetime: ...
    @property
    def invalid_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class TimelinePlan:
    """Facts to close (``fact_id -> new invalid_at``) and the interval to insert, if any."""

    close: dict[int, datetime] = field(default_factory=dict)
    insert: tuple[datetime, datetime | None] | None = None

    @property
    def changes(self) -> bool:
        return bool(self.close) or self.insert is not None


def _covers(fact: Interval, t: datetime) -> bool:
    return fact.valid_at <= t and (fact.invalid_at is None or t < fact.invalid_at)


def plan_assert(timeline: Sequence[Interval], value: Any, valid_at: datetime) -> TimelinePlan:
    """Plan asserting ``value`` from ``valid_at`` on one timeline (one key, or one value of a
    multi-valued key). ``timeline`` holds that timeline's facts, in any order."""
    covering = [f for f in timeline if _covers(f, valid_at)]
    if covering:
        fact = max(covering, key=lambda f: (f.valid_at, f.id))
        if fact.value == value:
            return TimelinePlan()
        return TimelinePlan(close={fact.id: valid_at}, insert=(valid_at, fact.invalid_at))
    later = [f.valid_at for f in timeline if f.valid_at > valid_at]
    return TimelinePlan(insert=(valid_at, min(later) if later else None))


def plan_retract(timeline: Sequence[Interval], at: datetime) -> TimelinePlan:
    """Plan closing, at ``at``, the facts of ``timeline`` that are current."""
    close = {f.id: max(at, f.valid_at) for f in timeline if f.invalid_at is None}
    return TimelinePlan(close=close)
