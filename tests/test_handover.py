"""Handover to a human operator and back: recorded, summarized, injected when the AI resumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from langmem_tiered import (
    AsyncTieredMemory,
    ContextBlock,
    ContextBundle,
    HandoverError,
    InvalidIdError,
    InvalidInputError,
    Message,
    TieredMemory,
)


class _Recorder:
    """A real summarizer object (the protocol's shape) that records what it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        self.calls.append([f"{m.role}:{m.text}" for m in messages])
        return "Operator rebooked the cleaning to Friday 9h and promised a callback."

    async def asummarize(self, *args: Any, **kwargs: Any) -> str:
        return self.summarize(*args, **kwargs)


def _block(bundle: ContextBundle) -> ContextBlock:
    found = bundle.block("handover")
    assert found is not None
    return found


def test_round_trip_with_the_extractive_summarizer(memory: TieredMemory) -> None:
    s = memory.session("clinic-1", "ana", "chat-1")
    s.add_message(role="user", content="Quero remarcar minha limpeza")
    s.add_message(role="assistant", content="Vou chamar um atendente.")
    before = s.context(budget_tokens=2000)
    assert before.block("handover") is None

    opened = s.begin_handover("op-7")
    assert opened.open and opened.from_seq == 2 and opened.operator_id == "op-7"
    with pytest.raises(HandoverError):
        s.begin_handover("op-8")
    during = s.context(budget_tokens=2000)  # the cached context must not be served
    assert "op-7" in _block(during).text and "still has it" in during.to_text()

    s.add_message(role="operator", name="op-7", content="Oi Ana, remarquei para sexta às 9h.")
    s.add_message(role="user", content="Obrigada! Podem me ligar para confirmar?")
    s.add_message(role="operator", name="op-7", content="Sim, ligaremos amanhã.")
    closed = s.end_handover("pending")
    assert not closed.open and closed.upto_seq == 5 and closed.requires_followup
    assert closed.summarizer == "extractive" and "sexta" in (closed.summary or "")
    with pytest.raises(HandoverError):
        s.end_handover("resolved")

    s.add_message(role="user", content="Voltei, alguma novidade?")
    after = s.context(budget_tokens=2000)
    block = _block(after)
    assert "Resolution: pending. Follow-up required." in block.text
    assert "sexta" in block.text and block.metadata["requires_followup"] is True
    # the operator's turns are in the history with their role and name
    ops = [m for m in s.messages() if m.role == "operator"]
    assert [m.name for m in ops] == ["op-7", "op-7"]
    assert s.handover() == closed and s.handovers() == [closed]


def test_resolved_handover_needs_no_followup_and_uses_the_memory_summarizer(
    memory_options: dict[str, Any],
) -> None:
    recorder = _Recorder()
    mem = TieredMemory.connect(**memory_options, summarizer=recorder, summarize=True)
    try:
        s = mem.session("t", "u", "s")
        s.add_message(role="user", content="before the handover")
        s.begin_handover("op-1")
        s.add_message(role="operator", name="op-1", content="handled by a human")
        closed = s.end_handover("resolved")
        assert closed.requires_followup is False and closed.summarizer == "recorder"
        # the summarizer saw the handover's turns only
        assert recorder.calls[-1] == ["operator:handled by a human"]
        text = s.context(budget_tokens=2000).to_text()
        assert "Resolution: resolved." in text and "Follow-up" not in text
        assert "callback" in text
        # a second handover in the same session is a new row; the block shows the latest
        s.begin_handover("op-2")
        assert "op-2" in _block(s.context(budget_tokens=2000)).text
        assert [h.operator_id for h in s.handovers()] == ["op-2", "op-1"]
    finally:
        mem.close()


def test_bad_input_changes_nothing(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "s")
    with pytest.raises(HandoverError):
        s.end_handover("resolved")  # none open
    for bad in ("", "a\x00"):
        with pytest.raises(InvalidIdError):
            s.begin_handover(bad)
    assert s.handovers() == []
    s.begin_handover("op")
    for status in ("", "Resolved", "x" * 40, "two words", 3):
        with pytest.raises(InvalidInputError):
            s.end_handover(status)  # type: ignore[arg-type]
    assert s.handover() is not None and s.handover().open  # type: ignore[union-attr]


async def test_async_round_trip_and_erasure_removes_handovers(amemory: AsyncTieredMemory) -> None:
    s = amemory.session("t", "u", "s")
    await s.add_message(role="user", content="preciso de um humano")
    await s.begin_handover("op-9")
    await s.add_message(role="operator", name="op-9", content="Resolvi o seu pedido de reembolso.")
    closed = await s.end_handover("escalated")
    assert closed.requires_followup and "reembolso" in (closed.summary or "")
    bundle = await s.context(budget_tokens=2000)
    assert "Resolution: escalated. Follow-up required." in bundle.to_text()
    report = await amemory.erase_user("t", "u")
    assert report.deleted.get("lmt_handovers") == 1 and report.verified
    assert await s.handovers() == []
