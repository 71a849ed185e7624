"""The Redis hot tier on a real Redis Cluster (local ``redis-server --cluster-enabled yes``).

The tier contract suite (tests/test_tier_contract.py) runs on the cluster too; this file adds
what only a cluster has: URLs with seed nodes, keys spread over every primary (SCAN visits
each), content-cache batches in several slots, the whole ``TieredMemory`` on a cluster, and a
failover: a primary is killed, the memory keeps serving from Postgres, its replica takes over,
and no acknowledged message is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot

from langmem_tiered import (
    AsyncRedisTier,
    AsyncTieredMemory,
    ConfigurationError,
    Message,
    RedisTier,
    SessionKey,
    TieredMemory,
    TierUnavailableError,
)
from langmem_tiered._engine import HOT_RETRY_SECONDS
from langmem_tiered.testing import free_port
from langmem_tiered.testing.cluster import ClusterNodeServer, LocalRedisCluster
from langmem_tiered.tiers import HotState

RETRY_PAUSE = HOT_RETRY_SECONDS + 0.2  # after it, the engine tries the hot tier again


def _msgs(first: int, last: int) -> list[Message]:
    return [Message(role="user", content=f"m{i}", seq=i) for i in range(first, last + 1)]


def _stat(memory: TieredMemory, name: str) -> int:
    return int(memory.stats()[name])


def _wait(check: object, what: str, timeout: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster_memory(
    postgres_url: str, schema: str, redis_cluster_url: str, redis_cluster_prefix: str
) -> Iterator[TieredMemory]:
    memory = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_cluster_url,
        schema=schema,
        redis_prefix=redis_cluster_prefix,
        window_size=10,
    )
    yield memory
    memory.close()


# -- configuration ------------------------------------------------------------------------------


def test_cluster_url_forms() -> None:
    tier = RedisTier("redis+cluster://user:pw@h1:7000,h2:7001,[::1]:7002/0")
    assert tier.cluster
    assert tier._url == "redis://user:pw@h1:7000/0"
    assert tier._seeds == [("h2", 7001), ("::1", 7002)]
    assert RedisTier("rediss+cluster://h1:7000")._url == "rediss://h1:7000"
    assert RedisTier("redis://h1:7000", cluster=True).cluster
    assert not RedisTier("redis://h1:7000").cluster  # a plain URL stays one Redis
    for bad in (
        "redis+cluster://h1:7000/3",  # clusters have only database 0
        "redis+cluster://h1:7000,h2/0",  # a seed without a port
        "redis+cluster://h1:notaport",
        "http://h1:7000",
    ):
        with pytest.raises(ConfigurationError):
            RedisTier(bad)
    with pytest.raises(ConfigurationError):
        RedisTier("redis://h1:7000/1", cluster=True)
    with pytest.raises(ConfigurationError):
        RedisTier("unix:///tmp/redis.sock", cluster=True)


async def test_unreachable_cluster_is_a_tier_error_not_a_constructor_error() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    tier = RedisTier(url, socket_timeout=0.2)  # the sync cluster client connects when built
    with pytest.raises(TierUnavailableError):
        tier.read(SessionKey("t", "u", "s"), 5)
    with pytest.raises(TierUnavailableError):
        tier.user_keys("t")
    assert tier.ping() is False
    tier.close()
    atier = AsyncRedisTier(url, socket_timeout=0.2)
    with pytest.raises(TierUnavailableError):
        await atier.append(SessionKey("t", "u", "s"), _msgs(1, 1))
    assert await atier.ping() is False
    await atier.close()


async def test_async_tier_with_a_ready_cluster_client(
    redis_cluster_url: str, redis_cluster_prefix: str
) -> None:
    seed = redis_cluster_url.replace("redis+cluster://", "redis://").split(",")[0]
    client = AsyncRedisCluster.from_url(seed)
    tier = AsyncRedisTier(client=client, prefix=redis_cluster_prefix, window_size=5)
    assert tier.cluster and tier.client is client
    key = SessionKey("t", "u", "s")
    await tier.append(key, _msgs(1, 3))
    read = await tier.read(key, 5)
    assert read is not None and [m.seq for m in read.messages] == [1, 2, 3]
    await tier.put_state(key, HotState({"step": 1}, 1))
    state = await tier.get_state(key)
    assert state is not None and state.state == {"step": 1}
    assert await tier.drop(key) == 2
    await tier.close()  # not ours: the client stays open
    assert await client.ping()
    await client.aclose()


# -- keys over every primary --------------------------------------------------------------------


def _primaries_holding(url: str, keys: list[str]) -> int:
    client = RedisTier(url).client
    assert isinstance(client, redis.RedisCluster)
    try:
        return len({client.get_node_from_key(k).name for k in keys})
    finally:
        client.close()


def test_user_keys_scan_every_primary(redis_cluster_url: str, redis_cluster_prefix: str) -> None:
    tier = RedisTier(redis_cluster_url, prefix=redis_cluster_prefix, window_size=5)
    try:
        mine = [SessionKey("t", "u", f"s{i}") for i in range(24)]
        for key in mine:
            tier.append(key, _msgs(1, 1))
        # neighbours whose ids extend or resemble ours
        for tenant, user in (("t2", "u"), ("t", "u2"), ("t*", "u"), ("t", "u*")):
            tier.append(SessionKey(tenant, user, "s0"), _msgs(1, 1))
        expected = sorted(k for key in mine for k in tier.keys_for(key))
        assert _primaries_holding(redis_cluster_url, expected) == 3  # spread over all of them
        assert tier.user_keys("t", "u") == expected
        assert set(expected) < set(tier.user_keys("t"))
        assert not any("{t2:" in k or "{t%2A:" in k for k in tier.user_keys("t"))
        assert tier.delete_keys(expected) == len(expected)
        assert tier.user_keys("t", "u") == []
        assert tier.user_keys("t", "u2") != []
    finally:
        tier.close()


# -- TieredMemory on the cluster ----------------------------------------------------------------


def test_memory_end_to_end_on_cluster(cluster_memory: TieredMemory) -> None:
    memory = cluster_memory
    assert memory.hot_tier.cluster  # type: ignore[attr-defined]
    sessions = [memory.session("clinic", f"user-{i}", "chat") for i in range(6)]
    stored = {
        s.key: s.add_messages(
            [{"role": "user", "content": f"hello {i}"}, {"role": "assistant", "content": "ok"}]
        )
        for i, s in enumerate(sessions)
    }
    for session in sessions:
        session.update_state(current_state="booking", doctor="Dr. Gustavo")
    metas = [memory.hot_tier.keys_for(s.key)[0] for s in sessions]  # type: ignore[attr-defined]
    assert len({key_slot(k.encode()) for k in metas}) == len(metas)  # one slot per session

    hits = _stat(memory, "hot_hits")
    for session in sessions:
        assert session.recent(5) == stored[session.key]
    assert _stat(memory, "hot_hits") == hits + len(sessions)  # every window served hot
    bundle = sessions[0].context(query="hello", budget_tokens=500)
    assert "hello 0" in bundle.to_text() and "Dr. Gustavo" in bundle.to_text()
    assert sessions[0].context(query="hello", budget_tokens=500) == bundle  # composed-context cache
    assert sessions[1].state()["doctor"] == "Dr. Gustavo"


async def test_async_memory_on_cluster_url(
    postgres_url: str, schema: str, redis_cluster_url: str, redis_cluster_prefix: str
) -> None:
    memory = await AsyncTieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_cluster_url,
        schema=schema,
        redis_prefix=redis_cluster_prefix,
        window_size=10,
    )
    try:
        assert memory.hot_tier.cluster  # type: ignore[attr-defined]
        sessions = [memory.session("clinic", f"user-{i}", "chat") for i in range(4)]
        stored = {
            s.key: await s.add_messages([{"role": "user", "content": "hi"}]) for s in sessions
        }
        hits = memory.stats()["hot_hits"]
        for session in sessions:
            assert await session.recent(5) == stored[session.key]
        assert memory.stats()["hot_hits"] == hits + len(sessions)
        assert await memory.hot_tier.ping()
        keys = await memory.hot_tier.user_keys("clinic")
        assert len(keys) == 2 * len(sessions)  # meta and window of each session
    finally:
        await memory.close()


def test_content_cache_batches_in_several_slots(cluster_memory: TieredMemory) -> None:
    memory = cluster_memory
    caches = [memory.content_cache(t, ns) for t in ("shop-1", "shop-2") for ns in ("a", "b")]
    tier = memory.hot_tier
    slots = {key_slot(tier.cache_key_for(c.tenant, c.namespace, "x").encode()) for c in caches}  # type: ignore[attr-defined]
    assert len(slots) == len(caches)  # each tenant and namespace has its own slot
    keys = [f"product-{i}" for i in range(50)]
    for cache in caches:
        for key in keys[::2]:
            cache.set(key, {"text": f"{cache.namespace}:{key}"})
    for cache in caches:
        got = cache.get_many(keys)
        want = [None if i % 2 else {"text": f"{cache.namespace}:{k}"} for i, k in enumerate(keys)]
        assert got == want
        entries = cache.lookup_many(keys[::2])
        assert all(e is not None and e.tier == "hot" for e in entries)  # one MGET, one slot
    caches[0].clear()
    assert caches[0].get_many(keys) == [None] * len(keys)
    assert caches[1].get(keys[0]) == {"text": f"{caches[1].namespace}:{keys[0]}"}


# -- failover -----------------------------------------------------------------------------------


def _stored_rows(postgres_url: str, schema: str) -> dict[str, list[tuple[int, str]]]:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            f"SELECT session_id, seq, message_id FROM {schema}.lmt_messages"
            " WHERE tenant_id = 't' ORDER BY session_id, seq"
        ).fetchall()
    out: dict[str, list[tuple[int, str]]] = {}
    for session_id, seq, message_id in rows:
        out.setdefault(session_id, []).append((seq, message_id))
    return out


def _cluster_state(node: ClusterNodeServer) -> str:
    client = node.client()
    try:
        return str(client.cluster("INFO").get("cluster_state"))
    finally:
        client.close()


@pytest.mark.slow
def test_primary_killed_memory_keeps_serving_and_loses_no_acknowledged_write(
    postgres_url: str, schema: str, private_redis_cluster: LocalRedisCluster
) -> None:
    cluster = private_redis_cluster
    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=cluster.url, schema=schema, window_size=10
    )
    tier = memory.hot_tier
    try:
        sessions = [memory.session("t", "u", f"s{i}") for i in range(6)]
        acked: dict[str, list[Message]] = {s.key.session: [] for s in sessions}
        counter = iter(range(10_000))

        def write_all() -> None:
            for session in sessions:
                i = next(counter)
                stored = session.add_message(id=f"m{i}", role="user", content=f"message {i}")
                acked[session.key.session].append(stored)

        def check_all() -> None:
            for session in sessions:
                assert session.recent(5) == acked[session.key.session][-5:]

        for _ in range(4):
            write_all()
        hits = _stat(memory, "hot_hits")
        check_all()
        assert _stat(memory, "hot_hits") == hits + len(sessions)  # healthy: all served hot

        victim = sessions[0]
        meta = tier.keys_for(victim.key)[0]  # type: ignore[attr-defined]
        primary = cluster.node_for_key(meta)
        replica = cluster.replica_of(primary)
        survivor = next(
            n for n in cluster.nodes if n not in (primary, replica) and n.alive
        )  # any other node
        # Hold the failover back until the outage has been observed; promote even though
        # the replica will have been cut off for a while.
        control = replica.client()
        control.config_set("cluster-replica-no-failover", "yes")
        control.config_set("cluster-replica-validity-factor", "0")

        cluster.kill_primary_of(meta)

        # Outage, first phase: the victim's primary refuses connections.
        failures = _stat(memory, "hot_write_failures")
        write_all()  # every append is acknowledged (Postgres committed it)
        assert _stat(memory, "hot_write_failures") > failures
        check_all()  # served from Postgres

        # Second phase: the cluster has marked the primary failed and refuses every key
        # (CLUSTERDOWN, cluster-require-full-coverage), not only the dead primary's.
        _wait(lambda: _cluster_state(survivor) == "fail", "cluster_state:fail")
        with pytest.raises(TierUnavailableError):
            tier.read(sessions[1].key, 5)
        assert tier.ping() is False
        time.sleep(RETRY_PAUSE)
        write_all()
        check_all()

        # The replica takes over (automatic failover, once allowed).
        control.config_set("cluster-replica-no-failover", "no")
        control.close()
        _wait(lambda: cluster.promoted(replica), "the replica to be promoted")
        _wait(tier.ping, "the client to reach every primary again")
        time.sleep(RETRY_PAUSE)

        failures = _stat(memory, "hot_write_failures")
        write_all()
        assert _stat(memory, "hot_write_failures") == failures  # the hot tier takes writes again
        check_all()  # refilled from Postgres (the promoted replica's windows are not trusted)
        hits = _stat(memory, "hot_hits")
        check_all()
        assert _stat(memory, "hot_hits") == hits + len(sessions)  # and served hot again

        # No acknowledged write is lost: each is in Postgres, in order, with gap-free seqs.
        rows = _stored_rows(postgres_url, schema)
        for session in sessions:
            mine = acked[session.key.session]
            assert rows[session.key.session] == [(m.seq, m.id) for m in mine]
            assert [m.seq for m in mine] == list(range(1, len(mine) + 1))
            assert session.messages() == mine
        assert memory.stats()["dirty_sessions"] == 0
    finally:
        memory.close()
