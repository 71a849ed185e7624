"""Token meter: thresholds crossed once per day, economy mode, persisted totals."""

from __future__ import annotations

from datetime import date

import pytest

from langmem_tiered import ConfigurationError
from langmem_tiered.tokens.meter import EconomyPolicy, TokenMeter


def test_thresholds_cross_once_and_economy_switches_on() -> None:
    day = [date(2026, 11, 23)]
    meter = TokenMeter(1000, today=lambda: day[0])
    assert meter.add("a", 700) == [] and not meter.economy("a")
    events = meter.add("a", 150)  # 850: crosses 80 %
    assert [(e.kind, e.threshold) for e in events] == [("warning", 0.8)]
    assert meter.add("a", 10) == []  # no repeat
    events = meter.add("a", 100)  # 960: crosses 90 % and 95 %
    assert [(e.kind, e.threshold) for e in events] == [("warning", 0.9), ("economy_on", 0.95)]
    assert meter.economy("a") and not meter.economy("b")
    assert meter.snapshot()["a"]["economy"] is True
    day[0] = date(2026, 11, 24)  # a new day starts from zero
    assert not meter.economy("a") and meter.used("a") == 0


def test_persisted_totals_include_other_processes() -> None:
    meter = TokenMeter({"a": 100}, today=lambda: date(2026, 1, 1))
    meter.add("a", 30)
    # our 30 were flushed; the ledger now says 90 (60 from other processes)
    events = meter.persisted("a", date(2026, 1, 1), total=90, flushed_local=30)
    assert meter.used("a") == 90 and [e.threshold for e in events] == [0.8, 0.9]
    assert meter.limit_for("other") is None and meter.add("other", 10**9) == []


def test_bad_settings() -> None:
    with pytest.raises(ConfigurationError):
        TokenMeter(0)
    with pytest.raises(ConfigurationError):
        EconomyPolicy(budget_factor=2)
