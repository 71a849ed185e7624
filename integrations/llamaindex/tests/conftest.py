"""The integration's tests run on real PostgreSQL (+pgvector) and real Redis, as the core's do:
the fixtures are ``langmem_tiered.testing.pytest_plugin``."""

from __future__ import annotations

import os

# Tests that are not about recall do not load the offline embedder (subprocesses inherit this).
os.environ["LANGMEM_EMBEDDER"] = "none"
os.environ.setdefault("IS_TESTING", "1")

import uuid  # noqa: E402
from collections.abc import AsyncIterator, Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from llama_index.memory.langmem_tiered import (  # noqa: E402
    TieredMemory,
    aclose_clients,
    close_clients,
)

pytest_plugins = ["langmem_tiered.testing.pytest_plugin"]


@pytest.fixture
def fields(memory_options: dict[str, Any]) -> dict[str, Any]:
    """Fields of an integration memory on the test's schema, prefix and hot tier."""
    return {
        "postgres_url": memory_options["postgres_url"],
        "redis_url": memory_options["redis_url"],
        "schema": memory_options["schema"],
        "redis_prefix": memory_options["redis_prefix"],
        "options": {"window_size": memory_options["window_size"]},
        "tenant": "t1",
        "user": "u1",
    }


@pytest.fixture
def make_memory(fields: dict[str, Any]) -> Iterator[Callable[..., TieredMemory]]:
    def make(**overrides: Any) -> TieredMemory:
        values = {**fields, "session": "s-" + uuid.uuid4().hex[:8], **overrides}
        return TieredMemory(**values)

    yield make
    close_clients()


@pytest.fixture
async def aclients() -> AsyncIterator[None]:
    """Close the async core memories of the test's loop afterwards."""
    yield
    await aclose_clients()
