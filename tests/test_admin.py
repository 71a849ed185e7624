"""Data management on real Postgres (+ Redis): listings and keyset pages, show and delete of a
session, and the JSONL export / import (byte-identical round trip, idempotent, all-or-nothing,
hostile ids)."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langmem_tiered import (
    InvalidImportError,
    InvalidInputError,
    RecordNotFoundError,
    TieredMemory,
)
from langmem_tiered.admin import parse_record

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
# Hostile ids: every character that means something to Redis keys, LIKE patterns or JSON paths.
HOSTILE_TENANT = "t%_:{x}*"
HOSTILE_USER = 'ü{}:*%\\ "quoted"'
HOSTILE_SESSION = "☃/" + "s" * 200 + ":}{"

_TABLES = ("lmt_sessions", "lmt_messages", "lmt_summaries", "lmt_facts", "lmt_recall_items")


@pytest.fixture
def other_schema(postgres_url: str) -> Iterator[str]:
    """A second, empty schema (import target)."""
    name = "t_" + uuid.uuid4().hex[:16]
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _open(postgres_url: str, schema: str, **options: Any) -> TieredMemory:
    options.setdefault("recall", False)
    options.setdefault("extract_facts", False)
    return TieredMemory.connect(postgres_url=postgres_url, schema=schema, **options)


def _rows(postgres_url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(postgres_url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {schema}.{t}").fetchone()[0]  # type: ignore[index]
            for t in _TABLES
        }


def _populate(mem: TieredMemory, tenant: str = "clinic") -> None:
    """Every kind of record: messages (tool calls, parts, odd JSON), state, summaries, facts
    with history, multi-valued facts, memories and a content-cache entry."""
    s = mem.session(tenant, "maria", "chat-1")
    s.add_messages(
        [
            {"role": "system", "content": "Você é a assistente.", "created_at": T0},
            {
                "role": "user",
                "content": "Oi, meu nome é Maria. Quero marcar ortodontia na terça.",
                "metadata": {"z": 1, "a": [1.5, 1e16, 2**70, None, True], "ç": "😀"},
                "created_at": T0 + timedelta(seconds=1),
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "agenda", "args": {"dia": "terça"}}],
                "created_at": T0 + timedelta(seconds=2),
            },
            {
                "role": "tool",
                "content": [{"type": "text", "text": "09:00, 10:30"}],
                "tool_call_id": "c1",
                "name": "agenda",
                "created_at": T0 + timedelta(seconds=3, microseconds=7),
            },
        ]
        + [
            {"role": "user" if i % 2 else "assistant", "content": f"turno {i} " + "palavra " * 30}
            for i in range(12)
        ]
    )
    s.update_state(current_state="selecting_slot", doctor="Dr. Gustavo", n=[1, 2.25])
    s.remember("preferred_times", "morning", valid_at=T0)
    s.remember("preferred_times", "afternoon", valid_at=T0 + timedelta(days=3))
    s.remember("allergies", "penicillin", valid_at=T0)
    s.remember("allergies", "latex", valid_at=T0, confidence=0.9)
    s.forget("allergies", "latex", at=T0 + timedelta(days=1))
    mem.session(tenant, "maria", "chat-2").add_message(role="user", content="second chat")
    mem.session(tenant, "joao", "chat-1").add_message(role="user", content="João aqui")
    mem.user(tenant, "maria").put_memory("likes", "Maria likes early appointments", occurred_at=T0)
    mem.content_cache(tenant, "descriptions").set("product-1", {"text": "Escova", "n": 1.0})
    assert mem.flush(timeout=60)


def _export(mem: TieredMemory, path: Path, **scope: Any) -> bytes:
    mem.export_jsonl(path, **scope)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


# -- listings ------------------------------------------------------------------------------


def test_listings_count_what_each_tenant_user_and_session_holds(
    postgres_url: str, schema: str
) -> None:
    mem = _open(postgres_url, schema, summarize=False)
    try:
        _populate(mem)
        mem.session("other", "u", "s").add_message(role="user", content="x")
        tenants = {t.tenant: t for t in mem.list_tenants()}
        assert set(tenants) == {"clinic", "other"}
        clinic = tenants["clinic"]
        assert (clinic.users, clinic.sessions, clinic.messages) == (2, 3, 18)
        assert (clinic.facts, clinic.memories, clinic.cache_entries) == (4, 1, 1)
        assert tenants["other"].messages == 1 and tenants["other"].cache_entries == 0

        users = {u.user: u for u in mem.list_users("clinic")}
        assert set(users) == {"joao", "maria"}
        maria = users["maria"]
        assert (maria.sessions, maria.messages, maria.memories) == (2, 17, 1)
        # current: afternoon + penicillin; versions: morning, afternoon, penicillin, latex
        assert (maria.facts, maria.fact_versions) == (2, 4)

        sessions = mem.list_sessions("clinic", "maria")
        assert [x.session for x in sessions] == ["chat-1", "chat-2"]
        first = sessions[0]
        assert (first.messages, first.last_seq) == (16, 16)
        assert first.first_message_at == T0
        assert first.last_message_at is not None and first.last_message_at > T0
    finally:
        mem.close()


def test_list_sessions_keyset_pages_visit_every_session_once_in_order(
    postgres_url: str, schema: str
) -> None:
    mem = _open(postgres_url, schema, summarize=False)
    try:
        expected = []
        for user in ("a", "b", "c"):
            for n in range(4):
                mem.session("t", user, f"s{n}").add_message(role="user", content="hi")
                expected.append((user, f"s{n}"))
        seen: list[tuple[str, str]] = []
        after = None
        while True:
            page = mem.list_sessions("t", limit=5, after=after)
            seen.extend(x.cursor for x in page)
            if len(page) < 5:
                break
            after = page[-1].cursor
        assert seen == expected
        page1 = mem.list_sessions("t", "b", limit=3)
        page2 = mem.list_sessions("t", "b", limit=3, after=page1[-1].cursor)
        assert [x.session for x in page1 + page2] == ["s0", "s1", "s2", "s3"]
        assert [u.user for u in mem.list_users("t", limit=2, after="a")] == ["b", "c"]
        with pytest.raises(InvalidInputError):
            mem.list_sessions("t", limit=0)
        with pytest.raises(InvalidInputError):
            mem.list_sessions("t", "b", after=("a", "s0"))
    finally:
        mem.close()


# -- show and delete ---------------------------------------------------------------------


def test_show_session_returns_messages_state_summary_and_facts(
    postgres_url: str, schema: str
) -> None:
    mem = _open(postgres_url, schema, buffer_tokens=40, min_fold_tokens=20)
    try:
        _populate(mem)
        view = mem.show_session("clinic", "maria", "chat-1")
        assert view.info.messages == 16 and len(view.messages) == 16
        assert view.state["doctor"] == "Dr. Gustavo"
        assert view.summary is not None and view.summary.upto_seq >= 1
        assert {(f.key, f.value) for f in view.facts} == {
            ("preferred_times", "afternoon"),
            ("allergies", "penicillin"),
        }
        last = mem.show_session("clinic", "maria", "chat-1", limit=3)
        assert [m.seq for m in last.messages] == [14, 15, 16]
        with pytest.raises(RecordNotFoundError):
            mem.show_session("clinic", "maria", "nope")
        with pytest.raises(RecordNotFoundError):
            mem.show_session("clinic", "joao", "chat-2")  # maria's session id, joao's user
    finally:
        mem.close()


def test_delete_session_removes_its_rows_and_hot_keys_and_nothing_else(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(
        **memory_options, recall=True, extract_facts=False, buffer_tokens=40, min_fold_tokens=20
    )
    try:
        _populate(mem)
        mem.session("clinic", "maria", "chat-1").recent(5)  # hot window filled
        keys_before = mem.hot_tier.user_keys("clinic", "maria")
        before = _rows(postgres_url, schema)
        report = mem.delete_session("clinic", "maria", "chat-1")
        assert report["sessions"] == 1 and report["messages"] == 16
        assert report["summaries"] >= 1 and report["recall_items"] >= 1
        after = _rows(postgres_url, schema)
        assert after["lmt_sessions"] == before["lmt_sessions"] - 1
        assert after["lmt_messages"] == before["lmt_messages"] - 16
        assert after["lmt_facts"] == before["lmt_facts"]  # facts are the user's
        with psycopg.connect(postgres_url) as conn:
            left = conn.execute(
                f"SELECT count(*) FROM {schema}.lmt_recall_items WHERE session_id = 'chat-1' "
                "AND user_id = 'maria' AND kind IN ('message', 'summary')"
            ).fetchone()
        assert left == (0,)
        keys_after = mem.hot_tier.user_keys("clinic", "maria")
        assert len(keys_after) < len(keys_before)
        assert not [k for k in keys_after if "chat-1" in k and "maria" in k]
        assert mem.session("clinic", "joao", "chat-1").messages()  # same session id, kept
        assert mem.delete_session("clinic", "maria", "chat-1")["sessions"] == 0
        again = mem.session("clinic", "maria", "chat-1").add_message(role="user", content="new")
        assert again.seq == 1
        assert [m.content for m in mem.session("clinic", "maria", "chat-1").recent(10)] == ["new"]
    finally:
        mem.close()


# -- export / import ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_export_import_export_is_byte_identical_and_reimport_changes_nothing(
    postgres_url: str, schema: str, other_schema: str, tmp_path: Path, suffix: str
) -> None:
    source = _open(postgres_url, schema, buffer_tokens=40, min_fold_tokens=20)
    try:
        _populate(source)
        first = _export(source, tmp_path / f"a{suffix}", tenant="clinic")
        stages: list[tuple[str, int, int]] = []
        source.export_jsonl(
            tmp_path / "p.jsonl", tenant="clinic", progress=lambda *a: stages.append(a)
        )
    finally:
        source.close()
    records = [parse_record(line) for line in first.splitlines()]
    kinds = [r.type for r in records]
    assert kinds[0] == "header" and kinds.count("session") == 3 and kinds.count("message") == 18
    assert kinds.count("fact") == 4 and kinds.count("memory") == 1 and kinds.count("cache") == 1
    assert kinds.count("summary") >= 1
    assert ("messages", 18, 18) in stages and ("cache", 1, 1) in stages

    target = _open(postgres_url, other_schema)
    try:
        counts = target.import_jsonl(tmp_path / f"a{suffix}")
        assert counts["messages"] == 18 and counts["facts"] == 4 and counts["skipped"] == 0
        second = _export(target, tmp_path / f"b{suffix}", tenant="clinic")
        assert second == first
        if suffix == ".jsonl.gz":  # the compressed files are identical too
            assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
        rows = _rows(postgres_url, other_schema)
        again = target.import_jsonl(tmp_path / f"a{suffix}")
        assert again["skipped"] == len(records) - 1
        assert sum(v for k, v in again.items() if k != "skipped") == 0
        assert _rows(postgres_url, other_schema) == rows
        assert _export(target, tmp_path / f"c{suffix}", tenant="clinic") == first
        # the imported memory works as a memory: reads, appends continue the seqs
        s = target.session("clinic", "maria", "chat-1")
        assert s.state()["doctor"] == "Dr. Gustavo"
        assert s.add_message(role="user", content="after import").seq == 17
        assert [f.value for f in s.fact_history("preferred_times")] == ["morning", "afternoon"]
        assert target.content_cache("clinic", "descriptions").get("product-1") == {
            "text": "Escova",
            "n": 1.0,
        }
        target.backfill(tenant="clinic")
        hits = target.user("clinic", "maria").recall("early appointments", k=3)
        assert any(h.kind == "memory" for h in hits)
    finally:
        target.close()


def test_user_and_session_exports_hold_only_their_scope_and_round_trip(
    postgres_url: str, schema: str, other_schema: str, tmp_path: Path
) -> None:
    source = _open(postgres_url, schema, summarize=False)
    try:
        _populate(source)
        by_user = _export(source, tmp_path / "u.jsonl", tenant="clinic", user="maria")
        by_session = _export(
            source, tmp_path / "s.jsonl", tenant="clinic", user="maria", session="chat-2"
        )
        with pytest.raises(InvalidInputError):
            source.export_jsonl(tmp_path / "x.jsonl", tenant="clinic", session="chat-2")
    finally:
        source.close()
    user_records = [parse_record(x) for x in by_user.splitlines()[1:]]
    assert {getattr(r, "user", None) for r in user_records} == {"maria"}
    assert "cache" not in {r.type for r in user_records}
    session_records = [parse_record(x) for x in by_session.splitlines()[1:]]
    assert [r.type for r in session_records] == ["session", "message"]
    target = _open(postgres_url, other_schema)
    try:
        target.import_jsonl(tmp_path / "s.jsonl")
        assert (
            _export(target, tmp_path / "s2.jsonl", tenant="clinic", user="maria", session="chat-2")
            == by_session
        )
        target.import_jsonl(tmp_path / "u.jsonl")  # the session again, and the rest of maria
        assert _export(target, tmp_path / "u2.jsonl", tenant="clinic", user="maria") == by_user
    finally:
        target.close()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda r: b"{not json",
        lambda r: json.dumps({**r, "content": "nul \u0000 inside"}).encode(),
        lambda r: json.dumps({**r, "role": "wizard"}).encode(),
        lambda r: json.dumps({**r, "tenant": "someone-else"}).encode(),
        lambda r: json.dumps({**r, "seq": 999}).encode(),  # past the session's last_seq
        lambda r: json.dumps({**r, "session": "undeclared"}).encode(),
        lambda r: json.dumps({**r, "created_at": "2025-01-01T00:00:00"}).encode(),  # naive
        lambda r: json.dumps({**r, "surprise": 1}).encode(),
        lambda r: json.dumps({**r, "seq": "3"}).encode(),  # strict: no coercion
    ],
    ids=["json", "nul", "role", "tenant", "seq", "session", "naive", "extra", "string-seq"],
)
def test_a_bad_line_raises_and_leaves_the_store_unchanged(
    postgres_url: str, schema: str, other_schema: str, tmp_path: Path, corrupt: Any
) -> None:
    source = _open(postgres_url, schema, summarize=False)
    try:
        _populate(source)
        source.export_jsonl(tmp_path / "a.jsonl", tenant="clinic")
    finally:
        source.close()
    lines = _lines(tmp_path / "a.jsonl")
    # corrupt the last message line: every line before it is valid and would be imported
    at = max(i for i, x in enumerate(lines) if b'"type":"message"' in x)
    lines[at] = corrupt(json.loads(lines[at]))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    target = _open(postgres_url, other_schema)
    try:
        with pytest.raises(InvalidImportError) as info:
            target.import_jsonl(bad)
        assert info.value.line == at + 1 and f"line {at + 1}" in str(info.value)
        assert target.list_tenants() == []
        assert set(_rows(postgres_url, other_schema).values()) == {0}
    finally:
        target.close()


def test_a_conflicting_message_rolls_the_whole_import_back(
    postgres_url: str, schema: str, other_schema: str, tmp_path: Path
) -> None:
    source = _open(postgres_url, schema, summarize=False)
    try:
        _populate(source)
        source.export_jsonl(tmp_path / "a.jsonl", tenant="clinic")
    finally:
        source.close()
    target = _open(postgres_url, other_schema)
    try:
        # the target already has joao's chat-1 with a different first message
        target.session("clinic", "joao", "chat-1").add_message(role="user", content="mine")
        rows = _rows(postgres_url, other_schema)
        with pytest.raises(InvalidImportError, match="conflicts with a stored message"):
            target.import_jsonl(tmp_path / "a.jsonl")
        assert _rows(postgres_url, other_schema) == rows
        assert [t.tenant for t in target.list_tenants()] == ["clinic"]
        assert target.list_tenants()[0].sessions == 1
        # a second current value of a single-valued fact conflicts as well
        target.delete_session("clinic", "joao", "chat-1")
        target.user("clinic", "maria").remember("preferred_times", "evening")
        rows = _rows(postgres_url, other_schema)
        with pytest.raises(InvalidImportError, match="second current value"):
            target.import_jsonl(tmp_path / "a.jsonl")
        assert _rows(postgres_url, other_schema) == rows
    finally:
        target.close()


def test_import_rejects_files_without_header_or_out_of_scope_records(
    postgres_url: str, schema: str, tmp_path: Path
) -> None:
    mem = _open(postgres_url, schema, summarize=False)
    try:
        mem.session("t", "u", "s").add_message(role="user", content="x")
        buf = io.BytesIO()
        mem.export_jsonl(buf, tenant="t", user="u")
        lines = buf.getvalue().splitlines()
        with pytest.raises(InvalidImportError, match="header"):
            mem.import_jsonl(io.BytesIO(b"\n".join(lines[1:])))
        with pytest.raises(InvalidImportError, match="empty"):
            mem.import_jsonl(io.BytesIO(b""))
        with pytest.raises(InvalidImportError, match="second header"):
            mem.import_jsonl(io.BytesIO(b"\n".join([lines[0], lines[0]])))
        session_line = json.loads(lines[1])
        other = json.dumps({**session_line, "user": "v"}).encode()
        with pytest.raises(InvalidImportError, match="outside"):
            mem.import_jsonl(io.BytesIO(b"\n".join([lines[0], other])))
        with pytest.raises(InvalidImportError, match="twice"):
            mem.import_jsonl(io.BytesIO(b"\n".join([lines[0], lines[1], lines[1]])))
        with pytest.raises(InvalidInputError):
            mem.import_jsonl(tmp_path / "missing.jsonl")
        # the same file object imports as it is (idempotently: all is already stored)
        counts = mem.import_jsonl(io.BytesIO(buf.getvalue()))
        assert counts["skipped"] == len(lines) - 1
    finally:
        mem.close()


def test_hostile_ids_list_export_and_import_exactly(
    postgres_url: str, schema: str, other_schema: str, tmp_path: Path
) -> None:
    mem = _open(postgres_url, schema, summarize=False)
    try:
        s = mem.session(HOSTILE_TENANT, HOSTILE_USER, HOSTILE_SESSION)
        s.add_message(role="user", content="hostile but fine")
        s.remember("nickname", "x")
        # neighbours that a LIKE pattern or a key prefix would also match
        for tenant in ("t%_:{x}*2", "tX_:{x}*", "t"):
            mem.session(tenant, HOSTILE_USER, HOSTILE_SESSION).add_message(
                role="user", content=tenant
            )
        mem.session(HOSTILE_TENANT, HOSTILE_USER + "2", HOSTILE_SESSION).add_message(
            role="user", content="neighbour user"
        )
        assert len(mem.list_tenants()) == 4
        assert [u.user for u in mem.list_users(HOSTILE_TENANT)] == [
            HOSTILE_USER,
            HOSTILE_USER + "2",
        ]
        listed = mem.list_sessions(HOSTILE_TENANT, HOSTILE_USER)
        assert [(x.user, x.session, x.messages) for x in listed] == [
            (HOSTILE_USER, HOSTILE_SESSION, 1)
        ]
        data = _export(mem, tmp_path / "h.jsonl", tenant=HOSTILE_TENANT, user=HOSTILE_USER)
    finally:
        mem.close()
    records = [parse_record(x) for x in data.splitlines()]
    assert {r.tenant for r in records} == {HOSTILE_TENANT}
    assert [r.type for r in records] == ["header", "session", "message", "fact"]
    target = _open(postgres_url, other_schema)
    try:
        target.import_jsonl(tmp_path / "h.jsonl")
        assert [t.tenant for t in target.list_tenants()] == [HOSTILE_TENANT]
        view = target.show_session(HOSTILE_TENANT, HOSTILE_USER, HOSTILE_SESSION)
        assert [m.content for m in view.messages] == ["hostile but fine"]
        assert (
            _export(target, tmp_path / "h2.jsonl", tenant=HOSTILE_TENANT, user=HOSTILE_USER) == data
        )
    finally:
        target.close()


async def test_async_memory_lists_exports_and_imports_the_same_bytes(
    amemory: Any, postgres_url: str, other_schema: str
) -> None:
    from langmem_tiered import AsyncTieredMemory

    s = amemory.session("t", "u", "s")
    await s.add_messages([{"role": "user", "content": f"turn {i}"} for i in range(5)])
    await amemory.user("t", "u").remember("name", "Ana")
    assert await amemory.flush(timeout=60)
    assert [x.session for x in await amemory.list_sessions("t")] == ["s"]
    assert (await amemory.list_tenants())[0].messages == 5
    assert (await amemory.show_session("t", "u", "s")).info.last_seq == 5
    first = io.BytesIO()
    counts = await amemory.export_jsonl(first, tenant="t")
    assert counts["messages"] == 5 and counts["facts"] == 1
    target = await AsyncTieredMemory.connect(
        postgres_url=postgres_url, schema=other_schema, recall=False, extract_facts=False
    )
    try:
        first.seek(0)
        assert (await target.import_jsonl(first))["messages"] == 5
        second = io.BytesIO()
        await target.export_jsonl(second, tenant="t")
        assert second.getvalue() == first.getvalue()
        assert (await target.delete_session("t", "u", "s"))["messages"] == 5
        assert await target.list_sessions("t") == []
    finally:
        await target.close()
