"""The pure timeline planner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from langmem_tiered.facts.temporal import plan_assert, plan_retract

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class F:
    id: int
    value: Any
    valid_at: datetime
    invalid_at: datetime | None = None


def d(n: int) -> datetime:
    return T + timedelta(days=n)


def test_first_assertion_is_current() -> None:
    plan = plan_assert([], "a", d(0))
    assert plan.insert == (d(0), None) and plan.close == {}


def test_newer_value_closes_current() -> None:
    plan = plan_assert([F(1, "a", d(0))], "b", d(5))
    assert plan.close == {1: d(5)} and plan.insert == (d(5), None)


def test_same_value_changes_nothing_even_later() -> None:
    assert not plan_assert([F(1, "a", d(0))], "a", d(9)).changes


def test_older_assertion_before_everything_ends_at_next() -> None:
    plan = plan_assert([F(1, "a", d(5))], "b", d(1))
    assert plan.close == {} and plan.insert == (d(1), d(5))


def test_assertion_inside_a_closed_interval_splits_it() -> None:
    plan = plan_assert([F(1, "a", d(0), d(10)), F(2, "c", d(10))], "b", d(4))
    assert plan.close == {1: d(4)} and plan.insert == (d(4), d(10))


def test_gap_after_forget() -> None:
    plan = plan_assert([F(1, "a", d(0), d(3)), F(2, "c", d(8))], "b", d(5))
    assert plan.close == {} and plan.insert == (d(5), d(8))


def test_retract_closes_only_current() -> None:
    plan = plan_retract([F(1, "a", d(0), d(3)), F(2, "b", d(3))], d(7))
    assert plan.close == {2: d(7)} and plan.insert is None
    assert plan_retract([F(3, "x", d(9))], d(7)).close == {3: d(9)}  # never before valid_at
