"""Composed-context cache and token economy, against real Postgres and Redis."""

from __future__ import annotations

import psycopg
import pytest
import redis

from langmem_tiered import ContextBlock, ContextRequest, TieredMemory
from langmem_tiered.tokens.meter import UsageEvent
from tests._fakes import CountingSummarizer


@pytest.fixture
def cmem(postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str):
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url if hot == "redis" else None,
        schema=schema,
        redis_prefix=redis_prefix,
        summarizer=CountingSummarizer(),
        buffer_tokens=40,
        min_fold_tokens=20,
    )
    yield mem
    mem.close()


def _hits(mem: TieredMemory) -> tuple[int, int]:
    stats = mem.stats()
    return stats["context_cache_hits"], stats["context_cache_misses"]


def test_unchanged_session_is_served_from_cache(cmem: TieredMemory) -> None:
    s = cmem.session("t", "u", "s")
    s.add_messages([{"role": "user", "content": f"m{i}", "token_count": 5} for i in range(4)])
    first = s.context(budget_tokens=500, input="hi")
    assert _hits(cmem) == (0, 1)
    again = s.context(budget_tokens=500, input="hi")
    assert _hits(cmem) == (1, 1)
    assert again.model_dump_json() == first.model_dump_json()


@pytest.mark.parametrize(
    "change",
    ["append", "state", "summary", "clear", "budget", "query", "input", "system"],
)
def test_each_kind_of_change_misses(cmem: TieredMemory, change: str) -> None:
    s = cmem.session("t", "u", "s-" + change)
    s.add_messages([{"role": "user", "content": f"m{i}", "token_count": 5} for i in range(4)])
    args = {"query": "q", "budget_tokens": 500, "input": "hi", "system": "sys"}
    before = s.context(**args)
    s.context(**args)
    hits, misses = _hits(cmem)
    if change == "append":
        s.add_message(role="assistant", content="new", token_count=5)
    elif change == "state":
        s.update_state(step=2)
    elif change == "summary":
        s.add_messages([{"role": "user", "content": f"x{i}", "token_count": 10} for i in range(8)])
        cmem.flush()
        assert s.summary() is not None
    elif change == "clear":
        s.clear()
    else:
        args[{"budget": "budget_tokens"}.get(change, change)] = (
            400 if change == "budget" else "other"
        )
    after = s.context(**args)
    assert _hits(cmem) == (hits, misses + 1)
    if change in ("append", "state", "summary", "clear"):
        assert after.model_dump_json() != before.model_dump_json()


class _Provider:
    name = "facts"

    def __init__(self, token: str | None, with_token: bool = True) -> None:
        self.token = token
        self.calls = 0
        if with_token:
            self.cache_token = lambda request: self.token

    def provide(self, request: ContextRequest) -> ContextBlock | None:
        self.calls += 1
        return ContextBlock(name="facts", text=f"fact version {self.token}", tokens=4)

    async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
        return self.provide(request)


def test_providers_take_part_in_the_stamp(cmem: TieredMemory) -> None:
    provider = _Provider("v1")
    cmem.register_provider(provider)
    s = cmem.session("t", "u", "p")
    s.add_message(role="user", content="x", token_count=3)
    s.context(budget_tokens=300)
    s.context(budget_tokens=300)
    assert provider.calls == 1 and _hits(cmem) == (1, 1)
    provider.token = "v2"  # e.g. a fact changed
    assert "v2" in s.context(budget_tokens=300).to_text()
    assert provider.calls == 2


def test_provider_without_token_disables_the_cache(cmem: TieredMemory) -> None:
    provider = _Provider("v1", with_token=False)
    cmem.register_provider(provider)
    s = cmem.session("t", "u", "np")
    s.add_message(role="user", content="x", token_count=3)
    s.context(budget_tokens=300)
    s.context(budget_tokens=300)
    assert provider.calls == 2 and _hits(cmem) == (0, 0)


def test_cache_ttl_follows_activity(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        context_cache_ttl={"active": 60, "idle": 3600, "archived": 86400},
    )
    client = redis.Redis.from_url(redis_url)
    try:
        for name, age, low, high in [
            ("active", "0 seconds", 50_000, 60_000),
            ("idle", "1 day", 3_500_000, 3_600_000),
            ("archived", "30 days", 86_300_000, 86_400_000),
        ]:
            s = mem.session("t", "u", name)
            s.add_message(role="user", content="x", token_count=3)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(
                    f"UPDATE {schema}.lmt_sessions SET updated_at = now() - interval '{age}' "
                    "WHERE session_id = %s",
                    [name],
                )
            s.context(budget_tokens=100)
            ttl = client.pttl(mem.hot_tier.context_key_for(s.key))  # type: ignore[attr-defined]
            assert low <= ttl <= high, (name, ttl)
    finally:
        client.close()
        mem.close()


def test_daily_limit_warnings_and_economy_mode(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    events: list[UsageEvent] = []
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        daily_token_limit={"clinic": 2000},
        context_cache=False,
    )
    try:
        mem.subscribe(events.append)
        s = mem.session("clinic", "u", "s")
        s.add_messages([{"role": "user", "content": "palavra " * 60} for _ in range(10)])
        full = s.context(budget_tokens=1000)
        calls = 1
        assert full.budget_tokens == 1000 and not mem.economy("clinic")
        while not mem.economy("clinic"):
            s.context(budget_tokens=1000)
            calls += 1
        kinds = [(e.kind, e.threshold) for e in events]
        assert kinds == [("warning", 0.8), ("warning", 0.9), ("economy_on", 0.95)]
        small = s.context(budget_tokens=1000)
        calls += 1
        assert small.budget_tokens == 500 and small.total_tokens <= 500  # economy: half
        assert mem.stats()["economy_tenants"] == ["clinic"]
        assert not mem.economy("other-tenant")
        usage = mem.usage("clinic")
        assert usage["compose"]["calls"] == calls  # every compose is in the ledger, once
        assert usage["compose"]["input_tokens"] >= 1600 and usage["compose"]["saved_tokens"] > 0
        # another process starts from the persisted ledger
        other = TieredMemory.connect(
            postgres_url=postgres_url, schema=schema, daily_token_limit={"clinic": 2000}
        )
        try:
            other.usage("clinic")
            assert other.economy("clinic")
        finally:
            other.close()
    finally:
        mem.close()
