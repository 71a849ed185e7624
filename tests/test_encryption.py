"""Encryption at rest: sealed message content, summaries, handover summaries and fact values;
the recall index built from redacted text; originals kept encrypted; key rotation."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from langmem_tiered import (
    AsyncTieredMemory,
    ConfigurationError,
    TieredMemory,
)
from langmem_tiered.compliance import FieldCipher, RedactionPolicy
from langmem_tiered.errors import DecryptionError, EncryptionKeyError

SECRET = "Ana Souza, e-mail ana.souza@example.com, CPF 529.982.247-25"


def _options(memory_options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        **memory_options,
        "buffer_tokens": 30,
        "min_fold_tokens": 10,
        "summary_tokens": 64,
        **extra,
    }


def _dump(postgres_url: str, schema: str) -> str:
    """Every text the package's tables hold, as the database sees it."""
    queries = [
        "SELECT content::text FROM {s}.lmt_messages",
        "SELECT text FROM {s}.lmt_summaries",
        "SELECT coalesce(summary, '') FROM {s}.lmt_handovers",
        "SELECT value::text || coalesce(value_enc, '') FROM {s}.lmt_facts",
        "SELECT text FROM {s}.lmt_recall_items WHERE kind <> 'memory'",
        "SELECT tsv::text FROM {s}.lmt_recall_items WHERE kind <> 'memory'",
    ]
    out = []
    with psycopg.connect(postgres_url) as conn:
        for q in queries:
            out += [str(r[0]) for r in conn.execute(q.format(s=schema))]
    return "\n".join(out)


def _converse(mem: TieredMemory) -> None:
    mem.user("t", "ana").remember("name", "Ana Souza")  # known names are redacted too
    s = mem.session("t", "ana", "s")
    s.add_message(role="user", content=f"Olá, sou {SECRET}. Quero marcar limpeza dental")
    s.add_message(role="assistant", content="Claro, Ana Souza! Terça às 10h serve?")
    s.add_message(role="user", content="Sim, terça às 10h. Meu e-mail é ana.souza@example.com")
    s.add_message(role="assistant", content="Marcado para terça às 10h.")
    mem.user("t", "ana").remember("email", "ana.souza@example.com")
    s.begin_handover("op-1")
    s.add_message(role="operator", name="op-1", content="Ana Souza pediu recibo no e-mail")
    s.end_handover("resolved")
    assert mem.flush(timeout=60)


def test_nothing_personal_is_stored_in_plaintext_and_reads_are_transparent(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    key = FieldCipher.generate_key()
    mem = TieredMemory.connect(**_options(memory_options, encryption=[key]))
    try:
        _converse(mem)
        stored = _dump(postgres_url, schema)
        for secret in ("ana.souza@example.com", "529.982.247-25", "Souza", "souza"):
            assert secret not in stored, secret
        assert "lmt1:" in stored
        s = mem.session("t", "ana", "s")
        assert s.messages()[0].text.startswith(f"Olá, sou {SECRET}")
        assert [m.text for m in s.recent(2)][-1] == "Ana Souza pediu recibo no e-mail"
        assert mem.user("t", "ana").fact("email").value == "ana.souza@example.com"  # type: ignore[union-attr]
        assert s.summaries() and s.handover().summary  # type: ignore[union-attr]
        assert "ana.souza@example.com" in s.context(budget_tokens=3000).to_text()
        # the trade-off: the index is built from redacted text (checked in the dump above), so
        # words still match; hits are shown to this (keyed) reader from the opened messages
        hits = mem.user("t", "ana").recall("limpeza dental terça", kinds=("message",))
        assert hits and any("ana.souza@example.com" in h.text for h in hits)
        # the same value remembered again is one current fact (keyed digests compare equal)
        mem.user("t", "ana").remember("email", "ana.souza@example.com")
        assert len([f for f in mem.user("t", "ana").facts() if f.key == "email"]) == 1
    finally:
        mem.close()

    # without keys, or with another key, an encrypted store says so clearly
    plain = TieredMemory.connect(**memory_options)
    try:
        with pytest.raises(EncryptionKeyError):
            plain.session("t", "ana", "s").messages()
    finally:
        plain.close()
    other = TieredMemory.connect(**memory_options, encryption=[FieldCipher.generate_key()])
    try:
        with pytest.raises(DecryptionError):
            other.session("t", "ana", "s").messages()
    finally:
        other.close()


def test_originals_are_kept_encrypted_when_the_policy_says_so(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    policy = RedactionPolicy(where="storage", keep_original=True)
    with pytest.raises(ConfigurationError):
        TieredMemory(**memory_options, redaction=policy)  # originals need keys
    mem = TieredMemory.connect(
        **memory_options, redaction=policy, encryption=[FieldCipher.generate_key()]
    )
    try:
        s = mem.session("t", "u", "s")
        s.add_message(role="user", content=f"Sou {SECRET}")
        s.add_message(role="user", content="nada pessoal aqui")
        shown = [m.text for m in s.messages()]
        assert "529.982.247-25" not in shown[0] and "***.***.***-25" in shown[0]
        originals = [m.text for m in s.messages(original=True)]
        assert originals == [f"Sou {SECRET}", "nada pessoal aqui"]
        assert "529.982.247-25" not in _dump(postgres_url, schema)
    finally:
        mem.close()


def test_rotate_keys_then_drop_the_old_key(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    old, new = FieldCipher.generate_key(), FieldCipher.generate_key()
    mem = TieredMemory.connect(**_options(memory_options, encryption=[old]))
    try:
        _converse(mem)
        for n in range(3):  # more than one page of messages
            mem.session("t", f"u{n}", "s").add_message(role="user", content=f"msg {n} {SECRET}")
        before = [m.text for m in mem.session("t", "ana", "s").messages()]
        facts_before = {f.key: f.value for f in mem.user("t", "ana").facts()}
    finally:
        mem.close()

    both = TieredMemory.connect(**_options(memory_options, encryption=[new, old]))
    try:
        seen: list[tuple[str, int, int]] = []
        rewritten = both.rotate_keys(batch=2, progress=lambda *a: seen.append(a))
        assert rewritten["lmt_messages"] == 8 and rewritten["lmt_facts"] >= 1
        assert rewritten["lmt_summaries"] >= 1 and rewritten["lmt_handovers"] == 1
        assert ("lmt_messages", 8, 8) in seen
        assert both.rotate_keys() == dict.fromkeys(rewritten, 0)  # idempotent
        (entry,) = both.audit_log(None, action="rotate_keys")[:1]
        assert entry.status == "done" and entry.details["rewritten"]["lmt_messages"] == 0
    finally:
        both.close()

    only_new = TieredMemory.connect(**memory_options, encryption=[new])
    try:
        assert [m.text for m in only_new.session("t", "ana", "s").messages()] == before
        assert {f.key: f.value for f in only_new.user("t", "ana").facts()} == facts_before
        assert only_new.session("t", "ana", "s").handover().summary  # type: ignore[union-attr]
        # a new value equal to the stored one is still recognised after the rotation
        only_new.user("t", "ana").remember("email", "ana.souza@example.com")
        emails = [f for f in only_new.user("t", "ana").facts() if f.key == "email"]
        assert len(emails) == 1
    finally:
        only_new.close()
    only_old = TieredMemory.connect(**memory_options, encryption=[old])
    try:
        with pytest.raises(DecryptionError):
            only_old.session("t", "ana", "s").messages()
    finally:
        only_old.close()


def test_switching_encryption_on_seals_a_plaintext_store(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    plain = TieredMemory.connect(**_options(memory_options))
    try:
        _converse(plain)
        assert "ana.souza@example.com" in _dump(postgres_url, schema)
    finally:
        plain.close()
    mem = TieredMemory.connect(**_options(memory_options, encryption=[FieldCipher.generate_key()]))
    try:
        # mixed: plaintext rows are read as they are
        assert mem.session("t", "ana", "s").messages()[0].text.startswith("Olá")
        mem.rotate_keys(encrypt_plaintext=True)
        assert mem.flush(timeout=60)
        stored = _dump(postgres_url, schema)
        assert "ana.souza@example.com" not in stored and "529.982.247-25" not in stored
        assert mem.session("t", "ana", "s").messages()[0].text.startswith(f"Olá, sou {SECRET}")
        assert mem.user("t", "ana").recall("limpeza dental", kinds=("message",))
    finally:
        mem.close()


async def test_async_encrypted_round_trip(
    memory_options: dict[str, Any], postgres_url: str, schema: str
) -> None:
    mem = await AsyncTieredMemory.connect(**memory_options, encryption=[FieldCipher.generate_key()])
    try:
        s = mem.session("t", "u", "s")
        await s.add_messages([{"role": "user", "content": SECRET}])
        assert [m.text for m in await s.messages()] == [SECRET]
        assert "529.982.247-25" not in _dump(postgres_url, schema)
        with pytest.raises(ConfigurationError):
            await (await AsyncTieredMemory.connect(**memory_options)).rotate_keys()
    finally:
        await mem.close()


def test_bad_keys(memory_options: dict[str, Any]) -> None:
    with pytest.raises(EncryptionKeyError):
        TieredMemory(**memory_options, encryption=["not a key"])
    with pytest.raises(ConfigurationError):
        TieredMemory(**memory_options, encryption="one-string")  # type: ignore[arg-type]
