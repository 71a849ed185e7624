"""The offline fact extractor, the fact prompt and its parser (pure; no services).

The labelled set ``tests/data/facts_labelled.jsonl`` holds messages in Portuguese, English and
Spanish, each with the operations a careful annotator expects (positives, and hard negatives
such as CPF/CNPJ with wrong check digits, "sou alérgica" without an object, "my name is not
important", order numbers, card numbers and greetings). Its ``split`` says how it was written:
``dev`` alongside the rules; ``holdout`` (60 messages) and ``fresh`` (30) afterwards, in a
looser, more colloquial style, and scored before the rules were changed for them: P 0.957 /
R 0.865 and P 0.963 / R 0.929 on that first run. The rules were then fixed for the general
causes of those misses, so every split has now been seen by the rules' author.

Print the figures with::

    .venv/bin/python -m pytest tests/unit/test_fact_rules.py -k labelled -s -q
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from langmem_tiered.compliance._scoring import Score
from langmem_tiered.errors import ConfigurationError, InvalidInputError
from langmem_tiered.facts import (
    DEFAULT_MULTI_VALUED_KEYS,
    FACT_EXTRACTION_SCHEMA,
    FACT_PROMPT_VERSION,
    Fact,
    FactExtractor,
    FactOperation,
    RuleBasedExtractor,
    parse_fact_operations,
    render_fact_prompt,
)
from langmem_tiered.facts.rules import valid_cnpj, valid_cpf
from langmem_tiered.models import Message

LABELLED = Path(__file__).resolve().parents[1] / "data" / "facts_labelled.jsonl"
T = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)  # a Tuesday; the set's reference time

# A wrong fact is worse than a missing one: it is injected into every later prompt and can
# retire a correct value by UPDATE, while a missed fact is usually restated by the user (and
# an LLM extractor can complement the rules). Hence the higher bar for precision. On text the
# rules had never seen, the first runs gave P 0.957 / R 0.865 (holdout, 60 messages) and
# P 0.963 / R 0.929 (fresh, 30 messages); the thresholds sit at or above those untuned
# figures, so a change that makes the rules worse than that on the whole set fails, while a
# handful of regressions among the ~200 expected facts still pass.
MIN_PRECISION = 0.97
MIN_RECALL = 0.93
MIN_PER_LANGUAGE = 0.90


def _fact(key: str, value: Any, n: int = 1, *, invalid_at: datetime | None = None) -> Fact:
    return Fact(
        id=n,
        key=key,
        value=value,
        valid_at=T - timedelta(days=90),
        invalid_at=invalid_at,
        created_at=T - timedelta(days=90),
        created_by="test",
    )


def _msg(text: str, seq: int | None = 1, role: str = "user", at: datetime = T) -> Message:
    return Message(role=role, content=text, seq=seq, created_at=at)


def _ops(text: str, current: Sequence[Fact] = (), **kwargs: Any) -> list[tuple[str, str, Any]]:
    extractor = RuleBasedExtractor(**kwargs)
    return [(o.op, o.key, o.value) for o in extractor.extract([_msg(text)], current)]


def _values(text: str, key: str, **kwargs: Any) -> list[Any]:
    return [value for _, k, value in _ops(text, **kwargs) if k == key]


# --- the labelled set ----------------------------------------------------------------------------


def _load() -> list[dict[str, Any]]:
    with LABELLED.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _predict(row: dict[str, Any], extractor: RuleBasedExtractor) -> set[tuple[str, str, str]]:
    messages = [
        _msg(p["text"], seq=i + 1, role=p["role"]) for i, p in enumerate(row.get("prev", []))
    ]
    seq = len(messages) + 1
    messages.append(_msg(row["text"], seq=seq, role=row["role"]))
    current = [_fact(c["key"], c["value"], i + 1) for i, c in enumerate(row.get("current", []))]
    return {
        (o.op, o.key, json.dumps(o.value, ensure_ascii=False))
        for o in extractor.extract(messages, current)
        if seq in o.source_seqs  # only what the labelled message itself states
    }


def _evaluate() -> tuple[dict[str, Score], list[str]]:
    extractor = RuleBasedExtractor()
    scores: dict[str, Score] = defaultdict(Score)
    misses: list[str] = []
    for row in _load():
        expected = {
            (e["op"], e["key"], json.dumps(e["value"], ensure_ascii=False)) for e in row["expected"]
        }
        predicted = _predict(row, extractor)
        for group in ("all", f"lang:{row['lang']}", f"split:{row['split']}"):
            score = scores[group]
            score.tp += len(predicted & expected)
            score.fp += len(predicted - expected)
            score.fn += len(expected - predicted)
        if predicted != expected:
            misses.append(
                f"{row['id']}: {row['text']!r} extra={sorted(predicted - expected)} "
                f"missing={sorted(expected - predicted)}"
            )
    return scores, misses


def test_labelled_set_is_big_and_varied() -> None:
    rows = _load()
    assert len(rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows)
    for lang in ("pt", "en", "es"):
        assert sum(r["lang"] == lang for r in rows) >= 20
    assert sum(not r["expected"] for r in rows) >= 30  # hard negatives
    assert sum(len(r["expected"]) for r in rows) >= 60


def test_labelled_precision_and_recall() -> None:
    """Exact (op, key, value) match; prints the figures (run with -s to see them)."""
    scores, misses = _evaluate()
    for group in sorted(scores):
        s = scores[group]
        print(  # noqa: T201 - the figures are this test's report
            f"facts {group:<14} precision={s.precision:.3f} recall={s.recall:.3f} "
            f"(tp={s.tp} fp={s.fp} fn={s.fn})"
        )
    for miss in misses:
        print("  miss", miss)  # noqa: T201
    total = scores["all"]
    assert total.precision >= MIN_PRECISION, misses
    assert total.recall >= MIN_RECALL, misses
    for lang in ("pt", "en", "es"):
        assert scores[f"lang:{lang}"].precision >= MIN_PER_LANGUAGE, misses
        assert scores[f"lang:{lang}"].recall >= MIN_PER_LANGUAGE, misses


def test_fast_enough_per_message() -> None:
    extractor = RuleBasedExtractor()
    messages = [_msg(row["text"]) for row in _load()]
    for message in messages[:10]:  # warm up phonenumbers' lazily loaded metadata
        extractor.extract([message], [])
    start = time.perf_counter()
    for message in messages:
        extractor.extract([message], [])
    mean = (time.perf_counter() - start) / len(messages)
    print(f"rule extractor: {mean * 1e6:.0f} µs per message ({len(messages)})")  # noqa: T201
    assert mean < 0.001


# --- protocol and operations ---------------------------------------------------------------------


def test_is_a_fact_extractor() -> None:
    extractor = RuleBasedExtractor()
    assert isinstance(extractor, FactExtractor)
    assert extractor.name == "rules"


async def test_aextract_matches_extract() -> None:
    extractor = RuleBasedExtractor()
    messages = [_msg("meu nome é Ana e prefiro de manhã")]
    assert await extractor.aextract(messages, []) == extractor.extract(messages, [])


def test_preference_update_within_a_batch() -> None:
    messages = [
        _msg("Prefiro horários de manhã", seq=3),
        _msg("ok", seq=4, role="assistant"),
        _msg("agora prefiro à tarde", seq=5, at=T + timedelta(days=90)),
    ]
    ops = RuleBasedExtractor().extract(messages, [])
    assert [(o.op, o.key, o.value, o.source_seqs) for o in ops] == [
        ("ADD", "preferred_times", "morning", [3]),
        ("UPDATE", "preferred_times", "afternoon", [5]),
    ]


def test_preference_update_against_current_facts() -> None:
    morning = _fact("preferred_times", "morning")
    assert _ops("agora prefiro tarde", [morning]) == [("UPDATE", "preferred_times", "afternoon")]
    assert _ops("prefiro de manhã", [morning]) == []  # same value: nothing (never NONE)
    retired = _fact("preferred_times", "morning", invalid_at=T - timedelta(days=1))
    assert _ops("prefiro de manhã", [retired]) == [("ADD", "preferred_times", "morning")]


def test_allergy_retraction() -> None:
    current = [_fact("allergies", "dipirona", 1), _fact("allergies", "látex", 2)]
    assert _ops("Não tenho mais alergia a Dipirona", current) == [
        ("INVALIDATE", "allergies", "dipirona")
    ]
    assert _ops("I'm not allergic to latex anymore", current) == [
        ("INVALIDATE", "allergies", "látex")  # the stored value, matched without accents
    ]
    assert _ops("ya no soy alérgica a la penicilina", current) == []  # not current: nothing
    assert _ops("não tenho alergia a nada", current) == []


def test_multi_valued_allergies_accumulate() -> None:
    current = [_fact("allergies", "dipirona")]
    assert _ops("sou alérgica a dipirona e a penicilina", current) == [
        ("ADD", "allergies", "penicilina")
    ]
    ops = RuleBasedExtractor().extract(
        [_msg("alergia a látex", seq=1), _msg("não sou mais alérgica a látex", seq=2)], []
    )
    assert [(o.op, o.value) for o in ops] == [("ADD", "látex"), ("INVALIDATE", "látex")]


def test_custom_multi_valued_keys() -> None:
    current = [_fact("phones", "+5511987654321")]
    text = "meu celular agora é (11) 91234-5678"
    assert _ops(text, current) == [("ADD", "phones", "+5511912345678")]
    single = RuleBasedExtractor(multi_valued_keys={"allergies"})
    assert [(o.op, o.value) for o in single.extract([_msg(text)], current)] == [
        ("UPDATE", "+5511912345678")
    ]


def test_provenance_and_evidence() -> None:
    text = "Oi! Meu CPF é 529.982.247-25, obrigada"
    (op,) = RuleBasedExtractor().extract([_msg(text, seq=42)], [])
    assert op.source_seqs == [42]
    assert op.evidence == "529.982.247-25" and op.evidence in text
    assert op.valid_at is None and 0 < op.confidence <= 1
    (unsaved,) = RuleBasedExtractor().extract([_msg(text, seq=None)], [])
    assert unsaved.source_seqs == []


def test_since_sets_valid_at() -> None:
    (op,) = RuleBasedExtractor().extract([_msg("tenho alergia a dipirona desde março")], [])
    assert op.valid_at == datetime(2026, 3, 1, tzinfo=timezone.utc)
    (op,) = RuleBasedExtractor().extract([_msg("I've preferred evenings since October")], [])
    assert op.value == "evening" and op.valid_at == datetime(2025, 10, 1, tzinfo=timezone.utc)
    (op,) = RuleBasedExtractor().extract([_msg("soy alérgico al polen desde 2019")], [])
    assert op.valid_at == datetime(2019, 1, 1, tzinfo=timezone.utc)


def test_last_mention_of_a_single_valued_key_wins() -> None:
    assert _values("prefiro de manhã... não, melhor à tarde", "preferred_times") == ["afternoon"]


def test_tool_and_system_messages_are_ignored() -> None:
    messages = [
        Message(role="system", content="meu nome é Sistema", seq=1, created_at=T),
        Message(
            role="tool", content='{"email": "a@b.com"}', tool_call_id="c1", seq=2, created_at=T
        ),
    ]
    assert RuleBasedExtractor().extract(messages, []) == []


# --- rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("meu nome é maria da silva e quero marcar", "Maria da Silva"),
        ("Me chamo JOÃO PEDRO", "João Pedro"),
        ("Sou a Fernanda, tudo bem?", "Fernanda"),
        ("my name is mary-jane watson", "Mary-Jane Watson"),
        ("Hi, I'm Sarah Connor", "Sarah Connor"),
        ("me llamo carlos y quiero una cita", "Carlos"),
        ("Mi nombre es María José de la Cruz", "María José de la Cruz"),
        ("Name: Emily Watson", "Emily Watson"),
    ],
)
def test_names(text: str, name: str) -> None:
    assert _values(text, "name") == [name]


@pytest.mark.parametrize(
    "text",
    [
        "sou alérgica a dipirona",
        "Sou paciente nova",
        "I'm allergic to penicillin",
        "I'm fine, thanks",
        "I'm Brazilian",
        "my name is not important",
        "meu nome é complicado",
        "soy de Madrid",
        "My wife's name is Ana",
        "I'm Dr. Roberts' patient",
    ],
)
def test_not_names(text: str) -> None:
    assert _values(text, "name") == []


def test_emails() -> None:
    assert _values("email: Joao.Silva+clinica@Example.COM.br.", "emails") == [
        "joao.silva+clinica@example.com.br"
    ]
    assert _values("a@b, x@@y.com, foo@bar..com, .a@b.com", "emails") == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("meu celular é (11) 98765-4321", "+5511987654321"),
        ("whats 11987654321", "+5511987654321"),
        ("+55 11 98765-4321", "+5511987654321"),
        ("fixo: (21) 3456-7890", "+552134567890"),
        ("cel 11 9 8765-4321", "+5511987654321"),
        ("my phone is +1 415 555 2671", "+14155552671"),
        ("call me at 415-555-2671", "+14155552671"),
        ("mi móvil es +34 612 34 56 78", "+34612345678"),
        ("mi móvil es 612 34 56 78", "+34612345678"),
    ],
)
def test_phones(text: str, phone: str) -> None:
    assert _values(text, "phones") == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "pedido 12345678901",
        "The order number is 4155552671",
        "protocolo 20240312345",
        "o cartão é 4111 1111 1111 1111",
        "dia 03/12/2025 às 14:30",
        "CEP 01310-100",
        "My number is 555-1234",
        "Custa R$ 1.250,00",
    ],
)
def test_not_phones(text: str) -> None:
    assert _values(text, "phones") == []


def test_phone_default_region() -> None:
    assert _values("my cell is 415 555 2671", "phones", default_region="US") == ["+14155552671"]


def test_check_digits() -> None:
    assert valid_cpf("52998224725") and valid_cpf("11144477735")
    assert not valid_cpf("52998224726") and not valid_cpf("11111111111")
    assert not valid_cpf("1234567890") and not valid_cpf("5299822472a")
    assert valid_cnpj("11222333000181") and not valid_cnpj("11222333000180")
    assert valid_cnpj("12ABC34501DE35")  # the alphanumeric CNPJ (2026)
    assert not valid_cnpj("12ABC34501DE36") and not valid_cnpj("00000000000000")


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("meu cpf é 529.982.247-25", "cpf", "52998224725"),
        ("CPF 52998224725", "cpf", "52998224725"),
        ("cpf: 529982247-25", "cpf", "52998224725"),
        ("CNPJ 11.222.333/0001-81", "cnpj", "11222333000181"),
        ("cnpj 11222333000181", "cnpj", "11222333000181"),
        ("O CNPJ novo é 12.ABC.345/01DE-35", "cnpj", "12ABC34501DE35"),
    ],
)
def test_documents(text: str, key: str, value: str) -> None:
    assert _values(text, key) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "meu cpf é 529.982.247-26",
        "CPF 52998224724",
        "CPF: 000.000.000-00",
        "o cnpj é 11.222.333/0001-80",
        "pedido 52998224725",  # a valid CPF's digits, but no "cpf" before them
    ],
)
def test_invalid_documents_are_not_facts(text: str) -> None:
    keys = {key for _, key, _ in _ops(text)}
    assert not keys & {"cpf", "cnpj", "phones"}


@pytest.mark.parametrize(
    ("text", "day", "hour"),
    [
        ("Quero marcar consulta dia 03/12 às 14h", "2026-12-03", "14:00"),
        ("consulta amanhã às 9h30", "2026-03-11", "09:30"),
        ("agendar para depois de amanhã às 10:15", "2026-03-12", "10:15"),
        ("book an appointment on December 3rd at 2pm", "2026-12-03", "14:00"),
        ("schedule me for tomorrow at 3:30 p.m.", "2026-03-11", "15:30"),
        ("una cita el 3 de diciembre a las 3 de la tarde", "2026-12-03", "15:00"),
        ("cita para mañana por la mañana a las 10", "2026-03-11", "10:00"),
        ("consulta na sexta às 3", "2026-03-13", "15:00"),
        ("consulta na terça-feira às 8h", "2026-03-17", "08:00"),
        ("appointment on 2026-04-01 at 09:00", "2026-04-01", "09:00"),
        ("marcar dia 15 às 11h", "2026-03-15", "11:00"),
    ],
)
def test_appointment_dates_and_times(text: str, day: str, hour: str) -> None:
    assert _values(text, "appointment_date") == [day]
    assert _values(text, "appointment_time") == [hour]


@pytest.mark.parametrize(
    "text",
    [
        "tomo o remédio às 8h todo dia 15",  # no booking context
        "quero marcar dia 3 ou dia 5",  # ambiguous
        "a consulta de ontem às 10h foi ótima",  # the past
        "tive consulta dia 02/03",  # a recent past day, not next year
        "consulta em 03/12/2024",  # an explicit past year
    ],
)
def test_no_appointment(text: str) -> None:
    assert _values(text, "appointment_date") == []
    assert _values(text, "appointment_time") == []


def test_booking_context_from_previous_messages() -> None:
    messages = [
        _msg("Qual dia fica melhor para a consulta?", seq=1, role="assistant"),
        _msg("não posso dia 12, só dia 15", seq=2),
    ]
    ops = RuleBasedExtractor().extract(messages, [])
    assert [(o.key, o.value) for o in ops] == [("appointment_date", "2026-03-15")]
    alone = RuleBasedExtractor().extract([_msg("não posso dia 12, só dia 15")], [])
    assert alone == []


def test_relative_dates_use_the_time_zone() -> None:
    late = datetime(2026, 3, 11, 1, 30, tzinfo=timezone.utc)  # 22:30 on the 10th in São Paulo
    message = [_msg("consulta amanhã às 10h", at=late)]
    in_utc = RuleBasedExtractor().extract(message, [])
    local = RuleBasedExtractor(tz=ZoneInfo("America/Sao_Paulo")).extract(message, [])
    assert in_utc[0].value == "2026-03-12"
    assert local[0].value == "2026-03-11"


def test_day_first_setting() -> None:
    assert _values("appointment on 04/05", "appointment_date") == ["2026-05-04"]
    assert _values("appointment on 04/05", "appointment_date", day_first=False) == ["2026-04-05"]
    assert _values("appointment on 12/25", "appointment_date") == ["2026-12-25"]


def test_birth_date() -> None:
    assert _values("Nasci em 12/05/1988", "birth_date") == ["1988-05-12"]
    assert _values("born on July 4, 1985", "birth_date") == ["1985-07-04"]
    assert _values("nací el 15 de agosto de 1992", "birth_date") == ["1992-08-15"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("prefiro de manhã", "morning"),
        ("de manhã é melhor pra mim", "morning"),
        ("Boa tarde! Prefiro horários de manhã", "morning"),
        ("Não posso de manhã, prefiro à tarde", "afternoon"),
        ("só posso à noite", "evening"),
        ("I prefer evenings", "evening"),
        ("mornings work best for me", "morning"),
        ("prefiero por la tarde", "afternoon"),
        ("mejor por las mañanas", "morning"),
    ],
)
def test_preferences(text: str, value: str) -> None:
    assert _values(text, "preferred_times") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "boa tarde",
        "good morning, I'd prefer Dr. Lee",
        "prefiro mais tarde",  # later, not the afternoon
        "prefiro manhã ou tarde, tanto faz",
        "I'd rather not come in the morning",
        "prefiero mañana",  # Spanish: tomorrow
    ],
)
def test_not_preferences(text: str) -> None:
    assert _values(text, "preferred_times") == []


@pytest.mark.parametrize(
    ("text", "doctor"),
    [
        ("Quero marcar com o Dr. Gustavo", "Dr. Gustavo"),
        ("quero a Dra. Paula", "Dra. Paula"),
        ("com a doutora renata, por favor", "Dra. Renata"),
        ("with Dr. Smith please", "Dr. Smith"),
        ("con el Dr. García", "Dr. García"),
        ("prefiero la doctora María López", "Dra. María López"),
    ],
)
def test_doctor(text: str, doctor: str) -> None:
    assert _values(text, "doctor") == [doctor]


@pytest.mark.parametrize(
    "text", ["O Dr. Gustavo atende sábado?", "não quero com o Dr. Gustavo", "Is Dr. Lee in?"]
)
def test_not_doctor(text: str) -> None:
    assert _values(text, "doctor") == []


@pytest.mark.parametrize(
    ("text", "specialty"),
    [
        ("Preciso de uma consulta com cardiologista", "cardiology"),
        ("quero fazer ortodontia", "orthodontics"),
        ("I need to see a dermatologist", "dermatology"),
        ("busco un pediatra", "pediatrics"),
        ("consulta com clínico geral", "general practice"),
    ],
)
def test_specialty(text: str, specialty: str) -> None:
    assert _values(text, "specialty") == [specialty]


@pytest.mark.parametrize(
    "text", ["meu pai é cardiologista", "my GP said it's fine", "mi hermano es dermatólogo"]
)
def test_not_specialty(text: str) -> None:
    assert _values(text, "specialty") == []


@pytest.mark.parametrize(
    ("text", "insurance"),
    [
        ("meu convênio é Amil", "Amil"),
        ("tenho plano Unimed", "Unimed"),
        ("meu plano de saúde é bradesco saúde", "Bradesco Saúde"),
        ("my insurance is Aetna", "Aetna"),
        ("my insurance provider is Acme Health", "Acme Health"),
        ("mi seguro es Sanitas", "Sanitas"),
        ("vai ser particular", "self-pay"),
        ("I don't have insurance", "self-pay"),
        ("no tengo seguro", "self-pay"),
    ],
)
def test_insurance(text: str, insurance: str) -> None:
    assert _values(text, "insurance") == [insurance]


@pytest.mark.parametrize(
    "text", ["Vocês aceitam Amil?", "Do you take Cigna?", "meu convênio não é Amil"]
)
def test_not_insurance(text: str) -> None:
    assert _values(text, "insurance") == []


@pytest.mark.parametrize(
    ("text", "allergens"),
    [
        ("sou alérgica a dipirona", ["dipirona"]),
        ("alergia a penicilina, látex e frutos do mar", ["penicilina", "látex", "frutos do mar"]),
        ("I'm allergic to penicillin and peanuts", ["penicillin", "peanuts"]),
        ("I have a latex allergy", ["latex"]),
        ("soy alérgico a la penicilina", ["penicilina"]),
        ("tengo alergia al polen y quiero una cita", ["polen"]),
    ],
)
def test_allergies(text: str, allergens: list[str]) -> None:
    assert _values(text, "allergies") == allergens


@pytest.mark.parametrize(
    "text",
    [
        "sou alérgica",
        "I'm allergic to a lot of things",
        "minha filha é alérgica a amendoim",
        "my son is allergic to peanuts",
        "tenho alergia a alguns remédios",
    ],
)
def test_not_allergies(text: str) -> None:
    assert _values(text, "allergies") == []


def test_assistant_confirmations() -> None:
    extractor = RuleBasedExtractor()
    confirmed = _msg("Confirmado: terça 09:00 com Dr. Gustavo", role="assistant")
    ops = extractor.extract([confirmed], [])
    assert [(o.key, o.value) for o in ops] == [
        ("appointment_date", "2026-03-17"),
        ("appointment_time", "09:00"),
        ("doctor", "Dr. Gustavo"),
    ]
    assert all(o.confidence <= 0.7 for o in ops)
    offer = _msg("Temos horários às 9h, 10h e 14h com o Dr. Gustavo", role="assistant")
    question = _msg("Posso deixar confirmado terça 09:00?", role="assistant")
    identity = _msg("Confirmado! Meu nome é Ana, a assistente", role="assistant")
    assert extractor.extract([offer, question, identity], []) == []
    assert RuleBasedExtractor(use_confirmations=False).extract([confirmed], []) == []


# --- models --------------------------------------------------------------------------------------


def test_fact_operation_validation() -> None:
    op = FactOperation(op="ADD", key="preferred_times", value="morning")
    assert op.confidence == 1.0 and op.source_seqs == [] and op.valid_at is None
    with pytest.raises(InvalidInputError):
        FactOperation(op="ADD", key="Preferred Times", value="x")
    with pytest.raises(InvalidInputError):
        FactOperation(op="ADD", key="name", value=None)
    with pytest.raises(InvalidInputError):
        FactOperation(op="ADD", key="name", value="x", confidence=1.5)
    with pytest.raises(InvalidInputError):
        FactOperation(op="ADD", key="name", value="x", valid_at=datetime(2026, 1, 1))
    with pytest.raises(InvalidInputError):
        FactOperation(op="ADD", key="name", value=math.nan)
    with pytest.raises(InvalidInputError):
        FactOperation(op="REPLACE", key="name", value="x")
    retract_all = FactOperation(op="INVALIDATE", key="allergies")
    assert retract_all.value is None
    local = FactOperation(
        op="ADD", key="name", value="x", valid_at=datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("UTC"))
    )
    assert local.valid_at is not None and local.valid_at.tzinfo == timezone.utc


def test_fact_current() -> None:
    assert _fact("name", "Ana").current
    assert not _fact("name", "Ana", invalid_at=T).current
    assert {"allergies", "phones", "emails"} <= DEFAULT_MULTI_VALUED_KEYS
    assert "preferred_times" not in DEFAULT_MULTI_VALUED_KEYS


# --- prompt and parser ---------------------------------------------------------------------------


def test_render_prompt_contains_facts_keys_and_messages() -> None:
    current = [
        _fact("preferred_times", "morning", 1),
        _fact("allergies", "dipirona", 2),
        _fact("name", "Velho Nome", 3, invalid_at=T - timedelta(days=1)),
    ]
    messages = [
        _msg("agora prefiro à tarde", seq=7),
        Message(role="tool", content="ok", tool_call_id="c1", seq=8, created_at=T),
    ]
    system, user = render_fact_prompt(messages, current, {"allergies", "insurers_list"})
    assert system["role"] == "system" and user["role"] == "user"
    assert "allergies, insurers_list" in system["content"]
    assert "INVALIDATE" in system["content"] and "Never invent" in system["content"]
    assert 'preferred_times = "morning"' in user["content"]
    assert 'allergies = "dipirona"' in user["content"] and "multi-valued" in user["content"]
    assert "Velho Nome" not in user["content"]  # no longer current
    assert "[seq 7 | Tue 2026-03-10 14:00 UTC | user] agora prefiro à tarde" in user["content"]
    assert "seq 8" not in user["content"]
    assert FACT_PROMPT_VERSION >= 1


def test_render_prompt_defaults_and_templates() -> None:
    system, user = render_fact_prompt([], [])
    assert ", ".join(sorted(DEFAULT_MULTI_VALUED_KEYS)) in system["content"]
    assert "(none)" in user["content"] and "(no new messages)" in user["content"]
    custom = render_fact_prompt([], [], system_prompt="keys: {multi_valued_keys}")
    assert custom[0]["content"].startswith("keys: ")
    with pytest.raises(ConfigurationError):
        render_fact_prompt([], [], user_prompt="{unknown}")


def _strict_ok(schema: dict[str, Any]) -> None:
    """The rules of OpenAI's strict structured outputs that the schema must follow."""
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        for sub in schema["properties"].values():
            _strict_ok(sub)
    if schema.get("type") == "array":
        _strict_ok(schema["items"])
    for sub in schema.get("anyOf", []):
        _strict_ok(sub)


def test_schema_is_strict_mode_compatible() -> None:
    assert FACT_EXTRACTION_SCHEMA["type"] == "object"
    _strict_ok(FACT_EXTRACTION_SCHEMA)
    item = FACT_EXTRACTION_SCHEMA["properties"]["operations"]["items"]
    assert item["properties"]["op"]["enum"] == ["ADD", "UPDATE", "INVALIDATE", "NONE"]
    json.dumps(FACT_EXTRACTION_SCHEMA)


def test_parse_valid_answers() -> None:
    answer = {
        "operations": [
            {
                "op": "UPDATE",
                "key": "preferred_times",
                "value": "afternoon",
                "valid_at": None,
                "confidence": 0.9,
                "source_seqs": [7],
                "evidence": "agora prefiro à tarde",
            },
            {
                "op": "invalidate",
                "key": "Allergies",
                "value": "dipirona",
                "valid_at": "2026-03-01",
                "confidence": 1,
                "source_seqs": [8],
                "evidence": "não tenho mais alergia a dipirona",
                "reason": "extra fields are ignored",
            },
            {"op": "NONE", "key": "name", "value": None},
        ]
    }
    ops = parse_fact_operations(answer, allowed_seqs=[7, 8])
    assert [(o.op, o.key, o.value) for o in ops] == [
        ("UPDATE", "preferred_times", "afternoon"),
        ("INVALIDATE", "allergies", "dipirona"),
        ("NONE", "name", None),
    ]
    assert ops[1].valid_at == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert ops[2].confidence == 1.0 and ops[2].source_seqs == []
    text = "```json\n" + json.dumps(answer) + "\n```"
    assert parse_fact_operations(text) == ops
    assert parse_fact_operations(json.dumps(answer["operations"]).encode()) == ops
    assert parse_fact_operations('{"operations": []}') == []
    naive = parse_fact_operations(
        [{"op": "ADD", "key": "preferred times", "value": "x", "valid_at": "2026-03-01T10:00"}]
    )
    assert naive[0].key == "preferred_times"
    assert naive[0].valid_at == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "answer",
    [
        "not json",
        b"\xff\xfe",
        "42",
        {"ops": []},
        {"operations": {"op": "ADD"}},
        [{"key": "name", "value": "Ana"}],
        [{"op": "REPLACE", "key": "name", "value": "Ana"}],
        [{"op": "ADD", "key": "1name", "value": "Ana"}],
        [{"op": "ADD", "key": 5, "value": "Ana"}],
        [{"op": "ADD", "key": "name"}],
        [{"op": "UPDATE", "key": "name", "value": "  "}],
        [{"op": "ADD", "key": "name", "value": "Ana", "confidence": 1.2}],
        [{"op": "ADD", "key": "name", "value": "Ana", "confidence": True}],
        [{"op": "ADD", "key": "name", "value": "Ana", "confidence": "high"}],
        [{"op": "ADD", "key": "name", "value": "Ana", "source_seqs": ["1"]}],
        [{"op": "ADD", "key": "name", "value": "Ana", "source_seqs": 3}],
        [{"op": "ADD", "key": "name", "value": "Ana", "source_seqs": [-1]}],
        [{"op": "ADD", "key": "name", "value": "Ana", "valid_at": "yesterday"}],
        [{"op": "ADD", "key": "name", "value": "Ana", "valid_at": 20260301}],
        [{"op": "ADD", "key": "name", "value": "Ana", "evidence": ["x"]}],
        [{"op": "ADD", "key": "name", "value": {"bad": math.inf}}],
        [{"op": "ADD", "key": "name", "value": "A\x00na"}],
        ["ADD name Ana"],
        [{"op": "ADD", "key": "name", "value": "Ana"}] * 201,
    ],
)
def test_parse_rejects_malformed_answers(answer: Any) -> None:
    with pytest.raises(InvalidInputError):
        parse_fact_operations(answer)


def test_parse_rejects_unknown_seqs() -> None:
    answer = [{"op": "ADD", "key": "name", "value": "Ana", "source_seqs": [3, 99]}]
    assert parse_fact_operations(answer)[0].source_seqs == [3, 99]
    with pytest.raises(InvalidInputError, match="99"):
        parse_fact_operations(answer, allowed_seqs={1, 2, 3})


def test_reference_date_is_a_tuesday() -> None:
    assert date(2026, 3, 10).weekday() == 1
