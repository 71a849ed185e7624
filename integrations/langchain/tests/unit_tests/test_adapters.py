"""Adapters without a store: behaviour with fake models, and the documented models offline."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langmem_tiered import (
    ConfigurationError,
    Embedder,
    FactExtractor,
    InvalidInputError,
    Message,
    ModelError,
    SummarizationError,
    Summarizer,
    Tokenizer,
)

from langchain_langmem_tiered import (
    LangChainEmbedder,
    LangChainFactExtractor,
    LangChainSummarizer,
    LangChainTokenizer,
)
from langchain_langmem_tiered.adapters import FACT_OUTPUT_NAME

T0 = datetime(2026, 3, 1, 14, 0, tzinfo=timezone.utc)
MSGS = [
    Message(role="user", content="Meu nome é Ana Souza e prefiro de manhã", seq=1, created_at=T0),
    Message(role="assistant", content="Anotado, Ana.", seq=2, created_at=T0),
]
OPS = {
    "operations": [
        {
            "op": "ADD", "key": "name", "value": "Ana Souza", "valid_at": None,
            "confidence": 0.9, "source_seqs": [1], "evidence": "Meu nome é Ana Souza",
        }
    ]
}  # fmt: skip


class _Recording(GenericFakeChatModel):
    """Records the prompts it gets (module-level list: pydantic models take no ad-hoc attrs)."""

    def _generate(self, messages, stop=None, run_manager=None, **kw):  # type: ignore[override]
        PROMPTS.append(messages)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kw)


PROMPTS: list[Any] = []


class _ToolFake(GenericFakeChatModel):
    """A fake chat model with tool binding, so with_structured_output works."""

    def bind_tools(self, tools, **kwargs):  # type: ignore[override]
        return self


class _Failing(GenericFakeChatModel):
    def _generate(self, *a, **kw):  # type: ignore[override]
        raise RuntimeError("boom")

    async def _agenerate(self, *a, **kw):  # type: ignore[override]
        raise RuntimeError("boom")


# -- embedder -----------------------------------------------------------------------------------


async def test_embedder_matches_the_embeddings_and_the_protocol():
    fake = DeterministicFakeEmbedding(size=16)
    e = LangChainEmbedder(fake)
    assert isinstance(e, Embedder)
    assert e.dimension == 16
    assert e.model_id == "langchain:DeterministicFakeEmbedding:16"
    assert e.embed_documents(["a", "b"]) == fake.embed_documents(["a", "b"])
    assert e.embed_query("q") == fake.embed_query("q")
    assert await e.aembed_documents(["a"]) == fake.embed_documents(["a"])
    assert await e.aembed_query("q") == fake.embed_query("q")


class _Counting(Embeddings):
    calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        type(self).calls += len(texts)
        return [[1.0, 0.0, 0.5] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_embedder_probes_its_dimension_once_and_lazily():
    _Counting.calls = 0
    e = LangChainEmbedder(_Counting())
    assert _Counting.calls == 0
    assert e.dimension == 3 and e.dimension == 3
    assert _Counting.calls == 1
    assert LangChainEmbedder(_Counting(), dimension=3, model_id="mine").model_id == "mine"
    assert _Counting.calls == 1


def test_embedder_bad_configuration():
    with pytest.raises(ConfigurationError):
        LangChainEmbedder("not embeddings")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        LangChainEmbedder(_Counting(), dimension=0)
    with pytest.raises(ConfigurationError):
        LangChainEmbedder(_Counting(), model_id="")


# -- summarizer ---------------------------------------------------------------------------------


async def test_summarizer_sends_the_core_prompt_and_returns_the_text():
    PROMPTS.clear()
    llm = _Recording(messages=itertools.cycle(["  Ana Souza quer manhã.  "]))
    s = LangChainSummarizer(llm)
    assert isinstance(s, Summarizer)
    assert s.name == "langchain:generic-fake-chat-model"
    assert s.summarize("", MSGS, "dental", max_tokens=100) == "Ana Souza quer manhã."
    assert await s.asummarize("prev", MSGS, "medical") == "Ana Souza quer manhã."
    system, user = PROMPTS[0]
    assert system.type == "system" and user.type == "human"
    assert "Meu nome é Ana Souza" in user.content and "100" in user.content
    assert "(none yet)" in user.content and "prev" in PROMPTS[1][1].content


async def test_summarizer_errors():
    s = LangChainSummarizer(GenericFakeChatModel(messages=iter([])))
    with pytest.raises(InvalidInputError):  # checked before the model is called
        s.summarize("", MSGS, "astrology")
    with pytest.raises(InvalidInputError):
        await s.asummarize("", MSGS, max_tokens=0)
    with pytest.raises(SummarizationError):
        LangChainSummarizer(_Failing(messages=iter([]))).summarize("", MSGS)
    with pytest.raises(SummarizationError):
        await LangChainSummarizer(_Failing(messages=iter([]))).asummarize("", MSGS)
    with pytest.raises(SummarizationError):
        LangChainSummarizer(GenericFakeChatModel(messages=iter(["   "]))).summarize("", MSGS)
    with pytest.raises(ConfigurationError):
        LangChainSummarizer(object())  # type: ignore[arg-type]


# -- fact extractor -------------------------------------------------------------------------------


async def test_fact_extractor_with_structured_output():
    call = {"name": FACT_OUTPUT_NAME, "args": OPS, "id": "c1"}
    llm = _ToolFake(messages=itertools.cycle([AIMessage("", tool_calls=[call])]))
    x = LangChainFactExtractor(llm)
    assert isinstance(x, FactExtractor)
    assert "structured" in repr(x)
    ops = x.extract(MSGS, [])
    assert [(o.op, o.key, o.value, o.source_seqs) for o in ops] == [
        ("ADD", "name", "Ana Souza", [1])
    ]
    assert [o.key for o in await x.aextract(MSGS, [])] == ["name"]
    assert x.extract([], []) == []


async def test_fact_extractor_falls_back_to_json_text():
    answer = "```json\n" + json.dumps(OPS) + "\n```"
    x = LangChainFactExtractor(GenericFakeChatModel(messages=itertools.cycle([answer])))
    assert "text" in repr(x)
    assert [o.key for o in x.extract(MSGS, [])] == ["name"]
    assert [o.key for o in await x.aextract(MSGS, [])] == ["name"]
    with pytest.raises(ConfigurationError):
        LangChainFactExtractor(GenericFakeChatModel(messages=iter([])), structured_output=True)


async def test_fact_extractor_rejects_bad_answers():
    bad_seq = json.loads(json.dumps(OPS))
    bad_seq["operations"][0]["source_seqs"] = [99]  # a message that was not sent
    for answer in ["not json", json.dumps(bad_seq), json.dumps({"ops": []})]:
        x = LangChainFactExtractor(GenericFakeChatModel(messages=itertools.cycle([answer])))
        with pytest.raises(InvalidInputError):
            x.extract(MSGS, [])
        with pytest.raises(InvalidInputError):
            await x.aextract(MSGS, [])
    with pytest.raises(ModelError):
        LangChainFactExtractor(_Failing(messages=iter([]))).extract(MSGS, [])
    with pytest.raises(ModelError):
        await LangChainFactExtractor(_Failing(messages=iter([]))).aextract(MSGS, [])


# -- tokenizer ----------------------------------------------------------------------------------


def test_tokenizer_uses_the_models_count():
    llm = GenericFakeChatModel(messages=iter([]), custom_get_token_ids=lambda t: t.split())
    t = LangChainTokenizer(llm, name="words")
    assert isinstance(t, Tokenizer)
    assert t.count("um dois três") == 3 and t.count("") == 0
    failing = GenericFakeChatModel(
        messages=iter([]),
        custom_get_token_ids=lambda t: 1 / 0,  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(ModelError):
        LangChainTokenizer(failing).count("x")
    with pytest.raises(ConfigurationError):
        LangChainTokenizer(object())  # type: ignore[arg-type]


# -- the documented models, constructed offline --------------------------------------------


def _no_network():
    pytest_socket = pytest.importorskip("pytest_socket")
    pytest_socket.disable_socket(allow_unix_socket=True)
    return pytest_socket


def test_adapters_accept_chat_openai_without_network():
    openai = pytest.importorskip("langchain_openai")
    sockets = _no_network()
    try:
        llm = openai.ChatOpenAI(api_key="dummy", model="gpt-4o-mini")
        s = LangChainSummarizer(llm)
        assert s.name == "langchain:openai-chat:gpt-4o-mini"
        x = LangChainFactExtractor(llm, structured_output_kwargs={"method": "json_schema"})
        assert "structured" in repr(x)
        assert LangChainTokenizer(llm).name == "langchain:openai-chat:gpt-4o-mini"
        e = LangChainEmbedder(
            openai.OpenAIEmbeddings(api_key="dummy", model="text-embedding-3-small")
        )
        assert (
            e.dimension == 1536
            and e.model_id == "langchain:OpenAIEmbeddings:text-embedding-3-small"
        )
        e = LangChainEmbedder(
            openai.OpenAIEmbeddings(api_key="dummy", model="text-embedding-3-large", dimensions=256)
        )
        assert e.dimension == 256 and e.model_id.endswith(":256")
        assert isinstance(e, Embedder)
    finally:
        sockets.enable_socket()


def test_adapters_accept_chat_google_genai_without_network():
    genai = pytest.importorskip("langchain_google_genai")
    sockets = _no_network()
    try:
        llm = genai.ChatGoogleGenerativeAI(model="gemini-2.5-flash", google_api_key="dummy")
        assert "gemini-2.5-flash" in LangChainSummarizer(llm).name
        assert "structured" in repr(LangChainFactExtractor(llm))
        assert LangChainTokenizer(llm).name
        emb = genai.GoogleGenerativeAIEmbeddings(
            model="models/gemini-embedding-001", google_api_key="dummy"
        )
        e = LangChainEmbedder(emb)
        assert e.model_id.startswith("langchain:GoogleGenerativeAIEmbeddings:")
    finally:
        sockets.enable_socket()
