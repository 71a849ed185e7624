"""The engine against real Postgres and real Redis (and the in-process tier): ordering,
lossless round trips through both tiers, idempotency, state, clear, and bad input."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
import redis

from langmem_tiered import (
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    MemoryClosedError,
    Message,
    MessageTooLargeError,
    TieredMemory,
    ToolCall,
)

RICH = [
    Message(role="system", content="Você é a assistente da Clínica Sorriso."),
    Message(
        role="user",
        content="Oi! Meu nome é João 😀 — quero marcar com o Dr. Gustavo",
        name="joao",
        metadata={"z": 1, "a": {"nested": [1, 2.5, None, True]}, "big": 2**70, "ç": "ã"},
    ),
    Message(
        role="assistant",
        content="",
        tool_calls=[
            ToolCall(id="call_1", name="list_slots", args={"doctor": "Gustavo"}, type="tool_call"),
            ToolCall(id="call_2", name="noop", args={}),
        ],
        metadata={"model": "fake", "usage": {"in": 10, "out": 3}},
    ),
    Message(role="tool", content='{"slots": ["09:00", "14:00"]}', tool_call_id="call_1"),
    Message(
        role="assistant",
        content=[
            {"type": "text", "text": "Tenho 09:00 ou 14:00."},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}, "extra": 1},
        ],
    ),
    Message(role="operator", content="Aqui é a Ana, da recepção.", name="ana"),
]


def _snapshot(mem: TieredMemory, session) -> list[str]:
    return [m.model_dump_json() for m in session.messages()]


def test_seq_and_order_across_tiers(memory: TieredMemory) -> None:
    s = memory.session("clinic-1", "5573", "chat-9")
    first = s.add_message(role="user", content="m1")
    batch = s.add_messages([{"role": "assistant", "content": f"m{i}"} for i in range(2, 26)])
    assert first.seq == 1
    assert [m.seq for m in batch] == list(range(2, 26))
    durable = s.messages()
    assert [m.seq for m in durable] == list(range(1, 26))
    assert [m.content for m in durable] == [f"m{i}" for i in range(1, 26)]
    # window_size is 10 in the fixture: hot for n <= 10, Postgres beyond; same answer either way.
    for n in (1, 5, 10, 11, 25, 40):
        assert [m.seq for m in s.recent(n)] == [m.seq for m in durable][-n:]
    assert s.recent(0) == []
    assert [m.seq for m in s.messages(after_seq=20)] == [21, 22, 23, 24, 25]
    assert [m.seq for m in s.messages(after_seq=3, limit=2)] == [4, 5]


def test_recent_is_served_hot_after_writes(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "hot")
    for i in range(15):
        s.add_message(role="user", content=f"m{i}")
    before = memory.stats()
    assert [m.content for m in s.recent(5)] == [f"m{i}" for i in range(10, 15)]
    after = memory.stats()
    assert after["hot_hits"] == before["hot_hits"] + 1
    assert after["hot_misses"] == before["hot_misses"]


def test_lossless_round_trip_through_both_tiers(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "rich")
    stored = s.add_messages(RICH)
    durable = s.messages()
    hot = s.recent(len(RICH))
    assert memory.stats()["hot_hits"] >= 1
    for original, a, b, c in zip(RICH, stored, durable, hot, strict=True):
        expected = original.model_dump(exclude={"seq", "token_count"})
        for got in (a, b, c):
            assert got.model_dump(exclude={"seq", "token_count"}) == expected
            assert got.metadata == original.metadata
            assert list(got.metadata) == list(original.metadata)  # key order kept verbatim
        assert a.model_dump_json() == b.model_dump_json() == c.model_dump_json()
    assert durable[1].metadata["big"] == 2**70
    assert durable[2].tool_calls[0].model_extra == {"type": "tool_call"}
    assert all(m.token_count is not None and m.token_count >= 0 for m in durable)


def test_fresh_memory_reads_what_another_wrote(
    memory: TieredMemory, postgres_url: str, schema: str
) -> None:
    s = memory.session("t", "u", "shared")
    s.add_messages(RICH)
    other = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    try:
        again = other.session("t", "u", "shared")
        assert [m.model_dump_json() for m in again.recent(50)] == _snapshot(memory, s)
    finally:
        other.close()


def test_idempotent_retry(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "retry")
    a = s.add_message(id="client-1", role="user", content="hello")
    b = s.add_message(id="client-1", role="user", content="hello")
    assert (a.seq, a.id) == (b.seq, b.id) == (1, "client-1")
    mixed = s.add_messages(
        [{"id": "client-1", "role": "user", "content": "hello"}, {"id": "c2", "role": "user"}]
    )
    assert [m.seq for m in mixed] == [1, 2]
    assert [m.id for m in s.messages()] == ["client-1", "c2"]
    assert [m.id for m in s.recent(10)] == ["client-1", "c2"]
    assert memory.stats()["idempotent_replays"] == 2


def test_state_slots(memory: TieredMemory, postgres_url: str, schema: str) -> None:
    s = memory.session("clinic", "u", "booking")
    assert s.state() == {}
    s.update_state(current_state="selecting_doctor")
    state = s.update_state(doctor="Dr. Gustavo", date="2026-12-01")
    assert state == {
        "current_state": "selecting_doctor",
        "doctor": "Dr. Gustavo",
        "date": "2026-12-01",
    }
    assert s.state() == state
    s.update_state(current_state="confirming")
    other = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    try:
        assert other.session("clinic", "u", "booking").state()["current_state"] == "confirming"
    finally:
        other.close()
    assert memory.session("clinic", "u", "other").state() == {}


def test_clear(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "c")
    s.add_messages([{"role": "user", "content": str(i)} for i in range(5)])
    s.update_state(step=1)
    assert s.clear() == 5
    assert s.messages() == []
    assert s.recent(5) == []
    assert s.state() == {}
    m = s.add_message(role="user", content="after")
    assert m.seq == 6  # seqs continue after a clear
    assert [x.content for x in s.recent(5)] == ["after"]
    assert [x.content for x in s.messages()] == ["after"]


def test_sessions_are_isolated_by_tenant_user_and_session(memory: TieredMemory) -> None:
    hostile = [
        ("a:b", "u", "s"),
        ("a", "b:u", "s"),
        ("a", "b", "u:s"),
        ("a", "b:u:s", "x"),
        ("{a}", "u", "s"),
        ("a}", "{u", "s"),
        ("%3A", "u", "s"),
        (":", "u", "s"),
        ("a%3Ab", "u", "s"),
        ("ação", "usuário", "sessão"),
        ("*", "*", "*"),
        ("a b", "u", "s"),
        ("\u00e9", "u", "s"),  # precomposed é
        ("e\u0301", "u", "s"),  # e + combining accent: a different id
    ]
    for i, (t, u, sid) in enumerate(hostile):
        memory.session(t, u, sid).add_message(role="user", content=f"secret-{i}")
    for i, (t, u, sid) in enumerate(hostile):
        session = memory.session(t, u, sid)
        assert [m.content for m in session.recent(10)] == [f"secret-{i}"]
        assert [m.content for m in session.messages()] == [f"secret-{i}"]


def test_redis_keys_share_one_hash_tag_and_never_collide(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    from redis.crc import key_slot

    memory = TieredMemory.connect(
        postgres_url=postgres_url, redis_url=redis_url, schema=schema, redis_prefix=redis_prefix
    )
    client = redis.Redis.from_url(redis_url)
    try:
        tier = memory.hot_tier
        seen: set[str] = set()
        for ids in [("a:b", "c", "d"), ("a", "b:c", "d"), ("a", "b", "c:d"), ("{x}", "}", "{")]:
            session = memory.session(*ids)
            session.add_message(role="user", content="x")
            meta, window = tier.keys_for(session.key)  # type: ignore[attr-defined]
            assert key_slot(meta.encode()) == key_slot(window.encode())
            assert meta.startswith(redis_prefix + ":{") and meta not in seen
            seen.add(meta)
            assert client.exists(meta, window) == 2
    finally:
        client.close()
        memory.close()


def test_sliding_ttl_on_redis(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        hot_ttl_seconds=30,
        window_size=5,
    )
    try:
        s = mem.session("t", "u", "ttl")
        s.add_messages([{"role": "user", "content": str(i)} for i in range(12)])
        meta, window = mem.hot_tier.keys_for(s.key)  # type: ignore[attr-defined]
        client = redis.Redis.from_url(redis_url)
        assert client.llen(window) == 5  # bounded window
        client.pexpire(meta, 1000)
        client.pexpire(window, 1000)
        s.recent(3)
        assert client.pttl(meta) > 20_000 and client.pttl(window) > 20_000
        client.close()
    finally:
        mem.close()


BAD_IDS = ["", "x" * 257, "a\x00b", "a\ud800b", "line\nbreak", 5, None]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_ids_raise_before_any_write(memory: TieredMemory, bad: object) -> None:
    for args in ((bad, "u", "s"), ("t", bad, "s"), ("t", "u", bad)):
        with pytest.raises(InvalidIdError):
            memory.session(*args)  # type: ignore[arg-type]
    s = memory.session("t", "u", "s")
    with pytest.raises(InvalidIdError):
        s.add_message(id=bad, role="user", content="x")
    assert s.messages() == []


BAD_MESSAGES = [
    ({"role": "robot", "content": "x"}, InvalidMessageError),
    ({"role": "user", "content": "a\x00b"}, InvalidMessageError),
    ({"role": "user", "content": "bad \ud83d surrogate"}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {"k": "\x00"}}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {"\ud800": 1}}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {"k": math.nan}}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {"k": math.inf}}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {"k": object()}}, InvalidMessageError),
    ({"role": "user", "content": "x", "metadata": {1: "int key"}}, InvalidMessageError),
    ({"role": "user", "content": "x", "unknown_field": 1}, InvalidMessageError),
    ({"role": "user", "content": 42}, InvalidMessageError),
    ({"role": "user", "content": [{"type": "text", "text": "\x00"}]}, InvalidMessageError),
    ({"role": "tool", "content": "result without call id"}, InvalidMessageError),
    ({"role": "user", "content": "x", "name": "a\x00"}, InvalidMessageError),
    ({"role": "user", "content": "x", "created_at": datetime(2026, 1, 1)}, InvalidMessageError),
    ({"role": "user", "content": "x" * 600_000}, MessageTooLargeError),
    ("just a string", InvalidMessageError),
]


@pytest.mark.parametrize(("bad", "error"), BAD_MESSAGES, ids=lambda v: repr(v)[:40])
def test_bad_messages_leave_the_store_unchanged(
    memory: TieredMemory, bad: object, error: type[Exception]
) -> None:
    s = memory.session("t", "u", "s")
    s.add_messages([{"role": "user", "content": "kept"}])
    s.update_state(step="one")
    before = (_snapshot(memory, s), [m.model_dump_json() for m in s.recent(10)], s.state())
    with pytest.raises(error):
        s.add_messages([{"role": "user", "content": "good, but in a bad batch"}, bad])  # type: ignore[list-item]
    if isinstance(bad, dict):
        with pytest.raises(error):
            s.add_message(**bad)
    after = (_snapshot(memory, s), [m.model_dump_json() for m in s.recent(10)], s.state())
    assert after == before
    assert issubclass(error, InvalidInputError) and issubclass(error, ValueError)


def test_other_bad_input(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "s")
    s.add_message(role="user", content="kept")
    with pytest.raises(InvalidMessageError):
        s.add_messages([{"id": "same", "role": "user"}, {"id": "same", "role": "user"}])
    with pytest.raises(InvalidMessageError):
        s.add_messages({"role": "user", "content": "not a list"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        s.add_message({"role": "user"}, content="both")
    with pytest.raises(InvalidInputError):
        s.update_state(slot=math.nan)
    with pytest.raises(InvalidInputError):
        s.update_state(slot="a\x00")
    for bad_n in (-1, 1.5, "3", True):
        with pytest.raises(InvalidInputError):
            s.recent(bad_n)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        s.messages(after_seq=-1)
    assert [m.content for m in s.messages()] == ["kept"]
    assert s.state() == {}


def test_message_size_limit_is_configurable(postgres_url: str, schema: str) -> None:
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, max_message_bytes=2048)
    try:
        s = mem.session("t", "u", "s")
        s.add_message(role="user", content="x" * 1500)
        with pytest.raises(MessageTooLargeError):
            s.add_message(role="user", content="x" * 3000)
        assert len(s.messages()) == 1
    finally:
        mem.close()


def test_closed_memory_refuses_work(postgres_url: str, schema: str) -> None:
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    s = mem.session("t", "u", "s")
    mem.close()
    mem.close()  # idempotent
    with pytest.raises(MemoryClosedError):
        s.add_message(role="user", content="x")
    with pytest.raises(MemoryClosedError):
        s.recent(3)


def test_health_and_schema_table(memory: TieredMemory, postgres_url: str, schema: str) -> None:
    health = memory.health()
    assert health["postgres"] is True and health["hot_tier_ok"] is True
    assert health["schema_version"] >= 7 and health["migrations_pending"] == 0
    assert health["pgvector_available"] is True  # the embedded server ships pgvector
    assert health["background_errors"] == 0 and health["background_workers"] >= 1
    assert health["encryption"] is False and health["row_level_security"] is False
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
        assert {"lmt_sessions", "lmt_messages", "lmt_schema_version"} <= {r[0] for r in rows}
        # every primary key starts with tenant_id (distribution by tenant)
        pks = conn.execute(
            """SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu
                 ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
               WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY'
                 AND kcu.ordinal_position = 1
                     -- reference tables (replicated whole to every node under Citus)
                     AND tc.table_name NOT IN ('lmt_schema_version', 'lmt_embedding_models')""",
            [schema],
        ).fetchall()
        assert pks and all(col == "tenant_id" for _, col in pks)


def test_created_at_is_aware_utc(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "s")
    when = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    s.add_message(role="user", content="x", created_at=when)
    assert s.messages()[0].created_at == when
    assert s.recent(1)[0].created_at == when


def test_local_persists_across_processes(tmp_path: Path) -> None:
    """The embedded default keeps data when the process (and with it the server) exits."""
    folder = tmp_path / "mem"
    write = textwrap.dedent(
        f"""
        from langmem_tiered import TieredMemory
        m = TieredMemory.local({str(folder)!r})
        m.session("t", "u", "s").add_message(role="user", content="survives")
        m.close()
        """
    )
    read = textwrap.dedent(
        f"""
        from langmem_tiered import TieredMemory
        m = TieredMemory.local({str(folder)!r})
        print([x.content for x in m.session("t", "u", "s").messages()])
        m.close()
        """
    )
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    subprocess.run([sys.executable, "-c", write], check=True, env=env, timeout=120)
    assert not (folder / "pgdata" / "postmaster.pid").exists()  # server stopped at exit
    out = subprocess.run(
        [sys.executable, "-c", read],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "['survives']"


# ---- async: the same engine through its async face ------------------------------------------


async def test_async_api(amemory) -> None:
    s = amemory.session("t", "u", "async")
    stored = await s.add_messages(RICH)
    assert [m.seq for m in stored] == list(range(1, len(RICH) + 1))
    hot = await s.recent(len(RICH))
    durable = await s.messages()
    assert [m.model_dump_json() for m in hot] == [m.model_dump_json() for m in durable]
    again = await s.add_message(RICH[1])
    assert again.seq == 2
    await s.update_state(step="x")
    assert await s.state() == {"step": "x"}
    with pytest.raises(InvalidMessageError):
        await s.add_message(role="robot", content="x")
    assert await s.clear() == len(RICH)
    assert await s.recent(3) == []
