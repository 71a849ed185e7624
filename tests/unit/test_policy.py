"""Fold policy: whole tool-call groups, newest buffer kept verbatim (property tests)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from langmem_tiered.compression.policy import group_messages, plan_fold
from langmem_tiered.models import Message, ToolCall


def _msg(seq: int, role: str, tokens: int, **kw: object) -> Message:
    return Message(role=role, content=f"m{seq}", seq=seq, token_count=tokens, **kw)  # type: ignore[arg-type]


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    out: list[Message] = []
    seq = 0
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["user", "assistant", "tools", "orphan"]))
        seq += 1
        tokens = draw(st.integers(0, 60))
        if kind == "tools":
            n = draw(st.integers(1, 3))
            ids = [f"c{seq}-{i}" for i in range(n)]
            calls = [ToolCall(id=i, name="f") for i in ids]
            out.append(_msg(seq, "assistant", tokens, tool_calls=calls))
            for call_id in ids:
                if draw(st.booleans()) and draw(st.booleans()):
                    seq += 1
                    out.append(_msg(seq, "user", 5))  # interleaved message
                seq += 1
                out.append(_msg(seq, "tool", draw(st.integers(0, 60)), tool_call_id=call_id))
        elif kind == "orphan":
            out.append(_msg(seq, "tool", tokens, tool_call_id="nowhere"))
        else:
            out.append(_msg(seq, kind, tokens))
    return out


def _call_positions(messages: list[Message]) -> dict[str, int]:
    return {c.id: i for i, m in enumerate(messages) for c in m.tool_calls if c.id}


@settings(max_examples=300, deadline=None)
@given(conversations(), st.integers(0, 400), st.integers(0, 200))
def test_plan_never_splits_tool_groups(messages: list[Message], buffer: int, min_fold: int) -> None:
    plan = plan_fold(messages, buffer_tokens=buffer, min_fold_tokens=min_fold)
    assert plan.fold + plan.keep == messages  # nothing lost, order kept
    folded = {m.seq for m in plan.fold}
    calls = _call_positions(messages)
    for m in messages:
        if m.role == "tool" and m.tool_call_id in calls:
            caller = messages[calls[m.tool_call_id]]
            assert (caller.seq in folded) == (m.seq in folded), "tool call separated from result"
    if plan.fold and plan.keep:
        assert plan.keep[0].role != "tool", "verbatim window starts with a tool message"
        assert plan.upto_seq == plan.fold[-1].seq
    if plan.fold:
        assert sum(m.token_count or 0 for m in plan.fold) >= max(min_fold, 1)
        assert plan.keep, "the newest group always stays verbatim"
        # the kept part fits the buffer unless it is a single group
        groups = group_messages(plan.keep)
        if len(groups) > 1:
            assert sum(m.token_count or 0 for m in plan.keep) <= buffer


def test_simple_fold() -> None:
    msgs = [_msg(i, "user" if i % 2 else "assistant", 10) for i in range(1, 11)]
    plan = plan_fold(msgs, buffer_tokens=35, min_fold_tokens=20)
    assert [m.seq for m in plan.keep] == [8, 9, 10]
    assert plan.upto_seq == 7
    assert plan_fold(msgs, buffer_tokens=95, min_fold_tokens=20).fold == []  # only 10 to fold


def test_tool_group_moves_as_a_whole() -> None:
    msgs = [
        _msg(1, "user", 10),
        _msg(2, "assistant", 10, tool_calls=[ToolCall(id="a", name="f")]),
        _msg(3, "tool", 10, tool_call_id="a"),
        _msg(4, "assistant", 10),
    ]
    plan = plan_fold(msgs, buffer_tokens=25)
    assert [m.seq for m in plan.keep] == [4]
    plan = plan_fold(msgs, buffer_tokens=30)
    assert [m.seq for m in plan.keep] == [2, 3, 4]
