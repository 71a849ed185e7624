"""Regression tests for cache-consistency and input-validation holes found in review."""

from __future__ import annotations

import pytest
import redis

from langmem_tiered import (
    ConfigurationError,
    InvalidInputError,
    InvalidMessageError,
    Message,
    TieredMemory,
)
from langmem_tiered.testing import RedisServer


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_replay_after_a_lost_reply_reaches_the_hot_window(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "replay")
    s.add_message(id="m1", role="user", content="one")
    assert [m.id for m in s.recent(5)] == ["m1"]
    # The commit of m2 succeeded but its reply (and hot write) was lost:
    assert memory.store is not None
    memory.store.append(s.key, [Message(id="m2", role="assistant", content="two")])
    again = s.add_message(id="m2", role="assistant", content="two")  # the client's retry
    assert again.seq == 2
    assert [m.id for m in s.recent(5)] == ["m1", "m2"] == [m.id for m in s.messages()]


def test_replay_returns_what_is_stored(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "replay2")
    s.add_message(id="x", role="user", content="original", metadata={"v": 1})
    replay = s.add_message(id="x", role="assistant", content="DIFFERENT")
    assert (replay.role, replay.content, replay.metadata) == ("user", "original", {"v": 1})


def test_inprocess_tiers_of_two_processes_never_serve_stale(postgres_url: str, schema: str) -> None:
    a = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    b = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    try:
        sa, sb = a.session("t", "u", "s"), b.session("t", "u", "s")
        sa.add_message(role="user", content="m1")
        sa.update_state(x=1)
        assert [m.content for m in sb.recent(5)] == ["m1"] and sb.state() == {"x": 1}
        sa.add_message(role="user", content="m2")
        sa.update_state(x=2)
        assert [m.content for m in sb.recent(5)] == ["m1", "m2"]
        assert sb.state() == {"x": 2}
    finally:
        a.close()
        b.close()


def test_exclusive_inprocess_tier_trusts_its_window(postgres_url: str, schema: str) -> None:
    from langmem_tiered import InProcessTier

    mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, hot_tier=InProcessTier(exclusive=True)
    )
    try:
        s = mem.session("t", "u", "s")
        s.add_message(role="user", content="m1")
        assert [m.content for m in s.recent(3)] == ["m1"]
        assert mem.stats()["hot_hits"] == 1
    finally:
        mem.close()


def test_clear_then_slow_refill_does_not_resurrect(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "clear")
    s.add_messages([{"role": "user", "content": f"secret {i}"} for i in range(3)])
    assert memory.store is not None
    last_seq, lo, snapshot = memory.store.tail(s.key, 10)  # a slow reader's snapshot
    s.clear()
    memory.hot_tier.fill(s.key, last_seq, lo, snapshot)  # its refill lands after the clear
    assert s.recent(10) == [] and s.messages() == []


def test_a_failed_write_does_not_stop_later_writes_reaching_redis(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema
    )
    try:
        mem.session("t", "u", "one").add_message(role="user", content="x")
        private_redis.restart()  # connections reset: the next write fails once
        two = mem.session("t", "u", "two")
        two.add_message(role="user", content="a")
        two.add_message(role="user", content="b")  # within the read bypass window
        client = redis.Redis.from_url(private_redis.url)
        meta, _ = mem.hot_tier.keys_for(two.key)  # type: ignore[attr-defined]
        assert client.hget(meta, "seq") == b"2"  # the write went through, no bypass
        client.close()
        assert [m.content for m in two.recent(5)] == ["a", "b"]
    finally:
        mem.close()


def test_deep_json_is_rejected_cleanly(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "deep")
    with pytest.raises(InvalidMessageError):
        s.add_message(role="user", content="x", metadata=_nested(200))
    with pytest.raises(InvalidMessageError):
        s.add_message(role="user", content="x", metadata=_nested(3000))
    with pytest.raises(InvalidInputError):
        s.update_state(deep=_nested(3000))
    s.add_message(role="user", content="x", metadata=_nested(60))
    assert len(s.recent(5)) == 1 and s.state() == {}


@pytest.mark.parametrize("tokens", [-7, 2**31])
def test_token_count_is_validated(memory: TieredMemory, tokens: int) -> None:
    s = memory.session("t", "u", "tok")
    with pytest.raises(InvalidMessageError):
        s.add_message(role="user", content="x", token_count=tokens)
    assert s.messages() == []


def test_direct_construction_raises_package_errors() -> None:
    with pytest.raises(InvalidMessageError):
        Message(role="bogus", content="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError):
        Message(role="user", content=object())  # type: ignore[arg-type]


def test_malformed_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        TieredMemory.connect(postgres_url="not a url")
    with pytest.raises(ConfigurationError):
        TieredMemory(postgres_url="postgresql://x/y", redis_url="nope://")
    with pytest.raises(ConfigurationError):
        TieredMemory(postgres_url="postgresql://x/y", window_size=10**6)


def test_corrupt_hot_entry_is_a_miss(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=redis_url, schema=schema, redis_prefix=redis_prefix
    )
    try:
        s = mem.session("t", "u", "corrupt")
        s.add_messages([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        s.update_state(x=1)
        meta, window = mem.hot_tier.keys_for(s.key)  # type: ignore[attr-defined]
        client = redis.Redis.from_url(redis_url)
        client.lset(window, 0, b'{"role": "user", "new_field_from_v2": 1}')
        client.hset(meta, "state", b"not json")
        client.close()
        assert [m.content for m in s.recent(5)] == ["a", "b"]
        assert s.state() == {"x": 1}
    finally:
        mem.close()
