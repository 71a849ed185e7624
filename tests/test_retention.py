"""Retention (memory.gc): delete, anonymize and archive old sessions; dry run, idempotent,
resumable, audited."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langmem_tiered import (
    AsyncTieredMemory,
    ConfigurationError,
    RetentionPolicy,
    RetentionRules,
    TieredMemory,
)

OLD_DAYS = 400  # older than every short policy below


def _age(postgres_url: str, schema: str, tenant: str, session: str, days: float) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            f"UPDATE {schema}.lmt_sessions SET updated_at = now() - make_interval(days => %s) "
            "WHERE tenant_id = %s AND session_id = %s",
            [days, tenant, session],
        )


def _count(postgres_url: str, schema: str, table: str, tenant: str, session: str) -> int:
    # recall items: those of the session's text (fact items are the user's and stay)
    extra = " AND kind IN ('message', 'summary')" if table == "lmt_recall_items" else ""
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {schema}.{table} WHERE tenant_id = %s AND session_id = %s"
            + extra,
            [tenant, session],
        ).fetchone()
    assert row is not None
    return int(row[0])


def _conversation(mem: TieredMemory, tenant: str, user: str, session: str) -> None:
    s = mem.session(tenant, user, session)
    s.add_message(role="user", content="Meu nome é Ana Souza, CPF 529.982.247-25")
    s.add_message(role="assistant", content="Obrigado, Ana Souza.")
    s.add_message(role="user", content="Meu e-mail é ana.souza@example.com, tel 11 99999-8888")
    s.update_state(contact="ana.souza@example.com")
    s.recent()  # the hot tier holds the window


def test_delete_policy_dry_run_then_run_then_idempotent(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    rules = RetentionRules(verticals={"generic": RetentionPolicy(days=90, action="delete")})
    mem = TieredMemory.connect(**memory_options, retention=rules)
    try:
        for session in ("old-1", "old-2", "new"):
            _conversation(mem, "t", "ana", session)
        _conversation(mem, "t2", "bob", "old-1")
        for tenant, session in (("t", "old-1"), ("t", "old-2"), ("t2", "old-1")):
            _age(postgres_url, schema, tenant, session, OLD_DAYS)
        assert mem.flush(timeout=30)

        seen: list[tuple[int, int]] = []
        dry = mem.gc(dry_run=True, progress=lambda stage, done, total: seen.append((done, total)))
        assert dry.dry_run and dry.tenants == 2 and dry.sessions["delete"] == 3  # would be
        assert dry.messages == 9
        assert seen[0] == (0, 3) and seen[-1] == (3, 3)
        assert _count(postgres_url, schema, "lmt_messages", "t", "old-1") == 3  # unchanged
        (entry,) = mem.audit_log("t", action="retention")
        assert entry.dry_run and entry.details["sessions"] == 2

        report = mem.gc(tenant="t")
        assert report.sessions == {"delete": 2, "anonymize": 0, "archive": 0}
        assert report.messages == 6 and report.tenants == 1
        for session in ("old-1", "old-2"):
            assert _count(postgres_url, schema, "lmt_sessions", "t", session) == 0
            assert _count(postgres_url, schema, "lmt_recall_items", "t", session) == 0
            assert mem.session("t", "ana", session).recent() == []  # nothing in the hot tier
        assert len(mem.session("t", "ana", "new").messages()) == 3
        assert _count(postgres_url, schema, "lmt_messages", "t2", "old-1") == 3  # not this run
        done = mem.audit_log("t", action="retention")[0]
        assert done.status == "done" and done.details["handled"] == 2 and not done.dry_run
        assert "ana" not in json.dumps(done.details)

        again = mem.gc(tenant="t")
        assert again.tenants == 0 and sum(again.sessions.values()) == 0
    finally:
        mem.close()


def test_anonymize_rewrites_text_everywhere_and_marks_the_session(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    rules = RetentionRules(tenants={"t": RetentionPolicy(days=30, action="anonymize")})
    mem = TieredMemory.connect(**memory_options, retention=rules)
    try:
        _conversation(mem, "t", "ana", "old")
        mem.user("t", "ana").remember("name", "Ana Souza")
        assert mem.flush(timeout=30)
        assert mem.user("t", "ana").recall("ana.souza@example.com")
        _age(postgres_url, schema, "t", "old", OLD_DAYS)

        report = mem.gc()
        assert report.sessions["anonymize"] == 1
        s = mem.session("t", "ana", "old")
        texts = [m.text for m in s.messages()]
        joined = "\n".join(texts) + json.dumps(s.state())
        for secret in ("529.982.247-25", "ana.souza@example.com", "99999-8888", "Souza"):
            assert secret not in joined, secret
        assert "***.***.***-25" in texts[0] and "Ana S***" in texts[0]
        assert "***@example.com" in texts[2]
        assert len(texts) == 3  # kept, only rewritten
        assert mem.flush(timeout=30)
        # recall was re-indexed from the anonymized text
        hits = mem.user("t", "ana").recall("e-mail", kinds=("message",))
        assert hits and all("ana.souza@" not in h.text for h in hits)
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                f"SELECT retention FROM {schema}.lmt_sessions WHERE tenant_id = 't'"
            ).fetchone()
        assert row == ("anonymized",)
        # an anonymized session is left alone by the next runs
        assert mem.gc().tenants == 0
    finally:
        mem.close()


def test_archive_writes_gzip_jsonl_that_imports_back(
    memory_options: dict[str, Any], postgres_url: str, schema: str, tmp_path: Path
) -> None:
    rules = RetentionRules(verticals={"dental": RetentionPolicy(days=365, action="archive")})
    mem = TieredMemory.connect(**memory_options, vertical="dental", retention=rules)
    try:
        _conversation(mem, "t", "ana", "old")
        _conversation(mem, "t", "ana", "new")
        _age(postgres_url, schema, "t", "old", OLD_DAYS)
        with pytest.raises(ConfigurationError):
            mem.gc()  # archiving needs a folder
        assert _count(postgres_url, schema, "lmt_messages", "t", "old") == 3
        report = mem.gc(archive_dir=tmp_path)
        assert report.sessions["archive"] == 1
        (path,) = report.archives
        assert path.endswith(".jsonl.gz") and Path(path).is_relative_to(tmp_path)
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        assert sum(1 for r in lines if r["type"] == "message") == 3
        assert _count(postgres_url, schema, "lmt_sessions", "t", "old") == 0
        assert mem.session("t", "ana", "old").recent() == []
        assert len(mem.session("t", "ana", "new").messages()) == 3
        # the archive is a normal export: it restores the session
        mem.import_jsonl(path)
        assert [m.text for m in mem.session("t", "ana", "old").messages()][0].startswith("Meu")
    finally:
        mem.close()


def test_interrupted_run_is_resumed_by_the_next(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(**memory_options)  # generic default: 90 days, delete
    try:
        for n in range(5):
            _conversation(mem, "t", "u", f"s{n}")
            _age(postgres_url, schema, "t", f"s{n}", OLD_DAYS)

        class Stop(Exception):
            pass

        def stop_after_two(stage: str, done: int, total: int) -> None:
            if done == 2:
                raise Stop

        with pytest.raises(Stop):
            mem.gc(batch=2, progress=stop_after_two)
        failed = mem.audit_log("t", action="retention")[0]
        assert failed.status == "failed" and failed.details["handled"] == 2
        rest = mem.gc(batch=2)
        assert rest.sessions["delete"] == 3
        assert mem.list_sessions("t") == []
    finally:
        mem.close()


def test_a_session_that_changed_after_the_cutoff_is_kept(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    from datetime import datetime, timedelta, timezone

    mem = TieredMemory.connect(**memory_options)
    try:
        _conversation(mem, "t", "u", "s")
        cutoff = datetime.now(timezone.utc) - timedelta(days=1)
        gone = mem._admin().delete_session("t", "u", "s", before=cutoff)
        assert gone["sessions"] == 0
        assert len(mem.session("t", "u", "s").messages()) == 3
    finally:
        mem.close()


async def test_async_gc(memory_options: dict[str, Any], postgres_url: str, schema: str) -> None:
    mem = await AsyncTieredMemory.connect(**memory_options)
    try:
        s = mem.session("t", "u", "s")
        await s.add_message(role="user", content="hello")
        _age(postgres_url, schema, "t", "s", OLD_DAYS)
        report = await mem.gc()
        assert report.sessions["delete"] == 1 and await s.messages() == []
    finally:
        await mem.close()


def test_bad_arguments(memory: TieredMemory) -> None:
    with pytest.raises(ConfigurationError):
        TieredMemory(retention="90 days")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetentionPolicy(days=0)
    from langmem_tiered import InvalidIdError, InvalidInputError

    with pytest.raises(InvalidInputError):
        memory.gc(batch=0)
    with pytest.raises(InvalidIdError):
        memory.gc(tenant="")
