"""Fault tests against real services: Redis killed, flushed, restarted, corrupted or absent;
concurrent writers in separate processes; migrations racing each other.

Nothing here is mocked. Postgres is the ``postgres_url`` server of the run (one schema per
test), Redis is either the shared server of the run (own key prefix per test) or a private
``redis-server`` (``private_redis``) that a test may kill -9, flush and restart.

The property every test comes back to: an acknowledged message is in Postgres, in order, with
gap-free seqs, and ``recent(n)`` equals the last ``n`` of ``messages()`` whatever state the hot
tier is in.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis

from langmem_tiered import (
    AsyncTieredMemory,
    Message,
    MigrationError,
    TieredMemory,
)
from langmem_tiered._engine import HOT_RETRY_SECONDS
from langmem_tiered.store import AsyncPostgresStore, PostgresStore, load_migrations
from langmem_tiered.testing import RedisServer, free_port
from tests import _proc_workers

# A little more than the engine's bypass period, so the next operation really tries Redis again.
RETRY_PAUSE = HOT_RETRY_SECONDS + 0.2
PROC_TIMEOUT = 90.0


# -- helpers ------------------------------------------------------------------------------------


def _ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]


def _seqs(messages: list[Message]) -> list[int | None]:
    return [m.seq for m in messages]


def _assert_gap_free(messages: list[Message], count: int) -> None:
    seqs = _seqs(messages)
    assert seqs == list(range(1, count + 1)), (
        f"seqs are not exactly 1..{count}: {len(seqs)} rows, "
        f"first {seqs[:5]}, last {seqs[-5:]}, duplicates {len(seqs) - len(set(seqs))}"
    )


def _counter(memory: TieredMemory | AsyncTieredMemory, name: str) -> int:
    return int(memory.stats()[name])


def _run_processes(
    target: Callable[..., None],
    make_args: Callable[[int, Any, Any], tuple[Any, ...]],
    count: int,
    while_running: Callable[[list[Any]], None] | None = None,
) -> dict[str, Any]:
    """Start ``count`` spawned processes on ``target(*make_args(i, barrier, out))``.

    Returns ``{name: payload}``; fails the test with the child's traceback if any child failed,
    and kills children that do not finish in time. ``while_running(procs)`` runs in the parent
    while the children work.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(count)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=make_args(i, barrier, out)) for i in range(count)]
    for p in procs:
        p.start()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        if while_running is not None:
            while_running(procs)
        deadline = time.monotonic() + PROC_TIMEOUT
        while len(results) + len(errors) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                name, status, payload = out.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if all(not p.is_alive() for p in procs) and out.empty():
                    break
                continue
            (results if status == "ok" else errors)[name] = payload
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        out.close()
        out.join_thread()
    assert not errors, "worker process failed:\n" + "\n".join(
        f"--- {name} ---\n{tb}" for name, tb in errors.items()
    )
    assert len(results) == count, (
        f"only {sorted(results)} of {count} workers reported; exit codes "
        f"{[p.exitcode for p in procs]}"
    )
    return results


@pytest.fixture
def private_redis_client(private_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(private_redis.url)
    yield client
    client.close()


# -- 1. kill -9 of Redis in the middle of 1,000 appends, then an empty restart --------------------


@pytest.mark.slow
def test_redis_kill9_then_empty_restart_during_1000_appends(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=20
    )
    try:
        session = memory.session("t", "u", "s")
        meta_key, _ = memory.hot_tier.keys_for(session.key)  # type: ignore[attr-defined]
        acked: list[Message] = []
        errors: list[tuple[int, str]] = []
        failures_before_retry = 0
        invalidations_before_restart = 0
        for i in range(1000):
            if i == 400:
                # Healthy so far: every append reached Redis, so the window is served hot.
                hits = _counter(memory, "hot_hits")
                assert session.recent(10) == acked[-10:]
                assert _counter(memory, "hot_hits") == hits + 1
                assert _counter(memory, "hot_write_failures") == 0
                private_redis.kill()
            elif i == 550:
                # Still down: reads come from Postgres, and after the bypass period the engine
                # tries Redis again (and fails again) instead of giving up on it for good.
                assert session.recent(10) == acked[-10:]
                failures_before_retry = _counter(memory, "hot_write_failures")
                assert failures_before_retry > 0
                time.sleep(RETRY_PAUSE)
            elif i == 700:
                private_redis.restart()  # empty: no persistence
                invalidations_before_restart = _counter(memory, "hot_invalidations")
                time.sleep(RETRY_PAUSE)  # let the next appends use the restarted Redis
            try:
                stored = session.add_message(id=f"m{i}", role="user", content=f"message {i}")
            except Exception as exc:  # every append must be acknowledged
                errors.append((i, repr(exc)))
                continue
            acked.append(stored)
            if i == 550:
                assert _counter(memory, "hot_write_failures") > failures_before_retry
            if i == 700:
                # The session was left dirty by the outage: invalidated before Redis is used.
                assert _counter(memory, "hot_invalidations") > invalidations_before_restart

        assert not errors, f"{len(errors)} appends were not acknowledged, first: {errors[:3]}"
        assert _ids(acked) == [f"m{i}" for i in range(1000)]

        stored_all = session.messages()
        _assert_gap_free(stored_all, 1000)
        assert _ids(stored_all) == _ids(acked)
        assert stored_all == acked  # what each append returned is exactly what is stored

        # The appends after the restart reached the new Redis, which knows the last seq but
        # (having missed 1..700) does not claim a complete window.
        probe = redis.Redis.from_url(private_redis.url)
        try:
            assert probe.hget(meta_key, "seq") == b"1000"
            assert probe.hget(meta_key, "ok") == b"0"
        finally:
            probe.close()

        misses = _counter(memory, "hot_misses")
        assert session.recent(10) == stored_all[-10:]
        assert _counter(memory, "hot_misses") == misses + 1
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored_all[-10:]  # refilled: now served hot
        assert _counter(memory, "hot_hits") == hits + 1
        assert session.recent(20) == stored_all[-20:]

        stats = memory.stats()
        assert stats["hot_write_failures"] > 0
        assert stats["hot_bypassed"] > 0
        assert stats["messages_appended"] == 1000
        assert stats["dirty_sessions"] == 0
    finally:
        memory.close()


# -- 2. read-through after FLUSHALL and after the keys expire -------------------------------------


def test_read_through_after_flushall(
    postgres_url: str, schema: str, private_redis: RedisServer, private_redis_client: redis.Redis
) -> None:
    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=20
    )
    try:
        session = memory.session("t", "u", "s")
        for i in range(30):
            session.add_message(role="user", content=f"message {i}")
        stored = session.messages()
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1  # warm

        private_redis_client.flushall()
        misses = _counter(memory, "hot_misses")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_misses") == misses + 1
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1  # refilled

        # Flushed again, then a new append arrives before any read: Redis must not pretend that
        # a window holding only that message is complete.
        private_redis_client.flushall()
        session.add_message(role="assistant", content="after flush")
        stored = session.messages()
        _assert_gap_free(stored, 31)
        misses = _counter(memory, "hot_misses")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_misses") == misses + 1
        assert session.recent(10) == stored[-10:]
        assert memory.stats()["hot_write_failures"] == 0
    finally:
        memory.close()


def test_read_through_after_hot_keys_expire(
    postgres_url: str, schema: str, private_redis: RedisServer, private_redis_client: redis.Redis
) -> None:
    ttl = 0.5
    memory = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=private_redis.url,
        schema=schema,
        window_size=20,
        hot_ttl_seconds=ttl,
    )
    try:
        session = memory.session("t", "u", "s")
        keys = memory.hot_tier.keys_for(session.key)  # type: ignore[attr-defined]
        for i in range(30):
            session.add_message(role="user", content=f"message {i}")
        stored = session.messages()
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1
        assert private_redis_client.exists(*keys) == 2

        time.sleep(ttl + 0.4)
        assert private_redis_client.exists(*keys) == 0, "hot keys did not expire"
        misses = _counter(memory, "hot_misses")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_misses") == misses + 1
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1

        # Expired, then appended to: the lone new message must not be served as the window.
        time.sleep(ttl + 0.4)
        assert private_redis_client.exists(*keys) == 0
        session.add_message(role="assistant", content="after expiry")
        stored = session.messages()
        _assert_gap_free(stored, 31)
        misses = _counter(memory, "hot_misses")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_misses") == misses + 1
    finally:
        memory.close()


# -- 3. a corrupted window is detected and repaired from Postgres --------------------------------


def _corrupt_lrem_middle(client: redis.Redis, window_key: str, stored: list[Message]) -> None:
    item = client.lindex(window_key, 4)  # seq 15
    assert isinstance(item, bytes)
    assert client.lrem(window_key, 1, item.decode()) == 1


def _corrupt_lset_other_message(
    client: redis.Redis, window_key: str, stored: list[Message]
) -> None:
    # Slot 4 of the window (seq 15) now holds an older message (seq 3), e.g. a stray write.
    client.lset(window_key, 4, stored[2].to_json().decode())


def _corrupt_lset_seq(client: redis.Redis, window_key: str, stored: list[Message]) -> None:
    item = client.lindex(window_key, 4)
    assert item is not None
    data = json.loads(item)
    data["seq"] = 99
    client.lset(window_key, 4, json.dumps(data))


def _corrupt_rpop_newest(client: redis.Redis, window_key: str, stored: list[Message]) -> None:
    assert client.rpop(window_key) is not None


def _corrupt_lpop_oldest(client: redis.Redis, window_key: str, stored: list[Message]) -> None:
    assert client.lpop(window_key) is not None


def _corrupt_delete_window(client: redis.Redis, window_key: str, stored: list[Message]) -> None:
    assert client.delete(window_key) == 1


CORRUPTIONS = {
    "lrem_middle": _corrupt_lrem_middle,
    "lset_other_message": _corrupt_lset_other_message,
    "lset_wrong_seq": _corrupt_lset_seq,
    "rpop_newest": _corrupt_rpop_newest,
    "lpop_oldest": _corrupt_lpop_oldest,
    "delete_window_keep_meta": _corrupt_delete_window,
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupted_window_is_repaired(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, corruption: str
) -> None:
    memory = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        window_size=10,
    )
    try:
        session = memory.session("t", "u", "s")
        for i in range(20):
            session.add_message(role="user", content=f"message {i}")
        stored = session.messages()
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1

        client: redis.Redis = memory.hot_tier.client  # type: ignore[attr-defined]
        _, window_key = memory.hot_tier.keys_for(session.key)  # type: ignore[attr-defined]
        CORRUPTIONS[corruption](client, window_key, stored)

        repairs = _counter(memory, "hot_repairs")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_repairs") == repairs + 1

        # The window was refilled from Postgres and is served hot again.
        window = [Message.model_validate_json(item) for item in client.lrange(window_key, 0, -1)]
        assert window == stored[-10:]
        hits = _counter(memory, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_hits") == hits + 1
    finally:
        memory.close()


# -- 3b. Redis comes back holding data older than the last commits ------------------------------


def _save_snapshot(server: RedisServer) -> None:
    """Write ``dump.rdb``; the next start of ``server`` loads it (as a persistent Redis would)."""
    client = redis.Redis.from_url(server.url)
    try:
        client.save()
    finally:
        client.close()


def test_writer_invalidates_its_dirty_session_when_redis_returns_with_old_data(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=10
    )
    try:
        session = memory.session("t", "u", "s")
        for i in range(20):
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        assert session.recent(10) == session.messages()[-10:]
        _save_snapshot(private_redis)  # Redis will come back with a complete window up to seq 20
        private_redis.kill()
        for i in range(20, 25):  # these hot writes fail: the session is now dirty
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        assert _counter(memory, "hot_write_failures") > 0
        assert memory.stats()["dirty_sessions"] == 1
        private_redis.start()
        time.sleep(RETRY_PAUSE)

        stored = session.messages()
        _assert_gap_free(stored, 25)
        invalidations = _counter(memory, "hot_invalidations")
        assert session.recent(10) == stored[-10:]
        assert _counter(memory, "hot_invalidations") == invalidations + 1
        assert memory.stats()["dirty_sessions"] == 0
        assert session.recent(10) == stored[-10:]
    finally:
        memory.close()


def test_redis_restarted_from_older_snapshot_is_not_served(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    """Redis restarts from an RDB snapshot taken before the last acknowledged appends (the same
    happens on failover to a lagging replica). Every hot write succeeded, so no client has the
    session marked dirty; the hot window is complete, contiguous and ends at its meta seq, but
    that seq is older than Postgres's."""
    writer = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=10
    )
    try:
        session = writer.session("t", "u", "s")
        for i in range(20):
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        _save_snapshot(private_redis)
        for i in range(20, 25):  # acknowledged, and written to Redis successfully
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        assert _counter(writer, "hot_write_failures") == 0
        private_redis.restart()  # loads the snapshot: the window as of seq 20

        stored = session.messages()
        _assert_gap_free(stored, 25)
        reader = TieredMemory.connect(
            postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=10
        )
        try:
            from_reader = _seqs(reader.session("t", "u", "s").recent(10))
        finally:
            reader.close()
        from_writer = _seqs(session.recent(10))
        expected = _seqs(stored[-10:])
        assert (from_reader, from_writer) == (expected, expected), (
            "recent(10) served a window that lacks acknowledged messages "
            f"(Postgres has seqs up to {stored[-1].seq})"
        )
    finally:
        writer.close()


# -- 3c. a slow reader's refill must not undo a newer append ------------------------------------


@pytest.mark.parametrize("order", ["fill_after_append", "fill_before_hot_append"])
def test_slow_reader_fill_does_not_hide_a_newer_append(memory: TieredMemory, order: str) -> None:
    """The race between ``recent()`` (tail from Postgres, then refill the hot tier) and an
    append, replayed deterministically: the refill carries a Postgres snapshot that is older
    than (or as new as) an append that reaches the hot tier around it."""
    session = memory.session("t", "u", "s")
    for i in range(20):
        session.add_message(id=f"m{i}", role="user", content=f"message {i}")
    store = memory.store
    tier = memory.hot_tier
    assert store is not None
    window = tier.window_size
    if order == "fill_after_append":
        last_seq, lo, tail = store.tail(session.key, window)  # the slow reader's snapshot
        session.add_message(id="m20", role="user", content="newer")  # commit + hot append
        tier.fill(session.key, last_seq, lo, tail[-window:])  # the slow reader's refill lands
    else:
        # The append has committed but its hot write is still in flight when a reader takes
        # a snapshot that already includes it and refills; then the hot write arrives.
        stored = store.append(session.key, [Message(id="m20", role="user", content="newer")])
        last_seq, lo, tail = store.tail(session.key, window)
        tier.fill(session.key, last_seq, lo, tail[-window:])
        (_, seq, _, inserted) = stored[0]
        assert inserted and seq == 21
        durable = session.messages(after_seq=20)
        tier.append(session.key, durable)
    expected = session.messages()
    _assert_gap_free(expected, 21)
    assert session.recent(10) == expected[-10:]
    assert session.recent(1) == expected[-1:]


# -- 4. a commit whose hot write was lost ----------------------------------------------------------


def test_lost_hot_write_is_detected_on_next_append(
    postgres_url: str,
    schema: str,
    redis_url: str,
    redis_prefix: str,
    private_redis: RedisServer,
) -> None:
    common = {"postgres_url": postgres_url, "schema": schema, "redis_prefix": redis_prefix}
    a = TieredMemory.connect(redis_url=redis_url, window_size=10, **common)
    b = TieredMemory.connect(redis_url=redis_url, window_size=10, **common)
    # C commits to the same Postgres but writes its hot copy elsewhere: for the shared Redis
    # this is a commit whose hot write was lost.
    c = TieredMemory.connect(redis_url=private_redis.url, window_size=10, **common)
    try:
        sa, sb, sc = (m.session("t", "u", "s") for m in (a, b, c))
        for i in range(5):
            sa.add_message(id=f"a{i}", role="user", content=f"from a {i}")
        assert _ids(sa.recent(10)) == [f"a{i}" for i in range(5)]

        sc.add_message(id="c0", role="assistant", content="from c")
        sa.add_message(id="a5", role="user", content="from a 5")  # seq 7: Redis saw 5 -> gap

        stored = sa.messages()
        _assert_gap_free(stored, 7)
        assert _ids(stored) == ["a0", "a1", "a2", "a3", "a4", "c0", "a5"]
        misses = _counter(a, "hot_misses")
        assert sa.recent(10) == stored
        assert _counter(a, "hot_misses") == misses + 1
        assert sa.recent(3) == stored[-3:]
        assert sb.recent(10) == stored  # another client of the shared Redis
        assert sb.recent(2) == stored[-2:]
        for memory in (a, b, c):
            assert memory.stats()["hot_write_failures"] == 0
    finally:
        for memory in (a, b, c):
            memory.close()


# -- 5. two processes appending to one session -------------------------------------------------


@pytest.mark.slow
def test_two_processes_append_concurrently(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    per_process = 200
    ctx = mp.get_context("spawn")
    acked = ctx.Array("q", 2)  # latest seq each worker has had acknowledged
    reader = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        window_size=10,
    )
    session = reader.session("t", "u", "s")
    windows: list[list[Message]] = []
    violations: list[str] = []

    def read_while_appending(procs: list[Any]) -> None:
        # Every recent(10) taken while the workers append must be a contiguous run of seqs that
        # ends no earlier than the newest seq acknowledged before the read began.
        deadline = time.monotonic() + PROC_TIMEOUT
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            floor = max(acked[:])
            window = session.recent(10)
            seqs = _seqs(window)
            if not window:
                if floor:
                    violations.append(f"empty window after seq {floor} was acknowledged")
                continue
            last = seqs[-1]
            assert last is not None
            if seqs != list(range(last - len(seqs) + 1, last + 1)):
                violations.append(f"window seqs not contiguous: {seqs}")
            if last < floor:
                violations.append(f"stale window ending at {last}, seq {floor} was acknowledged")
            if len(window) != min(10, last):
                violations.append(f"window of {len(window)} ending at seq {last}")
            windows.append(window)
            time.sleep(0.002)

    try:
        results = _run_processes(
            _proc_workers.append_worker,
            lambda n, barrier, out: (
                f"p{n}",
                postgres_url,
                redis_url,
                schema,
                redis_prefix,
                [f"p{n}-{i}" for i in range(per_process)],
                n,
                acked,
                barrier,
                out,
            ),
            2,
            while_running=read_while_appending,
        )

        stored = session.messages()
        _assert_gap_free(stored, 2 * per_process)
        assert len(set(_ids(stored))) == 2 * per_process
        for n in range(2):
            own = [m.id for m in stored if m.id.startswith(f"p{n}-")]
            assert own == [f"p{n}-{i}" for i in range(per_process)], f"p{n} out of its own order"
            # what each process was told is what is stored
            by_id = {m.id: m.seq for m in stored}
            assert results[f"p{n}"]["seqs"] == {i: by_id[i] for i in own}
            assert results[f"p{n}"]["stats"]["messages_appended"] == per_process
            assert results[f"p{n}"]["stats"]["hot_write_failures"] == 0
        # the two writers really interleaved (otherwise this test proves little)
        owners = [m.id[:2] for m in stored]
        switches = sum(1 for x, y in zip(owners, owners[1:], strict=False) if x != y)
        assert switches > 1, "the two processes did not overlap"

        assert not violations, f"{len(violations)} bad windows, e.g. {violations[:5]}"
        by_seq = {m.seq: m for m in stored}
        for window in windows:  # everything served while writing was the durable truth
            assert window == [by_seq[m.seq] for m in window]

        assert session.recent(10) == stored[-10:]
        hits = _counter(reader, "hot_hits")
        assert session.recent(10) == stored[-10:]
        assert _counter(reader, "hot_hits") == hits + 1
    finally:
        reader.close()


# -- 6. idempotent retries racing each other ------------------------------------------------------


@pytest.mark.slow
def test_same_ids_from_two_processes_are_stored_once(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    ids = [f"msg-{i}" for i in range(50)]
    results = _run_processes(
        _proc_workers.append_worker,
        lambda n, barrier, out: (
            f"p{n}",
            postgres_url,
            redis_url,
            schema,
            redis_prefix,
            ids,
            n,
            None,
            barrier,
            out,
        ),
        2,
    )
    memory = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        window_size=10,
    )
    try:
        session = memory.session("t", "u", "s")
        stored = session.messages()
        _assert_gap_free(stored, 50)
        assert _ids(stored) == ids  # each process appends in list order, so seq follows it
        expected = {m.id: m.seq for m in stored}
        for name in ("p0", "p1"):
            assert results[name]["seqs"] == expected, f"{name} was told other seqs"
            stats = results[name]["stats"]
            assert stats["messages_appended"] + stats["idempotent_replays"] == 50
        assert sum(results[n]["stats"]["messages_appended"] for n in ("p0", "p1")) == 50
        assert session.recent(10) == stored[-10:]
    finally:
        memory.close()


@pytest.mark.parametrize("shape", ["same_batch", "overlapping_batches"])
def test_same_ids_in_concurrent_batches_are_stored_once(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, shape: str
) -> None:
    ids = [f"msg-{i}" for i in range(50)]
    if shape == "same_batch":
        batches = [ids, ids, ids, ids]
    else:
        batches = [ids[:30], ids[20:], ids[10:40], ids]
    memories = [
        TieredMemory.connect(
            postgres_url=postgres_url,
            redis_url=redis_url,
            schema=schema,
            redis_prefix=redis_prefix,
            window_size=10,
        )
        for _ in batches
    ]
    barrier = threading.Barrier(len(batches))
    returned: dict[int, list[Message]] = {}
    failed: dict[int, BaseException] = {}

    def run(n: int) -> None:
        try:
            session = memories[n].session("t", "u", "s")
            barrier.wait(30)
            returned[n] = session.add_messages(
                [{"id": i, "role": "user", "content": i} for i in batches[n]]
            )
        except BaseException as exc:
            failed[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(batches))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failed, f"concurrent batch failed: {failed}"
        stored = memories[0].session("t", "u", "s").messages()
        _assert_gap_free(stored, 50)
        assert sorted(_ids(stored)) == sorted(ids)
        by_id = {m.id: m.seq for m in stored}
        for n, batch in enumerate(batches):
            assert _ids(returned[n]) == batch  # answered in the order asked
            assert {m.id: m.seq for m in returned[n]} == {i: by_id[i] for i in batch}
        appended = sum(_counter(m, "messages_appended") for m in memories)
        assert appended == 50
        for memory in memories:
            assert memory.session("t", "u", "s").recent(10) == stored[-10:]
    finally:
        for memory in memories:
            memory.close()


# -- 7. migrations: concurrently, twice, edited, from the future ----------------------------------


def _versions(postgres_url: str, schema: str) -> list[tuple[int, int, str]]:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT version, count(*), min(checksum) FROM {schema}.lmt_schema_version "
            "GROUP BY version ORDER BY version"
        ).fetchall()
    return [(int(v), int(c), str(s)) for v, c, s in rows]


@pytest.mark.slow
def test_migrations_concurrent_twice_and_guarded(postgres_url: str, schema: str) -> None:
    known = load_migrations()
    expected = [(m.version, 1, m.checksum) for m in known]

    results = _run_processes(
        _proc_workers.migrate_worker,
        lambda n, barrier, out: (f"m{n}", postgres_url, schema, barrier, out),
        4,
    )
    assert {r["schema_version"] for r in results.values()} == {known[-1].version}
    assert _versions(postgres_url, schema) == expected
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (functions,) = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'lmt_append' "
            "AND pronamespace = %s::regnamespace",
            [schema],
        ).fetchone()  # type: ignore[misc]
    assert functions == 1

    # Opening again applies nothing.
    store = PostgresStore(postgres_url, schema=schema)
    try:
        store.open()
        assert store.migrate() == []
    finally:
        store.close()
    assert _versions(postgres_url, schema) == expected

    # An applied migration that was edited afterwards.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {schema}.lmt_schema_version SET checksum = 'x' WHERE version = 1")
    store = PostgresStore(postgres_url, schema=schema)
    try:
        with pytest.raises(MigrationError, match="changed"):
            store.open()
    finally:
        store.close()
    with pytest.raises(MigrationError):
        TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {schema}.lmt_schema_version SET checksum = %s WHERE version = 1",
            [known[0].checksum],
        )

    # A database migrated by a newer version of the package.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {schema}.lmt_schema_version (version, name, checksum) "
            "VALUES (9999, 'from_the_future', 'y')"
        )
    store = PostgresStore(postgres_url, schema=schema)
    try:
        with pytest.raises(MigrationError, match="9999"):
            store.open()
    finally:
        store.close()
    with pytest.raises(MigrationError):
        TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    assert _versions(postgres_url, schema)[-1][0] == 9999
    assert _versions(postgres_url, schema)[:-1] == expected  # the refusals changed nothing


async def test_async_stores_migrate_concurrently(postgres_url: str, schema: str) -> None:
    stores = [AsyncPostgresStore(postgres_url, schema=schema) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert [await s.migrate() for s in stores] == [[]] * 4
    finally:
        for s in stores:
            await s.close()
    assert _versions(postgres_url, schema) == [
        (m.version, 1, m.checksum) for m in load_migrations()
    ]


# -- 8. Redis unreachable from the start -------------------------------------------------------


def test_unreachable_redis_from_the_start(postgres_url: str, schema: str) -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=dead_url, schema=schema, window_size=10
    )
    try:
        session = memory.session("t", "u", "s")
        for i in range(10):
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        assert session.recent(5) == session.messages()[-5:]
        time.sleep(RETRY_PAUSE)  # bypass period over: the next write tries Redis again
        failures = _counter(memory, "hot_write_failures")
        for i in range(10, 20):
            session.add_message(id=f"m{i}", role="user", content=f"message {i}")
        assert _counter(memory, "hot_write_failures") > failures
        assert session.update_state(step=2) == {"step": 2}
        assert session.state() == {"step": 2}

        stored = session.messages()
        _assert_gap_free(stored, 20)
        assert _ids(stored) == [f"m{i}" for i in range(20)]
        assert session.recent(10) == stored[-10:]
        assert session.recent(3) == stored[-3:]
        assert session.recent(50) == stored

        stats = memory.stats()
        assert stats["hot_write_failures"] >= 2
        assert stats["hot_bypassed"] > 0
        assert stats["hot_hits"] == 0
        assert stats["messages_appended"] == 20
        health = memory.health()
        assert health["postgres"] is True
        assert health["hot_tier_ok"] is False
    finally:
        memory.close()
    # A refused connection must fail fast, not stall each call on a timeout.
    assert time.monotonic() - started < RETRY_PAUSE + 5


# -- 9. the async engine through a Redis kill -9 and empty restart ---------------------------------


@pytest.mark.slow
async def test_async_redis_kill9_then_empty_restart_during_appends(
    postgres_url: str, schema: str, private_redis: RedisServer
) -> None:
    memory = await AsyncTieredMemory.connect(
        postgres_url=postgres_url, redis_url=private_redis.url, schema=schema, window_size=20
    )
    try:
        session = memory.session("t", "u", "s")
        acked: list[Message] = []
        errors: list[tuple[int, str]] = []
        for i in range(200):
            if i == 80:
                hits = _counter(memory, "hot_hits")
                assert await session.recent(10) == acked[-10:]
                assert _counter(memory, "hot_hits") == hits + 1
                private_redis.kill()
            elif i == 110:
                assert await session.recent(10) == acked[-10:]
            elif i == 140:
                private_redis.restart()
                await asyncio.sleep(RETRY_PAUSE)
            try:
                stored = await session.add_message(id=f"m{i}", role="user", content=f"message {i}")
            except Exception as exc:
                errors.append((i, repr(exc)))
                continue
            acked.append(stored)

        assert not errors, f"{len(errors)} appends were not acknowledged, first: {errors[:3]}"
        stored_all = await session.messages()
        _assert_gap_free(stored_all, 200)
        assert stored_all == acked
        assert await session.recent(10) == stored_all[-10:]
        hits = _counter(memory, "hot_hits")
        assert await session.recent(10) == stored_all[-10:]
        assert _counter(memory, "hot_hits") == hits + 1
        stats = memory.stats()
        assert stats["hot_write_failures"] > 0
        assert stats["dirty_sessions"] == 0
    finally:
        await memory.close()
