"""Adapters: a LlamaIndex ``LLM`` as the core's Summarizer and FactExtractor.

Register them under a profile so memories (whose fields must stay JSON) use them::

    from llama_index.llms.openai import OpenAI
    from llama_index.memory.langmem_tiered import (
        LlamaIndexFactExtractor, LlamaIndexSummarizer, TieredMemory, register_profile,
    )

    llm = OpenAI(model="gpt-4o-mini")
    register_profile("prod", summarizer=LlamaIndexSummarizer(llm),
                     extractor=LlamaIndexFactExtractor(llm))
    memory = TieredMemory(postgres_url=..., redis_url=..., profile="prod", session="chat-42")

The prompts are the core's (:func:`langmem_tiered.compression.render_summary_prompt`,
:func:`langmem_tiered.facts.render_fact_prompt`), as for every other integration. The
summarizer asks for plain text (``llm.chat`` / ``llm.achat``: a completion model gets the
messages as one prompt); the fact extractor uses LlamaIndex structured prediction
(``llm.structured_predict`` / ``astructured_predict`` with the pydantic class
:class:`FactOperations`: function calling when the model has it, JSON parsed from the text
otherwise) and validates the result with :func:`langmem_tiered.facts.parse_fact_operations`.
Nothing here calls the model when it is constructed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from llama_index.core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict, Field

from langmem_tiered import (
    ConfigurationError,
    Fact,
    FactOperation,
    Message,
    ModelError,
    SummarizationError,
)
from langmem_tiered.compression import render_summary_prompt
from langmem_tiered.facts import (
    DEFAULT_MULTI_VALUED_KEYS,
    parse_fact_operations,
    render_fact_prompt,
)
from langmem_tiered.facts.model import FACT_OPS

__all__ = [
    "FactOperationOutput",
    "FactOperations",
    "LlamaIndexFactExtractor",
    "LlamaIndexSummarizer",
    "llm_label",
]


def llm_label(llm: LLM) -> str:
    """``llama_index:<class>[:<model name>]``: a stable label of a LlamaIndex LLM."""
    label = f"llama_index:{type(llm).__name__}"
    try:
        model = llm.metadata.model_name
    except Exception:
        model = None
    return f"{label}:{model}" if isinstance(model, str) and model and model != "unknown" else label


def _chat_messages(prompt: Sequence[Mapping[str, str]]) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in prompt]


def _check_llm(llm: Any, who: str) -> None:
    if not isinstance(llm, LLM):
        raise ConfigurationError(f"{who} needs a LlamaIndex LLM, not {type(llm).__name__}")


# -- summarizer ----------------------------------------------------------------------------------


class LlamaIndexSummarizer:
    """A LlamaIndex ``LLM`` as the core's :class:`~langmem_tiered.Summarizer`.

    Sends the core's vertical-aware summary prompt (a system and a user message) and returns
    the answer's text as the complete updated summary.

    Args:
        llm: Any LlamaIndex ``LLM`` (chat or completion model).
        name: Recorded beside each summary (default ``llama_index:<class>:<model>``).
        system_prompt: Template replacing the core's default summary system prompt.
        user_prompt: Template replacing the core's default summary user prompt.
        max_tool_chars: Longest rendering of a tool call's arguments or result.

    Raises (from ``summarize`` / ``asummarize``):
        InvalidInputError: unknown vertical or bad ``max_tokens`` (the model is not called).
        SummarizationError: the model failed or returned an empty answer.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        name: str | None = None,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
        max_tool_chars: int | None = None,
    ) -> None:
        _check_llm(llm, "LlamaIndexSummarizer")
        self.llm = llm
        self.name = name or llm_label(llm)
        self._system_prompt = system_prompt
        self._user_prompt = user_prompt
        self._max_tool_chars = max_tool_chars

    def __repr__(self) -> str:
        return f"LlamaIndexSummarizer(name={self.name!r})"

    def _prompt(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str,
        max_tokens: int | None,
    ) -> list[ChatMessage]:
        return _chat_messages(
            render_summary_prompt(
                previous_summary,
                messages,
                vertical,
                max_tokens,
                system_prompt=self._system_prompt,
                user_prompt=self._user_prompt,
                max_tool_chars=self._max_tool_chars,
            )
        )

    def _result(self, response: Any) -> str:
        text = (response.message.content or "").strip()
        if not text:
            raise SummarizationError(f"{self.name} returned an empty summary")
        return text

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        prompt = self._prompt(previous_summary, messages, vertical, max_tokens)
        try:
            response = self.llm.chat(prompt)
        except Exception as exc:
            raise SummarizationError(f"{self.name} failed: {exc}") from exc
        return self._result(response)

    async def asummarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        prompt = self._prompt(previous_summary, messages, vertical, max_tokens)
        try:
            response = await self.llm.achat(prompt)
        except Exception as exc:
            raise SummarizationError(f"{self.name} failed: {exc}") from exc
        return self._result(response)


# -- fact extractor ------------------------------------------------------------------------------


class FactOperationOutput(BaseModel):
    """One operation of the structured answer (the core's ``FACT_EXTRACTION_SCHEMA`` item)."""

    model_config = ConfigDict(extra="ignore")

    op: str = Field(
        description="One of " + ", ".join(FACT_OPS), json_schema_extra={"enum": list(FACT_OPS)}
    )
    key: str = Field(description="snake_case key, e.g. name, phones, preferred_times")
    value: str | int | float | bool | list[str] | None = Field(
        description="Normalized value; null only to INVALIDATE a whole key."
    )
    valid_at: str | None = Field(
        description="ISO 8601 date-time with timezone when the user says when the fact "
        "became true ('since March'); otherwise null."
    )
    confidence: float = Field(description="Confidence between 0 and 1.")
    source_seqs: list[int] = Field(description="Seqs of the messages the operation comes from.")
    evidence: str = Field(description="The short text span that states the fact, verbatim.")


class FactOperations(BaseModel):
    """Operations that bring the user's facts up to date, in order (empty when the messages
    state no new fact)."""

    operations: list[FactOperationOutput] = Field(
        description="Operations that bring the user's facts up to date, in order."
    )


# The rendered prompt is passed as template *values*, so braces in the conversation (JSON,
# code) are never read as template variables.
_FACT_TEMPLATE = ChatPromptTemplate(
    message_templates=[
        ChatMessage(role=MessageRole.SYSTEM, content="{system}"),
        ChatMessage(role=MessageRole.USER, content="{user}"),
    ]
)


class LlamaIndexFactExtractor:
    """A LlamaIndex ``LLM`` as the core's :class:`~langmem_tiered.FactExtractor`.

    Sends the core's fact prompt through ``llm.structured_predict(FactOperations, ...)``
    (``astructured_predict`` on the async path) and validates the answer with
    :func:`langmem_tiered.facts.parse_fact_operations`; a provenance seq that was not sent is
    rejected. ``structured_output=False`` asks for the same JSON as plain text instead.

    Args:
        llm: Any LlamaIndex ``LLM``.
        name: Recorded as ``created_by`` of the facts (default ``llama_index:<class>:<model>``).
        multi_valued_keys: Keys whose values accumulate; use the memory's.
        structured_output: False parses the text answer of ``llm.chat`` instead.
        system_prompt: Template replacing the core's default fact system prompt.
        user_prompt: Template replacing the core's default fact user prompt.

    Raises (from ``extract`` / ``aextract``):
        ModelError: the model failed, or its answer did not fit :class:`FactOperations`.
        InvalidInputError: the answer is malformed for the core (bad op, key, unknown seq...);
            nothing is applied.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        name: str | None = None,
        multi_valued_keys: Collection[str] = DEFAULT_MULTI_VALUED_KEYS,
        structured_output: bool = True,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
    ) -> None:
        _check_llm(llm, "LlamaIndexFactExtractor")
        self.llm = llm
        self.name = name or llm_label(llm)
        self.multi_valued_keys = frozenset(multi_valued_keys)
        self.structured_output = bool(structured_output)
        self._system_prompt = system_prompt
        self._user_prompt = user_prompt

    def __repr__(self) -> str:
        mode = "structured" if self.structured_output else "text"
        return f"LlamaIndexFactExtractor(name={self.name!r}, output={mode!r})"

    def _prompt(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[dict[str, str]]:
        return render_fact_prompt(
            messages,
            current,
            self.multi_valued_keys,
            system_prompt=self._system_prompt,
            user_prompt=self._user_prompt,
        )

    @staticmethod
    def _allowed(messages: Sequence[Message]) -> list[int] | None:
        seqs = [m.seq for m in messages]
        if any(s is None for s in seqs):
            return None
        return [s for s in seqs if s is not None]

    def _parse(self, answer: Any, messages: Sequence[Message]) -> list[FactOperation]:
        if isinstance(answer, FactOperations):
            answer = answer.model_dump(mode="json")
        elif not isinstance(answer, str):
            raise ModelError(f"{self.name} returned a {type(answer).__name__}, not fact operations")
        return parse_fact_operations(answer, allowed_seqs=self._allowed(messages))

    def extract(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[FactOperation]:
        if not messages:
            return []
        prompt = self._prompt(messages, current)
        try:
            if self.structured_output:
                answer: Any = self.llm.structured_predict(
                    FactOperations,
                    _FACT_TEMPLATE,
                    system=prompt[0]["content"],
                    user=prompt[1]["content"],
                )
            else:
                answer = self.llm.chat(_chat_messages(prompt)).message.content
        except Exception as exc:
            raise ModelError(f"fact extractor {self.name} failed: {exc}") from exc
        return self._parse(answer or "", messages)

    async def aextract(
        self, messages: Sequence[Message], current: Sequence[Fact]
    ) -> list[FactOperation]:
        if not messages:
            return []
        prompt = self._prompt(messages, current)
        try:
            if self.structured_output:
                answer: Any = await self.llm.astructured_predict(
                    FactOperations,
                    _FACT_TEMPLATE,
                    system=prompt[0]["content"],
                    user=prompt[1]["content"],
                )
            else:
                response = await self.llm.achat(_chat_messages(prompt))
                answer = response.message.content
        except Exception as exc:
            raise ModelError(f"fact extractor {self.name} failed: {exc}") from exc
        return self._parse(answer or "", messages)
