"""Conversion LangChain <-> core Message, without any store."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langmem_tiered import InvalidMessageError, Message
from langmem_tiered.models import json_loads

from langchain_langmem_tiered import RESERVED_METADATA_KEY, from_core, to_core
from tests._messages import every_message


@pytest.mark.parametrize("original", every_message(), ids=lambda m: type(m).__name__)
def test_round_trip_in_memory_and_through_json(original):
    core = to_core(original)
    assert from_core(core) == original
    # what a hot tier stores, and what Postgres gives back, is this JSON
    again = Message.model_validate(json_loads(core.to_json()))
    restored = from_core(again)
    assert restored == original
    assert type(restored) is type(original)


def test_core_fields_carry_the_conversation():
    msgs = every_message()
    roles = [to_core(m).role for m in msgs]
    assert roles == [
        "system", "system", "user", "user", "user", "assistant", "tool", "tool",
        "assistant", "operator", "user", "tool", "assistant",
    ]  # fmt: skip
    ai = to_core(msgs[5])
    assert [c.name for c in ai.tool_calls] == ["slots", "price"]
    assert ai.tool_calls[0].args == {"doctor": "Dr. Gustavo", "day": 3}
    assert ai.id == "lc_run--abc-0"
    tool = to_core(msgs[6])
    assert tool.tool_call_id == "call_1" and tool.name == "slots"
    human = to_core(msgs[3])
    assert human.content[0] == {"type": "text", "text": "plain string part"}
    assert human.text.startswith("plain string part")
    # defaults are not copied into the reserved entry
    assert to_core(HumanMessage("x")).metadata[RESERVED_METADATA_KEY] == {
        "v": 1,
        "type": "human",
        "no_id": True,
    }


def test_extra_metadata_is_stored_beside_the_reserved_entry():
    core = to_core(HumanMessage("x"), {"channel": "wa"})
    assert core.metadata["channel"] == "wa"
    assert from_core(core) == HumanMessage("x")


def test_foreign_core_messages_convert_by_role():
    calls = [{"id": "c1", "name": "slots", "args": {}}]
    stored = [
        Message(role="user", content="Oi", metadata={"channel": "wa"}),
        Message(role="assistant", content="", tool_calls=calls),
        Message(role="tool", content="[]", tool_call_id="c1"),
        Message(role="system", content="sys"),
        Message(role="operator", content="Carla aqui", name="carla"),
    ]
    out = [from_core(m) for m in stored]
    assert isinstance(out[0], HumanMessage)
    assert out[0].response_metadata == {"langmem_metadata": {"channel": "wa"}}
    assert out[0].id == stored[0].id
    assert isinstance(out[1], AIMessage)
    assert out[1].tool_calls == [{"id": "c1", "name": "slots", "args": {}, "type": "tool_call"}]
    assert isinstance(out[2], ToolMessage) and out[2].tool_call_id == "c1"
    assert isinstance(out[3], SystemMessage)
    assert isinstance(out[4], AIMessage) and out[4].name == "carla"
    assert out[4].response_metadata["langmem_role"] == "operator"


@pytest.mark.parametrize(
    "bad",
    [
        "just a string",
        {"role": "user", "content": "a dict"},
        RemoveMessage(id="x"),
        HumanMessage.model_construct(content=["ok", 3]),
        AIMessage.model_construct(content="", tool_calls=[{"args": {}, "id": "c"}]),
    ],
    ids=["str", "dict", "remove", "content-int", "toolcall-without-name"],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic, serializing the invalid objects
def test_bad_input_raises_core_errors(bad):
    with pytest.raises(InvalidMessageError):
        to_core(bad)


def test_reserved_entry_is_plain_json():
    for m in every_message():
        meta = to_core(m).metadata
        assert json.loads(json.dumps(meta)) == meta
