"""Adapters: LangChain models as the core's Embedder, Summarizer, FactExtractor and Tokenizer.

Pass them to the memory::

    from langchain_openai import ChatOpenAI, OpenAIEmbeddings
    from langmem_tiered import TieredMemory
    from langchain_langmem_tiered import (
        LangChainEmbedder, LangChainFactExtractor, LangChainSummarizer, LangChainTokenizer,
    )

    llm = ChatOpenAI(model="gpt-4o-mini")
    memory = TieredMemory.connect(
        postgres_url=..., redis_url=...,
        summarizer=LangChainSummarizer(llm),
        extractor=LangChainFactExtractor(llm),
        embedder=LangChainEmbedder(OpenAIEmbeddings(model="text-embedding-3-small")),
    )

Nothing here makes a network call when it is constructed (the embedder probes its dimension
on first use when it can neither be given nor looked up). Each adapter has real sync and async
paths: the sync methods call the model's ``invoke`` / ``embed_*`` / ``get_num_tokens``, the
async ones await its ``ainvoke`` / ``aembed_*``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable
from langmem_tiered import (
    ConfigurationError,
    Fact,
    FactOperation,
    InvalidInputError,
    Message,
    ModelError,
    SummarizationError,
)
from langmem_tiered.compression import render_summary_prompt
from langmem_tiered.facts import (
    DEFAULT_MULTI_VALUED_KEYS,
    FACT_EXTRACTION_SCHEMA,
    parse_fact_operations,
    render_fact_prompt,
)

__all__ = [
    "FACT_OUTPUT_NAME",
    "LangChainEmbedder",
    "LangChainFactExtractor",
    "LangChainSummarizer",
    "LangChainTokenizer",
    "model_label",
]

FACT_OUTPUT_NAME = "fact_operations"
"""Name (``title``) of the structured-output schema / tool the fact extractor asks for."""

# Embedding sizes of well-known models, so a dimension is known without a probing call.
_KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "models/text-embedding-004": 768,
    "text-embedding-004": 768,
    "models/gemini-embedding-001": 3072,
    "gemini-embedding-001": 3072,
}
_NAME_ATTRS = ("model_name", "model", "model_id", "deployment_name", "deployment", "repo_id")
_DIMENSION_ATTRS = ("dimensions", "output_dimensionality", "dimension", "size")


def _model_name(obj: Any) -> str | None:
    for attr in _NAME_ATTRS:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def model_label(model: Any) -> str:
    """``langchain:<type>[:<model name>]``: a stable label of a LangChain model."""
    kind = None
    try:
        kind = model._llm_type
    except Exception:
        kind = None
    if not isinstance(kind, str) or not kind:
        kind = type(model).__name__
    name = _model_name(model)
    return f"langchain:{kind}:{name}" if name else f"langchain:{kind}"


def _prompt_messages(prompt: Sequence[Mapping[str, str]]) -> list[BaseMessage]:
    return convert_to_messages([dict(m) for m in prompt])


def _answer_text(result: Any) -> str:
    """The text of a chat model's answer (an AIMessage) or an LLM's (a str)."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseMessage):
        return result.text
    raise ModelError(f"the model returned a {type(result).__name__}, not a message or text")


# -- embeddings ----------------------------------------------------------------------------------


class LangChainEmbedder:
    """A LangChain ``Embeddings`` as the core's :class:`~langmem_tiered.Embedder`.

    Args:
        embeddings: Any LangChain ``Embeddings`` (``OpenAIEmbeddings``,
            ``GoogleGenerativeAIEmbeddings``, ``DeterministicFakeEmbedding``...).
        model_id: Stored with every vector; default ``langchain:<class>:<model>`` plus the
            output dimension when the object sets one (a different model or size is then a
            different id, so old vectors are never compared with new queries).
        dimension: Length of the vectors. Default: the object's ``dimensions`` /
            ``output_dimensionality`` / ``size`` attribute, a known model's size, or one
            probing ``embed_query`` on first use (then remembered).

    Raises:
        ConfigurationError: not an ``Embeddings``; ``model_id`` or ``dimension`` invalid.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        model_id: str | None = None,
        dimension: int | None = None,
    ) -> None:
        if not isinstance(embeddings, Embeddings):
            raise ConfigurationError(
                f"LangChainEmbedder needs a LangChain Embeddings, not {type(embeddings).__name__}"
            )
        self.embeddings = embeddings
        known = dimension
        if known is None:
            for attr in _DIMENSION_ATTRS:
                value = getattr(embeddings, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    known = value
                    break
        name = _model_name(embeddings)
        if known is None and name is not None:
            known = _KNOWN_DIMENSIONS.get(name)
        if known is not None and (
            isinstance(known, bool) or not isinstance(known, int) or not 1 <= known <= 4000
        ):
            raise ConfigurationError("dimension must be an int in 1..4000")
        self._dimension = known
        self._lock = threading.Lock()
        if model_id is None:
            model_id = f"langchain:{type(embeddings).__name__}"
            if name:
                model_id += f":{name}"
            explicit = next(
                (
                    getattr(embeddings, a)
                    for a in _DIMENSION_ATTRS
                    if isinstance(getattr(embeddings, a, None), int)
                ),
                None,
            )
            if explicit is not None:
                model_id += f":{explicit}"
        if not isinstance(model_id, str) or not model_id or len(model_id) > 200:
            raise ConfigurationError("model_id is a non-empty string of at most 200 characters")
        self.model_id = model_id

    def __repr__(self) -> str:
        return f"LangChainEmbedder(model_id={self.model_id!r})"

    @property
    def dimension(self) -> int:
        """Length of the vectors (probed with one ``embed_query`` call if not known)."""
        if self._dimension is None:
            with self._lock:
                if self._dimension is None:
                    try:
                        probe = self.embeddings.embed_query("dimension probe")
                    except Exception as exc:
                        raise ModelError(
                            f"embedder {self.model_id} failed while probing its dimension: {exc}"
                        ) from exc
                    self._dimension = len(probe)
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.embeddings.embed_documents(list(texts))
        return [[float(x) for x in v] for v in vectors]

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = await self.embeddings.aembed_documents(list(texts))
        return [[float(x) for x in v] for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embeddings.embed_query(text)]

    async def aembed_query(self, text: str) -> list[float]:
        return [float(x) for x in await self.embeddings.aembed_query(text)]


# -- summarizer ----------------------------------------------------------------------------------


class LangChainSummarizer:
    """A LangChain chat model (or LLM) as the core's :class:`~langmem_tiered.Summarizer`.

    Sends :func:`langmem_tiered.compression.render_summary_prompt` (vertical-aware) and
    returns the answer's text.

    Args:
        llm: A chat model (``ChatOpenAI``, ``ChatGoogleGenerativeAI``...) or any runnable
            taking a list of messages.
        name: Recorded beside each summary (default ``langchain:<type>:<model>``).
        system_prompt: Template replacing the core's default summary system prompt.
        user_prompt: Template replacing the core's default summary user prompt.
        max_tool_chars: Longest rendering of a tool call's arguments or result.

    Raises (from ``summarize`` / ``asummarize``):
        InvalidInputError: unknown vertical or bad ``max_tokens`` (the model is not called).
        SummarizationError: the model failed or returned an empty answer.
    """

    def __init__(
        self,
        llm: BaseLanguageModel[Any] | Runnable[Any, Any],
        *,
        name: str | None = None,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
        max_tool_chars: int | None = None,
    ) -> None:
        if not isinstance(llm, Runnable):
            raise ConfigurationError(
                f"LangChainSummarizer needs a LangChain model, not {type(llm).__name__}"
            )
        self.llm = llm
        self.name = name or model_label(llm)
        self._system_prompt = system_prompt
        self._user_prompt = user_prompt
        self._max_tool_chars = max_tool_chars

    def __repr__(self) -> str:
        return f"LangChainSummarizer(name={self.name!r})"

    def _prompt(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str,
        max_tokens: int | None,
    ) -> list[BaseMessage]:
        return _prompt_messages(
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

    def _result(self, answer: Any) -> str:
        text = _answer_text(answer).strip()
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
            answer = self.llm.invoke(prompt)
        except Exception as exc:
            raise SummarizationError(f"{self.name} failed: {exc}") from exc
        return self._result(answer)

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
            answer = await self.llm.ainvoke(prompt)
        except Exception as exc:
            raise SummarizationError(f"{self.name} failed: {exc}") from exc
        return self._result(answer)


# -- fact extractor ------------------------------------------------------------------------------


class LangChainFactExtractor:
    """A LangChain chat model as the core's :class:`~langmem_tiered.FactExtractor`.

    Sends :func:`langmem_tiered.facts.render_fact_prompt` to
    ``llm.with_structured_output(FACT_EXTRACTION_SCHEMA)`` and validates the answer with
    :func:`langmem_tiered.facts.parse_fact_operations` (a provenance seq that was not sent is
    rejected). A model without structured output (``with_structured_output`` /
    ``bind_tools`` not implemented) is asked for the same JSON as text instead.

    Args:
        llm: A chat model.
        name: Recorded as ``created_by`` of the facts (default ``langchain:<type>:<model>``).
        multi_valued_keys: Keys whose values accumulate; use the memory's.
        structured_output: ``True`` requires ``with_structured_output``; ``False`` always
            parses the text answer; ``None`` (default) uses it when the model supports it.
        structured_output_kwargs: Passed to ``with_structured_output`` (e.g.
            ``{"method": "json_schema", "strict": True}`` for OpenAI).
        system_prompt: Template replacing the core's default fact system prompt.
        user_prompt: Template replacing the core's default fact user prompt.

    Raises (from ``extract`` / ``aextract``):
        ModelError: the model failed.
        InvalidInputError: the answer is malformed (not the schema's shape, bad op, unknown
            seq...); nothing is applied.
    """

    def __init__(
        self,
        llm: BaseLanguageModel[Any],
        *,
        name: str | None = None,
        multi_valued_keys: Collection[str] = DEFAULT_MULTI_VALUED_KEYS,
        structured_output: bool | None = None,
        structured_output_kwargs: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
    ) -> None:
        if not isinstance(llm, Runnable):
            raise ConfigurationError(
                f"LangChainFactExtractor needs a LangChain chat model, not {type(llm).__name__}"
            )
        self.llm = llm
        self.name = name or model_label(llm)
        self.multi_valued_keys = frozenset(multi_valued_keys)
        self._system_prompt = system_prompt
        self._user_prompt = user_prompt
        self._structured: Runnable[Any, Any] | None = None
        if structured_output is not False:
            schema = {
                "title": FACT_OUTPUT_NAME,
                "description": "Operations that bring the user's facts up to date.",
                **FACT_EXTRACTION_SCHEMA,
            }
            try:
                self._structured = llm.with_structured_output(
                    schema, **dict(structured_output_kwargs or {})
                )
            except (NotImplementedError, AttributeError) as exc:
                if structured_output:
                    raise ConfigurationError(
                        f"{self.name} does not support structured output: {exc}"
                    ) from exc
                self._structured = None

    def __repr__(self) -> str:
        mode = "structured" if self._structured is not None else "text"
        return f"LangChainFactExtractor(name={self.name!r}, output={mode!r})"

    def _prompt(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[BaseMessage]:
        return _prompt_messages(
            render_fact_prompt(
                messages,
                current,
                self.multi_valued_keys,
                system_prompt=self._system_prompt,
                user_prompt=self._user_prompt,
            )
        )

    @staticmethod
    def _allowed(messages: Sequence[Message]) -> list[int] | None:
        seqs = [m.seq for m in messages]
        if any(s is None for s in seqs):
            return None
        return [s for s in seqs if s is not None]

    def _parse(self, answer: Any, messages: Sequence[Message]) -> list[FactOperation]:
        if self._structured is None:
            answer = _answer_text(answer)
        if answer is None:
            raise InvalidInputError(f"{self.name} returned no structured answer")
        return parse_fact_operations(answer, allowed_seqs=self._allowed(messages))

    def extract(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[FactOperation]:
        if not messages:
            return []
        prompt = self._prompt(messages, current)
        runnable = self._structured if self._structured is not None else self.llm
        try:
            answer = runnable.invoke(prompt)
        except Exception as exc:
            raise ModelError(f"fact extractor {self.name} failed: {exc}") from exc
        return self._parse(answer, messages)

    async def aextract(
        self, messages: Sequence[Message], current: Sequence[Fact]
    ) -> list[FactOperation]:
        if not messages:
            return []
        prompt = self._prompt(messages, current)
        runnable = self._structured if self._structured is not None else self.llm
        try:
            answer = await runnable.ainvoke(prompt)
        except Exception as exc:
            raise ModelError(f"fact extractor {self.name} failed: {exc}") from exc
        return self._parse(answer, messages)


# -- tokenizer -----------------------------------------------------------------------------------


class LangChainTokenizer:
    """A LangChain model's ``get_num_tokens`` as the core's :class:`~langmem_tiered.Tokenizer`.

    ``count`` runs on every append, so the model's counting should be local: ``ChatOpenAI``
    counts with tiktoken (its encoding file must be cached or downloadable once). Counting
    failures raise :class:`~langmem_tiered.ModelError`.

    Args:
        model: Any LangChain language model.
        name: What is counted (default ``langchain:<type>:<model>``).
    """

    def __init__(self, model: BaseLanguageModel[Any], *, name: str | None = None) -> None:
        if not isinstance(model, BaseLanguageModel):
            raise ConfigurationError(
                f"LangChainTokenizer needs a LangChain language model, not {type(model).__name__}"
            )
        self.model = model
        self.name = name or model_label(model)

    def __repr__(self) -> str:
        return f"LangChainTokenizer(name={self.name!r})"

    def count(self, text: str) -> int:
        if not text:
            return 0
        try:
            return int(self.model.get_num_tokens(text))
        except Exception as exc:
            raise ModelError(f"tokenizer {self.name} failed: {exc}") from exc
