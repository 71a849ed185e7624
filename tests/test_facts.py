"""Temporal facts against real Postgres (and both hot tiers for the context parts)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from langmem_tiered import InvalidInputError, TieredMemory

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def fmem(postgres_url: str, schema: str):
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, extract_facts=False)
    yield mem
    mem.close()


def _values(facts) -> list:
    return [(f.key, f.value, f.valid_at, f.invalid_at) for f in facts]


def test_seed_004_preference_changes(fmem: TieredMemory) -> None:
    u = fmem.user("clinic", "5573")
    u.remember("preferred_times", "morning", valid_at=day(0))
    u.remember("preferred_times", "afternoon", valid_at=day(90))  # three months later
    current = u.facts()
    assert [(f.key, f.value) for f in current] == [("preferred_times", "afternoon")]
    history = u.fact_history("preferred_times")
    assert _values(history) == [
        ("preferred_times", "morning", day(0), day(90)),
        ("preferred_times", "afternoon", day(90), None),
    ]
    assert u.fact("preferred_times").value == "afternoon"


def test_as_of_boundaries(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    u.remember("doctor", "Dr. A", valid_at=day(0))
    u.remember("doctor", "Dr. B", valid_at=day(10))
    assert u.facts(as_of=day(0) - timedelta(microseconds=1)) == []
    assert [f.value for f in u.facts(as_of=day(0))] == ["Dr. A"]  # valid at valid_at
    assert [f.value for f in u.facts(as_of=day(10) - timedelta(microseconds=1))] == ["Dr. A"]
    assert [f.value for f in u.facts(as_of=day(10))] == ["Dr. B"]  # not at its invalid_at
    assert [f.value for f in u.facts(as_of=day(1000))] == ["Dr. B"]


def test_idempotent_reassertion(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    assert len(u.remember("email", "a@x.com", valid_at=day(0))) == 1
    assert u.remember("email", "a@x.com", valid_at=day(5)) == []
    assert u.remember("email", "a@x.com") == []
    assert len(u.fact_history("email")) == 1


def test_out_of_order_assertions_go_into_history(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    u.remember("insurance", "Unimed", valid_at=day(20))
    u.remember("insurance", "Amil", valid_at=day(5))  # older news arrives late
    assert [f.value for f in u.facts()] == ["Unimed"]  # the newer fact is not retired
    assert _values(u.fact_history("insurance")) == [
        ("insurance", "Amil", day(5), day(20)),
        ("insurance", "Unimed", day(20), None),
    ]
    u.remember("insurance", "Bradesco", valid_at=day(10))  # between the two
    assert _values(u.fact_history("insurance")) == [
        ("insurance", "Amil", day(5), day(10)),
        ("insurance", "Bradesco", day(10), day(20)),
        ("insurance", "Unimed", day(20), None),
    ]


def test_multi_valued_keys_accumulate_until_retracted(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    u.remember("allergies", "dipirona", valid_at=day(0))
    u.remember("allergies", "penicilina", valid_at=day(1))
    u.remember("allergies", "dipirona", valid_at=day(2))  # again: no duplicate
    assert sorted(f.value for f in u.facts()) == ["dipirona", "penicilina"]
    u.forget("allergies", "dipirona", at=day(3))
    assert [f.value for f in u.facts()] == ["penicilina"]
    assert sorted(f.value for f in u.facts(as_of=day(2))) == ["dipirona", "penicilina"]
    assert len(u.fact_history("allergies")) == 2


def test_forget_closes_and_keeps_history(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    u.remember("phone_owner", "Maria", valid_at=day(0))
    u.forget("phone_owner", at=day(4))
    assert u.facts() == []
    assert _values(u.fact_history("phone_owner")) == [("phone_owner", "Maria", day(0), day(4))]
    u.remember("phone_owner", "João", valid_at=day(6))  # after a forget: a fresh current fact
    assert [f.value for f in u.facts()] == ["João"]


def test_concurrent_assertions_leave_one_current_value(
    fmem: TieredMemory, postgres_url: str, schema: str
) -> None:
    memories = [
        TieredMemory.connect(postgres_url=postgres_url, schema=schema, extract_facts=False)
        for _ in range(4)
    ]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            u = memories[i].user("t", "race")
            barrier.wait(10)
            for j in range(20):
                u.remember("preferred_times", f"v{i}-{j}", valid_at=day(j))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for m in memories:
        m.close()
    assert not errors
    u = fmem.user("t", "race")
    current = [f for f in u.facts() if f.key == "preferred_times"]
    assert len(current) == 1
    history = u.fact_history("preferred_times")
    for a, b in zip(history, history[1:], strict=False):  # intervals never overlap
        assert a.invalid_at is not None and a.invalid_at <= b.valid_at


def test_facts_are_isolated_by_tenant_and_user(fmem: TieredMemory) -> None:
    fmem.user("t1", "u").remember("name", "Maria")
    fmem.user("t1", "u:x").remember("name", "Ana")
    assert [f.value for f in fmem.user("t1", "u").facts()] == ["Maria"]
    assert fmem.user("t2", "u").facts() == []
    assert fmem.user("t1", "other").facts() == []
    fmem.flush()  # facts indexed for recall too
    assert fmem.user("t1", "u").search_facts("Ana") == []  # never the other user's "Ana"
    assert [f.value for f in fmem.user("t1", "u").search_facts("name")] == ["Maria"]
    assert fmem.user("t2", "u").search_facts("Maria") == []


def test_search_and_bad_input(fmem: TieredMemory) -> None:
    u = fmem.user("t", "u")
    u.remember("insurance", "Amil Dental")
    u.remember("doctor", "Dr. Gustavo Lima")
    fmem.flush()
    lexical = TieredMemory.connect(
        postgres_url=fmem.store.url, schema=fmem.store.schema, recall=False, extract_facts=False
    )
    try:  # hybrid through the recall index, and lexical only
        for handle in (u, lexical.user("t", "u")):
            assert [f.key for f in handle.search_facts("qual o convênio amil?")][0] == "insurance"
            assert [f.key for f in handle.search_facts("gustavo")][0] == "doctor"
            assert [f.key for f in handle.search_facts("gustavo", k=1)] == ["doctor"]
    finally:
        lexical.close()
    for bad in [("", 1), ("k\x00", 1), ("k", float("nan")), ("k", object())]:
        with pytest.raises(InvalidInputError):
            u.remember(*bad)
    with pytest.raises(InvalidInputError):
        u.remember("k", 1, valid_at=datetime(2026, 1, 1))  # naive
    assert len(u.facts()) == 2


def test_facts_reach_the_composed_context_and_invalidate_its_cache(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url if hot == "redis" else None,
        schema=schema,
        redis_prefix=redis_prefix,
        extract_facts=False,
    )
    try:
        s = mem.session("clinic", "5573", "chat")
        s.add_message(role="user", content="oi", token_count=2)
        s.remember("preferred_times", "morning", valid_at=day(0))
        first = s.context(budget_tokens=300)
        assert "preferred_times: morning" in first.to_text()
        assert s.context(budget_tokens=300).model_dump_json() == first.model_dump_json()
        assert mem.stats()["context_cache_hits"] == 1
        s.remember("preferred_times", "afternoon", valid_at=day(90))
        second = s.context(budget_tokens=300)
        assert "preferred_times: afternoon" in second.to_text()
        assert mem.stats()["context_cache_hits"] == 1
        history = s.fact_history("preferred_times")
        assert history[0].source_session == "chat"
    finally:
        mem.close()


def test_background_extraction_with_provenance(postgres_url: str, schema: str) -> None:
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema)
    try:
        s = mem.session("clinic", "5573", "chat")
        s.add_message(role="user", content="Oi! Meu nome é Maria Souza.", created_at=day(0))
        s.add_message(role="assistant", content="Olá, Maria!", created_at=day(0))
        s.add_message(role="user", content="Prefiro de manhã.", created_at=day(1))
        s.add_message(role="user", content="Agora prefiro à tarde.", created_at=day(90))
        assert mem.flush(timeout=30)
        name = s.user_handle.fact("name")
        assert name is not None and name.value == "Maria Souza"
        assert (name.source_session, name.source_seq_from) == ("chat", 1)
        history = s.fact_history("preferred_times")
        assert [(f.value, f.valid_at, f.invalid_at) for f in history] == [
            ("morning", day(1), day(90)),
            ("afternoon", day(90), None),
        ]
        usage = mem.usage("clinic")
        assert usage["extract"]["calls"] >= 1
        # re-running extraction over the same messages changes nothing
        before = mem.stats()["facts_changed"]
        s.add_message(role="assistant", content="Anotado.")
        mem.flush(timeout=30)
        assert mem.stats()["facts_changed"] == before
    finally:
        mem.close()


def test_each_batch_is_extracted_once_across_processes(postgres_url: str, schema: str) -> None:
    a = TieredMemory.connect(postgres_url=postgres_url, schema=schema, extract_facts=False)
    s = a.session("t", "u", "s")
    for i in range(30):
        s.add_message(role="user", content=f"meu email é pessoa{i}@exemplo.com", created_at=day(i))
    a.close()
    memories = [TieredMemory.connect(postgres_url=postgres_url, schema=schema) for _ in range(3)]
    try:
        threads = [
            threading.Thread(target=m._extract_job, args=(m.session("t", "u", "s").key,))
            for m in memories
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        batches = sum(m.stats()["extraction_batches"] for m in memories)
        assert batches == 1  # one batch of 30 messages, applied by exactly one of them
        history = memories[0].user("t", "u").fact_history("emails")  # multi-valued
        assert len(history) == 30 and all(f.invalid_at is None for f in history)
        assert history[-1].value == "pessoa29@exemplo.com"
    finally:
        for m in memories:
            m.close()


async def test_async_facts_api(postgres_url: str, schema: str) -> None:
    from langmem_tiered import AsyncTieredMemory

    mem = await AsyncTieredMemory.connect(postgres_url=postgres_url, schema=schema)
    try:
        s = mem.session("clinic", "5573", "chat")
        await s.add_message(role="user", content="Prefiro de manhã.", created_at=day(0))
        await s.add_message(role="user", content="Agora prefiro à tarde.", created_at=day(90))
        assert await mem.flush(timeout=30)
        u = mem.user("clinic", "5573")
        assert [f.value for f in await u.facts()] == ["afternoon"]
        assert [f.value for f in await u.facts(as_of=day(10))] == ["morning"]
        await u.remember("allergies", "dipirona", valid_at=day(91))
        assert [f.key for f in await u.search_facts("dipirona")][0] == "allergies"
        bundle = await s.context(budget_tokens=300)
        assert "allergies: dipirona" in bundle.to_text()
    finally:
        await mem.close()
