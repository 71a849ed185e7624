"""Pure tests of the context composer: order, budget, priorities, tool groups, determinism."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from langmem_tiered import InvalidInputError, Message, ToolCall
from langmem_tiered.context import (
    BLOCK_ORDER,
    BlockProvider,
    ContextBlock,
    ContextBundle,
    ContextRequest,
    compose,
    message_tokens,
    tool_call_groups,
)
from langmem_tiered.context.bundle import TrimUnit, split_units
from langmem_tiered.tokens import EstimatingTokenizer

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def words(text: str) -> int:
    """A simple additive tokenizer: one token per whitespace-separated word."""
    return len(text.split())


estimate = EstimatingTokenizer().count
COUNTERS: list[Callable[[str], int]] = [words, estimate, len]


def msg(role: str, content: object = "", **kw: object) -> Message:
    """A message whose id derives from its fields, so equal calls give equal messages."""
    fields = {"role": role, "content": content, **kw}
    digest = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]
    return Message.model_validate(
        {"id": digest, "created_at": datetime(2025, 1, 1, tzinfo=timezone.utc), **fields}
    )


def tool_turn(call_ids: list[str], result: str = "ok") -> list[Message]:
    calls = [ToolCall(id=i, name="lookup", args={"q": i}) for i in call_ids]
    return [msg("assistant", tool_calls=calls)] + [
        msg("tool", f"{result} {i}", tool_call_id=i) for i in call_ids
    ]


def conversation() -> list[Message]:
    return [
        msg("user", "Hi, I want to book an appointment."),
        msg("assistant", "Sure. Which doctor would you like?"),
        *tool_turn(["c1", "c2"], "Dr. Gustavo is free"),
        msg("assistant", "Dr. Gustavo is free on Monday at 3 pm."),
        msg("user", "Great, book it please."),
    ]


def standard_blocks() -> list[ContextBlock]:
    return [
        ContextBlock(name="system", text="You are the booking assistant of Clinic One."),
        ContextBlock(name="state", text="current_state: selecting_time\ndoctor: Dr. Gustavo"),
        ContextBlock(name="facts", text="- name: Ana Souza\n- email: ana@example.com"),
        ContextBlock(name="handover", text="Operator Bia confirmed the insurance card."),
        ContextBlock(
            name="summary",
            text="Ana asked for a dentist. She prefers afternoons. She lives in Recife.",
            metadata={"summary_upto_seq": 40},
        ),
        ContextBlock(
            name="recalled",
            text="[seq 3] Ana is allergic to penicillin.\n\n[seq 9] Ana paid by card.",
            metadata={"provenance": [{"seq": 3}, {"seq": 9}]},
        ),
        ContextBlock(name="recent", messages=conversation()),
        ContextBlock(name="input", text="Can I also bring my son?"),
    ]


# --------------------------------------------------------------------------- order


def test_order_is_fixed_whatever_the_input_order() -> None:
    blocks = standard_blocks()
    expected = None
    rng = random.Random(7)
    for _ in range(30):
        shuffled = blocks[:]
        rng.shuffle(shuffled)
        bundle = compose(shuffled, budget_tokens=10_000, count=words, full_history_tokens=0)
        assert bundle.names == BLOCK_ORDER
        dump = bundle.model_dump_json()
        if expected is None:
            expected = dump
        assert dump == expected


def test_custom_blocks_sort_by_order() -> None:
    blocks = [
        ContextBlock(name="input", text="hello"),
        ContextBlock(name="persona", text="Friendly.", order=0.5),
        ContextBlock(name="z-last", text="Reminder.", order=9),
        ContextBlock(name="system", text="Be brief."),
        ContextBlock(name="facts", text="- a: b"),
    ]
    bundle = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.names == ("system", "persona", "facts", "input", "z-last")
    system = bundle.to_messages()[0]
    assert system.text == "Be brief.\n\n## persona\nFriendly.\n\n## Known facts\n- a: b\n\n" + (
        "## z-last\nReminder."
    )


def test_block_validation() -> None:
    with pytest.raises(ValidationError):
        ContextBlock(name="facts")
    with pytest.raises(ValidationError):
        ContextBlock(name="facts", text="x", messages=[])
    with pytest.raises(ValidationError):
        ContextBlock(name="custom", text="x")  # custom blocks need an order
    with pytest.raises(ValidationError):
        ContextBlock(name="facts", text="x", order=2)  # standard blocks have a fixed place
    with pytest.raises(ValidationError):
        ContextBlock(name="custom", text="x", order=float("nan"))
    with pytest.raises(ValidationError):
        ContextBlock(name="facts", text="x", min_tokens=-1)


def test_defaults_come_from_the_name() -> None:
    for name, priority in [
        ("input", 100),
        ("recent", 90),
        ("system", 80),
        ("state", 70),
        ("facts", 60),
        ("handover", 55),
        ("summary", 50),
        ("recalled", 40),
    ]:
        assert ContextBlock(name=name, text="x").priority == priority
    assert ContextBlock(name="recent", messages=[]).trimmable_from == "start"
    assert ContextBlock(name="recalled", text="x").trimmable_from == "end"
    assert ContextBlock(name="recalled", text="x").trim_unit == "paragraph"
    assert ContextBlock(name="facts", text="x").trim_unit == "line"
    assert ContextBlock(name="summary", text="x").trim_unit == "sentence"
    assert ContextBlock(name="facts", text="x", priority=99).priority == 99
    assert ContextBlock(name="mine", text="x", order=1.5).priority == 50


def test_duplicate_names_and_bad_numbers_are_rejected() -> None:
    two = [ContextBlock(name="facts", text="a"), ContextBlock(name="facts", text="b")]
    with pytest.raises(InvalidInputError):
        compose(two, budget_tokens=100, count=words, full_history_tokens=0)
    for kwargs in [
        {"budget_tokens": 0, "full_history_tokens": 0},
        {"budget_tokens": 10, "full_history_tokens": -1},
        {"budget_tokens": True, "full_history_tokens": 0},
        {"budget_tokens": 10, "full_history_tokens": 0, "overhead_per_message": -1},
    ]:
        with pytest.raises(InvalidInputError):
            compose([], count=words, **kwargs)


# --------------------------------------------------------------------------- flattening


def test_to_messages_layout() -> None:
    bundle = compose(standard_blocks(), budget_tokens=10_000, count=words, full_history_tokens=0)
    out = bundle.to_messages()
    system, *middle, last = out
    assert system.role == "system"
    assert system.text == (
        "You are the booking assistant of Clinic One.\n\n"
        "## Session state\ncurrent_state: selecting_time\ndoctor: Dr. Gustavo\n\n"
        "## Known facts\n- name: Ana Souza\n- email: ana@example.com\n\n"
        "## Handover from a human operator\nOperator Bia confirmed the insurance card.\n\n"
        "## Summary of earlier conversation\n"
        "Ana asked for a dentist. She prefers afternoons. She lives in Recife.\n\n"
        "## Recalled from earlier\n"
        "[seq 3] Ana is allergic to penicillin.\n\n[seq 9] Ana paid by card."
    )
    assert system.metadata == {
        "context_blocks": ["system", "state", "facts", "handover", "summary", "recalled"]
    }
    assert middle == conversation()  # verbatim, ids and all
    assert last.role == "user" and last.text == "Can I also bring my son?"
    assert bundle.to_messages() == out  # deterministic, ids included
    assert bundle.count_tokens(words) == bundle.total_tokens
    assert bundle.total_tokens == sum(message_tokens(m, words, 3) for m in out)


def test_to_text() -> None:
    blocks = [
        ContextBlock(name="system", text="Be brief."),
        ContextBlock(name="recent", messages=conversation()[:4]),
        ContextBlock(name="input", text="next?"),
    ]
    bundle = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.to_text() == (
        "Be brief.\n\n"
        "## Recent conversation\n"
        "user: Hi, I want to book an appointment.\n"
        "assistant: Sure. Which doctor would you like?\n"
        'assistant -> lookup({"q":"c1"}) [c1]\n'
        'assistant -> lookup({"q":"c2"}) [c2]\n'
        "tool [c1]: Dr. Gustavo is free c1\n\n"
        "## Current input\n"
        "user: next?"
    )


def test_no_system_message_without_text_blocks() -> None:
    blocks = [ContextBlock(name="recent", messages=conversation())]
    bundle = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.to_messages() == conversation()
    assert not bundle.to_text().startswith("\n")


def test_input_as_messages_is_kept_verbatim() -> None:
    results = tool_turn(["c9"])[1:]  # a tool result as the input of an agent step
    blocks = [
        ContextBlock(name="recent", messages=[msg("user", "weather?"), *tool_turn(["c9"])[:1]]),
        ContextBlock(name="input", messages=results),
    ]
    bundle = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.to_messages()[-1] == results[0]


def test_empty_blocks_are_left_out() -> None:
    blocks = [
        ContextBlock(name="facts", text="  \n"),
        ContextBlock(name="recent", messages=[]),
        ContextBlock(name="input", text="hi"),
    ]
    bundle = compose(blocks, budget_tokens=100, count=words, full_history_tokens=0)
    assert bundle.names == ("input",)
    assert bundle.dropped == []


def test_message_tokens_match_the_tokens_module() -> None:
    """Compose counts messages exactly as ``langmem_tiered.tokens.message_tokens`` does."""
    from langmem_tiered import tokens

    tokenizer = EstimatingTokenizer()
    samples = [
        *conversation(),
        msg("user", "olá, ação", name="ana"),
        msg("assistant", "", tool_calls=[ToolCall(id="1", name="f", args={"q": "çé", "n": 1.5})]),
        msg("user", [{"type": "text", "text": "a"}, {"type": "image_url", "url": "x"}]),
    ]
    for message in samples:
        expected = tokens.message_tokens(tokenizer, message)
        assert message_tokens(message, tokenizer.count, tokens.TOKENS_PER_MESSAGE) == expected


# --------------------------------------------------------------------------- JSON


def test_json_round_trip_is_lossless() -> None:
    recent = [
        *conversation(),
        msg(
            "user",
            [{"type": "text", "text": "see image"}, {"type": "image_url", "url": "x"}],
            name="ana",
            metadata={"channel": "whatsapp", "score": 0.1, "n": 2**70},
            seq=12,
            token_count=5,
        ),
    ]
    blocks = [*standard_blocks()[:-2], ContextBlock(name="recent", messages=recent)]
    blocks.append(ContextBlock(name="extra", text="é 日本 ✓", order=5.5, metadata={"k": [1, None]}))
    bundle = compose(blocks, budget_tokens=10_000, count=estimate, full_history_tokens=123_456)
    for data in (bundle.model_dump_json(), bundle.to_json()):
        back = ContextBundle.model_validate_json(data)
        assert back == bundle
        assert back.model_dump_json() == bundle.model_dump_json()
        assert back.to_messages() == bundle.to_messages()
    assert ContextBundle.model_validate(json.loads(bundle.model_dump_json())) == bundle
    assert ContextBundle.from_json(bundle.to_json()) == bundle
    assert ContextBundle.model_validate(bundle.to_dict()) == bundle


def test_bundle_checks_its_invariants() -> None:
    with pytest.raises(ValidationError):
        ContextBundle(
            blocks=[ContextBlock(name="input", text="x"), ContextBlock(name="system", text="y")],
            budget_tokens=10,
            total_tokens=5,
            full_history_tokens=0,
        )
    with pytest.raises(ValidationError):
        ContextBundle(budget_tokens=10, total_tokens=5, full_history_tokens=9, tokens_saved=1)
    assert ContextBundle(budget_tokens=10, total_tokens=5, full_history_tokens=9).tokens_saved == 4


# --------------------------------------------------------------------------- budget


@pytest.mark.parametrize("full,expected", [(1000, None), (0, 0), (1, 0)])
def test_tokens_saved(full: int, expected: int | None) -> None:
    bundle = compose(standard_blocks(), budget_tokens=10_000, count=words, full_history_tokens=full)
    want = full - bundle.total_tokens if expected is None else expected
    assert bundle.tokens_saved == want == max(0, full - bundle.total_tokens)
    assert bundle.full_history_tokens == full


def test_input_too_large_raises() -> None:
    blocks = [ContextBlock(name="input", text="one two three four five")]
    with pytest.raises(InvalidInputError, match="input alone"):
        compose(blocks, budget_tokens=8, count=words, full_history_tokens=0)  # 5 + role + 3
    bundle = compose(blocks, budget_tokens=9, count=words, full_history_tokens=0)
    assert bundle.total_tokens == 9


def test_input_is_never_trimmed_and_recent_goes_last() -> None:
    blocks = standard_blocks()
    full = compose(blocks, budget_tokens=10_000, count=words, full_history_tokens=0)
    recent_tokens = full.block("recent").tokens  # type: ignore[union-attr]
    input_tokens = words("Can I also bring my son?") + 1 + 3
    bundle = compose(
        blocks, budget_tokens=recent_tokens + input_tokens, count=words, full_history_tokens=0
    )
    assert bundle.names == ("recent", "input")
    assert bundle.block("recent") == full.block("recent")
    assert [line.split(":")[0] for line in bundle.dropped] == [
        "recalled",
        "summary",
        "handover",
        "facts",
        "state",
        "system",
    ]
    tighter = compose(
        blocks, budget_tokens=recent_tokens + input_tokens - 1, count=words, full_history_tokens=0
    )
    assert tighter.names == ("recent", "input")
    assert tighter.block("input") == full.block("input")
    recent = tighter.block("recent")
    assert recent is not None and recent.messages is not None
    kept = recent.messages
    assert kept == conversation()[-len(kept) :]  # oldest messages went first
    assert len(kept) < len(conversation())


def test_lowest_priority_trimmed_first_at_sentence_boundaries() -> None:
    summary = "First point here. Second point here. Third point here. Fourth point here."
    blocks = [
        ContextBlock(name="summary", text=summary),  # 50, trims from the start
        ContextBlock(name="recalled", text="Alpha one.\n\nBeta two.\n\nGamma three."),  # 40
        ContextBlock(name="input", text="go"),
    ]
    full = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    # Drop two recalled paragraphs worth of tokens: only recalled changes.
    bundle = compose(
        blocks, budget_tokens=full.total_tokens - 4, count=words, full_history_tokens=0
    )
    assert bundle.block("recalled").text == "Alpha one."  # type: ignore[union-attr]
    assert bundle.block("summary") == full.block("summary")
    assert bundle.dropped == [
        "recalled: trimmed 2 of 3 paragraphs from the end (6 -> 2 tokens) "
        f"(priority 40) to fit the budget of {full.total_tokens - 4} tokens"
    ]
    # Tighter: recalled goes, then the summary loses its oldest sentences.
    budget = full.total_tokens - 6 - 4 - 5  # recalled (6) + its header (4), then more
    bundle = compose(blocks, budget_tokens=budget, count=words, full_history_tokens=0)
    assert bundle.block("recalled") is None
    text = bundle.block("summary").text  # type: ignore[union-attr]
    assert text == "Third point here. Fourth point here."
    assert bundle.total_tokens <= budget


def test_min_tokens_is_honoured_while_possible() -> None:
    facts = "\n".join(f"- fact{i}: value {i}" for i in range(10))  # 4 words a line
    blocks = [
        ContextBlock(name="recalled", text="a b c d e f g h", min_tokens=8),
        ContextBlock(name="facts", text=facts, min_tokens=12),
        ContextBlock(name="input", text="hello"),
    ]
    full = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    # recalled cannot shrink (one unit at its minimum), so facts shrink to fit.
    bundle = compose(
        blocks, budget_tokens=full.total_tokens - 8, count=words, full_history_tokens=0
    )
    assert bundle.block("recalled") == full.block("recalled")
    assert bundle.block("facts").text == "\n".join(facts.split("\n")[:8])  # type: ignore[union-attr]
    # When the minimums cannot all be met, blocks go below them, lowest priority first.
    bundle = compose(blocks, budget_tokens=30, count=words, full_history_tokens=0)
    assert bundle.block("recalled") is None
    assert bundle.total_tokens <= 30
    assert any("recalled: dropped" in note for note in bundle.dropped)


def test_text_units() -> None:
    text = "Dr. Ana met Bob at 3.5 pm! Why? Because.\nNext line\n\nNew paragraph. 会议。结束"
    units: list[TrimUnit] = ["sentence", "line", "paragraph"]
    for unit in units:
        assert "".join(split_units(text, unit)) == text
    assert split_units(text, "paragraph") == [
        "Dr. Ana met Bob at 3.5 pm! Why? Because.\nNext line\n\n",
        "New paragraph. 会议。结束",
    ]
    assert split_units(text, "line")[0] == "Dr. Ana met Bob at 3.5 pm! Why? Because.\n"
    assert "at 3.5 pm! " in split_units(text, "sentence")[1]


def test_leading_orphan_tool_messages_are_dropped() -> None:
    recent = [msg("tool", "late result", tool_call_id="gone"), *conversation()]
    blocks = [ContextBlock(name="recent", messages=recent)]
    bundle = compose(blocks, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.block("recent").messages == conversation()  # type: ignore[union-attr]
    assert bundle.dropped == [
        "recent: dropped 1 leading tool message(s) whose tool call is not in the block"
    ]
    only_orphans = [ContextBlock(name="recent", messages=recent[:1])]
    bundle = compose(only_orphans, budget_tokens=1000, count=words, full_history_tokens=0)
    assert bundle.blocks == []


def test_tool_call_groups() -> None:
    messages = [msg("tool", "x", tool_call_id="a"), *conversation()]
    orphans, groups = tool_call_groups(messages)
    assert orphans == 1
    assert [len(g) for g in groups] == [1, 1, 3, 1, 1]
    assert [m for g in groups for m in g] == conversation()


def test_provider_protocol() -> None:
    class Facts:
        name = "facts"

        async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
            return self.provide(request)

        def provide(self, request: ContextRequest) -> ContextBlock | None:
            return ContextBlock(name="facts", text=f"- user: {request.user}")

    provider = Facts()
    assert isinstance(provider, BlockProvider)
    assert not isinstance(object(), BlockProvider)
    request = ContextRequest("t", "u", "s", query=None, budget_tokens=100, memory=object())
    assert request == ContextRequest("t", "u", "s", query=None, budget_tokens=100)
    with pytest.raises(AttributeError):
        request.query = "x"  # type: ignore[misc]
    block = provider.provide(request)
    assert block is not None
    bundle = compose([block], budget_tokens=100, count=words, full_history_tokens=0)
    assert bundle.to_messages()[0].text == "## Known facts\n- user: u"


# --------------------------------------------------------------------------- properties

WORDS = ["a", "bb", "ccc", "Ana", "Dr.", "3.5", "pm", "ok", "sim", "日本", "é"]
ENDS = ["", ".", "!", "?", "\n", ".\n\n", ". "]


@st.composite
def texts(draw: st.DrawFn, max_sentences: int = 6) -> str:
    parts = []
    for _ in range(draw(st.integers(0, max_sentences))):
        sentence = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)))
        parts.append(sentence + draw(st.sampled_from(ENDS)))
        parts.append(draw(st.sampled_from(["", " "])))
    return "".join(parts)


@st.composite
def histories(draw: st.DrawFn) -> list[Message]:
    """Messages in well-formed tool-call groups, possibly after leading orphan tool results."""
    out: list[Message] = []
    ids = itertools.count()
    for _ in range(draw(st.integers(0, 2))):
        out.append(msg("tool", draw(texts(2)), tool_call_id=f"orphan{next(ids)}"))
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["user", "assistant", "tools"]))
        if kind == "tools":
            calls = [f"call{next(ids)}" for _ in range(draw(st.integers(1, 3)))]
            out.append(
                msg(
                    "assistant",
                    draw(texts(1)),
                    tool_calls=[ToolCall(id=c, name="f", args={"x": c}) for c in calls],
                )
            )
            out.extend(msg("tool", draw(texts(2)), tool_call_id=c) for c in calls)
        else:
            out.append(msg(kind, draw(texts(3))))
    return out


@st.composite
def block_sets(draw: st.DrawFn) -> tuple[list[ContextBlock], bool]:
    """Random blocks in random order; returns also whether every min_tokens is 0."""
    blocks: list[ContextBlock] = []
    any_min = False
    for name in sorted(draw(st.sets(st.sampled_from(BLOCK_ORDER[:-2])))):
        fields: dict[str, object] = {"name": name, "text": draw(texts())}
        fields["min_tokens"] = draw(st.sampled_from([0, 0, 0, 5, 20]))
        any_min |= fields["min_tokens"] != 0
        priority = draw(st.sampled_from([None, 10, 45, 85]))  # None: the name's default
        if priority is not None:
            fields["priority"] = priority
        side = draw(st.sampled_from([None, "start", "end"]))
        if side is not None:
            fields["trimmable_from"] = side
        blocks.append(ContextBlock.model_validate(fields))
    if draw(st.booleans()):
        blocks.append(ContextBlock(name="recent", messages=draw(histories())))
    if draw(st.booleans()):
        blocks.append(ContextBlock(name="input", text=draw(texts(2))))
    if draw(st.booleans()):
        blocks.append(ContextBlock(name="custom", text=draw(texts()), order=draw(st.floats(-1, 9))))
    return draw(st.permutations(blocks)), not any_min


def _compose_or_input_error(
    blocks: list[ContextBlock], budget: int, count: Callable[[str], int]
) -> ContextBundle | None:
    try:
        return compose(blocks, budget_tokens=budget, count=count, full_history_tokens=500)
    except InvalidInputError:
        (block,) = [b for b in blocks if b.name == "input"]
        assert block.text is not None
        assert count(block.text) + count("user") + 3 > budget
        return None


@PROPERTY
@given(block_sets(), st.integers(1, 400), st.sampled_from(COUNTERS))
def test_property_budget_order_and_determinism(
    case: tuple[list[ContextBlock], bool], budget: int, count: Callable[[str], int]
) -> None:
    blocks, _ = case
    bundle = _compose_or_input_error(blocks, budget, count)
    if bundle is None:
        return
    assert bundle.total_tokens <= budget
    assert bundle.count_tokens(count) == bundle.total_tokens
    assert bundle.tokens_saved == max(0, 500 - bundle.total_tokens)
    keys = [b.sort_key for b in bundle.blocks]
    assert keys == sorted(keys)
    again = compose(blocks[::-1], budget_tokens=budget, count=count, full_history_tokens=500)
    assert again.model_dump_json() == bundle.model_dump_json()
    assert ContextBundle.model_validate_json(bundle.model_dump_json()) == bundle
    given_input = [b for b in blocks if b.name == "input" and not b.is_empty]
    if given_input:
        assert bundle.block("input") is not None
        assert bundle.block("input").text == given_input[0].text  # type: ignore[union-attr]


@PROPERTY
@given(block_sets(), st.integers(1, 400), st.sampled_from(COUNTERS))
def test_property_priorities(
    case: tuple[list[ContextBlock], bool], budget: int, count: Callable[[str], int]
) -> None:
    """With no min_tokens, a block is only cut once every lower-priority block is gone."""
    blocks, no_minimums = case
    bundle = _compose_or_input_error(blocks, budget, count)
    if bundle is None or not no_minimums:
        return
    full = compose(blocks, budget_tokens=10**9, count=count, full_history_tokens=0)
    changed = [b for b in full.blocks if bundle.block(b.name) != b]
    for cut in changed:
        for other in full.blocks:
            if (other.priority, other.sort_key) < (cut.priority, cut.sort_key):
                assert bundle.block(other.name) is None, (cut.name, other.name)
    for block in bundle.blocks:
        original = full.block(block.name)
        assert original is not None
        if block.text is not None and original.text is not None and block != original:
            body = original.text.strip()
            if block.trimmable_from == "end":
                assert body.startswith(block.text)
            else:
                assert body.endswith(block.text)


@PROPERTY
@given(histories(), st.integers(1, 300), st.sampled_from(COUNTERS), st.booleans())
def test_property_tool_groups_never_split(
    history: list[Message], budget: int, count: Callable[[str], int], with_input: bool
) -> None:
    blocks = [ContextBlock(name="recent", messages=history)]
    if with_input:
        blocks.append(ContextBlock(name="input", text="next"))
    if with_input and count("next") + count("user") + 3 > budget:
        with pytest.raises(InvalidInputError):
            compose(blocks, budget_tokens=budget, count=count, full_history_tokens=0)
        return
    bundle = compose(blocks, budget_tokens=budget, count=count, full_history_tokens=0)
    assert bundle.total_tokens <= budget
    recent = bundle.block("recent")
    kept = recent.messages if recent is not None else []
    assert kept is not None
    if not kept:
        return
    assert kept[0].role != "tool"
    assert kept == history[len(history) - len(kept) :]  # a suffix: oldest messages went first
    answered: set[str] = set()
    pending: set[str] = set()
    for message in kept:
        if message.role == "tool":
            assert message.tool_call_id in pending
            answered.add(message.tool_call_id or "")
        else:
            assert pending <= answered, "a tool call lost its results"
            pending = {c.id or "" for c in message.tool_calls}
            answered = set()
    assert pending <= answered


def test_recent_is_cut_by_tool_call_id_groups() -> None:
    from datetime import datetime, timezone

    from langmem_tiered.models import ToolCall

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    msgs = [
        Message(
            role="assistant",
            content="",
            seq=2,
            created_at=now,
            tool_calls=[ToolCall(id="c1", name="f", args={})],
            token_count=5,
        ),
        Message(role="user", content="meanwhile", seq=3, created_at=now, token_count=5),
        Message(
            role="tool", content="result", seq=4, tool_call_id="c1", created_at=now, token_count=5
        ),
        Message(role="assistant", content="done", seq=5, created_at=now, token_count=5),
    ]
    for budget in range(10, 80, 3):
        try:
            bundle = compose(
                [ContextBlock(name="recent", messages=msgs, tokens=20)],
                budget_tokens=budget,
                count=lambda t: len(t.split()),
                full_history_tokens=20,
            )
        except Exception:
            continue
        block = bundle.block("recent")
        kept = [m.seq for m in block.messages] if block is not None and block.messages else []
        assert (4 in kept) <= (2 in kept), f"tool result without its call at budget {budget}"
