"""PII redaction before storage, wired into the engine: what is written is already redacted,
in Postgres and in the hot tier, per tenant policy."""

from __future__ import annotations

from typing import Any

import psycopg

from langmem_tiered import AsyncTieredMemory, TieredMemory
from langmem_tiered.compliance import PolicySet, RedactionPolicy

TEXT = "Meu CPF é 529.982.247-25, e-mail ana@email.com, fone (11) 98765-4388"


def _stored(postgres_url: str, schema: str) -> list[Any]:
    with psycopg.connect(postgres_url) as conn:
        return [
            r[0]
            for r in conn.execute(
                f"SELECT content FROM {schema}.lmt_messages ORDER BY tenant_id, seq"
            ).fetchall()
        ]


def test_redacted_before_storage_per_tenant(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    policies = PolicySet(
        default=RedactionPolicy(where="storage"),
        tenants={"lab": RedactionPolicy(where="llm")},  # this tenant keeps text as written
    )
    with TieredMemory.connect(**memory_options, redaction=policies) as memory:
        s = memory.session("clinic", "ana", "c1")
        stored = s.add_message(role="user", content=TEXT)
        s.add_message(role="user", content=[{"type": "text", "text": "cpf 529.982.247-25"}])
        memory.session("lab", "ana", "c1").add_message(role="user", content=TEXT)
        for text in (stored.content, s.recent(5)[0].content, s.messages()[0].content):
            assert "529.982.247-25" not in text and "***.***.***-25" in text
            assert "ana@email.com" not in text and "***@email.com" in text
            assert "98765-4388" not in text
        assert s.messages()[1].content == [{"type": "text", "text": "cpf ***.***.***-25"}]
        assert memory.pii_counts["cpf"] == 2 and memory.pii_counts["email"] == 1
    rows = _stored(postgres_url, schema)
    assert rows.count(TEXT) == 1  # the "lab" tenant's message only
    assert all("529.982.247-25" not in str(r) for r in rows if r != TEXT)


def test_invalid_cpf_is_kept(memory_options: dict[str, Any]) -> None:
    with TieredMemory.connect(**memory_options, redaction=RedactionPolicy()) as memory:
        s = memory.session("t", "u", "s")
        assert s.add_message(role="user", content="pedido 111.222.333-44").content == (
            "pedido 111.222.333-44"
        )
        assert memory.pii_counts == {}


async def test_async_twin(memory_options: dict[str, Any]) -> None:
    memory = await AsyncTieredMemory.connect(**memory_options, redaction=RedactionPolicy())
    try:
        s = memory.session("t", "u", "s")
        await s.add_message(role="user", content=TEXT)
        assert "529.982.247-25" not in (await s.messages())[0].content
    finally:
        await memory.close()
