"""TieredStore (LangGraph BaseStore) on real Postgres: round trips, exact tenant/user isolation,
TTL, semantic and lexical search, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langgraph.store.base import GetOp, InvalidNamespaceError, PutOp, SearchOp
from langmem_tiered import AsyncTieredMemory, TieredMemory

from langchain_langmem_tiered.store import TieredStore

HOSTILE = ["john_doe", "john-doe", "john%", "john", "john_", "a_", "a%", "_", "%", "ü:名", "x:y"]


@pytest.fixture
def hot() -> str:
    """The store does not use the hot tier: one variant is enough."""
    return "inprocess"


@pytest.fixture
def store(memory: TieredMemory) -> Iterator[TieredStore]:
    yield TieredStore(memory)


@pytest.fixture
async def astore(amemory: AsyncTieredMemory) -> AsyncIterator[TieredStore]:
    yield TieredStore(amemory)


def _embed() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=16)


# -- round trips --------------------------------------------------------------------------------


def test_put_get_delete(store: TieredStore) -> None:
    ns = ("acme", "alice", "memories")
    assert store.get(ns, "k1") is None
    store.put(ns, "k1", {"text": "likes tea", "n": 1})
    item = store.get(ns, "k1")
    assert item is not None
    assert item.value == {"text": "likes tea", "n": 1}
    assert item.namespace == ns and item.key == "k1"
    created = item.created_at
    store.put(ns, "k1", {"text": "likes coffee", "n": 2})
    again = store.get(ns, "k1")
    assert again is not None and again.value["text"] == "likes coffee"
    assert again.created_at == created and again.updated_at >= created
    store.delete(ns, "k1")
    assert store.get(ns, "k1") is None
    # a namespace that is only tenant + user
    store.put(("acme", "alice"), "root", {"v": 1})
    got = store.get(("acme", "alice"), "root")
    assert got is not None and got.namespace == ("acme", "alice")


def test_batch_mixed_ops(store: TieredStore) -> None:
    ns = ("t", "u", "a")
    results = store.batch(
        [
            PutOp(ns, "x", {"v": 1}),
            GetOp(ns, "x"),
            PutOp(ns, "x", {"v": 2}),
            GetOp(ns, "x"),
            SearchOp(("t", "u"), limit=5),
        ]
    )
    assert results[0] is None
    assert results[1].value == {"v": 1}  # type: ignore[union-attr]
    assert results[3].value == {"v": 2}  # type: ignore[union-attr]
    assert [i.key for i in results[4]] == ["x"]  # type: ignore[union-attr]


def test_search_prefix_filter_paging(store: TieredStore) -> None:
    for i in range(6):
        sub = "docs" if i % 2 == 0 else "notes"
        store.put(
            ("t", "u", sub, "v1"), f"k{i}", {"i": i, "kind": sub, "tag": "x" if i < 3 else "y"}
        )
    store.put(("t", "u", "docsx"), "other", {"i": 99, "kind": "docs"})
    keys = {i.key for i in store.search(("t", "u", "docs"))}
    assert keys == {"k0", "k2", "k4"}  # whole elements: "docsx" is not under "docs"
    assert {i.key for i in store.search(("t", "u"), filter={"tag": "x"})} == {"k0", "k1", "k2"}
    assert {i.key for i in store.search(("t", "u"), filter={"i": {"$gte": 4}})} == {
        "k4",
        "k5",
        "other",
    }
    assert {i.key for i in store.search(("t", "u"), filter={"kind": {"$ne": "docs"}})} == {
        "k1",
        "k3",
        "k5",
    }
    everything = [i.key for i in store.search(("t", "u"), limit=100)]
    assert len(everything) == 7
    page1 = [i.key for i in store.search(("t", "u"), limit=3, offset=0)]
    page2 = [i.key for i in store.search(("t", "u"), limit=3, offset=3)]
    page3 = [i.key for i in store.search(("t", "u"), limit=3, offset=6)]
    assert page1 + page2 + page3 == everything


def test_list_namespaces(store: TieredStore) -> None:
    store.put(("t", "u", "a", "b"), "k", {"v": 1})
    store.put(("t", "u", "a", "c"), "k", {"v": 1})
    store.put(("t", "u2", "a"), "k", {"v": 1})
    store.put(("t2", "u", "z"), "k", {"v": 1})
    assert store.list_namespaces(prefix=("t", "u")) == [("t", "u", "a", "b"), ("t", "u", "a", "c")]
    assert store.list_namespaces(prefix=("t",)) == [
        ("t", "u", "a", "b"),
        ("t", "u", "a", "c"),
        ("t", "u2", "a"),
    ]
    assert store.list_namespaces(prefix=("t", "u"), max_depth=3) == [("t", "u", "a")]
    assert store.list_namespaces(suffix=("c",)) == [("t", "u", "a", "c")]
    assert store.list_namespaces(prefix=("t", "*", "a")) == [
        ("t", "u", "a", "b"),
        ("t", "u", "a", "c"),
        ("t", "u2", "a"),
    ]
    assert len(store.list_namespaces(limit=2)) == 2
    assert store.list_namespaces(limit=2, offset=3) == [("t2", "u", "z")]


# -- exact tenant / user mapping ----------------------------------------------------------------


def test_hostile_ids_never_cross(store: TieredStore) -> None:
    for tenant in ("acme", "acm_", "acme%"):
        for user in HOSTILE:
            store.put((tenant, user, "mem"), "k", {"owner": f"{tenant}/{user}"})
            store.put((tenant, user), "root", {"owner": f"{tenant}/{user}"})
    for tenant in ("acme", "acm_", "acme%"):
        for user in HOSTILE:
            owner = f"{tenant}/{user}"
            hits = store.search((tenant, user), limit=100)
            assert {h.value["owner"] for h in hits} == {owner}
            assert len(hits) == 2
            item = store.get((tenant, user, "mem"), "k")
            assert item is not None and item.value["owner"] == owner
            assert store.list_namespaces(prefix=(tenant, user)) == [
                (tenant, user),
                (tenant, user, "mem"),
            ]
        assert {h.value["owner"].split("/")[0] for h in store.search((tenant,), limit=500)} == {
            tenant
        }
    # deleting one user's item leaves its look-alikes alone
    store.delete(("acme", "john_doe", "mem"), "k")
    assert store.get(("acme", "john_doe", "mem"), "k") is None
    for user in HOSTILE:
        if user != "john_doe":
            assert store.get(("acme", user, "mem"), "k") is not None


def test_fixed_tenant_and_user(memory: TieredMemory) -> None:
    s1 = TieredStore(memory, tenant_id="acme", user_id="john_doe")
    s2 = TieredStore(memory, tenant_id="acme", user_id="john-doe")
    by_tenant = TieredStore(memory, tenant_id="acme")
    s1.put(("memories",), "k", {"v": "one"})
    s2.put(("memories",), "k", {"v": "two"})
    assert s1.get(("memories",), "k").value == {"v": "one"}  # type: ignore[union-attr]
    assert s2.get(("memories",), "k").value == {"v": "two"}  # type: ignore[union-attr]
    assert [i.namespace for i in s1.search(())] == [("memories",)]
    assert by_tenant.get(("john_doe", "memories"), "k").value == {"v": "one"}  # type: ignore[union-attr]
    assert by_tenant.list_namespaces() == [("john-doe", "memories"), ("john_doe", "memories")]


def test_namespace_too_short(store: TieredStore) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(("only-tenant",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(("t", "u.x"), "k")])


# -- TTL ----------------------------------------------------------------------------------------


def test_ttl_expiry_and_sweep(store: TieredStore, postgres_url: str, schema: str) -> None:
    ns = ("t", "u", "tmp")
    store.put(ns, "short", {"v": 1}, ttl=0.02)  # 1.2 seconds
    store.put(ns, "long", {"v": 2}, ttl=60)
    store.put(ns, "forever", {"v": 3})
    assert store.get(ns, "short") is not None
    time.sleep(1.5)
    assert store.get(ns, "short") is None
    assert {i.key for i in store.search(ns)} == {"long", "forever"}
    assert store.list_namespaces() == [ns]
    assert store.sweep_ttl() == 1
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(f"SELECT key, expires_at IS NULL FROM {schema}.lmt_lg_store").fetchall()
    assert sorted(rows) == [("forever", True), ("long", False)]
    # a read refreshes the TTL
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {schema}.lmt_lg_store SET expires_at = now() + interval '1 minute' "
            "WHERE key = 'long'"
        )
    assert store.get(ns, "long") is not None
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            f"SELECT expires_at > now() + interval '59 minutes' FROM {schema}.lmt_lg_store "
            "WHERE key = 'long'"
        ).fetchone()
    assert row == (True,)


def test_default_ttl(memory: TieredMemory) -> None:
    store = TieredStore(memory, ttl={"default_ttl": 0.01, "refresh_on_read": False})
    store.put(("t", "u"), "k", {"v": 1})
    assert store.get(("t", "u"), "k") is not None
    time.sleep(1.0)
    assert store.get(("t", "u"), "k") is None


# -- search -------------------------------------------------------------------------------------

DOCS = {
    "tea": "the user drinks green tea every morning",
    "bike": "the user rides a bicycle to work",
    "cat": "the user has a cat named Miso",
}


def test_semantic_search_ranking(memory: TieredMemory) -> None:
    store = TieredStore(memory, index={"dims": 16, "embed": _embed(), "fields": ["text"]})
    for key, text in DOCS.items():
        store.put(("t", "u", "facts"), key, {"text": text, "extra": "ignored"})
    store.put(("t", "other", "facts"), "tea", {"text": DOCS["tea"]})
    assert store._vectors, "pgvector should be available on the test server"
    for key, text in DOCS.items():
        hits = store.search(("t", "u"), query=text, limit=3)
        assert hits[0].key == key and hits[0].namespace == ("t", "u", "facts")
        assert hits[0].score is not None and hits[0].score > 0.99
        assert all(h.score is not None and h.score < hits[0].score for h in hits[1:])
    # the other user's identical item is never a hit
    hits = store.search(("t", "u"), query=DOCS["tea"], limit=10)
    assert len(hits) == 3
    # index=False: stored, not embedded, last in a semantic search
    store.put(("t", "u", "facts"), "raw", {"text": DOCS["tea"]}, index=False)
    hits = store.search(("t", "u"), query=DOCS["tea"], limit=10)
    assert hits[-1].key == "raw" and hits[-1].score is None
    # vectors of another embedder's dimension are not compared (no error, no score)
    other = TieredStore(
        memory, index={"dims": 8, "embed": DeterministicFakeEmbedding(size=8), "fields": ["text"]}
    )
    other.put(("t", "u", "facts"), "small", {"text": DOCS["bike"]})
    hits = store.search(("t", "u"), query=DOCS["bike"], limit=10)
    assert hits[0].key == "bike" and {h.key for h in hits if h.score is None} == {"raw", "small"}
    hits = other.search(("t", "u"), query=DOCS["bike"], limit=10)
    assert hits[0].key == "small" and hits[0].score is not None and hits[0].score > 0.99
    store.delete(("t", "u", "facts"), "small")
    # filter combined with a query
    hits = store.search(("t", "u"), query=DOCS["cat"], filter={"extra": "ignored"}, limit=10)
    assert hits[0].key == "cat" and len(hits) == 3


def test_lexical_search_without_embedder(store: TieredStore) -> None:
    for key, text in DOCS.items():
        store.put(("t", "u", "facts"), key, {"text": text})
    store.put(("t", "u2", "facts"), "tea", {"text": DOCS["tea"]})
    hits = store.search(("t", "u"), query="green tea")
    assert [h.key for h in hits] == ["tea"]
    assert hits[0].score is not None and hits[0].score > 0
    assert store.search(("t", "u"), query="submarine") == []


# -- async --------------------------------------------------------------------------------------


async def test_async_round_trip(astore: TieredStore) -> None:
    ns = ("acme", "alice", "memories")
    assert await astore.aget(ns, "k") is None
    await astore.aput(ns, "k", {"text": "hi"})
    item = await astore.aget(ns, "k")
    assert item is not None and item.value == {"text": "hi"} and item.namespace == ns
    assert [i.key for i in await astore.asearch(("acme", "alice"))] == ["k"]
    assert await astore.alist_namespaces(prefix=("acme",)) == [ns]
    await astore.adelete(ns, "k")
    assert await astore.aget(ns, "k") is None


async def test_async_hostile_ids(astore: TieredStore) -> None:
    for user in HOSTILE:
        await astore.aput(("acme", user, "m"), "k", {"owner": user})
    for user in HOSTILE:
        hits = await astore.asearch(("acme", user), limit=100)
        assert [h.value["owner"] for h in hits] == [user]
        assert await astore.alist_namespaces(prefix=("acme", user)) == [("acme", user, "m")]


async def test_async_ttl(astore: TieredStore) -> None:
    await astore.aput(("t", "u"), "k", {"v": 1}, ttl=0.01)
    await astore.aput(("t", "u"), "keep", {"v": 1})
    await asyncio.sleep(1.0)
    assert await astore.aget(("t", "u"), "k") is None
    assert await astore.asweep_ttl() == 1


async def test_ttl_sweeper(astore: TieredStore, postgres_url: str, schema: str) -> None:
    await astore.aput(("t", "u"), "k", {"v": 1}, ttl=0.001)
    await asyncio.sleep(0.2)
    task = astore.start_ttl_sweeper(interval_minutes=0.001)
    try:
        for _ in range(50):
            with psycopg.connect(postgres_url) as conn:
                row = conn.execute(f"SELECT count(*) FROM {schema}.lmt_lg_store").fetchone()
            if row == (0,):
                break
            await asyncio.sleep(0.1)
        assert row == (0,)
    finally:
        astore.stop_ttl_sweeper()
    await asyncio.sleep(0)
    assert task.cancelled() or task.done()


async def test_async_semantic_search(amemory: AsyncTieredMemory) -> None:
    store = TieredStore(amemory, index={"dims": 16, "embed": _embed(), "fields": ["text"]})
    for key, text in DOCS.items():
        await store.aput(("t", "u", "facts"), key, {"text": text})
    for key, text in DOCS.items():
        hits = await store.asearch(("t", "u"), query=text, limit=3)
        assert hits[0].key == key and len(hits) == 3


async def test_async_memory_sync_call_from_thread(astore: TieredStore) -> None:
    await astore.aput(("t", "u"), "k", {"v": 1})
    item = await asyncio.to_thread(astore.get, ("t", "u"), "k")
    assert item is not None and item.value == {"v": 1}


async def test_sync_memory_async_methods(store: TieredStore) -> None:
    await store.aput(("t", "u"), "k", {"v": 1})
    item = await store.aget(("t", "u"), "k")
    assert item is not None and item.value == {"v": 1}


# -- differential check against LangGraph's InMemoryStore ---------------------------------------


def test_same_results_as_in_memory_store(store: TieredStore) -> None:
    """No standard BaseStore suite ships for LangGraph stores: compare with the reference."""
    import random

    from langgraph.store.memory import InMemoryStore

    ref = InMemoryStore()
    rng = random.Random(7)
    spaces = [
        ("t", "u"),
        ("t", "u", "a"),
        ("t", "u", "a", "b"),
        ("t", "u", "ab"),
        ("t", "u_", "a"),
        ("t", "u%", "a"),
        ("t2", "u", "a"),
    ]
    for step in range(150):
        ns = rng.choice(spaces)
        key = rng.choice(["k1", "k2", "k3"])
        if rng.random() < 0.2:
            store.delete(ns, key)
            ref.delete(ns, key)
        else:
            value = {"n": rng.randint(0, 5), "s": rng.choice(["x", "y"]), "step": step}
            store.put(ns, key, value)
            ref.put(ns, key, value)
    for ns in spaces:
        for key in ["k1", "k2", "k3"]:
            mine, theirs = store.get(ns, key), ref.get(ns, key)
            assert (mine and mine.value) == (theirs and theirs.value)
    # InMemoryStore keeps listing a namespace whose items were all deleted: leave those out
    live = {h.namespace for h in ref.search((), limit=10000)}

    def populated(found: list[tuple[str, ...]], depth: int | None = None) -> list[tuple[str, ...]]:
        return sorted(n for n in found if any(m[:depth] == n for m in live))

    prefixes = [(), ("t",), ("t", "u"), ("t", "u", "a"), ("t", "u_"), ("t2",)]
    filters = [None, {"s": "x"}, {"n": {"$gt": 2}}, {"n": 3, "s": "y"}]
    for prefix in prefixes:
        for flt in filters:
            mine_hits = store.search(prefix, filter=flt, limit=1000)
            ref_hits = ref.search(prefix, filter=flt, limit=1000)
            assert sorted((h.namespace, h.key, h.value["step"]) for h in mine_hits) == sorted(
                (h.namespace, h.key, h.value["step"]) for h in ref_hits
            )
        assert store.list_namespaces(prefix=prefix or None, limit=1000) == populated(
            ref.list_namespaces(prefix=prefix or None, limit=1000)
        )
    for depth in (2, 3):
        assert store.list_namespaces(max_depth=depth) == populated(
            ref.list_namespaces(max_depth=depth), depth
        )
    assert store.list_namespaces(suffix=("a",)) == populated(ref.list_namespaces(suffix=("a",)))
