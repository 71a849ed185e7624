"""Row-level-security mode: Postgres itself keeps tenants apart, even for a statement that
forgets its tenant predicate."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors
import pytest

from langmem_tiered import AsyncTieredMemory, TieredMemory


def _rls(memory_options: dict[str, Any]) -> dict[str, Any]:
    return {**memory_options, "row_level_security": True}


def _fill(mem: TieredMemory) -> None:
    for tenant in ("t1", "t2"):
        s = mem.session(tenant, "ana", "s")
        s.add_message(
            role="user", content=f"Olá, sou cliente de {tenant}, meu e-mail é a@{tenant}.com"
        )
        s.add_message(role="assistant", content=f"Bem-vinda a {tenant}!")
        mem.user(tenant, "ana").remember("plan", f"gold-{tenant}")
        mem.user(tenant, "ana").put_memory("note", f"note of {tenant}")
        mem.content_cache(tenant, "llm").set("prompt", {"answer": tenant})
    assert mem.flush(timeout=60)


def test_every_table_has_a_policy_and_the_memory_works(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(**_rls(memory_options))
    try:
        _fill(mem)
        with psycopg.connect(postgres_url) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND column_name = 'tenant_id'",
                    [schema],
                )
            }
            covered = {
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relrowsecurity AND EXISTS (SELECT 1 FROM "
                    "pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'lmt_tenant_isolation')",
                    [schema],
                )
            }
        assert tables and tables == covered
        # everything the tenant does works under the policies
        s = mem.session("t1", "ana", "s")
        assert [m.text for m in s.messages()][1] == "Bem-vinda a t1!"
        assert "gold-t1" in s.context(query="plano", budget_tokens=2000).to_text()
        assert mem.user("t1", "ana").recall("note", kinds=("memory",))[0].text == "note of t1"
        assert mem.content_cache("t1", "llm").get("prompt") == {"answer": "t1"}
        assert [t.tenant for t in mem.list_tenants()] == ["t1", "t2"]  # maintenance: owner
        assert mem.erase_user("t2", "ana").verified
        assert len(mem.session("t1", "ana", "s").messages()) == 2
        assert mem.gc(dry_run=True).tenants == 0
    finally:
        mem.close()


def test_a_statement_that_forgets_the_tenant_is_blocked(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(**_rls(memory_options))
    try:
        _fill(mem)
        store = mem.store
        assert store is not None
        # no tenant predicate at all: only the scoped tenant's rows are visible
        with store.scoped("t1") as conn:
            rows = conn.execute("SELECT DISTINCT tenant_id FROM lmt_messages").fetchall()
            assert rows == [("t1",)]
            assert conn.execute("SELECT DISTINCT tenant_id FROM lmt_facts").fetchall() == [("t1",)]
            # updating or deleting everything touches the scope only
            cur = conn.execute("UPDATE lmt_sessions SET state = '{}'")
            assert cur.rowcount == 1
        # no tenant in scope: nothing at all
        with store.scoped(None) as conn:
            assert conn.execute("SELECT count(*) FROM lmt_messages").fetchone() == (0,)
            assert conn.execute("DELETE FROM lmt_recall_items").rowcount == 0
        # writing another tenant's row is refused by Postgres
        with pytest.raises(psycopg.errors.InsufficientPrivilege), store.scoped("t1") as conn:
            conn.execute(
                "INSERT INTO lmt_sessions (tenant_id, user_id, session_id) VALUES ('t2', 'x', 'y')"
            )
        # and the other tenant's data is intact
        assert len(mem.session("t2", "ana", "s").messages()) == 2
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {schema}.lmt_sessions").fetchone()
        assert row == (2,)
    finally:
        mem.close()


async def test_async_memory_in_rls_mode(memory_options: dict[str, Any]) -> None:
    mem = await AsyncTieredMemory.connect(**_rls(memory_options))
    try:
        for tenant in ("a", "b"):
            s = mem.session(tenant, "u", "s")
            await s.add_messages([{"role": "user", "content": f"hello from {tenant}"}])
            await mem.user(tenant, "u").remember("city", f"city-{tenant}")
        await mem.flush(timeout=30)
        assert [m.text for m in await mem.session("a", "u", "s").messages()] == ["hello from a"]
        assert (await mem.user("b", "u").fact("city")).value == "city-b"  # type: ignore[union-attr]
        hits = await mem.user("a", "u").recall("hello")
        assert hits and all("from a" in h.text for h in hits)
        store = mem.store
        assert store is not None
        async with store.scoped("a") as conn:
            cur = await conn.execute("SELECT count(*) FROM lmt_recall_items")
            mine = await cur.fetchone()
        async with store.scoped(None) as conn:
            cur = await conn.execute("SELECT count(*) FROM lmt_recall_items")
            assert await cur.fetchone() == (0,)
        assert mine is not None and mine[0] >= 1
    finally:
        await mem.close()
