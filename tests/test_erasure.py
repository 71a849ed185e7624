"""Erasure of a user and of a tenant: nothing left in any table or hot-tier key, proven."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import redis

from langmem_tiered import AsyncTieredMemory, InvalidIdError, TieredMemory

TURNS = [
    ("user", "Oi, meu nome é Ana Souza e meu e-mail é ana.souza@example.com"),
    ("assistant", "Olá Ana! Como posso ajudar?"),
    ("user", "Quero marcar uma limpeza para terça às 10h, MARKER-ANA"),
    ("assistant", "Marcado: limpeza na terça às 10h."),
    ("user", "Sou alérgica a penicilina, por favor anote"),
    ("assistant", "Anotado: alergia a penicilina."),
]


def _options(memory_options: dict[str, Any]) -> dict[str, Any]:
    # small buffers, so summaries are written
    return {**memory_options, "buffer_tokens": 40, "min_fold_tokens": 20, "summary_tokens": 64}


def _fill(mem: TieredMemory, tenant: str, user: str, marker: str) -> None:
    for n in range(2):
        s = mem.session(tenant, user, f"chat-{n}")
        for role, text in TURNS:
            s.add_message(role=role, content=text.replace("MARKER-ANA", marker))
        s.update_state(step="booking", marker=marker)
        s.context(query="limpeza", budget_tokens=1500)  # cached in the hot tier
    u = mem.user(tenant, user)
    u.remember("plan", f"gold {marker}")
    u.put_memory("note", f"prefers mornings {marker}")
    assert mem.flush(timeout=60)


def _rows_left(postgres_url: str, schema: str, tenant: str, user: str | None) -> dict[str, int]:
    """Independent of the package: every table of the schema with the ids' columns."""
    cols = ["tenant_id"] if user is None else ["tenant_id", "user_id"]
    with psycopg.connect(postgres_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
                "AND column_name = ANY(%s) GROUP BY table_name HAVING count(*) = %s",
                [schema, cols, len(cols)],
            )
        ]
        left = {}
        for t in tables:
            if t == "lmt_audit":
                continue
            where = "tenant_id = %s" + ("" if user is None else " AND user_id = %s")
            params = [tenant] if user is None else [tenant, user]
            row = conn.execute(f"SELECT count(*) FROM {schema}.{t} WHERE {where}", params)
            n = row.fetchone()
            assert n is not None
            if n[0]:
                left[t] = n[0]
    return left


def _redis_keys(redis_url: str, prefix: str, tenant: str, user: str | None) -> list[bytes]:
    tag = quote(tenant, safe="") + ("" if user is None else ":" + quote(user, safe=""))
    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.scan_iter(match=f"{prefix}:*", count=1000)
        return [k for k in keys if f"{{{tag}:".encode() in k]
    finally:
        client.close()


def _texts(mem: TieredMemory, tenant: str, user: str, session: str) -> str:
    s = mem.session(tenant, user, session)
    parts = [m.text for m in s.messages()] + [str(s.state())]
    parts += [f"{f.key}={f.value}" for f in mem.user(tenant, user).facts()]
    parts.append(s.context(query="limpeza", budget_tokens=1500).to_text())
    return "\n".join(parts)


def test_erase_user_leaves_nothing_and_spares_the_others(
    memory_options: dict[str, Any], postgres_url: str, schema: str, redis_url: str, hot: str
) -> None:
    mem = TieredMemory.connect(**_options(memory_options))
    try:
        _fill(mem, "clinic-1", "ana", "M-ANA")
        _fill(mem, "clinic-1", "anab", "M-ANAB")  # a user whose id extends ana's
        _fill(mem, "clinic-2", "ana", "M-OTHER-TENANT")  # the same user id, another tenant
        with psycopg.connect(postgres_url) as conn:  # an integration's table beside ours
            conn.execute(
                f"INSERT INTO {schema}.lmt_lg_store (tenant_id, user_id, namespace, key, value) "
                "VALUES ('clinic-1', 'ana', '{notes}', 'k', '{\"v\": \"M-ANA\"}')"
            )
        before = _rows_left(postgres_url, schema, "clinic-1", "ana")
        assert {"lmt_messages", "lmt_sessions", "lmt_facts", "lmt_recall_items"} <= set(before)
        assert "lmt_summaries" in before and "lmt_lg_store" in before
        if hot == "redis":
            assert _redis_keys(redis_url, memory_options["redis_prefix"], "clinic-1", "ana")

        report = mem.erase_user("clinic-1", "ana")

        assert report.verified and report.residue == {}
        assert report.sessions == 2 and report.deleted["lmt_messages"] == 12
        assert _rows_left(postgres_url, schema, "clinic-1", "ana") == {}
        assert mem.verify_erased("clinic-1", "ana") == {}
        if hot == "redis":
            assert _redis_keys(redis_url, memory_options["redis_prefix"], "clinic-1", "ana") == []
            assert report.hot_keys_deleted >= 2
        # nothing of the erased user comes back through any read
        assert "M-ANA" not in _texts(mem, "clinic-1", "ana", "chat-0")
        assert mem.user("clinic-1", "ana").recall("limpeza MARKER") == []
        # the others are intact
        for tenant, user, marker in (
            ("clinic-1", "anab", "M-ANAB"),
            ("clinic-2", "ana", "M-OTHER"),
        ):
            text = _texts(mem, tenant, user, "chat-1")
            assert marker in text and "M-ANA\n" not in text
            assert len(mem.session(tenant, user, "chat-0").messages()) == 6
            assert mem.user(tenant, user).recall("limpeza")
        # the audit entry has the counts and the request id, and nothing personal
        (entry,) = mem.audit_log("clinic-1", action="erase_user")
        assert entry.request_id == report.request_id and entry.status == "done"
        assert entry.details["deleted"]["lmt_messages"] == 12 and entry.details["verified"]
        dumped = json.dumps(entry.model_dump(mode="json"))
        assert "ana" not in dumped.replace("erase_user", "") and "M-ANA" not in dumped
        # the user can come back: a fresh session starts again from seq 1
        s = mem.session("clinic-1", "ana", "chat-0")
        (m,) = s.add_messages([{"role": "user", "content": "voltei"}])
        assert m.seq == 1 and [x.text for x in s.recent()] == ["voltei"]
    finally:
        mem.close()


def test_erase_keeps_token_usage_totals_without_the_user(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(**_options(memory_options))
    try:
        _fill(mem, "clinic-1", "ana", "M-ANA")

        def totals(where: str) -> tuple[int, int]:
            with psycopg.connect(postgres_url) as conn:
                row = conn.execute(
                    f"SELECT coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0) "
                    f"FROM {schema}.lmt_token_usage WHERE tenant_id = 'clinic-1' {where}"
                ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        before = totals("")
        assert before[0] > 0
        mem.erase_user("clinic-1", "ana")
        assert totals("") == before
        assert totals("AND user_id = 'ana'") == (0, 0)
        assert totals("AND user_id = '~erased'") == before
    finally:
        mem.close()


async def test_async_erase_user(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = await AsyncTieredMemory.connect(**_options(memory_options))
    try:
        for tenant, user in (("t", "u"), ("t", "u2")):
            s = mem.session(tenant, user, "s")
            await s.add_messages([{"role": "user", "content": f"hello from {user} Ana Souza"}])
            await mem.user(tenant, user).put_memory("k", f"memory of {user}")
        await mem.flush(timeout=30)
        report = await mem.erase_user("t", "u")
        assert report.verified
        assert _rows_left(postgres_url, schema, "t", "u") == {}
        assert await mem.verify_erased("t", "u") == {}
        assert [m.text for m in await mem.session("t", "u2", "s").messages()] == [
            "hello from u2 Ana Souza"
        ]
        assert (await mem.audit_log("t"))[0].action == "erase_user"
    finally:
        await mem.close()


def test_erase_tenant_drops_everything_of_it_content_cache_included(
    memory_options: dict[str, Any], postgres_url: str, schema: str, redis_url: str, hot: str
) -> None:
    mem = TieredMemory.connect(**_options(memory_options))
    try:
        _fill(mem, "clinic-1", "ana", "M-ANA")
        _fill(mem, "clinic-1", "bob", "M-BOB")
        _fill(mem, "clinic-10", "ana", "M-TEN")  # a tenant whose id extends clinic-1
        for tenant in ("clinic-1", "clinic-10"):
            cache = mem.content_cache(tenant, "llm")
            cache.set("prompt", {"answer": tenant})
        report = mem.erase_tenant("clinic-1")
        assert report.verified and report.sessions == 4
        assert _rows_left(postgres_url, schema, "clinic-1", None) == {}
        assert mem.content_cache("clinic-1", "llm").get("prompt") is None
        if hot == "redis":
            assert _redis_keys(redis_url, memory_options["redis_prefix"], "clinic-1", None) == []
        assert mem.content_cache("clinic-10", "llm").get("prompt") == {"answer": "clinic-10"}
        assert len(mem.session("clinic-10", "ana", "chat-1").messages()) == 6
        # the audit trail survives the tenant
        assert [e.action for e in mem.audit_log("clinic-1")] == ["erase_tenant"]
    finally:
        mem.close()


def test_bad_ids_are_refused_before_anything_is_written(
    memory: TieredMemory, postgres_url: str, schema: str
) -> None:
    memory.session("t", "u", "s").add_message(role="user", content="keep me")
    for bad in ("", "a\x00b", 7, "x" * 10_000):
        with pytest.raises(InvalidIdError):
            memory.erase_user("t", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidIdError):
            memory.erase_tenant(bad)  # type: ignore[arg-type]
    assert memory.audit_log("t") == []
    assert [m.text for m in memory.session("t", "u", "s").messages()] == ["keep me"]


def test_erasure_with_the_hot_tier_down_erases_postgres_and_says_it_is_unproven(
    postgres_url: str, schema: str, private_redis: Any
) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, redis_url=private_redis.url, redis_prefix="p"
    )
    try:
        s = mem.session("t", "u", "s")
        s.add_message(role="user", content="secret")
        private_redis.kill()
        report = mem.erase_user("t", "u")
        assert not report.verified and report.residue == {"hot_tier_unreachable": 1}
        assert _rows_left(postgres_url, schema, "t", "u") == {}
        (entry,) = mem.audit_log("t")
        assert entry.status == "failed" and entry.details["residue"] == {"hot_tier_unreachable": 1}
        private_redis.start()
        # once Redis is back, a second erasure finishes the job and proves it
        again = mem.erase_user("t", "u")
        assert again.verified and mem.verify_erased("t", "u") == {}
    finally:
        mem.close()
