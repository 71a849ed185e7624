"""The offline extractive summarizer and the vertical summary prompts (pure: no services)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langmem_tiered.compression import (
    SUMMARY_PROMPT_VERSION,
    VERTICALS,
    ExtractiveSummarizer,
    Summarizer,
    render_summary_prompt,
)
from langmem_tiered.compression import prompts as prompts_module
from langmem_tiered.compression.extractive import split_sentences
from langmem_tiered.compression.prompts import VERTICAL_GUIDES, render_transcript
from langmem_tiered.errors import ConfigurationError, InvalidInputError
from langmem_tiered.models import Message, ToolCall
from langmem_tiered.tokens import EstimatingTokenizer, default_tokenizer

T0 = datetime(2026, 1, 12, 13, 0, tzinfo=timezone.utc)
COUNT = default_tokenizer().count


def words(text: str) -> int:
    """A second, very different token counter: whitespace-separated words."""
    return len(text.split())


def conversation(turns: list[tuple[str, str]], start: datetime = T0) -> list[Message]:
    return [
        Message(role=role, content=content, created_at=start + timedelta(seconds=30 * i))
        for i, (role, content) in enumerate(turns)
    ]


def clinic_dialogue() -> list[Message]:
    """A Portuguese booking dialogue: patient, insurance, allergy, medication, a tool call."""
    before = conversation(
        [
            ("user", "Oi, bom dia!"),
            (
                "assistant",
                "Bom dia! Sou a assistente virtual da Clínica Vida Plena. Como posso ajudar?",
            ),
            ("user", "Queria marcar uma consulta com cardiologista, por favor."),
            ("assistant", "Claro! Pode me informar seu nome completo?"),
            ("user", "Maria Aparecida Souza."),
            ("assistant", "Obrigada, Maria. Você tem convênio ou a consulta será particular?"),
            ("user", "Tenho Unimed, plano Essencial. A carteirinha é 0 8472 1123 5567."),
            ("assistant", "Perfeito. Você tem alergia a algum medicamento?"),
            ("user", "Sim, sou alérgica a dipirona. Também tomo losartana 50 mg todo dia."),
            ("assistant", "Anotado. Vou verificar os horários da cardiologia."),
        ]
    )
    t = before[-1].created_at + timedelta(seconds=5)
    call = ToolCall(
        id="call_1", name="list_slots", args={"specialty": "cardiologia", "date": "2026-01-20"}
    )
    tool = [
        Message(role="assistant", content="", tool_calls=[call], created_at=t),
        Message(
            role="tool",
            name="list_slots",
            tool_call_id="call_1",
            content='["09:00", "14:30"]',
            created_at=t,
        ),
    ]
    after = conversation(
        [
            (
                "assistant",
                "A Dra. Helena Costa tem horários na terça-feira, 20/01/2026, às 09:00 ou às "
                "14:30. Qual prefere?",
            ),
            ("user", "Às 14:30. Ok, obrigada!"),
            (
                "assistant",
                "Agendado: consulta com a Dra. Helena Costa em 20/01/2026 às 14:30, pela "
                "Unimed. Chegue 15 minutos antes com documento e carteirinha.",
            ),
            ("user", "Ótimo, muito obrigada!"),
            ("assistant", "Por nada, Maria. Tenha um ótimo dia!"),
        ],
        start=t + timedelta(seconds=10),
    )
    return before + tool + after


SMALL_TALK = [
    ("user", "Nossa, que calor hoje, né?"),
    ("assistant", "Verdade, está muito quente mesmo!"),
    ("user", "Vi o jogo do Flamengo ontem, foi incrível."),
    ("assistant", "Que legal! Foi um ótimo jogo."),
    ("user", "Meu cachorro não para de latir hoje kkk"),
    ("assistant", "Haha, cachorros são assim mesmo."),
    ("user", "Você gosta de música?"),
    ("assistant", "Gosto sim! E você, qual seu estilo favorito?"),
    ("user", "Gosto de samba e de MPB, principalmente Caetano Veloso."),
    ("assistant", "Ótima escolha!"),
    ("user", "Ok, obrigada pela conversa."),
    ("assistant", "Por nada! Estou à disposição."),
]

_PREFIX = re.compile(r"(?:user|assistant|operator|system)(?: \([^()\n]*\))?: ")


def assert_extractive(summary: str, sources: list[str]) -> None:
    """Every sentence of ``summary`` (tool lines aside) is a substring of a source text."""
    for line in summary.splitlines():
        if line.startswith("tool "):
            continue
        prefix = _PREFIX.match(line)
        body = line[prefix.end() :] if prefix else line
        for sentence in split_sentences(body):
            assert any(sentence in source for source in sources), (sentence, summary)


# ------------------------------------------------------------------------------------------
# Budget, content, incremental merge, determinism
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [COUNT, words], ids=["default-tokenizer", "words"])
@pytest.mark.parametrize("budget", [1, 2, 3, 5, 8, 13, 21, 34, 55, 80, 120, 200, 300, 1000])
def test_summary_stays_within_budget(budget: int, count: Callable[[str], int]) -> None:
    summarizer = ExtractiveSummarizer(count=count)
    dialogue = clinic_dialogue()
    summary = summarizer.summarize("", dialogue, "medical", max_tokens=budget)
    assert count(summary) <= budget
    again = summarizer.summarize(summary, dialogue[:5], "medical", max_tokens=budget)
    assert count(again) <= budget


def test_default_budget_is_300_tokens() -> None:
    summarizer = ExtractiveSummarizer()
    long_dialogue = clinic_dialogue() * 6
    assert COUNT(summarizer.summarize("", long_dialogue, "medical")) <= 300
    assert COUNT(summarizer.summarize("", long_dialogue, "medical", max_tokens=None)) <= 300


def test_keeps_names_numbers_and_dates_and_drops_greetings() -> None:
    dialogue = clinic_dialogue()
    full = render_transcript(dialogue)
    summary = ExtractiveSummarizer().summarize("", dialogue, "medical", max_tokens=120)

    assert COUNT(summary) <= 120 < COUNT(full) / 2
    for fact in ("Maria Aparecida Souza", "Unimed", "dipirona", "Helena Costa", "20/01/2026"):
        assert fact in summary, (fact, summary)
    assert "14:30" in summary
    for greeting in ("Bom dia", "bom dia", "Oi", "obrigada", "Tenha um ótimo dia", "Como posso"):
        assert greeting not in summary, (greeting, summary)
    assert_extractive(summary, [m.text for m in dialogue])


def test_greetings_are_dropped_even_with_budget_to_spare() -> None:
    summary = ExtractiveSummarizer().summarize("", clinic_dialogue(), "medical", max_tokens=5000)
    for greeting in ("Bom dia", "Oi,", "obrigada", "Tenha um ótimo dia", "Como posso", "Claro"):
        assert greeting not in summary, (greeting, summary)
    assert "losartana 50 mg" in summary  # and every fact is there
    only_greetings = conversation(
        [("user", "Oi, boa tarde!"), ("assistant", "Boa tarde! Como posso ajudar?")]
    )
    assert ExtractiveSummarizer().summarize("", only_greetings) == ""


def test_speaker_prefixes_and_chronological_order() -> None:
    dialogue = clinic_dialogue()
    summary = ExtractiveSummarizer().summarize("", dialogue, "medical", max_tokens=300)
    lines = summary.splitlines()
    assert all(re.match(r"user: |assistant: |tool list_slots", line) for line in lines), lines
    positions = []
    for line in lines:
        if line.startswith("tool "):
            positions.append(next(i for i, m in enumerate(dialogue) if m.tool_calls))
            continue
        first = split_sentences(line.split(": ", 1)[1])[0]
        positions.append(next(i for i, m in enumerate(dialogue) if first in m.text))
    assert positions == sorted(positions)
    assert len(lines) >= 6


def test_tool_call_and_result_become_one_compact_line() -> None:
    summary = ExtractiveSummarizer().summarize("", clinic_dialogue(), "medical", max_tokens=1000)
    tool_lines = [line for line in summary.splitlines() if line.startswith("tool ")]
    assert tool_lines == ["tool list_slots(specialty=cardiologia, date=2026-01-20) -> 09:00, 14:30"]
    # An orphan result (its call folded earlier) still gets one line.
    orphan = [Message(role="tool", tool_call_id="x", name="book", content='{"status": "ok"}')]
    assert ExtractiveSummarizer().summarize("", orphan) == "tool book -> status=ok"


def test_incremental_merge_keeps_an_early_allergy_across_small_talk() -> None:
    summarizer = ExtractiveSummarizer()
    budget = 60
    first = conversation(
        [
            ("user", "Oi, tudo bem? Sou alérgica a penicilina, viu."),
            ("assistant", "Obrigada por avisar! Anotei a alergia a penicilina."),
        ]
    )
    summary = summarizer.summarize("", first, "medical", max_tokens=budget)
    assert "penicilina" in summary
    sources = [m.text for m in first]
    for increment in range(10):
        start = (increment * 3) % len(SMALL_TALK)
        chunk = conversation(SMALL_TALK[start : start + 4])
        sources += [m.text for m in chunk]
        summary = summarizer.summarize(summary, chunk, "medical", max_tokens=budget)
        assert "alérgica a penicilina" in summary, (increment, summary)
        assert COUNT(summary) <= budget
        assert_extractive(summary, sources)
    # The generic vertical treats allergies as critical too.
    generic = summarizer.summarize("", first, "generic", max_tokens=40)
    for increment in range(10):
        chunk = conversation(SMALL_TALK[increment : increment + 3])
        generic = summarizer.summarize(generic, chunk, "generic", max_tokens=40)
    assert "penicilina" in generic


def test_incremental_merge_lets_new_facts_in() -> None:
    # Pinned to the offline estimate: the default tokenizer becomes o200k when a package that
    # ships its file (llama-index-core) is installed, and at 60 o200k tokens the booking line
    # does not fit beside the kept small talk (it does from 70); see the closing note.
    estimate = EstimatingTokenizer().count
    summarizer = ExtractiveSummarizer(count=estimate)
    summary = summarizer.summarize(
        "", conversation(SMALL_TALK[:6] + SMALL_TALK[8:9]), "medical", max_tokens=60
    )
    booking = conversation(
        [
            ("user", "Preciso remarcar minha consulta com o Dr. Gustavo Lima."),
            (
                "assistant",
                "Remarcado para quinta-feira, 22/01/2026, às 10:30 com o Dr. Gustavo Lima.",
            ),
        ]
    )
    summary = summarizer.summarize(summary, booking, "medical", max_tokens=60)
    assert "22/01/2026" in summary and "10:30" in summary, summary
    assert estimate(summary) <= 60


def test_previous_summary_from_an_llm_is_merged_too() -> None:
    previous = "- Paciente: João Pereira, CPF 123.456.789-00.\n- Alergia a látex."
    chunk = conversation(SMALL_TALK[:4])
    summary = ExtractiveSummarizer().summarize(previous, chunk, "dental", max_tokens=40)
    assert "123.456.789-00" in summary and "látex" in summary, summary
    assert_extractive(summary, [previous, *(m.text for m in chunk)])
    # An empty chunk only re-compresses the previous summary into the (smaller) budget.
    shorter = ExtractiveSummarizer().summarize(previous, [], "dental", max_tokens=12)
    assert COUNT(shorter) <= 12 and "látex" in shorter


def test_deterministic() -> None:
    dialogue = clinic_dialogue()
    outputs = {
        ExtractiveSummarizer().summarize("", dialogue, "medical", max_tokens=budget)
        for budget in (90, 90, 90)
    }
    assert len(outputs) == 1
    summarizer = ExtractiveSummarizer()
    first = summarizer.summarize("", dialogue, "medical", max_tokens=90)
    assert summarizer.summarize("", dialogue, "medical", max_tokens=90) == first


def test_deterministic_across_processes_and_hash_seeds() -> None:
    """Set iteration order changes with PYTHONHASHSEED; the summary must not."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.unit.test_extractive import clinic_dialogue;"
        "from langmem_tiered.compression import ExtractiveSummarizer;"
        "print(ExtractiveSummarizer().summarize('', clinic_dialogue(), 'medical', max_tokens=90))"
    )
    root = str(Path(__file__).resolve().parents[2])
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code, root],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop().strip() == ExtractiveSummarizer().summarize(
        "", clinic_dialogue(), "medical", max_tokens=90
    )


def test_fast_enough() -> None:
    summarizer = ExtractiveSummarizer()
    chunk = (clinic_dialogue() + conversation(SMALL_TALK))[:20]
    previous = summarizer.summarize("", chunk, "medical", max_tokens=200)
    summarizer.summarize(previous, chunk, "medical", max_tokens=200)  # warm up
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        summarizer.summarize(previous, chunk, "medical", max_tokens=200)
    per_fold = (time.perf_counter() - started) / runs
    assert per_fold < 0.02, f"{per_fold * 1000:.2f} ms per fold of 20 messages"


# ------------------------------------------------------------------------------------------
# Sentence splitting
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Falei com o Dr. Gustavo às 10:30. Ele pediu exames.",
            ["Falei com o Dr. Gustavo às 10:30.", "Ele pediu exames."],
        ),
        ("A Dra. Ana e a Sra. Lúcia chegaram.", ["A Dra. Ana e a Sra. Lúcia chegaram."]),
        ("Tenho febre de 37.5 graus! E agora?", ["Tenho febre de 37.5 graus!", "E agora?"]),
        (
            "Use, p.ex. compressas frias. Depois volte.",
            ["Use, p.ex. compressas frias.", "Depois volte."],
        ),
        ("Consulta em 01/12/2026 às 14h30. Ok?", ["Consulta em 01/12/2026 às 14h30.", "Ok?"]),
        ("¿Tiene cita? Sí, el lunes.", ["¿Tiene cita?", "Sí, el lunes."]),
        ("Maria J. Souza ligou. Vai voltar…", ["Maria J. Souza ligou.", "Vai voltar…"]),
        ("1. Tomar o remédio\n2. Voltar em 7 dias", ["1. Tomar o remédio", "2. Voltar em 7 dias"]),
        (
            "Email: ana@clinica.com.br. Tel (11) 99999-1234.",
            ["Email: ana@clinica.com.br.", "Tel (11) 99999-1234."],
        ),
        ("Casa nº. 12 da rua. Fim.", ["Casa nº. 12 da rua.", "Fim."]),
        ("  \n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_overlong_sentence_is_cut_into_clauses() -> None:
    text = ", ".join(f"item {i} da lista" for i in range(40)) + "."
    pieces = split_sentences(text)
    assert len(pieces) > 1
    assert all(len(piece.split()) <= 40 and piece in text for piece in pieces)
    assert " ".join(pieces) == text


# ------------------------------------------------------------------------------------------
# Protocol, errors
# ------------------------------------------------------------------------------------------


async def test_protocol_and_async_twin() -> None:
    summarizer = ExtractiveSummarizer(max_tokens=80)
    assert isinstance(summarizer, Summarizer)
    assert summarizer.name == "extractive"
    dialogue = clinic_dialogue()
    assert await summarizer.asummarize("", dialogue, "medical") == summarizer.summarize(
        "", dialogue, "medical"
    )
    assert await summarizer.asummarize("", dialogue, max_tokens=40) == summarizer.summarize(
        "", dialogue, max_tokens=40
    )


async def test_unknown_vertical_and_bad_budget_raise() -> None:
    summarizer = ExtractiveSummarizer()
    dialogue = clinic_dialogue()
    with pytest.raises(InvalidInputError, match="unknown vertical 'veterinary'"):
        summarizer.summarize("", dialogue, "veterinary")
    with pytest.raises(InvalidInputError):
        summarizer.summarize("", [], "Medical")  # checked even with nothing to summarize
    with pytest.raises(InvalidInputError):
        await summarizer.asummarize("", dialogue, "veterinary")
    with pytest.raises(InvalidInputError):
        render_summary_prompt("", dialogue, "veterinary")
    for bad in (0, -5, True):
        with pytest.raises(InvalidInputError):
            summarizer.summarize("", dialogue, max_tokens=bad)
        with pytest.raises(InvalidInputError):
            render_summary_prompt("", dialogue, max_tokens=bad)
        with pytest.raises(ConfigurationError):
            ExtractiveSummarizer(max_tokens=bad)


# ------------------------------------------------------------------------------------------
# Prompts
# ------------------------------------------------------------------------------------------

MUST_SURVIVE_WORDS = {
    "generic": ["names", "decisions", "next steps", "dates", "amounts"],
    "medical": ["allergies", "medications", "symptoms", "procedures", "insurance"],
    "dental": ["allergies", "teeth", "procedures", "root canal", "anticoagulants"],
    "legal": ["parties", "deadlines", "case and process numbers", "hearing", "settlement"],
    "retail": ["order numbers", "products", "addresses", "payment method and status", "refund"],
}


@pytest.mark.parametrize("vertical", VERTICALS)
def test_each_vertical_renders_its_prompt(vertical: str) -> None:
    previous = "user: Maria Aparecida Souza, alérgica a dipirona."
    chat = render_summary_prompt(previous, clinic_dialogue()[8:14], vertical, 150)
    assert [m["role"] for m in chat] == ["system", "user"]
    system, user = chat[0]["content"], chat[1]["content"]
    for item in VERTICAL_GUIDES[vertical].must_survive:
        assert item in system
    for item in VERTICAL_GUIDES[vertical].may_drop:
        assert item in system
    for word in MUST_SURVIVE_WORDS[vertical]:
        assert word in system, (vertical, word)
    assert "greetings" in system and "language of the conversation" in system
    assert previous in user
    assert "at most 150 tokens" in user
    assert "user: Sim, sou alérgica a dipirona." in user
    assert (
        "assistant -> tool list_slots(specialty=cardiologia, date=2026-01-20) -> 09:00, 14:30"
        in user
    )
    assert "Oi, bom dia" not in user  # only the new messages are sent
    assert "--- Mon 2026-01-12 ---" in user


def test_prompt_first_fold_and_versioning() -> None:
    chat = render_summary_prompt("", clinic_dialogue()[:2])
    assert "(none yet)" in chat[1]["content"]
    assert "at most" not in chat[1]["content"]
    assert isinstance(SUMMARY_PROMPT_VERSION, int) and SUMMARY_PROMPT_VERSION >= 1
    assert render_summary_prompt("", clinic_dialogue()[:2]) == chat  # deterministic


def test_prompt_templates_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        prompts_module, "DEFAULT_SUMMARY_SYSTEM_PROMPT", "Summarize for {domain}.\n{must_survive}"
    )
    chat = render_summary_prompt("", clinic_dialogue()[:2], "legal")
    assert chat[0]["content"].startswith("Summarize for a law office.\n- parties")
    custom = render_summary_prompt(
        "old", clinic_dialogue()[:2], user_prompt="Old: {previous_summary}\nNew:\n{messages}"
    )
    assert custom[1]["content"].startswith("Old: old\nNew:\n--- Mon 2026-01-12 ---\nuser: Oi")
    with pytest.raises(ConfigurationError, match="unknown placeholder"):
        render_summary_prompt("", [], user_prompt="{nope}")


def test_transcript_shows_names_orphans_and_day_changes() -> None:
    day_two = T0 + timedelta(days=1)
    messages = [
        Message(role="operator", name="Ana", content="Assumi o atendimento.", created_at=T0),
        Message(
            role="tool",
            tool_call_id="gone",
            name="get_order",
            content='{"id": 4821, "items": [{"sku": "A1", "qty": 2}], "paid": true}',
            created_at=day_two,
        ),
    ]
    assert render_transcript(messages) == (
        "--- Mon 2026-01-12 ---\n"
        "operator (Ana): Assumi o atendimento.\n"
        "--- Tue 2026-01-13 ---\n"
        "tool get_order -> id=4821, items=[(sku=A1, qty=2)], paid=true"
    )
    long_result = [Message(role="tool", tool_call_id="x", content="x" * 1000)]
    assert len(render_transcript(long_result, max_tool_chars=50)) < 100


# ------------------------------------------------------------------------------------------
# Property: within budget and extractive, for any messages
# ------------------------------------------------------------------------------------------

_VOCABULARY = [
    "Maria", "Dr.", "Dra.", "Sra.", "Helena", "Unimed", "consulta", "alergia", "dipirona",
    "agendado", "confirmado", "prazo", "order", "#4821", "R$ 350,00", "$59.90", "10:30",
    "14h", "01/12/2026", "2026-01-20", "p.ex.", "37.5", "oi", "bom dia", "obrigado", "ok",
    "thanks", "hola", "gracias", "¿qué?", "sim", "no", "will", "next", "vou", "amanhã",
    "ana@x.com", "(11) 99999-1234", "123.456.789-00", ".", ",", "!", "?", "…", "\n", "- ",
    "tool", "user:", "assistant:", "(", ")", "etc.", "nº.", "1.", "J.",
]  # fmt: skip
_texts = st.one_of(
    st.lists(st.sampled_from(_VOCABULARY), max_size=30).map(" ".join),
    st.text(max_size=120),
)
_roles = st.sampled_from(["user", "assistant", "operator", "system"])


@st.composite
def _messages(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    for i in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 5)) == 0:  # a tool call with (usually) its result
            call = ToolCall(id=f"c{i}", name="lookup", args={"q": draw(_texts)})
            messages.append(Message(role="assistant", content=draw(_texts), tool_calls=[call]))
            if draw(st.booleans()):
                messages.append(Message(role="tool", tool_call_id=f"c{i}", content=draw(_texts)))
            continue
        name = draw(st.one_of(st.none(), st.sampled_from(["Ana", "x)y: z", "João Silva"])))
        messages.append(Message(role=draw(_roles), content=draw(_texts), name=name))
    return messages


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=_messages(),
    previous=st.one_of(st.just(""), _texts),
    budget=st.integers(1, 250),
    vertical=st.sampled_from(VERTICALS),
    use_words=st.booleans(),
)
def test_property_within_budget_and_extractive(
    messages: list[Message], previous: str, budget: int, vertical: str, use_words: bool
) -> None:
    count = words if use_words else COUNT
    summarizer = ExtractiveSummarizer(count=count)
    summary = summarizer.summarize(previous, messages, vertical, max_tokens=budget)
    assert count(summary) <= budget
    sources = [previous, *(m.text for m in messages)]
    assert_extractive(summary, sources)
    assert summarizer.summarize(previous, messages, vertical, max_tokens=budget) == summary
    # Folding the summary again (the next increment) keeps both properties.
    again = summarizer.summarize(summary, messages[:3], vertical, max_tokens=budget)
    assert count(again) <= budget
    assert_extractive(again, [summary, *sources])
