"""Content cache (seed 001) on real Postgres and both hot tiers: get_or_generate, payload keys,
forced regeneration, batch checks, TTL, isolation, Redis failures, export and statistics."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from langmem_tiered import (
    AsyncTieredMemory,
    ContentCache,
    InvalidIdError,
    InvalidInputError,
    TieredMemory,
    cache_digest,
)
from langmem_tiered.testing import RedisServer


def _rows(postgres_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_url) as conn:
        return conn.execute(
            f"SELECT tenant_id, namespace, key_text, value FROM {schema}.lmt_content_cache "
            "ORDER BY tenant_id, namespace, digest"
        ).fetchall()


def test_get_or_generate_generates_once_then_hits(memory: TieredMemory, hot: str) -> None:
    cache = memory.content_cache("shop-1", "descriptions")
    calls: list[str] = []

    def generate() -> str:
        calls.append("x")
        return "A red mug, 350 ml, dishwasher safe."

    first = cache.get_or_generate("sku-42", generate)
    second = cache.get_or_generate("sku-42", generate)
    assert first == second == "A red mug, 350 ml, dishwasher safe."
    assert calls == ["x"]
    counters = cache.counters()
    assert counters["misses"] == 1 and counters["hits"] == 1 and counters["generated"] == 1
    # Redis is authoritative; the in-process tier of a memory shared through Postgres is not
    assert counters["hot_hits" if hot == "redis" else "postgres_hits"] == 1
    assert counters["tokens_saved"] == memory.tokenizer.count(first) > 0
    entry = cache.lookup("sku-42")
    assert entry is not None and entry.value == first and entry.digest == cache_digest("sku-42")


def test_payload_keys_ignore_key_order_and_values_round_trip(memory: TieredMemory) -> None:
    cache = memory.content_cache("t", "llm")
    value = {"text": "olá", "n": [1, 2.5, None, True], "nested": {"ç": "ã"}}
    cache.set({"model": "m", "prompt": "p", "temperature": 0}, value, tokens=7)
    assert cache.get({"temperature": 0, "prompt": "p", "model": "m"}) == value
    assert cache.get({"temperature": 1, "prompt": "p", "model": "m"}) is None
    assert cache.lookup(["a", 1]) is None
    assert cache.counters()["tokens_saved"] == 7


def test_force_regenerates_everywhere(memory: TieredMemory, memory_options: dict[str, Any]) -> None:
    cache = memory.content_cache("t", "ns")
    cache.get_or_generate("k", lambda: "v1")
    assert cache.get_or_generate("k", lambda: "v2") == "v1"
    assert cache.get_or_generate("k", lambda: "v2", force=True) == "v2"
    assert cache.get("k") == "v2"
    with TieredMemory.connect(**memory_options) as other:
        assert other.content_cache("t", "ns").get("k") == "v2"


def test_batch_check_and_get_many(memory: TieredMemory) -> None:
    cache = memory.content_cache("t", "ns")
    cache.set("a", 1)
    cache.set({"b": 1}, [2])
    assert cache.contains_many(["a", "zz", {"b": 1}, "a"]) == [True, False, True, True]
    assert cache.get_many(["zz", {"b": 1}, "a"]) == [None, [2], 1]


def test_ttl_expires_in_both_tiers(memory: TieredMemory, postgres_url: str, schema: str) -> None:
    cache = memory.content_cache("t", "short", ttl_seconds=1)
    cache.set("k", "soon gone")
    cache.set("stays", "here", ttl_seconds=None)
    assert cache.get("k") == "soon gone"
    time.sleep(1.3)
    assert cache.get("k") is None
    assert cache.get("stays") == "here"
    assert memory.expire_cache("t") == 1
    assert [r[2] for r in _rows(postgres_url, schema)] == ["stays"]


def test_tenants_and_namespaces_are_exact(memory: TieredMemory) -> None:
    hostile = ["a", "a*", "a:b", "a}", "{a", "a%", "a_", "ação", "a" * 200]
    for tenant in hostile:
        for ns in ("n", "n*", "n:1"):
            memory.content_cache(tenant, ns).set("k", f"{tenant}/{ns}")
    for tenant in hostile:
        for ns in ("n", "n*", "n:1"):
            assert memory.content_cache(tenant, ns).get("k") == f"{tenant}/{ns}"
    # clearing a namespace whose name is a glob pattern leaves its look-alikes alone
    assert memory.content_cache("a*", "n*").clear() == 1
    assert memory.content_cache("a*", "n*").get("k") is None
    assert memory.content_cache("a", "n").get("k") == "a/n"
    assert memory.content_cache("a*", "n").get("k") == "a*/n"
    assert memory.content_cache("a*", "n:1").get("k") == "a*/n:1"
    assert memory.cache_namespaces("a*") == ["n", "n:1"]


def test_delete_removes_from_both_tiers(
    memory: TieredMemory, memory_options: dict[str, Any]
) -> None:
    cache = memory.content_cache("t", "ns")
    cache.set("k", "v")
    assert cache.delete("k") is True
    assert cache.get("k") is None
    assert cache.delete("k") is False
    with TieredMemory.connect(**memory_options) as other:
        assert other.content_cache("t", "ns").get("k") is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (1.5, "v"),
        (None, "v"),
        ("k", None),
        ("k", {1, 2}),
        ("k", float("nan")),
        ("k\x00", "v"),
        ("k", "nul \x00 inside"),
        ({"a": {1, 2}}, "v"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    memory: TieredMemory, postgres_url: str, schema: str, key: Any, value: Any
) -> None:
    cache = memory.content_cache("t", "ns")
    with pytest.raises(InvalidInputError):
        cache.set(key, value)
    assert _rows(postgres_url, schema) == []


def test_bad_ids_and_ttl(memory: TieredMemory) -> None:
    with pytest.raises(InvalidIdError):
        memory.content_cache("", "ns")
    with pytest.raises(InvalidIdError):
        memory.content_cache("t", "a\nb")
    with pytest.raises(InvalidInputError):
        memory.content_cache("t", "ns", ttl_seconds=0)
    with pytest.raises(InvalidInputError):
        memory.content_cache("t", "ns").set("k", "v", tokens=-1)


def test_stats_and_export(memory: TieredMemory, memory_options: dict[str, Any]) -> None:
    cache = memory.content_cache("t", "ns")
    for i in range(1203):
        cache.set(f"key-{i}", {"i": i}, tokens=3)
    cache.get("key-1")
    cache.get("nope")
    stats = cache.stats()
    assert stats["lookups"] == 2 and stats["hit_rate"] == 0.5
    assert stats["durable"]["entries"] == stats["durable"]["live_entries"] == 1203
    assert stats["durable"]["stored_tokens"] == 3 * 1203
    with TieredMemory.connect(**memory_options) as other:
        records = other.content_cache("t", "ns").export()
    assert len(records) == 1203
    assert sorted(r["key"] for r in records) == sorted(f"key-{i}" for i in range(1203))
    assert {r["digest"] for r in records} == {cache_digest(f"key-{i}") for i in range(1203)}
    assert all(r["value"] == {"i": int(r["key"][4:])} for r in records)


def test_single_flight_across_threads(memory: TieredMemory) -> None:
    cache = memory.content_cache("t", "ns")
    calls = 0
    lock = threading.Lock()

    def generate() -> str:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return "made once"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_generate("k", generate)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["made once"] * 6
    assert calls == 1


def test_redis_down_falls_back_to_postgres_and_refills(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    with TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema
    ) as memory:
        cache = memory.content_cache("t", "ns")
        cache.set("before", "v0")
        private_redis.kill()
        cache.set("during", "v1")  # acknowledged: in Postgres
        assert cache.get("before") == "v0"
        assert cache.counters()["hot_errors"] >= 2
        private_redis.start()  # empty
        assert cache.lookup("during").tier == "postgres"  # type: ignore[union-attr]
        assert cache.lookup("during").tier == "hot"  # type: ignore[union-attr]  # refilled


async def test_async_twin(amemory: AsyncTieredMemory, hot: str) -> None:
    cache = amemory.content_cache("t", "ns")
    calls: list[int] = []

    async def generate() -> dict[str, int]:
        calls.append(1)
        return {"answer": 42}

    assert await cache.get_or_generate("q", generate) == {"answer": 42}
    assert await cache.get_or_generate("q", generate) == {"answer": 42}
    assert calls == [1]
    assert await cache.get_or_generate("q", lambda: {"answer": 43}, force=True) == {"answer": 43}
    assert await cache.contains_many(["q", "r"]) == [True, False]
    assert (await cache.stats())["durable"]["entries"] == 1
    assert len(await cache.export()) == 1
    assert await cache.clear() == 1
    assert await cache.get("q") is None


def test_exported_names() -> None:
    assert ContentCache.__module__ == "langmem_tiered"


def test_migration_replaces_the_old_llm_cache_table(postgres_url: str, schema: str) -> None:
    """A schema at version 4 whose LangChain cache made lmt_llm_cache migrates cleanly."""
    with TieredMemory.connect(postgres_url=postgres_url, schema=schema) as memory:
        memory.health()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("DROP TABLE lmt_content_cache")
        conn.execute("DELETE FROM lmt_schema_version WHERE version = 5")
        conn.execute("CREATE TABLE lmt_llm_cache (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute(
            "INSERT INTO lmt_lg_store (tenant_id, user_id, namespace, key, value) "
            "VALUES ('t', 'u', '{a}', 'k', '{}')"
        )
    with TieredMemory.connect(postgres_url=postgres_url, schema=schema) as memory:
        memory.content_cache("t", "ns").set("k", "v")
        assert memory.content_cache("t", "ns").get("k") == "v"
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(f"SELECT to_regclass('{schema}.lmt_llm_cache')").fetchone() == (None,)
        # the store's table, made by the integration before 0005, is kept with its rows
        assert conn.execute(f"SELECT count(*) FROM {schema}.lmt_lg_store").fetchone() == (1,)
