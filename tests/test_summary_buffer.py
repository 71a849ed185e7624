"""The summary buffer and the composed context, against real Postgres and Redis."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from langmem_tiered import AsyncTieredMemory, TieredMemory, ToolCall
from tests._fakes import CountingSummarizer


def _open(
    postgres_url: str, schema: str, redis_url: str | None, prefix: str, **kw: object
) -> TieredMemory:
    return TieredMemory.connect(
        postgres_url=postgres_url, redis_url=redis_url, schema=schema, redis_prefix=prefix, **kw
    )


@pytest.fixture
def fake() -> CountingSummarizer:
    return CountingSummarizer()


@pytest.fixture
def smem(
    postgres_url: str,
    schema: str,
    redis_url: str,
    redis_prefix: str,
    hot: str,
    fake: CountingSummarizer,
):
    mem = _open(
        postgres_url,
        schema,
        redis_url if hot == "redis" else None,
        redis_prefix,
        summarizer=fake,
        buffer_tokens=40,
        min_fold_tokens=20,
        window_size=20,
    )
    yield mem
    mem.close()


def _turns(n: int) -> list[dict]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}", "token_count": 10}
        for i in range(n)
    ]


def test_each_message_is_summarized_once_incrementally(
    smem: TieredMemory, fake: CountingSummarizer
) -> None:
    s = smem.session("t", "u", "long")
    for turn in _turns(60):
        s.add_message(**turn)
    assert smem.flush(timeout=30)
    versions = s.summaries()
    assert versions, "nothing was summarized"
    folded = [seq for _, seqs in fake.calls for seq in seqs]
    assert folded == list(range(1, len(folded) + 1))  # each message once, in order
    assert len(fake.calls) == len(versions)
    for before, after in zip(versions, versions[1:], strict=False):
        assert after.from_seq == before.upto_seq + 1 and after.version == before.version + 1
    # incremental: each call got the previous summary and only the new chunk
    for (previous, _), version in zip(fake.calls[1:], versions[:-1], strict=True):
        assert previous == version.text
    last = versions[-1]
    assert last.covered_tokens == 10 * last.upto_seq
    # the buffer stays verbatim and originals are kept
    assert 60 - last.upto_seq >= 4
    assert [m.seq for m in s.messages()] == list(range(1, 61))
    assert smem.stats()["summaries_written"] == len(versions)


def test_tool_calls_are_never_separated_from_their_results(smem: TieredMemory) -> None:
    s = smem.session("t", "u", "tools")
    for i in range(15):
        s.add_message(role="user", content=f"q{i}", token_count=7)
        s.add_message(
            role="assistant",
            content="",
            token_count=7,
            tool_calls=[ToolCall(id=f"c{i}", name="lookup", args={"i": i})],
        )
        s.add_message(role="tool", content=f"r{i}", tool_call_id=f"c{i}", token_count=7)
        s.add_message(role="assistant", content=f"a{i}", token_count=7)
    smem.flush(timeout=30)
    by_seq = {m.seq: m for m in s.messages()}
    for summary in s.summaries():
        boundary = by_seq[summary.upto_seq]
        after = by_seq.get(summary.upto_seq + 1)
        assert not boundary.tool_calls, "cut right after a tool call"
        assert after is None or after.role != "tool", "verbatim part starts with a tool result"
    bundle = s.context(budget_tokens=120)
    recent = bundle.block("recent")
    assert recent is not None and recent.messages
    assert recent.messages[0].role != "tool"


def test_summarization_never_blocks_appends(postgres_url: str, schema: str) -> None:
    slow = CountingSummarizer(delay=0.6)
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarizer=slow,
        buffer_tokens=20,
        min_fold_tokens=10,
    )
    try:
        s = mem.session("t", "u", "slow")
        start = time.monotonic()
        for turn in _turns(12):
            s.add_message(**turn)
        assert time.monotonic() - start < 0.6 * 2  # 12 appends while summaries take 0.6 s each
        assert mem.flush(timeout=30)
        assert slow.calls and s.summary() is not None
    finally:
        mem.close()


def test_context_budget_order_and_determinism(smem: TieredMemory) -> None:
    s = smem.session("clinic", "u", "ctx")
    s.update_state(current_state="selecting_doctor", doctor="Dr. Gustavo")
    for turn in _turns(40):
        s.add_message(**turn)
    smem.flush(timeout=30)
    for budget in (60, 90, 150, 400, 2000):
        bundle = s.context(budget_tokens=budget, input="e amanhã?", system="Você é a assistente.")
        assert bundle.total_tokens <= budget
        order = [b.name for b in bundle.blocks]
        assert order == sorted(
            order,
            key=[
                "system",
                "state",
                "facts",
                "handover",
                "summary",
                "recalled",
                "recent",
                "input",
            ].index,
        )
        assert bundle.block("input") is not None
        again = s.context(budget_tokens=budget, input="e amanhã?", system="Você é a assistente.")
        assert again.model_dump_json() == bundle.model_dump_json()
    big = s.context(budget_tokens=2000)
    assert big.full_history_tokens >= 400 - 10  # 40 turns x 10 tokens
    assert big.tokens_saved == big.full_history_tokens - big.total_tokens > 0
    messages = big.to_messages()
    assert messages[0].role == "system" and "selecting_doctor" in messages[0].text
    assert "Dr. Gustavo" in big.to_text()


def test_clear_resets_the_summary(smem: TieredMemory) -> None:
    s = smem.session("t", "u", "c")
    for turn in _turns(20):
        s.add_message(**turn)
    smem.flush(timeout=30)
    assert s.summary() is not None
    s.clear()
    assert s.summary() is None and s.summaries() == []
    s.add_message(role="user", content="fresh", token_count=3)
    bundle = s.context(budget_tokens=100)
    assert [m.content for m in bundle.block("recent").messages] == ["fresh"]


async def test_async_summary_buffer(postgres_url: str, schema: str) -> None:
    fake = CountingSummarizer(delay=0.05)
    mem = await AsyncTieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarizer=fake,
        buffer_tokens=30,
        min_fold_tokens=10,
    )
    try:
        s = mem.session("t", "u", "a")
        for turn in _turns(30):
            await s.add_message(**turn)
        assert await mem.flush(timeout=30)
        versions = await s.summaries()
        folded = [seq for _, seqs in fake.calls for seq in seqs]
        assert versions and folded == list(range(1, len(folded) + 1))
        bundle = await s.context(budget_tokens=200)
        assert bundle.total_tokens <= 200 and bundle.block("summary") is not None
    finally:
        await mem.close()


def _proc_append(
    url: str, schema: str, redis_url: str, prefix: str, log: str, n: int, barrier
) -> None:
    fake = CountingSummarizer(delay=0.05, log_path=log)
    mem = TieredMemory.connect(
        postgres_url=url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=prefix,
        summarizer=fake,
        buffer_tokens=30,
        min_fold_tokens=10,
    )
    s = mem.session("t", "u", "shared")
    barrier.wait(30)
    for i in range(40):
        s.add_message(role="user", content=f"p{n}-{i}", token_count=5)
    mem.flush(timeout=60)
    mem.close()


@pytest.mark.slow
def test_two_processes_never_summarize_the_same_range(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    # Create the schema first so the two processes only race on summarizing.
    _open(postgres_url, schema, redis_url, redis_prefix).close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_proc_append,
            args=(postgres_url, schema, redis_url, redis_prefix, str(log), n, barrier),
        )
        for n in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    seqs = [seq for call in calls for seq in call["seqs"]]
    assert len(seqs) == len(set(seqs)), "a range was summarized twice"
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    mem = _open(postgres_url, schema, redis_url, redis_prefix)
    try:
        versions = mem.session("t", "u", "shared").summaries()
        assert len(versions) == len(calls)  # every call's result was kept: no wasted calls
        assert [m.seq for m in mem.session("t", "u", "shared").messages()] == list(range(1, 81))
    finally:
        mem.close()


def test_blocks_can_be_chosen(smem: TieredMemory) -> None:
    s = smem.session("t", "u", "choose")
    s.update_state(step=1)
    s.add_messages(_turns(6))
    bundle = s.context(budget_tokens=500, input="x", blocks={"recent", "input"})
    assert [b.name for b in bundle.blocks] == ["recent", "input"]
    assert [b.name for b in s.context(budget_tokens=500, input="x").blocks][0] == "state"


def test_long_backlog_is_folded_in_bounded_chunks(postgres_url: str, schema: str) -> None:
    fake = CountingSummarizer()
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarize=False,
    )
    s = mem.session("t", "u", "backlog")
    s.add_messages(_turns(100))  # 1,000 tokens written before summarization is on
    mem.close()
    mem = TieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarizer=fake,
        buffer_tokens=50,
        min_fold_tokens=10,
        max_fold_tokens=200,
    )
    try:
        mem.session("t", "u", "backlog").add_message(role="user", content="now", token_count=10)
        assert mem.flush(timeout=30)
        assert len(fake.calls) >= 4
        assert all(len(seqs) * 10 <= 200 for _, seqs in fake.calls)
        folded = [seq for _, seqs in fake.calls for seq in seqs]
        assert folded == list(range(1, len(folded) + 1))
    finally:
        mem.close()


def test_clear_drops_cached_contexts(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    import redis as redis_lib

    mem = _open(postgres_url, schema, redis_url, redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)
    try:
        s = mem.session("t", "u", "secret")
        s.add_message(role="user", content="meu CPF é 123.456.789-09")
        s.context(budget_tokens=300)
        ctx_key = mem.hot_tier.context_key_for(s.key)  # type: ignore[attr-defined]
        assert client.exists(ctx_key)
        s.clear()
        assert not client.exists(ctx_key)
    finally:
        client.close()
        mem.close()


def test_a_slow_summarizer_keeps_its_lease(postgres_url: str, schema: str, tmp_path: Path) -> None:
    """Without renewal, B would take the expired lease and fold the same range again."""
    log = tmp_path / "calls.jsonl"
    options = dict(buffer_tokens=20, min_fold_tokens=10, summary_lease_seconds=0.6)
    a = TieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarizer=CountingSummarizer(delay=1.8, log_path=str(log)),
        **options,
    )
    b = TieredMemory.connect(
        postgres_url=postgres_url,
        schema=schema,
        summarizer=CountingSummarizer(delay=0.1, log_path=str(log)),
        **options,
    )
    try:
        a.session("t", "u", "slow").add_messages(_turns(6))  # A starts a 1.8 s fold
        time.sleep(1.0)  # A's original 0.6 s lease would have expired by now
        b.session("t", "u", "slow").add_message(role="user", content="more", token_count=10)
        assert b.flush(timeout=30) and a.flush(timeout=30)
        seqs = [s for line in log.read_text().splitlines() for s in json.loads(line)["seqs"]]
        assert seqs and len(seqs) == len(set(seqs)), "a range was summarized twice"
        assert b.stats()["summary_lease_busy"] >= 1
    finally:
        a.close()
        b.close()
