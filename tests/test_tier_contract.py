"""The hot-tier rules (tiers/base.py) hold identically for the in-process tier, the Redis tier
and the Redis tier on a Redis Cluster (``redis_cluster_url``: three primaries)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langmem_tiered import InProcessTier, Message, RedisTier, SessionKey
from langmem_tiered.tiers import HotState, HotTier, usable_window

KEY = SessionKey("tenant", "user", "session")


def msgs(first: int, last: int) -> list[Message]:
    return [Message(role="user", content=f"m{i}", seq=i) for i in range(first, last + 1)]


TIERS = ["inprocess", "redis", "redis-cluster"]


def make_tier(request: pytest.FixtureRequest, kind: str) -> HotTier:
    """A tier of ``kind`` on the test's own prefix (services started only when needed)."""
    if kind == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        return RedisTier(url, prefix=prefix, window_size=5, ttl_seconds=60)
    if kind == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_url")
        prefix = request.getfixturevalue("redis_cluster_prefix")
        tier = RedisTier(url, prefix=prefix, window_size=5, ttl_seconds=60)
        assert tier.cluster
        return tier
    return InProcessTier(window_size=5, ttl_seconds=60)


@pytest.fixture(params=TIERS)
def tier(request: pytest.FixtureRequest) -> Iterator[HotTier]:
    t = make_tier(request, request.param)
    assert isinstance(t, HotTier)
    yield t
    t.invalidate(KEY)
    t.close()


def seqs(tier: HotTier, n: int = 5) -> list[int] | None:
    read = tier.read(KEY, n)
    if read is None:
        return None
    served = usable_window(read, n)
    return None if served is None else [m.seq or 0 for m in served]


def test_new_session_window_is_complete(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 3))
    assert seqs(tier) == [1, 2, 3]
    tier.append(KEY, msgs(4, 8))
    assert seqs(tier) == [4, 5, 6, 7, 8]  # bounded to window_size
    assert seqs(tier, 2) == [7, 8]


def test_unknown_session_append_is_incomplete_until_filled(tier: HotTier) -> None:
    tier.append(KEY, msgs(7, 7))
    assert tier.read(KEY, 5) is None
    tier.fill(KEY, 7, 1, msgs(3, 7))
    assert seqs(tier) == [3, 4, 5, 6, 7]
    tier.append(KEY, msgs(8, 8))
    assert seqs(tier) == [4, 5, 6, 7, 8]


def test_gap_marks_incomplete_and_late_append_is_ignored(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 2))
    tier.append(KEY, msgs(4, 4))  # 3 has not arrived: gap
    assert tier.read(KEY, 5) is None
    tier.append(KEY, msgs(3, 3))  # late: already covered by seq=4, window stays incomplete
    assert tier.read(KEY, 5) is None
    tier.fill(KEY, 4, 1, msgs(1, 4))
    assert seqs(tier) == [1, 2, 3, 4]


def test_stale_fill_is_refused(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 5))
    tier.append(KEY, msgs(6, 6))
    tier.fill(KEY, 4, 1, msgs(1, 4))  # read from Postgres before 5 and 6 committed
    assert seqs(tier) == [2, 3, 4, 5, 6]


def test_short_window_needs_to_reach_the_first_message(tier: HotTier) -> None:
    tier.fill(KEY, 10, 9, msgs(9, 10))  # messages 1..8 were cleared; lo = 9
    assert seqs(tier) == [9, 10]
    tier.fill(KEY, 12, 9, msgs(10, 12))  # window holds 3 of the 4 messages 9..12
    read = tier.read(KEY, 5)
    assert read is not None and usable_window(read, 5) is None  # must go to Postgres
    assert usable_window(read, 3) is not None


def test_lo_only_rises_so_a_refill_cannot_resurrect_deleted_messages(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 3))
    # a slow reader snapshots 1..3 from Postgres; meanwhile the session is cleared:
    tier.fill(KEY, 3, 4, [])  # the clear writes an empty window with lo above every deleted seq
    tier.fill(KEY, 3, 1, msgs(1, 3))  # the slow reader's refill arrives: refused
    assert seqs(tier) == []


def test_invalidate_is_a_tombstone_that_keeps_the_guards(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 4))
    tier.put_state(KEY, HotState({"a": 2}, 2))
    tier.invalidate(KEY)
    assert tier.read(KEY, 5) is None and tier.get_state(KEY) is None
    tier.fill(KEY, 3, 1, msgs(1, 3))  # stale: seq 4 is known committed
    assert tier.read(KEY, 5) is None
    tier.put_state(KEY, HotState({"a": 1}, 1))  # stale version
    assert tier.get_state(KEY) is None
    tier.put_state(KEY, HotState({"a": 2}, 2))  # the current version may be cached again
    state = tier.get_state(KEY)
    assert state is not None and state.state == {"a": 2}
    tier.fill(KEY, 4, 1, msgs(1, 4))
    assert seqs(tier) == [1, 2, 3, 4]


def test_overlapping_append_adds_only_what_is_new(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 3))
    tier.append(KEY, msgs(2, 5))  # a replayed 2..3 plus new 4..5
    assert seqs(tier) == [1, 2, 3, 4, 5]
    tier.append(KEY, msgs(1, 12))  # larger than the window: only the tail is passed
    assert seqs(tier) == [8, 9, 10, 11, 12]


def test_empty_session(tier: HotTier) -> None:
    tier.fill(KEY, 0, 1, [])
    assert seqs(tier) == []
    tier.fill(KEY, 6, 7, [])  # all six messages cleared
    assert seqs(tier) == []
    tier.append(KEY, msgs(7, 7))
    assert seqs(tier) == [7]


def test_state_versions(tier: HotTier) -> None:
    assert tier.get_state(KEY) is None
    tier.put_state(KEY, HotState({"a": 1}, 2))
    tier.put_state(KEY, HotState({"a": 0}, 1))  # older version arrives late
    state = tier.get_state(KEY)
    assert state is not None and state.state == {"a": 1} and state.version == 2


def test_invalidate(tier: HotTier) -> None:
    tier.append(KEY, msgs(1, 2))
    tier.put_state(KEY, HotState({"a": 1}, 1))
    tier.invalidate(KEY)
    assert tier.read(KEY, 5) is None and tier.get_state(KEY) is None
    assert tier.ping()


# -- user_keys: the erasure's proof lists every key of a tenant or user, and no other ---------

# Ids that a glob, a prefix match or a separator-blind match would confuse with each other.
HOSTILE = [
    "a*",
    "a?",
    "a[b]",
    "a%",
    "a",
    "ab",
    "a\\",
    "a:b",
    "a{b}",
    "t",
    "t2",
    "john_doe",
    "john-doe",
]


# every hostile id as a tenant (one user) and as a user (of two tenants that differ by a suffix)
PAIRS = sorted({*((t, "u") for t in HOSTILE), *((t, u) for t in ("t", "t2") for u in HOSTILE)})


def _session_keys(tier: HotTier, key: SessionKey) -> set[str]:
    if isinstance(tier, RedisTier):  # meta, window and composed contexts
        return {*tier.keys_for(key), tier.context_key_for(key)}
    return {f"session:{key.tag}"}


def test_user_keys_never_reach_another_tenant_or_user(tier: HotTier) -> None:
    owned: dict[tuple[str, str], set[str]] = {}
    for tenant, user in PAIRS:
        key = SessionKey(tenant, user, "s*")
        tier.append(key, msgs(1, 2))
        tier.put_context(key, "stamp", b"ctx", 60)
        owned[(tenant, user)] = _session_keys(tier, key)
    tenants = sorted({t for t, _ in PAIRS})
    for tenant in tenants:
        tier.cache_put(tenant, "ns*", "d1", b"cached", 60)
    for (tenant, user), keys in owned.items():
        assert set(tier.user_keys(tenant, user)) == keys, (tenant, user)
    for tenant in tenants:
        listed = set(tier.user_keys(tenant))
        sessions = set().union(*(keys for (t, _), keys in owned.items() if t == tenant))
        extra = listed - sessions  # the tenant's one content-cache entry, nothing else
        assert sessions <= listed and len(extra) == 1, (tenant, extra)
        assert ":cc:" in next(iter(extra)) or next(iter(extra)).startswith("cc:")
        others = set().union(*(keys for (t, _), keys in owned.items() if t != tenant))
        assert not listed & others


def test_user_keys_name_the_session_keys(tier: HotTier) -> None:
    key = SessionKey("t", "u", "s")
    tier.append(key, msgs(1, 1))
    tier.put_context(key, "stamp", b"ctx", 60)
    other = SessionKey("t", "u2", "s")
    tier.append(other, msgs(1, 1))
    listed = tier.user_keys("t", "u")
    assert listed == sorted(_session_keys(tier, key))
    assert tier.delete_keys(listed) == len(listed)
    assert tier.user_keys("t", "u") == [] and tier.read(key, 5) is None
    assert tier.user_keys("t", "u2") != []  # the other user's session is untouched
    tier.invalidate(other)


def test_percent_encoding_holds_no_glob_character() -> None:
    from urllib.parse import quote

    every_char = "".join(chr(c) for c in range(0x250)) + "\U0001f600\ud7ff"
    assert not set(quote(every_char, safe="")) & set("*?[]\\^")


def test_inprocess_bounds_and_expiry() -> None:
    tier = InProcessTier(window_size=3, ttl_seconds=0.05, max_sessions=2)
    keys = [SessionKey("t", "u", str(i)) for i in range(3)]
    for key in keys:
        tier.append(key, msgs(1, 1))
    assert len(tier) == 2 and tier.read(keys[0], 1) is None  # least recently used dropped
    import time

    time.sleep(0.06)
    assert tier.read(keys[2], 1) is None  # expired


def test_usable_window_rejects_gaps_and_wrong_tail() -> None:
    from langmem_tiered.tiers import HotRead

    gap = [*msgs(1, 2), *msgs(4, 4)]
    assert usable_window(HotRead(4, 1, gap), 3) is None
    assert usable_window(HotRead(5, 1, msgs(1, 4)), 3) is None  # window does not end at last seq
    assert usable_window(HotRead(4, 1, msgs(1, 4)), 10) is not None  # reaches the first message
    assert usable_window(HotRead(4, 1, []), 1) is None  # empty but messages exist
