"""Daily token limits per tenant, warnings, and economy mode (seed 000's token monitor). Pure.

The engine reports every token it spends or sends (summaries, composed contexts) to a
:class:`TokenMeter`. The meter keeps, per tenant and UTC day, the total persisted in the ledger
(refreshed from Postgres, so other processes' usage counts too) plus what this process has not
flushed yet. Crossing a warning threshold (80 %, 90 %) or the economy threshold (95 %) of the
tenant's daily limit produces one :class:`UsageEvent` per crossing and day. In economy mode the
engine composes smaller contexts, writes shorter summaries and caches contexts longer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Literal

from ..errors import ConfigurationError

__all__ = ["EconomyPolicy", "TokenMeter", "UsageEvent"]


@dataclass(frozen=True, slots=True)
class EconomyPolicy:
    """What changes near a tenant's daily limit.

    Attributes:
        warn_at: Fractions of the limit that raise a ``warning`` event.
        economy_at: Fraction of the limit from which economy mode is on.
        budget_factor: Context budgets are multiplied by this in economy mode.
        summary_factor: Summary length is multiplied by this in economy mode.
        cache_ttl_factor: Composed-context cache TTLs are multiplied by this in economy mode.
        min_budget_tokens: Economy never shrinks a budget below this.
    """

    warn_at: tuple[float, ...] = (0.8, 0.9)
    economy_at: float = 0.95
    budget_factor: float = 0.5
    summary_factor: float = 0.5
    cache_ttl_factor: float = 4.0
    min_budget_tokens: int = 256

    def __post_init__(self) -> None:
        if not all(0 < w < 1 for w in self.warn_at) or not 0 < self.economy_at <= 1:
            raise ConfigurationError("thresholds are fractions of the limit, in (0, 1]")
        if not 0 < self.budget_factor <= 1 or not 0 < self.summary_factor <= 1:
            raise ConfigurationError("budget_factor and summary_factor must be in (0, 1]")
        if self.cache_ttl_factor < 1 or self.min_budget_tokens < 1:
            raise ConfigurationError("cache_ttl_factor >= 1 and min_budget_tokens >= 1")


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """A tenant crossed a threshold of its daily token limit."""

    kind: Literal["warning", "economy_on"]
    tenant: str
    day: date
    used: int
    limit: int
    threshold: float

    @property
    def ratio(self) -> float:
        return self.used / self.limit


@dataclass
class _Day:
    day: date
    persisted: int = 0
    local: int = 0
    crossed: set[float] = field(default_factory=set)

    @property
    def used(self) -> int:
        return self.persisted + self.local


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


class TokenMeter:
    """Per-tenant daily usage against an optional limit (thread-safe).

    Args:
        limit: One daily limit for every tenant, a mapping tenant -> limit (tenants not in it
            have none), or None for no limits.
        policy: Thresholds and economy-mode factors.
        today: Clock, replaceable in tests.
    """

    def __init__(
        self,
        limit: int | Mapping[str, int] | None = None,
        policy: EconomyPolicy | None = None,
        today: Callable[[], date] = utc_today,
    ) -> None:
        values = [limit] if isinstance(limit, int) else list((limit or {}).values())
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
            raise ConfigurationError("daily token limits must be positive ints")
        self._limit = limit
        self.policy = policy or EconomyPolicy()
        self._today = today
        self._days: dict[str, _Day] = {}
        self._lock = threading.Lock()

    def limit_for(self, tenant: str) -> int | None:
        if isinstance(self._limit, int):
            return self._limit
        if self._limit is None:
            return None
        return self._limit.get(tenant)

    def _day(self, tenant: str) -> _Day:
        today = self._today()
        entry = self._days.get(tenant)
        if entry is None or entry.day != today:
            entry = self._days[tenant] = _Day(today)
        return entry

    def _crossings(self, tenant: str, entry: _Day) -> list[UsageEvent]:
        limit = self.limit_for(tenant)
        if limit is None:
            return []
        events = []
        for threshold in (*self.policy.warn_at, self.policy.economy_at):
            if threshold not in entry.crossed and entry.used >= threshold * limit:
                entry.crossed.add(threshold)
                kind: Literal["warning", "economy_on"] = (
                    "economy_on" if threshold == self.policy.economy_at else "warning"
                )
                events.append(UsageEvent(kind, tenant, entry.day, entry.used, limit, threshold))
        return events

    def add(self, tenant: str, tokens: int) -> list[UsageEvent]:
        """Count tokens spent or sent now; return the thresholds this crossed."""
        with self._lock:
            entry = self._day(tenant)
            entry.local += max(0, tokens)
            return self._crossings(tenant, entry)

    def persisted(self, tenant: str, day: date, total: int, flushed_local: int) -> list[UsageEvent]:
        """Record the ledger's total for ``day`` after ``flushed_local`` tokens of ours were
        written to it (so they are not counted twice)."""
        with self._lock:
            entry = self._day(tenant)
            if entry.day != day:
                return []
            entry.persisted = total
            entry.local = max(0, entry.local - flushed_local)
            return self._crossings(tenant, entry)

    def used(self, tenant: str) -> int:
        with self._lock:
            return self._day(tenant).used

    def economy(self, tenant: str) -> bool:
        """True when the tenant is at or past the economy threshold today."""
        limit = self.limit_for(tenant)
        return limit is not None and self.used(tenant) >= self.policy.economy_at * limit

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Today's usage per tenant seen by this process."""
        with self._lock:
            tenants = list(self._days)
        out: dict[str, dict[str, object]] = {}
        for tenant in tenants:
            limit = self.limit_for(tenant)
            used = self.used(tenant)
            out[tenant] = {
                "used": used,
                "limit": limit,
                "ratio": None if limit is None else used / limit,
                "economy": self.economy(tenant),
            }
        return out
