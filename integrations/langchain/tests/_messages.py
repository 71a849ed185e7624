"""One example of every LangChain message type and feature the history must keep."""

from __future__ import annotations

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)


def every_message() -> list[BaseMessage]:
    return [
        SystemMessage("You book dental appointments.", id="sys-1"),
        SystemMessage(
            [{"type": "text", "text": "cache me", "cache_control": {"type": "ephemeral"}}]
        ),
        HumanMessage("Oi, sou a Ana 😀 — quero marcar"),
        HumanMessage(
            content=[
                "plain string part",
                {"type": "text", "text": "a text block"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
            id="h-2",
            name="ana",
            additional_kwargs={"channel": "wa", "n": 1.5, "nested": {"a": [1, None, True]}},
        ),
        HumanMessage(""),
        AIMessage(
            content="",
            id="lc_run--abc-0",
            tool_calls=[
                {"name": "slots", "args": {"doctor": "Dr. Gustavo", "day": 3}, "id": "call_1"},
                {"name": "price", "args": {}, "id": "call_2"},
            ],
            invalid_tool_calls=[
                {"name": "bad", "args": "{not json", "id": "call_3", "error": "bad json"}
            ],
            additional_kwargs={"refusal": None, "reasoning": {"summary": []}},
            response_metadata={"model_name": "gpt-4o-mini", "finish_reason": "tool_calls"},
            usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
        ),
        ToolMessage(
            content='["09:00", "10:30"]',
            tool_call_id="call_1",
            name="slots",
            artifact={"rows": [{"t": "09:00"}, {"t": "10:30"}]},
            id="t-1",
        ),
        ToolMessage(
            content=[{"type": "text", "text": "error: closed"}],
            tool_call_id="call_2",
            status="error",
        ),
        AIMessage(
            content=[
                {"type": "reasoning", "reasoning": "the user wants 09:00"},
                {"type": "text", "text": "Temos 09:00 ou 10:30."},
            ],
            name="assistant-bot",
        ),
        ChatMessage(role="operator", content="Aqui é a Carla, da recepção."),
        ChatMessage(role="critic", content="be shorter", id="c-1"),
        FunctionMessage(name="legacy_fn", content="42"),
        AIMessageChunk(
            content="partial",
            id="chunk-1",
            tool_call_chunks=[{"name": "slots", "args": '{"day": 3}', "id": "call_9", "index": 0}],
        ),
    ]
