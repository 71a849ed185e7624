"""TieredCache on real Redis + Postgres: set_llm_cache, tiers, TTL, clear, stats, suites."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis
from langchain_core.caches import BaseCache
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite
from langmem_tiered import AsyncTieredMemory, RedisTier, TieredMemory, cache_digest
from langmem_tiered.testing import RedisServer

from langchain_langmem_tiered.cache import TieredCache, namespace_for


@pytest.fixture
def mem(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> Iterator[TieredMemory]:
    m = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, redis_url=redis_url, redis_prefix=redis_prefix
    )
    yield m
    m.close()


@pytest.fixture
async def amem(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[AsyncTieredMemory]:
    m = await AsyncTieredMemory.connect(
        postgres_url=postgres_url, schema=schema, redis_url=redis_url, redis_prefix=redis_prefix
    )
    yield m
    await m.close()


@pytest.fixture
def cache(mem: TieredMemory) -> TieredCache:
    return TieredCache(mem)


def _rkey(c: TieredCache, prompt: str, llm_string: str) -> str:
    tier = c.memory.hot_tier
    assert isinstance(tier, RedisTier)
    return tier.cache_key_for(c.tenant, namespace_for(llm_string), cache_digest(prompt))


@pytest.fixture
def global_cache(cache: TieredCache) -> Iterator[TieredCache]:
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


def _flush(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


class CountingLLM(FakeListLLM):
    calls: int = 0

    def _call(self, *args: object, **kwargs: object) -> str:  # type: ignore[override]
        self.calls += 1
        return super()._call(*args, **kwargs)  # type: ignore[arg-type]

    async def _acall(self, *args: object, **kwargs: object) -> str:  # type: ignore[override]
        self.calls += 1
        return await super()._acall(*args, **kwargs)  # type: ignore[arg-type]


class CountingChat(GenericFakeChatModel):
    calls: int = 0

    def _generate(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def,override]
        self.calls += 1
        return super()._generate(*args, **kwargs)  # type: ignore[arg-type]


def test_llm_second_call_is_cached(global_cache: TieredCache) -> None:
    llm = CountingLLM(responses=["first answer", "second answer"])
    assert llm.invoke("hello") == "first answer"
    assert llm.invoke("hello") == "first answer"
    assert llm.calls == 1
    s = global_cache.stats()
    assert s["hot_hits"] == 1 and s["misses"] == 1 and s["tokens_saved"] > 0


def test_chat_model_cached(global_cache: TieredCache) -> None:
    msg = AIMessage(
        "cached reply",
        usage_metadata={"input_tokens": 3, "output_tokens": 7, "total_tokens": 10},
    )
    chat = CountingChat(messages=iter([msg, AIMessage("other")]))
    first = chat.invoke("hi")
    second = chat.invoke("hi")
    assert chat.calls == 1
    assert first.content == second.content == "cached reply"
    assert global_cache.stats()["tokens_saved"] == 7


def test_served_from_postgres_when_redis_is_empty(
    mem: TieredMemory, redis_url: str, redis_prefix: str, cache: TieredCache
) -> None:
    gens = [ChatGeneration(message=AIMessage("from pg"))]
    cache.update("p", "llm", gens)
    _flush(redis_url, redis_prefix)
    fresh = TieredCache(mem)
    assert fresh.lookup("p", "llm") == gens
    assert fresh.stats()["postgres_hits"] == 1
    assert fresh.lookup("p", "llm") == gens  # refilled
    assert fresh.stats()["hot_hits"] == 1


def test_ttl_expiry(mem: TieredMemory, redis_url: str, redis_prefix: str, schema: str) -> None:
    c = TieredCache(mem, ttl_seconds=1)
    c.update("p", "llm", [Generation(text="x")])
    assert c.lookup("p", "llm") == [Generation(text="x")]
    time.sleep(1.5)
    assert c.lookup("p", "llm") is None


def test_no_expiry(mem: TieredMemory, redis_url: str, redis_prefix: str) -> None:
    c = TieredCache(mem, ttl_seconds=None)
    c.update("p", "llm", [Generation(text="x")])
    client = redis.Redis.from_url(redis_url)
    assert client.ttl(_rkey(c, "p", "llm")) == -1
    client.close()


def test_default_ttl_and_row(
    cache: TieredCache, postgres_url: str, schema: str, redis_url: str
) -> None:
    cache.update("p", "llm", [Generation(text="hello world")])
    client = redis.Redis.from_url(redis_url)
    assert 89 * 86400 < client.ttl(_rkey(cache, "p", "llm")) <= 90 * 86400
    client.close()
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            f"SELECT expires_at - created_at, tokens FROM {schema}.lmt_content_cache"
        ).fetchone()
    assert row is not None and row[0].days == 90 and row[1] > 0


def test_clear(cache: TieredCache) -> None:
    cache.update("p", "a", [Generation(text="1")])
    cache.update("p", "b", [Generation(text="2")])
    cache.clear(llm_string="a")
    assert cache.lookup("p", "a") is None
    assert cache.lookup("p", "b") == [Generation(text="2")]
    cache.clear()
    assert cache.lookup("p", "b") is None


def test_redis_down_falls_back(postgres_url: str, schema: str, private_redis: RedisServer) -> None:
    with TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, redis_url=private_redis.url
    ) as m:
        c = TieredCache(m)
        private_redis.kill()
        c.update("p", "llm", [Generation(text="x")])
        assert c.lookup("p", "llm") == [Generation(text="x")]
        s = c.stats()
        assert s["postgres_hits"] == 1 and s["hot_errors"] >= 2


def test_in_process_memory_is_postgres_backed(postgres_url: str, schema: str) -> None:
    with TieredMemory.connect(postgres_url=postgres_url, schema=schema) as a:
        TieredCache(a).update("p", "llm", [Generation(text="shared")])
    with TieredMemory.connect(postgres_url=postgres_url, schema=schema) as b:
        c = TieredCache(b)
        assert c.lookup("p", "llm") == [Generation(text="shared")]
        assert c.stats()["postgres_hits"] == 1


def test_tenants_do_not_share_entries(mem: TieredMemory) -> None:
    TieredCache(mem, tenant="a").update("p", "llm", [Generation(text="for a")])
    assert TieredCache(mem, tenant="a*").lookup("p", "llm") is None
    TieredCache(mem, tenant="a*").clear()
    assert TieredCache(mem, tenant="a").lookup("p", "llm") == [Generation(text="for a")]


def test_stats(cache: TieredCache) -> None:
    assert cache.stats()["hit_rate"] == 0.0
    cache.lookup("p", "llm")
    cache.update("p", "llm", [Generation(text="some words here")])
    cache.lookup("p", "llm")
    s = cache.stats()
    assert (s["hits"], s["misses"], s["lookups"], s["hit_rate"]) == (1, 1, 2, 0.5)
    cache.reset_stats()
    assert cache.stats()["lookups"] == 0


async def test_async_llm_cached(global_cache: TieredCache) -> None:
    llm = CountingLLM(responses=["a1", "a2"])
    assert await llm.ainvoke("q") == "a1"
    assert await llm.ainvoke("q") == "a1"
    assert llm.calls == 1


async def test_async_memory_tiers(
    amem: AsyncTieredMemory, redis_url: str, redis_prefix: str
) -> None:
    c = TieredCache(amem)
    gens = [ChatGeneration(message=AIMessage("x"))]
    assert await c.alookup("p", "llm") is None
    await c.aupdate("p", "llm", gens)
    assert await c.alookup("p", "llm") == gens
    _flush(redis_url, redis_prefix)
    assert await c.alookup("p", "llm") == gens
    assert await c.alookup("p", "llm") == gens
    s = c.stats()
    assert (s["hot_hits"], s["postgres_hits"], s["misses"]) == (2, 1, 1)
    await c.aclear()
    assert await c.alookup("p", "llm") is None


async def test_async_ttl(amem: AsyncTieredMemory, redis_url: str, redis_prefix: str) -> None:
    c = TieredCache(amem, ttl_seconds=1)
    await c.aupdate("p", "llm", [Generation(text="x")])
    time.sleep(1.5)
    assert await c.alookup("p", "llm") is None


async def test_async_chat_cached(
    amem: AsyncTieredMemory, redis_url: str, redis_prefix: str
) -> None:
    c = TieredCache(amem)
    set_llm_cache(c)
    try:
        chat = CountingChat(messages=iter([AIMessage("r1"), AIMessage("r2")]))
        assert (await chat.ainvoke("hi")).content == "r1"
        assert (await chat.ainvoke("hi")).content == "r1"
        assert chat.calls == 1
    finally:
        set_llm_cache(None)


class TestSyncStandard(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, mem: TieredMemory) -> BaseCache:
        return TieredCache(mem)


class TestAsyncStandard(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, amem: AsyncTieredMemory) -> BaseCache:
        return TieredCache(amem)
