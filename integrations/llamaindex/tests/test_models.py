"""LlamaIndexSummarizer and LlamaIndexFactExtractor with a real LlamaIndex LLM subclass (a
CustomLLM that answers deterministically), inside a real memory on Postgres."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from langmem_tiered import ConfigurationError, InvalidInputError, ModelError
from langmem_tiered import Message as CoreMessage
from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field

from llama_index.memory.langmem_tiered import (
    LlamaIndexFactExtractor,
    LlamaIndexSummarizer,
    TieredMemory,
    close_clients,
    register_profile,
)

_LIVE = re.compile(
    r"\[seq (\d+) \| [^\]]+ \| user\] .*?(I live in (\w+) since (\d{4}-\d{2}-\d{2}))"
)
_LINE = re.compile(r"^(user|assistant): (.*)$", re.MULTILINE)


class ScriptedLLM(CustomLLM):
    """A completion model that reads the core's prompts and answers them deterministically:
    fact operations as JSON for "I live in <City> since <date>", a summary line otherwise."""

    prompts: list[str] = Field(default_factory=list)
    garbage: bool = False
    seq_shift: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted-1", is_chat_model=False)

    def _answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.garbage:
            return "I cannot do that."
        if "<facts>" in prompt:
            facts = prompt.split("<facts>", 1)[1].split("</facts>", 1)[0]
            has_city = "- city =" in facts
            operations = []
            for seq, evidence, city, since in _LIVE.findall(prompt):
                operations.append(
                    {
                        "op": "UPDATE" if has_city else "ADD",
                        "key": "city",
                        "value": city,
                        "valid_at": f"{since}T00:00:00+00:00",
                        "confidence": 0.9,
                        "source_seqs": [int(seq) + self.seq_shift],
                        "evidence": evidence,
                    }
                )
                has_city = True
            return json.dumps({"operations": operations})
        lines = _LINE.findall(prompt.split("<messages>", 1)[-1])
        users = [text for role, text in lines if role == "user"]
        return f"SCRIPTED SUMMARY of {len(lines)} messages; last user words: {users[-1][:30]}"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._answer(prompt))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = self._answer(prompt)
        yield CompletionResponse(text=text, delta=text)


CITY_TURNS = [
    ("I live in Porto since 2019-05-01, by the river.", "Porto is lovely."),
    ("Tell me about the weather in spring " + "and the rain " * 8, "Spring is mild."),
    ("I live in Lisbon since 2024-03-01 now, I moved.", "Lisbon is sunny."),
    ("What should I pack for the summer " + "and the heat " * 8, "Light clothes."),
]


@pytest.fixture
def scripted(fields: dict[str, Any]) -> Iterator[tuple[ScriptedLLM, dict[str, Any]]]:
    llm = ScriptedLLM()
    profile = "scripted-" + uuid.uuid4().hex[:8]
    register_profile(
        profile,
        summarizer=LlamaIndexSummarizer(llm),
        extractor=LlamaIndexFactExtractor(llm),
    )
    options = {**fields["options"], "buffer_tokens": 30, "min_fold_tokens": 20}
    yield llm, {**fields, "profile": profile, "options": options}
    close_clients()


def _check(memory: TieredMemory, llm: ScriptedLLM) -> None:
    session = memory._session()
    summary = session.summary()
    assert summary is not None
    assert summary.text.startswith("SCRIPTED SUMMARY of ")
    assert summary.summarizer == "llama_index:ScriptedLLM:scripted-1"
    # the summarizer got the core's summary prompt, the extractor the core's fact prompt
    assert any("<summary>" in p and "Porto is lovely." in p for p in llm.prompts)
    assert any("<facts>" in p and "I live in Lisbon" in p for p in llm.prompts)
    now = session.facts()
    assert [(f.key, f.value) for f in now] == [("city", "Lisbon")]
    lisbon = now[0]
    assert lisbon.valid_at == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert lisbon.created_by == "llama_index:ScriptedLLM:scripted-1"
    assert lisbon.source_session == memory.session
    stored = {m.seq: m.content for m in session.messages()}
    assert "I live in Lisbon" in stored[lisbon.source_seq_from]
    history = session.fact_history("city")
    porto = next(f for f in history if f.value == "Porto")
    assert porto.valid_at == datetime(2019, 5, 1, tzinfo=timezone.utc)
    assert porto.invalid_at == datetime(2024, 3, 1, tzinfo=timezone.utc)
    past = session.facts(as_of=datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert [(f.key, f.value) for f in past] == [("city", "Porto")]
    # and the composed context carries both
    text = memory.get()[0].content or ""
    assert "SCRIPTED SUMMARY" in text and "Lisbon" in text


def test_summary_and_facts_sync(scripted: tuple[ScriptedLLM, dict[str, Any]]) -> None:
    llm, fields = scripted
    memory = TieredMemory(**fields, session="models-sync")
    for user, assistant in CITY_TURNS:
        memory.put(ChatMessage(role="user", content=user))
        memory.put(ChatMessage(role="assistant", content=assistant))
        assert memory._sync_memory().flush(60)
    _check(memory, llm)


async def test_summary_and_facts_async(
    scripted: tuple[ScriptedLLM, dict[str, Any]], aclients: None
) -> None:
    llm, fields = scripted
    memory = TieredMemory(**fields, session="models-async")
    for user, assistant in CITY_TURNS:
        await memory.aput_messages(
            [
                ChatMessage(role="user", content=user),
                ChatMessage(role="assistant", content=assistant),
            ]
        )
        assert await memory._async_memory().flush(60)
    _check(memory, llm)


def _messages() -> list[CoreMessage]:
    return [
        CoreMessage(role="user", content="I live in Porto since 2019-05-01.", seq=7),
        CoreMessage(role="assistant", content="Nice.", seq=8),
    ]


async def test_adapters_directly() -> None:
    llm = ScriptedLLM()
    extractor = LlamaIndexFactExtractor(llm)
    ops = extractor.extract(_messages(), [])
    assert [(o.op, o.key, o.value, o.source_seqs) for o in ops] == [("ADD", "city", "Porto", [7])]
    assert ops == await extractor.aextract(_messages(), [])
    text_mode = LlamaIndexFactExtractor(llm, structured_output=False)
    assert text_mode.extract(_messages(), []) == ops
    assert extractor.extract([], []) == []
    summarizer = LlamaIndexSummarizer(llm)
    summary = await summarizer.asummarize("", _messages())
    assert summary.startswith("SCRIPTED SUMMARY") and "I live in Porto" in summary
    with pytest.raises(InvalidInputError):
        summarizer.summarize("", _messages(), "astrology")
    # a model whose answer is not the schema: an error, nothing applied
    with pytest.raises(ModelError):
        LlamaIndexFactExtractor(ScriptedLLM(garbage=True)).extract(_messages(), [])
    with pytest.raises(InvalidInputError):
        LlamaIndexFactExtractor(ScriptedLLM(garbage=True), structured_output=False).extract(
            _messages(), []
        )
    # a provenance seq that was not sent is rejected
    with pytest.raises(InvalidInputError):
        LlamaIndexFactExtractor(ScriptedLLM(seq_shift=50)).extract(_messages(), [])
    with pytest.raises(ConfigurationError):
        LlamaIndexSummarizer("gpt-4o")  # type: ignore[arg-type]
    assert LlamaIndexSummarizer(MockLLM()).name == "llama_index:MockLLM"
