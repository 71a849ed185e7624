"""An offline, deterministic fact extractor for Portuguese, English and Spanish.

:class:`RuleBasedExtractor` needs no model: regular expressions over an accent-folded,
lowercased copy of each message (same length as the original, so every match maps back to the
original text for evidence and casing), plus the ``phonenumbers`` library (Google's
libphonenumber metadata) for phone numbers. It is fast (well under a millisecond for a typical
chat message) and favours precision: when a message is ambiguous ("dia 3 ou dia 5"), it
extracts nothing rather than guess.

What it extracts, and from whom
-------------------------------
Everything below comes from ``user`` messages. ``assistant`` and ``operator`` messages are read
only when they *confirm* a booking (a confirmation word such as "Confirmado", "agendado",
"booked", "confirmada" and no question mark): then ``appointment_date``,
``appointment_time``, ``doctor`` and ``specialty`` are taken from them, with confidence capped
at 0.7, because the assistant states what was booked but may be wrong (the user's own
statement is the better evidence for everything about the user). Tool and system messages are
ignored.

Keys, what matches, the value, and the confidence:

* ``name`` (0.95): "meu nome é", "me chamo", "pode me chamar de", "my name is", "call me",
  "me llamo", "mi nombre es", "Name:" followed by a name, in proper case ("maria da silva" ->
  "Maria da Silva"). Weaker (0.75): "sou a/o X", "aqui é a X", "I'm X", "it's X", "this is
  X", "soy X", only for a Capitalized word that is not a common word ("sou alérgica", "I'm
  Brazilian", "I'm Dr. Roberts' patient" are not names).
* ``emails`` (multi-valued, 0.95): an RFC-ish address, lowercased.
* ``phones`` (multi-valued, 0.75-0.95): E.164, see *Phones*.
* ``cpf`` / ``cnpj`` (0.85-0.95): digits only, valid check digits only, see *Documents*.
* ``birth_date`` (0.9): a past date with its year next to "nasci", "nascimento", "born",
  "DOB", "nací", "nacimiento"..., as YYYY-MM-DD.
* ``appointment_date`` / ``appointment_time`` (0.85): YYYY-MM-DD / HH:MM, see *Dates*.
* ``preferred_times`` (0.9; 0.8 for a constraint): ``morning``, ``afternoon`` or ``evening``,
  when a preference ("prefiro", "é melhor", "prefer", "better", "prefiero", "mejor") or a
  constraint ("só posso", "only", "solo puedo") and one period of the day ("de manhã", "à
  tarde", "evenings", "por la noche"; not "boa tarde", "mais tarde" or Spanish "mañana"
  alone, which is tomorrow) share a clause with no negation in it.
* ``doctor`` (0.85): a choice word ("com", "quero", "trocar para", "with", "see", "switch
  to", "con", "quiero", "me atienda"...) then a title and a name: "Dr. Gustavo",
  "Dra. Paula Mendes" (doutor/doctor -> "Dr.", doutora/doctora -> "Dra."). A mere mention
  ("o Dr. Gustavo atende sábado?") is not a choice.
* ``specialty`` (0.8): a specialty word in a booking or need context, not after a copula or a
  possessive ("meu pai é cardiologista", "my GP referred me").
* ``insurance`` (0.9 / 0.85): "meu convênio é X", "my insurance is X", "mi seguro es X" (a
  known insurer, or a Capitalized name); a plan word or "tenho", "covered by", "voy por"
  next to a known insurer ("plano Unimed", "tengo Adeslas"); ``"self-pay"`` for
  "particular", "sem convênio", "out of pocket", "no insurance", "sin seguro". Questions
  ("vocês aceitam Amil?") are not facts.
* ``allergies`` (multi-valued, 0.9): "alérgico/a a X", "alergia a X", "allergic to X",
  "allergy to X", "a latex allergy", "alérgico a la X"; lists split on commas and
  "e/and/y"; vague objects ("a alguns remédios", "a lot of things") and other people's
  allergies ("minha filha é alérgica a...", "my son is allergic to...") are not facts.

Specialties are normalized to one canonical **English** name (``cardiology``,
``orthodontics``, ``general practice``...), whatever the language, like every other
normalized value (``morning``, ``self-pay``): a value means the same in every conversation.
Allergens, on the contrary, are kept as the user wrote them (lowercased), because translating a
drug or food name is exactly the kind of guess an extractor must not make.

Operations
----------
Messages are processed in order against a working copy of the current facts, so a batch
"prefiro de manhã" ... "agora prefiro à tarde" yields ADD then UPDATE. For a single-valued key:
ADD when there is no current value, UPDATE when the current value differs, nothing when it is
equal (the extractor never emits NONE). For a multi-valued key: ADD for a value not yet
current, nothing otherwise. A retraction ("não tenho mais alergia a dipirona", "I'm no longer
allergic to X", "ya no soy alérgica a X"; any negation before the allergy words in the same
clause) yields INVALIDATE of the matching current value, and nothing when that value is not
current (so "não tenho alergia a nada" states no fact). Values are compared accent- and
case-insensitively. Within one message, the last mention of a single-valued key wins.

Each operation carries ``source_seqs = [message.seq]`` (empty when the message has no seq
yet), the matched span as ``evidence``, and ``valid_at`` None (the message's time), except
that "desde março" / "since March" / "desde 2020" in the message dates the message's
non-appointment facts from that moment (the first day of that month, or of that year; a month
without a year is its last occurrence not after the message).

Documents
---------
A CPF is 11 digits (``123.456.789-09``, ``123456789-09`` or bare), a CNPJ 14 characters
(``12.345.678/0001-95`` or bare; the alphanumeric CNPJ of 2026 is recognised when written
with its ``/``). A *formatted* number is a document candidate anywhere; a *bare* run of 11 or
14 digits only when "cpf" / "cnpj" precedes it within 30 characters (otherwise it may be a
phone or an order number). A candidate with invalid check digits (or all digits equal) is not
a fact, and its span is not read as a phone either.

Phones
------
``phonenumbers`` finds numbers that are *valid* for their country (a number without a country
code is read as :attr:`RuleBasedExtractor.default_region`, Brazil by default) and skips dates
and the like. A valid number is kept when the message has a phone word ("telefone", "cel",
"whats", "phone", "móvil"...) or it starts with ``+`` (0.95 / 0.9), when it is written with
separators such as ``(11) 98765-4321`` (0.85), or, written as bare digits, when it is a mobile
number (0.75); never right after "pedido", "protocolo", "order", "CPF", "cartão"... unless a
phone word other than "number" comes after it. A number grouped as ``default_region`` does not
group numbers but as one of ``fallback_regions`` does (US, Spain and Portugal by default) is
read in that region: ``415-555-2671`` is ``+14155552671``, ``612 34 56 78`` is
``+34612345678``. Only digit-dense spans are handed to libphonenumber.

Dates and times
---------------
Recognised dates: ``03/12``, ``03/12/2025``, ``3-12-25``, ``2025-12-03``, "3 de dezembro",
"3 de diciembre de 2025", "December 3rd", "3rd of December", "dia 15", "the 15th", weekdays
("terça", "quinta-feira", "Monday", "el lunes"), "hoje/today/hoy", "amanhã/tomorrow/mañana",
"depois de amanhã/the day after tomorrow/pasado mañana". Numbers are read day first (the
constructor's ``day_first``) unless only month first is a valid date. Relative words and
weekdays are resolved against the message's ``created_at`` in the extractor's ``tz``
(a weekday means its next occurrence after today); a date without a year is its next
occurrence on or after the message's day, except that a day of the last 60 days is that past
day ("tive consulta dia 02/03" on 10 March is last week, not next year); past dates are never
appointments. Recognised times: ``14:30``, ``14h``, ``14h30``, ``2pm``, "2:30 p.m.", "às 14",
"a las 3 de la tarde" ("da tarde", "de la noche", "in the evening" move the hour to the
afternoon; a bare "às 3" / "at 3" from 1 to 6 means 13 to 18, since clinics are not open at
3 a.m.).

*Booking context rule*: a date or time becomes ``appointment_date`` / ``appointment_time`` only
when the message, or one of the two messages before it in the batch, has a booking word
("consulta", "agendar", "marcar", "horário", "appointment", "book", "schedule", "cita",
"reservar", "turno", "hueco", "revisão"...) or asks for a day or time ("qual dia?", "what
time?", "¿a qué hora?"), or when the message chooses a doctor. Mentions negated in their
clause ("não posso dia 3", "às 15h não dá") are dropped, and
a message still naming two different dates (or times) of the same precision ("dia 3 ou dia
5") gives none; an explicit date beats "dia N", which beats a weekday or relative word. A
message about the past ("ontem", "tive", "yesterday", "had", "ayer") gives no appointment.

Limits
------
Regular expressions know no grammar: reported speech ("my wife's name is Ana" is ignored, but
"ela disse: meu nome é Ana" is taken as the user's name), sarcasm and rare phrasings are beyond
them. Names are only read after the trigger phrases above; unknown insurers only when
Capitalized after "meu convênio é" / "my insurance is". Only allergies are ever retracted;
other keys change by UPDATE (a new phone or e-mail is added, the old one stays current). A
range ("entre 14h e 16h") gives no time, since it names two. Text is read up to
``max_chars`` (4,000 by default); the cost grows with the length and with the number of digit
runs (about 50 µs for a typical chat message, a few milliseconds for 4,000 characters dense
with numbers; at most 16 digit runs per message are handed to libphonenumber).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

import phonenumbers

from ..models import Message
from .model import DEFAULT_MULTI_VALUED_KEYS, Fact, FactOperation

__all__ = ["RuleBasedExtractor", "valid_cnpj", "valid_cpf"]

# ---------------------------------------------------------------------------------------------
# Folding: lowercase and strip accents, keeping one character per character so that indexes
# into the folded text are indexes into the original.


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFD", char.lower())[:1]
        if base and base != char and base.isascii():
            table[code] = base
    table.update({ord("\u2019"): "'", ord("\u2018"): "'", ord("\u00ba"): "o", ord("\u00aa"): "a"})
    return table


_FOLD_TABLE = _build_fold_table()


def _fold(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lowercase to two ("İ")
        lowered = "".join(char.lower()[:1] for char in text)
    return lowered.translate(_FOLD_TABLE)


def _same(a: Any, b: Any) -> bool:
    """Values compared accent-, case- and whitespace-insensitively (strings), else exactly."""
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(_fold(a).split()) == " ".join(_fold(b).split())
    return bool(a == b)


# ---------------------------------------------------------------------------------------------
# Check digits.


def valid_cpf(digits: str) -> bool:
    """Whether ``digits`` (11 digits, no punctuation) is a CPF with valid check digits."""
    if len(digits) != 11 or not digits.isdigit() or digits == digits[0] * 11:
        return False
    for n in (9, 10):
        total = sum(int(digits[i]) * (n + 1 - i) for i in range(n))
        if (total * 10) % 11 % 10 != int(digits[n]):
            return False
    return True


_CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def valid_cnpj(value: str) -> bool:
    """Whether ``value`` (14 characters, no punctuation) is a CNPJ with valid check digits.

    Accepts the numeric CNPJ and the alphanumeric one introduced in 2026 (twelve characters
    ``0-9A-Z``, then two check digits; a letter counts as its ASCII code minus 48).
    """
    if len(value) != 14 or not value[12:].isdigit() or value == value[0] * 14:
        return False
    if not all(c.isdigit() or "A" <= c <= "Z" for c in value[:12]):
        return False
    for n in (12, 13):
        weights = _CNPJ_WEIGHTS[13 - n :]
        total = sum((ord(value[i]) - 48) * weights[i] for i in range(n))
        rest = total % 11
        if (0 if rest < 2 else 11 - rest) != int(value[n]):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Vocabulary (folded: lowercase, no accents).


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``."""
    return frozenset(text.split())


def _alt(words: Collection[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "janeiro enero january jan ene",
        "fevereiro febrero february fev feb",
        "marco marzo march mar",
        "abril april abr apr",
        "maio mayo may mai",
        "junho junio june jun",
        "julho julio july jul",
        "agosto august ago aug",
        "setembro septiembre setiembre september set sep sept",
        "outubro octubre october out oct",
        "novembro noviembre november nov",
        "dezembro diciembre december dez dic dec",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
_MONTHS_EN = {
    m: n
    for m, n in _MONTHS.items()
    if m
    in _words(
        "january february march april may june july august september october november december "
        "jan feb mar apr jun jul aug sep sept oct nov dec"
    )
}
_MONTHS_FULL = {m: n for m, n in _MONTHS.items() if len(m) > 4 or m in ("maio", "mayo", "may")}

_WEEKDAYS: dict[str, int] = {
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4,
}  # fmt: skip

_NAME_STOP = (
    _words(
        """
    a o os as um uma e ou mas que de do da dos das em no na nos nas por para pra pro com sem
    se so ja eu tu ele ela voce vc meu minha seu sua isso esse essa este esta aqui ali agora
    ainda tambem mesmo muito muita pouco bem mal sim nao nada tudo todo toda oi ola bom boa
    dia tarde noite obrigado obrigada quero queria gostaria preciso tenho estou sou fui vou
    posso marcar agendar consulta paciente cliente novo nova alergico alergica brasileiro
    brasileira diabetico diabetica gravida responsavel mae pai filho filha irma irmao esposa
    marido certo claro ok beleza importante secreto privado particular interessado interessada
    atendida atendido disponivel livre ocupado ocupada
    and or but not no very so just the an i im is it my me your from here there this that
    looking trying calling writing interested allergic sorry fine good great okay well glad
    happy new patient customer client available free busy back also still only really sure
    yes important private secret going having hi hello hey thanks thank want would need like
    to with for in on at of about american brazilian british canadian mexican spanish english
    pregnant diabetic booked done ready late early sick ill afraid worried confused unsure
    wondering asking unavailable calling texting here
    y pero del el la los las un una en al con sin mi mis tu su yo usted aqui ahora todavia
    solo muy bien gracias buenos buenas hola nuevo nueva alergico alergica espanol espanola
    mexicano mexicana diabetico embarazada claro importante privado secreto quiero quisiera
    necesito tengo estoy soy interesado interesada disponible ocupado ocupada listo lista
    dr dra doutor doutora doctor doctora doc sr sra srta senhor senhora senor senora mr mrs ms
    miss dona don sir madam
    dificil complicado complicada facil estranho estranha grande comprido longo diferente
    engracado comum raro rara bonito feio simples composto curto
    difficult hard long weird strange unusual common easy complicated simple short funny
    largo comun extrano compuesto corto
    """
    )
    | frozenset(_MONTHS_FULL)
    | frozenset(_WEEKDAYS)
)
_PARTICLES = _words("da de do das dos del della di du van von der den la le y")

_PHONE_WORDS = re.compile(
    r"\b(?:telefones?|telefonos?|fones?|tel|celular|cel|whats(?:app)?|zap|wpp|contato|"
    r"contacto|numero|number|phone|mobile|cell(?:phone)?|call|ligar|liga|llamar|llamame|"
    r"movil|text me)\b"
)
_MAX_PHONE_CANDIDATES = 16
_PHONE_CANDIDATE = re.compile(r"(?<![^\W\d])(?:\+|\b00)?\(?(?<![\w.])\d[\d \t().\-]{5,24}\d")
_NOT_PHONE_WORDS = re.compile(
    r"\b(?:pedido|protocolo|order|cpf|cnpj|rg|codigo|code|cartao|card|tarjeta|conta|account|"
    r"cuenta|boleto|nota|invoice|factura|cep|zip|ticket|ref|id|matricula|carteirinha|"
    r"processo|case|expediente|dni|nif|ssn|senha|password|pin|valor|total)\b"
)
_BOOKING = re.compile(
    r"\b(?:consultas?|agend\w*|marc(?:ar|ado|ada|acao|o|amos|a)|remarc\w*|horarios?|"
    r"retorno|atendimento|vagas?|encaixe|appointments?|book(?:ed|ing)?|schedul\w*|"
    r"reschedul\w*|slots?|visit|check-?up|citas?|reserv\w*|turnos?|programar|huecos?|"
    r"revision|revisao|avaliacao|limpeza|limpieza|cleaning|"
    r"(?:que|qual|quais|what|which) (?:o )?(?:melhor )?(?:dia|dias|horas?|horario|day|time)|"
    r"a que hora|que hora)\b"
)
_CONFIRM = re.compile(
    r"\b(?:confirmad[oa]s?|agendad[oa]s?|marcad[oa]s?|reservad[oa]s?|confirmed|booked|"
    r"scheduled|all set|confirmo|confirmamos|agendei|marquei|reservei|programad[oa])\b"
)
_PAST = re.compile(r"\b(?:ontem|anteontem|yesterday|ayer|anteayer|tive|tuve|had)\b")
_RECENT_PAST_DAYS = 60
_NEGATION = re.compile(
    r"\bnao\b|\bnot\b|n't\b|\bnever\b|\bnunca\b|\bno longer\b|\bnem\b|\bni\b|\bcannot\b|"
    r"\bno (?:soy|tengo|estoy|es|puedo|me|quiero|sou|puede)\b"
)
_NEGATION_AFTER = re.compile(
    r"\s*(?:(?:ja|esta|this|that|es|e|is)\s+)?(?:nao|not|doesn't|does not|won't|can't|isn't|"
    r"no (?:puedo|me|es|va|sirve))\b"
)
_THIRD_PARTY = re.compile(
    r"\b(?:minha|meu|minhas|meus|my|mi|mis|sua|seu|his|her|their|our|nossa|nosso|nuestra|"
    r"nuestro|su|a|o|the|el|la)\s+(?:filh[oa]s?|mae|pai|espos[oa]|marido|mulher|irma|irmao|"
    r"irmaos|avo|avos|namorad[oa]|amig[oa]|sogr[oa]|net[oa]|sobrinh[oa]|primo|prima|"
    r"daughter|son|kids?|children|child|mother|mom|father|dad|wife|husband|sister|brother|"
    r"partner|friend|grandma|grandpa|grandmother|grandfather|baby|hij[oa]s?|madre|padre|"
    r"mama|papa|herman[oa]s?|abuel[oa]|novi[oa]|amig[oa]|bebe|nene)\b|"
    r"\b(?:ele|ela|eles|elas|he|she|they|ella|ellos)\b"
)
_CLAUSE_BREAK = re.compile(r"[.!?;,\n(]|\b(?:mas|but|pero|porem|though|however|so|so que)\b")

# Names.
_NAME_STRONG = re.compile(
    r"\b(?:meu nome(?: completo)? (?:e|eh)|me chamo|pode(?:m)? me chamar de|"
    r"my (?:full |first )?name(?: is|'s)|call me|me llamo|mi nombre(?: completo)? es|"
    r"puedes llamarme|(?<![\w'])(?:full )?name\s*(?=:)|nome(?: completo)?\s*(?=:)|"
    r"nombre(?: completo)?\s*(?=:))(?:\s*:\s*|\s+)"
)
_NAME_WEAK = re.compile(
    r"(?:^|(?<=[\s,.!;:]))(?:(?:eu )?sou (?:o |a )?|aqui (?:e|eh) (?:o |a )?|"
    r"quem fala (?:e|eh) (?:o |a )?|i'm |im |i am |this is |it's |it is |"
    r"(?:yo )?soy (?:el |la )?|"
    r"aqui (?:es|habla) (?:el |la )?|habla )"
)
_WORD_AT = re.compile(r"[ \t]*([^\W\d_]+(?:['\u2019\-][^\W\d_]+)*)")

# E-mail.
_EMAIL = re.compile(
    r"(?<![\w.+\-])([A-Za-z0-9](?:[A-Za-z0-9._%+\-]*[A-Za-z0-9_%+\-])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24})(?![\w\-]|\.[A-Za-z0-9])"
)

# Documents (on the original text; the alphanumeric CNPJ is uppercase).
_DOC_LEFT = r"(?<![\w./\-])"
_DOC_RIGHT = r"(?![\w/]|[.\-]\w)"
_CNPJ_FORMATTED = re.compile(
    _DOC_LEFT + r"([0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/[0-9A-Z]{4}-?\d{2}|"
    r"\d{2}\.\d{3}\.\d{3}\d{4}-\d{2})" + _DOC_RIGHT
)
_CPF_FORMATTED = re.compile(_DOC_LEFT + r"(\d{3}\.\d{3}\.\d{3}-?\d{2}|\d{9}-\d{2})" + _DOC_RIGHT)
_BARE_DIGITS = re.compile(_DOC_LEFT + r"(\d{14}|\d{11})" + _DOC_RIGHT)
_CPF_WORD = re.compile(r"\bc\.?p\.?f\b")
_CNPJ_WORD = re.compile(r"\bcnpj\b")

# Dates (folded text).
_M_ALL = _alt(_MONTHS)
_M_EN = _alt(_MONTHS_EN)
_M_FULL = _alt(_MONTHS_FULL)
_DATE_DE = re.compile(
    rf"\b(\d{{1,2}})o?\s+de\s+({_M_ALL})\b\.?(?:\s+de\s+(\d{{4}})\b|\s+(\d{{4}})\b)?"
)
_DATE_EN_MD = re.compile(
    rf"\b({_M_EN})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?(?!\s*[:h]\d)"
)
_DATE_EN_DM = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_M_EN})\b\.?(?:,?\s+(\d{{4}})\b)?"
)
_DATE_NUM = re.compile(
    r"(?<![\d/.:\-])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])|"
    r"(?<![\d/.:\-])(\d{1,2})([\-.])(\d{1,2})\5(\d{4}|\d{2})(?![\d\-.]\d|\d)"
)
_DATE_ISO = re.compile(r"(?<![\d\-])(\d{4})-(\d{2})-(\d{2})(?![\d\-])")
_DATE_DAY = re.compile(
    rf"\b(?:dia|the)\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:[/:\-]|h\b|hs?\d|horas?\b|de\s+(?:{_M_ALL})\b))"
)
_DATE_REL = re.compile(
    r"\b(depois de amanha|day after tomorrow|pasado manana|amanha|tomorrow|manana|hoje|today|"
    r"hoy)\b"
)
_WEEKDAY = re.compile(
    r"\b(segunda|terca|quarta|quinta|sexta|sabado|domingo|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|lunes|martes|miercoles|jueves|viernes)(-feira| feira)?\b"
    r"(?!\s+(?:vez|vezes|opcao|via|parte|pessoa|serie|fase|etapa|dose|time|times)\b)"
)
_BIRTH = re.compile(
    r"\b(?:nasci\w*|nascimento|aniversario|born|birth\w*|dob|naci|nacid[oa]|nacimiento|"
    r"cumpleanos|d\.?o\.?b)\b"
)
_SINCE = re.compile(
    rf"\b(?:desde|since)\s+(?:(?:o|a|el|la)\s+)?(?:({_M_FULL})\b(?:\s+(?:de|of)?\s*(\d{{4}})\b)?|(\d{{4}})\b)"
)

# Times (folded text).
_TIME_COLON = re.compile(
    r"(?<![\d:/.,])([01]?\d|2[0-3])[:h]([0-5]\d)(?!\d|[/:.]\d)(?:\s*(am|pm|a\.m\.|p\.m\.))?"
)
_TIME_H = re.compile(r"(?<![\d:/.,])([01]?\d|2[0-3])\s?(?:h|hs|hrs?)\b(?!\s*(?:de dura|por))")
_TIME_AMPM = re.compile(r"(?<![\d:/.,])(1[0-2]|0?[1-9])\s?(am|pm|a\.m\.|p\.m\.)(?!\w)")
_TIME_PREP = re.compile(
    r"\b(?:as|a las|a la|at|ate as|para as|pras|around|por volta das|sobre las)\s+"
    r"(\d{1,2})(?:\s+horas?)?\b(?!\s*[:h/.\-]\s*\d|\s*(?:am|pm|a\.m|p\.m|dias?|days?|%))"
)
_TIME_QUAL = re.compile(
    r"\s*(?:da|de la|de|in the|pela|por la|en la|a la|of the)\s+"
    r"(manha|tarde|noite|manana|noche|morning|afternoon|evening|night)\b"
)

# Preferences (folded text).
_PREF_TRIGGER = re.compile(
    r"\b(?:prefiro|preferiria|prefer(?:s|red|ably)?|i'd rather|rather|prefiero|preferencia|"
    r"preference|melhor|mejor|better|best|gosto mais|me gusta mas)\b"
)
_ONLY_TRIGGER = re.compile(
    r"\b(?:so posso|so consigo|so da|somente|apenas|only|solo puedo|solamente|unicamente)\b"
)
_PERIOD = re.compile(
    r"\b(manhas?|tardes?|noites?|mananas?|noches?|mornings?|afternoons?|evenings?|nights?)\b"
)
_PERIOD_VALUE = {
    "manha": "morning", "manana": "morning", "morning": "morning",
    "tarde": "afternoon", "afternoon": "afternoon",
    "noite": "evening", "noche": "evening", "evening": "evening", "night": "evening",
}  # fmt: skip
_PERIOD_BAD_BEFORE = re.compile(
    r"(?:\b(?:boa|boas|bom|buenas|buenos|good|mais|mas|muito|muy|too|so|this|esta|essa|nesta|"
    r"hoje|hoy|today|tomorrow|amanha)\s+)$"
)
_ES_MORNING_OK = re.compile(r"(?:\b(?:la|las|de la|por la|en la|pela|de|pelas|as)\s+)$")

# Doctors, specialties, insurance, allergies (folded text).
_DOCTOR = re.compile(
    r"\b(?:com|c/|quero|queria|prefiro|gostaria de|with|see|seeing|want|prefer|book|con|"
    r"quiero|prefiero|pelo|pela|switch to|change to|mudar para|trocar para|cambiar a|"
    r"cambiar al|atienda|atenda|me atender|me consultar|me ver)\s+(?:(?:o|a|el|la|the|um|uma)\s+)?"
    r"(dra|dr|doutora|doutor|doctora|doctor|doc)\b\.?\s*"
)
_SPECIALTY_TERMS: dict[str, str] = {}
_MULTIWORD_SPECIALTIES = (
    "clinico geral", "clinica geral", "clinica medica", "general practitioner",
    "family doctor", "medicina general", "medico de cabecera", "medicina de familia",
    "medico de familia", "physical therapy", "physical therapist",
)  # fmt: skip
for _canonical, _terms in {
    "cardiology": "cardiologia cardiologista cardiology cardiologist cardiologo cardiologa",
    "dermatology": "dermatologia dermatologista dermatology dermatologist dermatologo dermatologa",
    "pediatrics": "pediatria pediatra pediatrics pediatrician paediatrics paediatrician",
    "orthodontics": "ortodontia ortodontista orthodontics orthodontist ortodoncia ortodoncista",
    "gynecology": "ginecologia ginecologista gynecology gynaecology gynecologist ginecologo "
    "ginecologa",
    "obstetrics": "obstetricia obstetra obstetrics obstetrician",
    "ophthalmology": "oftalmologia oftalmologista oculista ophthalmology ophthalmologist "
    "oftalmologo oftalmologa",
    "orthopedics": "ortopedia ortopedista orthopedics orthopaedics orthopedist traumatologia "
    "traumatologo",
    "neurology": "neurologia neurologista neurology neurologist neurologo neurologa",
    "psychiatry": "psiquiatria psiquiatra psychiatry psychiatrist",
    "psychology": "psicologia psicologo psicologa psychology psychologist",
    "endocrinology": "endocrinologia endocrinologista endocrinology endocrinologist "
    "endocrinologo endocrinologa endocrino",
    "gastroenterology": "gastroenterologia gastroenterologista gastroenterology "
    "gastroenterologist gastroenterologo gastro",
    "urology": "urologia urologista urology urologist urologo",
    "otorhinolaryngology": "otorrinolaringologia otorrino otorrinolaringologista ent "
    "otolaryngology otolaryngologist otorrinolaringologo",
    "general practice": "clinico geral clinica geral clinica medica general practitioner "
    "family doctor medicina general medico de cabecera medicina de familia medico de familia "
    "gp",
    "nutrition": "nutricao nutricionista nutrition nutritionist dietitian nutricion nutriologo",
    "physiotherapy": "fisioterapia fisioterapeuta physiotherapy physiotherapist "
    "physical therapy physical therapist",
    "dentistry": "dentista odontologia dentist dentistry odontologo odontologa",
    "endodontics": "endodontia endodontics endodontist endodoncia endodoncista",
    "periodontics": "periodontia periodontics periodontist periodoncia",
    "oncology": "oncologia oncologista oncology oncologist oncologo oncologa",
    "pulmonology": "pneumologia pneumologista pulmonology pulmonologist neumologia neumologo",
    "rheumatology": "reumatologia reumatologista rheumatology rheumatologist reumatologo",
    "nephrology": "nefrologia nefrologista nephrology nephrologist nefrologo",
}.items():
    for _phrase in _MULTIWORD_SPECIALTIES:
        if _phrase in _terms:
            _SPECIALTY_TERMS[_phrase] = _canonical
            _terms = _terms.replace(_phrase, " ")
    for _term in _terms.split():
        _SPECIALTY_TERMS[_term] = _canonical
_SPECIALTY = re.compile(rf"\b({_alt(_SPECIALTY_TERMS)})s?\b")
_SPECIALTY_CONTEXT = re.compile(
    r"\b(?:consultas?|marcar|agendar|agendamento|preciso|quero|queria|gostaria|procuro|"
    r"especialidade|especialista|appointment|book|need|want|looking for|see|visit|specialty|"
    r"specialist|cita|necesito|quiero|busco|especialidad|turno|com|with|con)\b"
)
_POSSESSIVE = re.compile(r"\b(?:my|meu|minha|mi|his|her|seu|sua)\s+$")
_SPECIALTY_COPULA = re.compile(
    r"\b(?:e|eh|sou|foi|era|is|am|was|es|soy|fue)\s+(?:(?:um|uma|a|an|un|una|o|el|la)\s+)?$"
)

_INSURERS: dict[str, str] = {
    "amil": "Amil", "unimed": "Unimed", "bradesco saude": "Bradesco Saúde",
    "bradesco": "Bradesco Saúde", "sulamerica": "SulAmérica", "sul america": "SulAmérica",
    "hapvida": "Hapvida", "notredame intermedica": "NotreDame Intermédica",
    "notredame": "NotreDame Intermédica", "intermedica": "NotreDame Intermédica",
    "porto seguro": "Porto Seguro", "golden cross": "Golden Cross", "cassi": "Cassi",
    "geap": "Geap", "prevent senior": "Prevent Senior", "care plus": "Care Plus",
    "omint": "Omint", "mediservice": "Mediservice", "postal saude": "Postal Saúde",
    "assim saude": "Assim Saúde", "odontoprev": "OdontoPrev", "uniodonto": "Uniodonto",
    "metlife": "MetLife", "allianz": "Allianz", "aetna": "Aetna", "cigna": "Cigna",
    "blue cross blue shield": "Blue Cross Blue Shield", "bcbs": "Blue Cross Blue Shield",
    "blue cross": "Blue Cross", "unitedhealthcare": "UnitedHealthcare",
    "united healthcare": "UnitedHealthcare", "kaiser permanente": "Kaiser Permanente",
    "kaiser": "Kaiser Permanente", "humana": "Humana", "medicare": "Medicare",
    "medicaid": "Medicaid", "anthem": "Anthem", "tricare": "Tricare", "sanitas": "Sanitas",
    "adeslas": "Adeslas", "asisa": "Asisa", "dkv": "DKV", "mapfre": "Mapfre", "axa": "AXA",
    "bupa": "Bupa", "caser": "Caser", "muface": "MUFACE", "sura": "Sura", "osde": "OSDE",
    "swiss medical": "Swiss Medical", "gnp": "GNP",
}  # fmt: skip
_INSURER = re.compile(rf"\b({_alt(_INSURERS)})\b")
_PLAN_WORDS = (
    r"(?:convenio|plano(?: de saude)?|seguro(?: de salud| medico| saude| de saude)?|"
    r"insurance(?: provider| company| plan| carrier)?|health (?:plan|insurance)|insurer|"
    r"plan de salud|aseguradora|obra social|prepaga|mutua)"
)
_INSURANCE_EXPLICIT = re.compile(
    rf"\b(?:o meu|meu|minha|my|mi)\s+{_PLAN_WORDS}\s*(?:e|eh|is|es|:|=|sera|will be)\s+"
    r"(?:(?:o|a|el|la|the)\s+)?"
)
_INSURANCE_NEAR = re.compile(
    rf"\b{_PLAN_WORDS}\b(?:\s+(?:e|eh|is|es|do|da|de|pelo|pela|with|through|con|por))?\s+"
    rf"(?:(?:o|a|el|la|the)\s+)?({_alt(_INSURERS)})\b|"
    rf"\b({_alt(_INSURERS)})\s+{_PLAN_WORDS}\b|"
    rf"\b(?:tenho|uso|pelo|pela|i have|i use|tengo|via|through|(?:covered|insured) "
    rf"(?:by|with|through)|coberto pel[oa]|vou pel[oa]|voy (?:por|con)|cubierto por)\s+"
    rf"(?:o\s+|a\s+|el\s+)?"
    rf"({_alt(_INSURERS)})\b"
)
_SELF_PAY = re.compile(
    r"\b(?:(?:vai ser|sera|consulta|atendimento|pagar|pago|pagamento|sou|e)\s+particular|"
    r"sem (?:convenio|plano)|nao tenho (?:convenio|plano)|self[- ]pay(?:ing)?|"
    r"out of pocket|(?:no|without|don't have|do not have) (?:health )?insurance|uninsured|"
    r"sin seguro|no tengo seguro|(?:consulta|pago) privad[ao])\b"
)
_ACCEPT_QUESTION = re.compile(r"\b(?:aceita\w*|accept\w*|acepta\w*|atende\w*|cobre|cover\w*)\b")

_ALLERGY = re.compile(
    r"\b(?:alergic[oa]s?|allergic|alergias?|allerg(?:y|ies))\s+"
    r"(?:a las|a los|a la|aos|ao|as|al|a|de|do|da|dos|das|to|con|por|with|com)\s+"
    r"(?:(?:o|a|os|as|el|la|los|las|the|um|uma|un|una)\s+)?"
)
_ALLERGY_NOUN_FIRST = re.compile(
    r"\b(?:have|has|with|got)\s+(?:an?\s+)?([a-z][a-z\-]+(?:\s[a-z][a-z\-]+)?)\s+"
    r"allerg(?:y|ies)\b"
)
_ALLERGEN_END = re.compile(
    # a comment clause after the list: "..., é bom vocês saberem", "..., it's important"
    r",\s*(?:e|eh)\s+(?:bom|importante|melhor|bem|serio|grave)\b|"
    r",\s*(?:it'?s|it\s+is|this\s+is)\b|,\s*es\s+(?:bueno|importante|mejor|grave)\b|"
    r"[.!?;:()\n]|\b(?:mas|but|pero|que|quando|when|cuando|porque|because|por isso|entao|"
    r"then|desde|since|ha|hace|for|faz|after all|anymore|any more|at all|no more|nunca mais|"
    r"de verdade|really|e (?:quero|gostaria|preciso|tambem|queria|vou|estou|"
    r"tenho|sou)|and (?:i|want|would|need|also)|y (?:quiero|necesito|tambien|tengo|soy))\b"
)
_ALLERGEN_SPLIT = re.compile(r"\s*(?:,|/|&|\be\b|\band\b|\by\b|\bou\b|\bor\b|\bo\b)\s*")
_ALLERGEN_STOP = _words(
    """
    algum alguns alguma algumas algo nada nenhum nenhuma coisa coisas varios varias muitos
    muitas isso isto essa esse tudo todos todas qualquer remedios remedio medicamentos
    medicamento quero gostaria preciso tenho sou estou vou posso queria eu voce meu minha
    some something anything nothing any none several many it that this everything things
    stuff want need would i my medication medications medicine medicines meds
    algunos algunas alguno ningun ninguna cosa cosas varios todo quiero necesito tengo soy
    estoy yo mi medicinas medicina
    mais more anymore tambem too also tambien lot lots bunch few couple kinds types tipo tipos
    so pra para por favor please obrigado obrigada thanks thank gracias viu ok ta ne entao acho
    creo think guess maybe talvez quizas just only solo apenas
    """
)
_ALLERGEN_TRAILING = _words("tambem too also tambien mais anymore ja more")
_LEADING_ARTICLES = _words("o a os as el la los las the um uma un una")

_EVIDENCE_CHARS = 160


@dataclass(frozen=True, slots=True)
class _Hit:
    key: str
    value: Any
    confidence: float
    start: int
    end: int
    retract: bool = False
    dated: bool = True  # whether a "since ..." phrase may set valid_at


# ---------------------------------------------------------------------------------------------
# Small helpers.


def _clause_start(folded: str, pos: int, limit: int = 60) -> int:
    """Start of the clause containing ``pos`` (looking back at most ``limit`` characters)."""
    lo = max(0, pos - limit)
    start = lo
    for match in _CLAUSE_BREAK.finditer(folded, lo, pos):
        start = match.end()
    return start


def _clause_end(folded: str, pos: int, limit: int = 60) -> int:
    match = _CLAUSE_BREAK.search(folded, pos, min(len(folded), pos + limit))
    return match.start() if match else min(len(folded), pos + limit)


def _negated(folded: str, pos: int) -> bool:
    """Whether a negation precedes ``pos`` within its clause."""
    return _NEGATION.search(folded, _clause_start(folded, pos, 40), pos) is not None


def _rejected(folded: str, start: int, end: int) -> bool:
    """Whether a date or time is negated: "não posso dia 3", "às 15h não dá"."""
    return _negated(folded, start) or _NEGATION_AFTER.match(folded, end) is not None


def _proper_word(word: str, first: bool) -> str:
    if not (word.islower() or word.isupper()):
        return word  # already mixed case ("McDonald", "DiCaprio"): keep
    low = word.lower()
    if not first and _fold(low) in _PARTICLES:
        return low
    return re.sub(
        r"[^\W\d_]+", lambda m: m.group(0)[:1].upper() + m.group(0)[1:], low, flags=re.UNICODE
    )


def _take_name(
    text: str, folded: str, pos: int, *, require_cap: bool, max_words: int = 4
) -> tuple[str, int] | None:
    """Read a person's name starting at ``pos``: (proper-cased name, end) or None.

    A Capitalized first word starts a run of Capitalized words (lowercase particles such as
    "da", "de", "del" allowed between them); a lowercase first word (only when
    ``require_cap`` is false) starts a run of lowercase words. Common words end the run.
    """
    words: list[str] = []
    pending: list[str] = []
    end = pos
    cursor = pos
    capital: bool | None = None
    while len(words) < max_words:
        match = _WORD_AT.match(text, cursor)
        if match is None or (match.start(1) > cursor + 3):
            break
        word = match.group(1)
        low = folded[match.start(1) : match.end(1)]
        cursor = match.end(1)
        if words and low in _PARTICLES and len(pending) < 2:
            pending.append(word)
            continue
        if low in _NAME_STOP or len(word) < 2:
            break
        is_cap = word[:1].isupper()
        if capital is None:
            if require_cap and not is_cap:
                return None
            capital = is_cap
        elif is_cap != capital:
            break
        words.extend(pending)
        pending = []
        words.append(word)
        end = match.end(1)
    if not words:
        return None
    return " ".join(_proper_word(w, i == 0) for i, w in enumerate(words)), end


def _year(raw: str | None, today: date) -> int | None:
    if raw is None:
        return None
    year = int(raw)
    if len(raw) == 2:
        year += 2000 if year <= today.year % 100 + 1 else 1900
    return year


def _make_date(year: int | None, month: int, day: int, today: date) -> date | None:
    """A date; without a year, the next occurrence on or after ``today``, except that a day
    of the last :data:`_RECENT_PAST_DAYS` days is that past day ("dia 02/03" said on 10 March
    refers to last week, not to next year)."""
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(today.year, month, day)
        if candidate < today - timedelta(days=_RECENT_PAST_DAYS):
            candidate = date(today.year + 1, month, day)
        return candidate
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _DateMention:
    value: date
    rank: int  # 3 explicit, 2 "dia N", 1 weekday / relative
    explicit_year: bool
    start: int
    end: int


# ---------------------------------------------------------------------------------------------


class RuleBasedExtractor:
    """Offline fact extractor for Portuguese, English and Spanish (see the module docstring).

    Args:
        default_region: ISO country code for phone numbers written without a country code.
        fallback_regions: Regions tried next for a number grouped as they group numbers and
            not as ``default_region`` does (``415-555-2671`` is a US number, ``612 34 56 78``
            a Spanish one).
        multi_valued_keys: Keys whose values accumulate (ADD per value, INVALIDATE retracts).
        tz: Time zone of the conversation, used to resolve "today", "tomorrow" and weekdays
            from the messages' UTC ``created_at`` (e.g. ``ZoneInfo("America/Sao_Paulo")``).
        day_first: Read ``03/12`` as 3 December (True, as in Brazil and Spain) or as
            March 12 (False).
        use_confirmations: Read booking confirmations in assistant and operator messages.
        max_chars: Longest prefix of a message that is read.

    Attributes:
        name: ``"rules"``; recorded as ``created_by`` of the facts it asserts.
    """

    name: str = "rules"

    def __init__(
        self,
        *,
        default_region: str = "BR",
        fallback_regions: Sequence[str] = ("US", "ES", "PT"),
        multi_valued_keys: Collection[str] = DEFAULT_MULTI_VALUED_KEYS,
        tz: tzinfo = timezone.utc,
        day_first: bool = True,
        use_confirmations: bool = True,
        max_chars: int = 4000,
    ) -> None:
        self.default_region = default_region.upper()
        self.fallback_regions = tuple(r.upper() for r in fallback_regions)
        self.multi_valued_keys = frozenset(multi_valued_keys)
        self.tz = tz
        self.day_first = day_first
        self.use_confirmations = use_confirmations
        self.max_chars = max_chars

    # -- the protocol ---------------------------------------------------------------------------

    def extract(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[FactOperation]:
        """Return the operations the messages imply, oldest message first.

        Args:
            messages: New messages of one session, oldest first.
            current: The user's current facts (facts no longer current are ignored).

        Returns:
            ADD, UPDATE and INVALIDATE operations (never NONE), in the order to apply them.
        """
        state: dict[str, list[Any]] = {}
        for fact in current:
            if fact.current:
                state.setdefault(fact.key, []).append(fact.value)
        operations: list[FactOperation] = []
        booking_recent: list[bool] = []
        for message in messages:
            if message.role not in ("user", "assistant", "operator"):
                continue
            text = message.text[: self.max_chars]
            if not text.strip():
                continue
            folded = _fold(text)
            booking_here = _BOOKING.search(folded) is not None
            in_booking = booking_here or any(booking_recent[-2:])
            booking_recent.append(booking_here)
            if message.role == "user":
                hits = self._scan_user(message, text, folded, in_booking)
            elif self.use_confirmations and _CONFIRM.search(folded) and "?" not in text:
                hits = self._scan_confirmation(message, text, folded)
            else:
                continue
            valid_at = self._since(folded, message)
            for hit in self._dedupe(hits):
                operation = self._decide(hit, state, message, text, valid_at)
                if operation is not None:
                    operations.append(operation)
        return operations

    async def aextract(
        self, messages: Sequence[Message], current: Sequence[Fact]
    ) -> list[FactOperation]:
        """Async twin of :meth:`extract` (the work is CPU-only and fast, so it runs inline)."""
        return self.extract(messages, current)

    # -- operations -----------------------------------------------------------------------------

    def _dedupe(self, hits: list[_Hit]) -> list[_Hit]:
        """Order hits by position; the last mention of a single-valued key wins."""
        hits.sort(key=lambda h: (h.start, h.end))
        last: dict[str, _Hit] = {}
        out: list[_Hit] = []
        for hit in hits:
            if hit.key in self.multi_valued_keys:
                if not any(h.key == hit.key and _same(h.value, hit.value) for h in out):
                    out.append(hit)
            else:
                last[hit.key] = hit
        out.extend(last.values())
        out.sort(key=lambda h: (h.start, h.end))
        return out

    def _decide(
        self,
        hit: _Hit,
        state: dict[str, list[Any]],
        message: Message,
        text: str,
        valid_at: datetime | None,
    ) -> FactOperation | None:
        values = state.setdefault(hit.key, [])
        if hit.retract:
            match = next((v for v in values if _same(v, hit.value)), None)
            if match is None:
                return None
            values.remove(match)
            op, value = "INVALIDATE", match
        elif any(_same(v, hit.value) for v in values):
            return None
        elif hit.key in self.multi_valued_keys or not values:
            values.append(hit.value)
            op, value = "ADD", hit.value
        else:
            values[:] = [hit.value]
            op, value = "UPDATE", hit.value
        evidence = " ".join(text[hit.start : hit.end].split())[:_EVIDENCE_CHARS]
        return FactOperation(
            op=op,
            key=hit.key,
            value=value,
            valid_at=valid_at if hit.dated and op != "INVALIDATE" else None,
            confidence=hit.confidence,
            source_seqs=[] if message.seq is None else [message.seq],
            evidence=evidence,
        )

    def _since(self, folded: str, message: Message) -> datetime | None:
        match = _SINCE.search(folded)
        if match is None:
            return None
        today = message.created_at.astimezone(self.tz).date()
        if match.group(3):
            year = int(match.group(3))
            month = 1
        else:
            month = _MONTHS[match.group(1)]
            year = int(match.group(2)) if match.group(2) else today.year
            if match.group(2) is None and (year, month) > (today.year, today.month):
                year -= 1
        if year > today.year or year < 1900:
            return None
        return datetime(year, month, 1, tzinfo=self.tz).astimezone(timezone.utc)

    # -- scanning -------------------------------------------------------------------------------

    def _scan_user(self, message: Message, text: str, folded: str, booking: bool) -> list[_Hit]:
        hits: list[_Hit] = []
        masked_text, masked = self._documents(text, folded, hits)
        masked_text, masked = self._emails(masked_text, masked, hits)
        masked_text, masked = self._phones(masked_text, masked, hits)
        self._names(text, folded, hits)
        self._doctor(text, folded, 0.85, hits)
        booking = booking or any(h.key == "doctor" for h in hits)  # choosing a doctor books
        today = message.created_at.astimezone(self.tz).date()
        self._dates(masked, today, booking, 0.85, hits)
        if booking and not _PAST.search(folded):
            self._times(masked, 0.85, hits)
        self._preferences(folded, hits)
        if booking or _SPECIALTY_CONTEXT.search(folded):
            self._specialty(folded, 0.8, hits)
        self._insurance(text, folded, hits)
        self._allergies(text, folded, hits)
        return hits

    def _scan_confirmation(self, message: Message, text: str, folded: str) -> list[_Hit]:
        hits: list[_Hit] = []
        masked_text, masked = self._documents(text, folded, [])
        masked_text, masked = self._emails(masked_text, masked, [])
        _, masked = self._phones(masked_text, masked, [])
        today = message.created_at.astimezone(self.tz).date()
        self._dates(masked, today, True, 0.7, hits, appointments_only=True)
        if not _PAST.search(folded):
            self._times(masked, 0.7, hits)
        self._doctor(text, folded, 0.7, hits, confirmation=True)
        self._specialty(folded, 0.7, hits)
        return hits

    @staticmethod
    def _blank(text: str, folded: str, start: int, end: int) -> tuple[str, str]:
        pad = " " * (end - start)
        return text[:start] + pad + text[end:], folded[:start] + pad + folded[end:]

    def _documents(self, text: str, folded: str, hits: list[_Hit]) -> tuple[str, str]:
        spans: list[tuple[int, int]] = []
        for pattern in (_CNPJ_FORMATTED, _CPF_FORMATTED, _BARE_DIGITS):
            for match in pattern.finditer(text):
                start, end = match.span(1)
                if any(s < end and start < e for s, e in spans):
                    continue
                raw = match.group(1)
                value = re.sub(r"[.\-/]", "", raw)
                before = folded[max(0, start - 30) : start]
                if pattern is _BARE_DIGITS:
                    if len(value) == 11 and not _CPF_WORD.search(before):
                        continue
                    if len(value) == 14 and not _CNPJ_WORD.search(before):
                        continue
                spans.append((start, end))
                key = "cnpj" if len(value) == 14 else "cpf"
                valid = valid_cnpj(value) if key == "cnpj" else valid_cpf(value)
                if valid:
                    keyword = (_CNPJ_WORD if key == "cnpj" else _CPF_WORD).search(before)
                    hits.append(_Hit(key, value, 0.95 if keyword else 0.85, start, end))
        for start, end in spans:
            text, folded = self._blank(text, folded, start, end)
        return text, folded

    def _emails(self, text: str, folded: str, hits: list[_Hit]) -> tuple[str, str]:
        if "@" not in text:
            return text, folded
        for match in _EMAIL.finditer(text):
            address = match.group(1)
            local = address.split("@", 1)[0]
            if ".." in address or local.startswith("."):
                continue
            hits.append(_Hit("emails", address.lower(), 0.95, match.start(1), match.end(1)))
            text, folded = self._blank(text, folded, match.start(1), match.end(1))
        return text, folded

    def _phones(self, text: str, folded: str, hits: list[_Hit]) -> tuple[str, str]:
        if sum(c.isdigit() for c in text) < 8:
            return text, folded
        has_word = _PHONE_WORDS.search(folded) is not None
        # libphonenumber only reads digit-dense spans (cheap regex first), in three passes, each
        # on what the previous ones left: the default region with strict grouping
        # ("(11) 98765-4321"), the fallback regions with strict grouping ("415-555-2671" is
        # grouped as in the US, not as in Brazil), the default region with any grouping
        # ("11 9 8765-4321").
        passes = [(self.default_region, phonenumbers.Leniency.STRICT_GROUPING)]
        passes += [(r, phonenumbers.Leniency.STRICT_GROUPING) for r in self.fallback_regions]
        passes.append((self.default_region, phonenumbers.Leniency.VALID))
        tried = 0
        for candidate in _PHONE_CANDIDATE.finditer(text):
            lo, hi = candidate.span()
            raw = candidate.group(0)
            if raw.isdigit() and len(raw) > 15:
                continue  # longer than any E.164 number and unseparated: not one phone
            tried += 1
            if tried > _MAX_PHONE_CANDIDATES:
                break  # bounds the cost of a message made of numbers
            for region, leniency in passes:
                chunk = text[lo:hi]
                if sum(c.isdigit() for c in chunk) < 8:
                    break
                for match in phonenumbers.PhoneNumberMatcher(chunk, region, leniency=leniency):
                    hit = self._phone_hit(match, lo, folded, has_word)
                    if hit is not None:
                        hits.append(hit)
                        text, folded = self._blank(text, folded, hit.start, hit.end)
        return text, folded

    @staticmethod
    def _phone_hit(
        match: phonenumbers.PhoneNumberMatch, offset: int, folded: str, has_word: bool
    ) -> _Hit | None:
        start, end = offset + match.start, offset + match.end
        raw = match.raw_string
        before = folded[max(0, start - 25) : start]
        bad = _NOT_PHONE_WORDS.search(before)
        if bad:
            # A phone word after the non-phone word wins ("pedido 123, meu cel 11 9..."), but
            # not "number" itself ("order number 4155552671").
            near = [
                m
                for m in _PHONE_WORDS.finditer(before, bad.end())
                if m.group(0) not in ("numero", "number")
            ]
            if not near:
                return None
        digits = sum(c.isdigit() for c in raw)
        number = match.number
        if has_word:
            confidence = 0.95
        elif raw.lstrip().startswith(("+", "00")):
            confidence = 0.9
        elif digits < len(raw.strip()):  # written with separators
            confidence = 0.85
        elif phonenumbers.number_type(number) in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            confidence = 0.75
        else:
            return None
        value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return _Hit("phones", value, confidence, start, end)

    def _names(self, text: str, folded: str, hits: list[_Hit]) -> None:
        for match in _NAME_STRONG.finditer(folded):
            if _negated(folded, match.start()):
                continue
            taken = _take_name(text, folded, match.end(), require_cap=False)
            if taken:
                hits.append(_Hit("name", taken[0], 0.95, match.start(), taken[1]))
        if any(h.key == "name" for h in hits):
            return
        for match in _NAME_WEAK.finditer(folded):
            taken = _take_name(text, folded, match.end(), require_cap=True, max_words=3)
            if taken is None:
                continue
            if re.match(r"\s*\?", folded[taken[1] : taken[1] + 3]):
                continue  # "sou a Maria?" is a question
            hits.append(_Hit("name", taken[0], 0.75, match.start(), taken[1]))
            return

    # -- dates and times ------------------------------------------------------------------------

    def _date_mentions(self, folded: str, today: date) -> Iterator[_DateMention]:
        for match in _DATE_ISO.finditer(folded):
            value = _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)), today)
            if value:
                yield _DateMention(value, 3, True, *match.span())
        for match in _DATE_NUM.finditer(folded):
            if match.group(1) is not None:
                a, b, raw_year = int(match.group(1)), int(match.group(2)), match.group(3)
            else:
                a, b, raw_year = int(match.group(4)), int(match.group(6)), match.group(7)
            year = _year(raw_year, today)
            day, month = (a, b) if self.day_first else (b, a)
            value = _make_date(year, month, day, today) or _make_date(year, day, month, today)
            if value:
                yield _DateMention(value, 3, year is not None, *match.span())
        for match in _DATE_DE.finditer(folded):
            raw_year = match.group(3) or match.group(4)
            year = _year(raw_year, today)
            value = _make_date(year, _MONTHS[match.group(2)], int(match.group(1)), today)
            if value:
                yield _DateMention(value, 3, year is not None, *match.span())
        for match in _DATE_EN_MD.finditer(folded):
            year = _year(match.group(3), today)
            value = _make_date(year, _MONTHS[match.group(1)], int(match.group(2)), today)
            if value:
                yield _DateMention(value, 3, year is not None, *match.span())
        for match in _DATE_EN_DM.finditer(folded):
            year = _year(match.group(3), today)
            value = _make_date(year, _MONTHS[match.group(2)], int(match.group(1)), today)
            if value:
                yield _DateMention(value, 3, year is not None, *match.span())
        for match in _DATE_DAY.finditer(folded):
            day = int(match.group(1))
            value = None
            for ahead in range(3):  # "dia 31" in a month without a 31st: the next month with one
                month = (today.month - 1 + ahead) % 12 + 1
                year = today.year + (today.month - 1 + ahead) // 12
                candidate = _make_date(year, month, day, today)
                if candidate and candidate >= today:
                    value = candidate
                    break
            if value:
                yield _DateMention(value, 2, False, *match.span())
        for match in _DATE_REL.finditer(folded):
            word = match.group(1)
            if word == "manana" and _ES_MORNING_OK.search(folded, 0, match.start()):
                continue  # "por la mañana": the morning, not tomorrow
            offset = 2 if " " in word else 0 if word in ("hoje", "today", "hoy") else 1
            yield _DateMention(today + timedelta(days=offset), 1, False, *match.span())
        for match in _WEEKDAY.finditer(folded):
            weekday = _WEEKDAYS[match.group(1)]
            ahead = (weekday - today.weekday()) % 7 or 7
            yield _DateMention(today + timedelta(days=ahead), 1, False, *match.span())

    def _dates(
        self,
        folded: str,
        today: date,
        booking: bool,
        confidence: float,
        hits: list[_Hit],
        *,
        appointments_only: bool = False,
    ) -> None:
        if (
            not any(c.isdigit() for c in folded)
            and not _DATE_REL.search(folded)
            and not _WEEKDAY.search(folded)
        ):
            return
        mentions = [
            m for m in self._date_mentions(folded, today) if not _rejected(folded, m.start, m.end)
        ]
        # Drop mentions inside a longer one ("3 de dezembro de 2025" also holds "dia"-less bits).
        mentions.sort(key=lambda m: (m.start, -(m.end - m.start)))
        kept: list[_DateMention] = []
        for mention in mentions:
            if kept and mention.start < kept[-1].end:
                continue
            kept.append(mention)
        if not appointments_only:
            for mention in kept:
                window = folded[max(0, mention.start - 40) : mention.start]
                if mention.explicit_year and mention.value < today and _BIRTH.search(window):
                    hits.append(
                        _Hit(
                            "birth_date",
                            mention.value.isoformat(),
                            0.9,
                            mention.start,
                            mention.end,
                            dated=False,
                        )
                    )
        if not booking or _PAST.search(folded):
            return
        candidates = [m for m in kept if m.value >= today and not _BIRTH.search(
            folded[max(0, m.start - 40) : m.start]
        )]  # fmt: skip
        if not candidates:
            return
        best = max(m.rank for m in candidates)
        top = [m for m in candidates if m.rank == best]
        if len({m.value for m in top}) != 1:
            return  # "dia 3 ou dia 5": ambiguous
        chosen = top[-1]
        hits.append(
            _Hit(
                "appointment_date",
                chosen.value.isoformat(),
                confidence,
                chosen.start,
                chosen.end,
                dated=False,
            )
        )

    def _times(self, folded: str, confidence: float, hits: list[_Hit]) -> None:
        found: list[tuple[int, int, int, int]] = []  # start, end, hour, minute
        ends: dict[int, int] = {}  # end of a time -> end of its qualifier ("da tarde")

        def qualified(hour: int, end: int, bare: bool) -> int:
            qual = _TIME_QUAL.match(folded, end)
            if qual:
                ends[end] = qual.end()
                period = qual.group(1)
                if period in ("tarde", "noite", "noche", "afternoon", "evening", "night"):
                    return hour + 12 if hour < 12 else hour
                return 0 if hour == 12 else hour
            if bare and 1 <= hour <= 6:
                return hour + 12  # "às 3": clinics do not open at 3 a.m.
            return hour

        def ampm(hour: int, suffix: str | None) -> int:
            if suffix is None:
                return hour
            if suffix.startswith("p") and hour < 12:
                return hour + 12
            if suffix.startswith("a") and hour == 12:
                return 0
            return hour

        for match in _TIME_COLON.finditer(folded):
            hour = ampm(int(match.group(1)), match.group(3))
            if match.group(3) is None:
                hour = qualified(hour, match.end(), False)
            found.append((match.start(), match.end(), hour, int(match.group(2))))
        for match in _TIME_AMPM.finditer(folded):
            hour = ampm(int(match.group(1)), match.group(2))
            found.append((match.start(), match.end(), hour, 0))
        for match in _TIME_H.finditer(folded):
            hour = qualified(int(match.group(1)), match.end(), False)
            found.append((match.start(), match.end(), hour, 0))
        for match in _TIME_PREP.finditer(folded):
            hour = int(match.group(1))
            if hour > 23:
                continue
            hour = qualified(hour, match.end(), True)
            found.append((match.start(), match.end(), hour, 0))
        if not found:
            return
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        kept: list[tuple[int, int, int, int]] = []
        for item in found:
            if kept and item[0] < kept[-1][1]:
                continue
            if not _rejected(folded, item[0], item[1]) and 0 <= item[2] <= 23:
                kept.append(item)
        if not kept or len({(h, m) for _, _, h, m in kept}) != 1:
            return
        start, end, hour, minute = kept[-1]
        end = ends.get(end, end)
        hits.append(
            _Hit(
                "appointment_time", f"{hour:02d}:{minute:02d}", confidence, start, end, dated=False
            )
        )

    # -- preferences, doctor, specialty, insurance, allergies ------------------------------------

    def _periods(self, folded: str, lo: int, hi: int) -> list[tuple[int, int, str]]:
        out = []
        for match in _PERIOD.finditer(folded, lo, hi):
            word = match.group(1).rstrip("s")
            if word == "manha" and folded[max(0, match.start() - 1) : match.start()] == "a":
                continue  # "amanha" never matches \b...: defensive
            before = folded[max(0, match.start() - 12) : match.start()]
            if _PERIOD_BAD_BEFORE.search(before):
                continue  # "boa tarde", "mais tarde", "good morning"
            if word == "manana" and not _ES_MORNING_OK.search(before):
                continue  # Spanish "mañana" alone is "tomorrow"
            if word == "tarde" and re.match(r"\s+demais", folded[match.end() :]):
                continue
            out.append((match.start(), match.end(), _PERIOD_VALUE[word]))
        return out

    def _preferences(self, folded: str, hits: list[_Hit]) -> None:
        if not _PERIOD.search(folded):
            return
        for trigger, confidence in ((_PREF_TRIGGER, 0.9), (_ONLY_TRIGGER, 0.8)):
            for match in trigger.finditer(folded):
                lo = _clause_start(folded, match.start())
                hi = _clause_end(folded, match.end())
                if _NEGATION.search(folded, lo, hi):
                    continue
                periods = self._periods(folded, lo, hi)
                if len({p[2] for p in periods}) != 1:
                    continue
                start = min(match.start(), periods[0][0])
                end = max(match.end(), periods[-1][1])
                hits.append(_Hit("preferred_times", periods[0][2], confidence, start, end))
            if any(h.key == "preferred_times" for h in hits):
                return

    def _doctor(
        self,
        text: str,
        folded: str,
        confidence: float,
        hits: list[_Hit],
        *,
        confirmation: bool = False,
    ) -> None:
        for match in _DOCTOR.finditer(folded):
            if _negated(folded, match.start()):
                continue
            taken = _take_name(text, folded, match.end(), require_cap=False, max_words=3)
            if taken is None:
                continue
            name, end = taken
            if name.split()[0][:1].islower():
                continue
            if not text[match.end() : end].strip()[:1].isupper():
                name = name.split()[0]  # lowercase input: one word only ("com o dr gustavo")
                end = (
                    match.end()
                    + len(text[match.end() : end].split()[0])
                    + (len(text[match.end() :]) - len(text[match.end() :].lstrip()))
                )
            title = "Dra." if match.group(1) in ("dra", "doutora", "doctora") else "Dr."
            hits.append(_Hit("doctor", f"{title} {name}", confidence, match.start(), end))

    def _specialty(self, folded: str, confidence: float, hits: list[_Hit]) -> None:
        chosen: tuple[int, int, str] | None = None
        for match in _SPECIALTY.finditer(folded):
            if _negated(folded, match.start()):
                continue
            before = folded[max(0, match.start() - 20) : match.start()]
            if _SPECIALTY_COPULA.search(before) or _POSSESSIVE.search(before):
                continue  # "meu pai é cardiologista"; "my GP referred me" (a doctor one has)
            chosen = (match.start(), match.end(), _SPECIALTY_TERMS[match.group(1)])
        if chosen is not None:
            hits.append(_Hit("specialty", chosen[2], confidence, chosen[0], chosen[1]))

    def _insurance(self, text: str, folded: str, hits: list[_Hit]) -> None:
        for match in _INSURANCE_EXPLICIT.finditer(folded):
            if _negated(folded, match.start()):
                continue
            known = _INSURER.match(folded, match.end())
            if known:
                hits.append(
                    _Hit("insurance", _INSURERS[known.group(1)], 0.9, match.start(), known.end())
                )
                return
            taken = _take_name(text, folded, match.end(), require_cap=True, max_words=3)
            if taken:
                hits.append(_Hit("insurance", taken[0], 0.85, match.start(), taken[1]))
                return
        for match in _INSURANCE_NEAR.finditer(folded):
            if _negated(folded, match.start()):
                continue
            clause_end = _clause_end(folded, match.end())
            tail = folded[match.end() : clause_end + 1]
            lo = _clause_start(folded, match.start())
            if "?" in tail or _ACCEPT_QUESTION.search(folded, lo, match.start()):
                continue  # "vocês aceitam Unimed?" asks; it does not state
            name = next(g for g in match.groups() if g)
            hits.append(_Hit("insurance", _INSURERS[name], 0.85, match.start(), match.end()))
            return
        self_pay = _SELF_PAY.search(folded)
        if self_pay:
            hits.append(_Hit("insurance", "self-pay", 0.85, self_pay.start(), self_pay.end()))

    def _allergies(self, text: str, folded: str, hits: list[_Hit]) -> None:
        if "alerg" not in folded and "allerg" not in folded:
            return
        for match in _ALLERGY.finditer(folded):
            if _THIRD_PARTY.search(folded, _clause_start(folded, match.start()), match.start()):
                continue  # "minha filha é alérgica a amendoim" is not about the user
            retract = _negated(folded, match.start())
            for value, _start, end in self._allergens(text, folded, match.end()):
                hits.append(_Hit("allergies", value, 0.9, match.start(), end, retract=retract))
        for match in _ALLERGY_NOUN_FIRST.finditer(folded):
            if _THIRD_PARTY.search(folded, _clause_start(folded, match.start()), match.start()):
                continue
            retract = _negated(folded, match.start())
            words = match.group(1).split()
            if any(w in _ALLERGEN_STOP or w in _LEADING_ARTICLES for w in words):
                continue
            value = " ".join(text[match.start(1) : match.end(1)].lower().split())
            hits.append(_Hit("allergies", value, 0.85, match.start(), match.end(), retract=retract))

    @staticmethod
    def _allergens(text: str, folded: str, pos: int) -> list[tuple[str, int, int]]:
        stop = _ALLERGEN_END.search(folded, pos, min(len(folded), pos + 120))
        end = stop.start() if stop else min(len(folded), pos + 120)
        out: list[tuple[str, int, int]] = []
        cursor = pos
        for part in _ALLERGEN_SPLIT.split(folded[pos:end]):
            offset = folded.find(part, cursor, end) if part else -1
            if offset < 0:
                continue
            cursor = offset + len(part)
            words = part.split()
            original = text[offset : offset + len(part)].lower().split()
            while words and words[0] in _LEADING_ARTICLES:
                words, original = words[1:], original[1:]
            while words and words[-1] in _ALLERGEN_TRAILING:
                words, original = words[:-1], original[:-1]
            if not words:
                continue
            if words[0] in _ALLERGEN_STOP or len(words) > 4:
                break
            if not all(re.fullmatch(r"[a-z][a-z\-']*", w) for w in words):
                break
            out.append((" ".join(original), offset, offset + len(part)))
        return out
