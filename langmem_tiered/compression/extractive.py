"""An offline extractive summarizer: sentence scoring and selection within a token budget.

:class:`ExtractiveSummarizer` is the default
:class:`~langmem_tiered.compression.protocol.Summarizer`: it needs no model, no network and no
key, runs in about a millisecond per fold, and gives the same output for the same input. It does
not rewrite text; it *selects* it:

1. **Units.** The new messages are split into sentences (Portuguese, English and Spanish
   punctuation; abbreviations such as ``Dr.``, ``Dra.``, ``Sr.``, ``p.ex.``, decimals, times
   and dates never end a sentence). A tool call and its result become one compact unit,
   ``tool list_slots(date=2026-01-20) -> 09:00, 14:30``. The previous summary is parsed back
   into units too, so old and new sentences compete for the same budget (incremental merge).
   A leading greeting or acknowledgement ("Bom dia, ...", "Ok, ...") is cut off a sentence.
2. **Scores.** Each unit scores its term salience within the chunk (TF-IDF-like over the
   units, with pt/en/es stopwords), plus bonuses for entities (capitalized words other than
   titles, not at the start of the sentence unless another follows: "Maria Aparecida Souza"),
   numbers, dates and times, money, e-mails, phones and document numbers, the vertical's
   must-survive keywords and, far higher, its critical ones (an allergy, a deadline: see
   :class:`~langmem_tiered.compression.prompts.VerticalGuide`), and decision or next-step cue
   words ("agendado", "confirmado", "vou", "will", "next", "prazo"...). Greetings, thanks and
   small talk are penalised, and a unit made only of them (at most with a name) scores zero
   and is never kept. Questions the assistant asks weigh less than the answers. Units of the
   previous summary get a *retention* bonus, so a fact stated long ago is not pushed out by
   later small talk, while genuinely new facts can still displace weak old ones.
3. **Selection.** Units are taken greedily by ``score / sqrt(tokens)`` (ties by position),
   skipping near-duplicates of a unit already taken (Jaccard similarity or containment of
   their terms) and any unit that would exceed the budget. The result is counted again with
   the real tokenizer and trimmed until it fits, so ``max_tokens`` holds for any tokenizer.
4. **Rendering.** Kept units are written in chronological order, one line per message with a
   compact speaker prefix (``user: ...``, ``assistant: ...``, ``tool ...``); sentences of the
   same message share a line. This format is what the parser of step 1 reads back on the next
   fold, so summarizing is stable across increments.

The output is always made of whole sentences (or a suffix of one, after a cut greeting, or
clauses of an overlong sentence) taken from the messages or the previous summary, plus the
tool lines: nothing is paraphrased, so nothing can be invented.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError, InvalidInputError
from ..models import Message
from ..tokens import default_tokenizer
from .prompts import VerticalGuide, check_vertical, format_tool_call, pair_tool_results

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ExtractiveSummarizer",
    "ExtractiveWeights",
    "STOPWORDS",
    "fold_text",
    "split_sentences",
]

DEFAULT_MAX_TOKENS = 300
"""Summary length used when neither the constructor nor the call gives ``max_tokens``."""

_TOOL_ARG_CHARS = 60
_TOOL_RESULT_CHARS = 80
_LONG_SENTENCE_WORDS = 60  # sentences longer than this are cut into clauses ...
_CLAUSE_WORDS = 40  # ... of at most this many words


@dataclass(frozen=True, slots=True)
class ExtractiveWeights:
    """Tuning of :class:`ExtractiveSummarizer`'s scores (the defaults suit chat transcripts).

    Attributes:
        salience: Weight of term salience (normalized to 0..1 within the chunk).
        entity: Bonus per entity (capitalized word, see the module documentation), up to 3.
        number: Bonus for a plain number.
        date: Bonus for an explicit date, time, weekday or month.
        relative_date: Bonus for a relative date or duration ("amanhã", "next week").
        money: Bonus for an amount of money.
        contact: Bonus for an e-mail, phone, CPF/CNPJ or case number.
        identifier: Bonus for a code or id (``#4821``, ``AB-1234``, 5+ digits).
        vertical: Bonus per must-survive keyword of the vertical, up to 2.
        critical: Bonus for a critical keyword of the vertical (an allergy, a deadline).
        cue: Bonus per decision or next-step cue word, up to 2.
        phatic: Penalty factor for the share of greeting/thanks/small-talk words.
        assistant_question: Factor applied to questions asked by the assistant (the answers
            hold the facts).
        retention_factor: Factor applied to units of the previous summary.
        retention_bonus: Bonus added to units of the previous summary.
        recency: Bonus factor growing from 0 (oldest new unit) to this (newest).
        length_exponent: Units are ranked by ``score / tokens ** length_exponent``.
        min_score: Units scoring less are never kept, however much budget is left.
        duplicate_jaccard: A unit whose terms have this Jaccard similarity to a kept unit's
            is a near-duplicate and is skipped.
        duplicate_containment: So is a unit with this share of its terms in a kept unit.
    """

    salience: float = 1.0
    entity: float = 0.5
    number: float = 0.4
    date: float = 0.9
    relative_date: float = 0.4
    money: float = 0.9
    contact: float = 0.9
    identifier: float = 0.5
    vertical: float = 0.7
    critical: float = 2.0
    cue: float = 0.5
    phatic: float = 0.6
    assistant_question: float = 0.4
    retention_factor: float = 1.5
    retention_bonus: float = 0.2
    recency: float = 0.1
    length_exponent: float = 0.5
    min_score: float = 0.35
    duplicate_jaccard: float = 0.6
    duplicate_containment: float = 0.85


_ROLE_FACTOR = {"user": 1.0, "operator": 1.0, "assistant": 0.9, "tool": 0.8, "system": 0.6}


# --------------------------------------------------------------------------------------------
# Text normalization and lexicons (all lexicon entries are lowercase and accent-free)
# --------------------------------------------------------------------------------------------


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {0x2019: "'", 0x2018: "'"}
    for code in range(0xC0, 0x250):
        decomposed = unicodedata.normalize("NFKD", chr(code))
        base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        if len(base) == 1 and base != chr(code):
            table[code] = base
    return table


_FOLD_TABLE = _build_fold_table()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_char(match: re.Match[str]) -> str:
    char = match.group()
    return _FOLD_TABLE.get(ord(char), char)


def fold_text(text: str) -> str:
    """Lowercase and strip accents (``"Alérgica"`` -> ``"alergica"``), keeping the length
    for Latin text so that positions in the folded text are positions in the original."""
    text = text.lower()
    return text if text.isascii() else _NON_ASCII.sub(_fold_char, text)


def _words(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


_STOPWORDS_PT = """a o as os um uma uns umas de do da dos das em no na nos nas num numa por
    pelo pela pelos pelas para pra pro com sem sob sobre e ou mas que se como quando onde
    porque pois entao tambem ja ainda so muito muita muitos muitas mais menos bem mal eu tu
    voce voces ele ela eles elas me te lhe lhes meu minha meus minhas seu sua seus suas
    nosso nossa nossos nossas este esta estes estas esse essa esses essas aquele aquela
    aqueles aquelas isto isso aquilo aqui ai ali la ser sou es somos sao era eram foi fui
    seja estar estou estamos estao estava ter tenho tem temos tinha ha haver fazer faz fiz
    feito pode posso podem poderia vou vai vamos nao qual quais quem algum alguma alguns
    algumas nenhum nenhuma todo toda todos todas tudo nada outro outra outros outras mesmo
    mesma cada ate apos entre desde contra lo ta ne gostaria queria dele dela deles delas
    aos assim agora sim tipo vc vcs pq q tb tbm"""
_STOPWORDS_EN = """the a an of to in on at by for with without about from into over under
    and or but if then than so that this these those there here it its is are was were be
    been being am do does did doing have has had having i me my mine you your yours he him
    his she her hers we us our they them their what which who whom whose when where why
    how all any both each few more most other some such no nor not only own same too very
    can could should would will just also as up down out off again further once may might
    must shall let lets get got im ive id youre dont doesnt didnt cant wont isnt arent
    wasnt s t ll re ve d m o"""
_STOPWORDS_ES = """el la los las un una unos unas de del al en por para con sin sobre y o u
    pero que si como cuando donde porque tambien ya muy mas menos yo tu usted ustedes ella
    ellos ellas nosotros nosotras me te le les se mi mis su sus nuestro nuestra este esta
    estos estas ese esa esos esas eso esto aquel aquella aqui alli ser soy es somos son era
    fue estar estoy esta estamos estan tener tengo tiene tenemos hay hacer hace puede puedo
    lo no ni todo toda todos todas nada otro otra mismo misma cada hasta entre desde contra
    quiero quisiera ahora asi"""
_STOPWORDS = _words(f"{_STOPWORDS_PT} {_STOPWORDS_EN} {_STOPWORDS_ES}")
STOPWORDS: dict[str, frozenset[str]] = {
    "portuguese": _words(_STOPWORDS_PT),
    "english": _words(_STOPWORDS_EN),
    "spanish": _words(_STOPWORDS_ES),
}
"""Function words of each language (accents folded), by Postgres text-search config name."""

_PHATIC_WORDS = _words(
    """oi oie ola hola hi hello hey opa eai obrigado obrigada obrigadao obg brigado brigada
    valeu vlw thanks thank thx ty gracias grato grata agradeco agradecido agradecida ok okay
    okey oki blz beleza certo certinho perfeito perfeita perfecto perfecta perfect otimo
    otima great genial excelente excellent bacana entendi entendido entendida understood
    claro sure yes yeah yep yup sim si isso exato exatamente exactly vale tchau bye goodbye
    adios chau ciao abraco abracos abrazo abrazos saludos regards cheers kkk kkkk kkkkk haha
    hahaha hehe jaja jajaja lol rs rsrs please disponha anotado noted listo pronto welcome
    bienvenido bienvenida tranquilo top legal fine awesome nice cool""",
)
_PHATIC_PHRASES = (
    "bom dia", "boa tarde", "boa noite", "buen dia", "buenos dias", "buenas tardes",
    "buenas noches", "good morning", "good afternoon", "good evening", "good night",
    "tudo bem", "tudo bom", "tudo certo", "tudo otimo", "como vai", "como voce esta",
    "como esta", "como estas", "que tal", "how are you", "de nada", "por nada",
    "you're welcome", "you are welcome", "no problem", "sem problema", "sem problemas",
    "sin problema", "sin problemas", "como posso ajudar", "em que posso ajudar",
    "posso te ajudar", "posso ajudar", "algo mais", "mais alguma coisa", "anything else",
    "how can i help", "can i help", "en que puedo ayudar", "puedo ayudar", "algo mas",
    "muito obrigado", "muito obrigada", "muchas gracias", "thank you", "por favor",
    "tenha um bom dia", "tenha um otimo dia", "have a nice day", "have a great day",
    "que bom", "a disposicao", "estou a disposicao", "fico feliz", "glad to help",
    "happy to help", "me alegra", "nice to meet you", "prazer", "mucho gusto", "encantado",
    "encantada", "esta bien", "de boa", "all right", "alright",
)  # fmt: skip
_PHATIC_ALTERNATION = "|".join(
    r"\s+".join(re.escape(part) for part in phrase.split())
    for phrase in sorted({*_PHATIC_PHRASES, *_PHATIC_WORDS}, key=lambda p: (-len(p), p))
)
_PHATIC_NGRAMS: dict[tuple[str, ...], int] = {
    tuple(re.findall(r"[^\W_]+", phrase)): len(re.findall(r"[^\W_]+", phrase))
    for phrase in (*_PHATIC_PHRASES, *_PHATIC_WORDS)
}
_PHATIC_LONGEST = max(_PHATIC_NGRAMS.values())
_PHATIC_STARTS = frozenset(ngram[0] for ngram in _PHATIC_NGRAMS)
_LEADING_PHATIC = re.compile(rf"(?:(?:{_PHATIC_ALTERNATION})(?![^\W_])\s*[,;:!.…-]+\s*)+")


def _without_phatic(words: list[str]) -> list[str]:
    """``words`` minus greetings, thanks and acknowledgements (single words and phrases)."""
    if _PHATIC_STARTS.isdisjoint(words):
        return words
    rest: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        if words[i] in _PHATIC_STARTS:
            for size in range(min(_PHATIC_LONGEST, n - i), 0, -1):
                if tuple(words[i : i + size]) in _PHATIC_NGRAMS:
                    i += size
                    break
            else:
                rest.append(words[i])
                i += 1
        else:
            rest.append(words[i])
            i += 1
    return rest


_DATE_WORDS = _words(
    """janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro
    dezembro enero febrero marzo mayo junio julio septiembre setiembre octubre noviembre
    diciembre january february april june july august september october november december
    segunda terca quarta quinta sexta sabado domingo feira monday tuesday wednesday
    thursday friday saturday sunday lunes martes miercoles jueves viernes""",
)
_RELATIVE_DATE_WORDS = _words(
    """hoje amanha ontem anteontem today tomorrow yesterday tonight hoy manana ayer anoche
    semana semanas week weeks weekend mes meses month months dias days horas hours minutos
    minutes madrugada manha tarde noite morning afternoon evening noche""",
)
_CUE_EXACT = _words(
    """vou vamos vai irei iremos will going gonna ll voy vas va next quero queria quiero
    quisiera want wants wanted need needs preciso precisa necesito necesita must devo deve
    debo debe instead""",
)
_CUE_STEMS = """confirm agend marc remarc reagend desmarc cancel decid decis acord acert
    combin prazo deadline plazo proxim schedul book reserv agree plan lembr remind
    recordator retorn mud troc chang cambi altera atualiz actualiz updat envi mand send pag
    pay compr buy devolv return lig call llam"""
_CUE_PREFIXES = tuple(sorted(_words(_CUE_STEMS)))

_ABBREVIATIONS = _words(
    """dr dra drs dras sr sra srs sras srta sto sta prof profa profs mr mrs ms mme jr st av
    avda al tel cel fax ex p.ex e.g i.e cf vs aprox approx pag pags pg p pp cap art arts
    inc ltda cia co corp dept depto ud uds vd vds sgto gen eng adv arq lic ing ph.d esq obs
    ref vol ed dpto ave blvd rd ext tb tbm""",
)
_NUMBER_ABBREVIATIONS = _words("no n nº num nro nr")

# --------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------

_END_CANDIDATE = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")
_WORD_BEFORE = re.compile(r"\S*\Z")
_OPENERS = "([\"'“‘¿¡«"
_TOKEN = re.compile(r"\S+")


def _ends_sentence(line: str, match: re.Match[str], next_char: str) -> bool:
    """Whether the punctuation ``match`` in ``line``, followed by ``next_char``, ends a sentence."""
    core = match.group().rstrip("\"'”’»)]")
    if core != ".":
        return True  # "!", "?", "…", "...", "?!"
    word_match = _WORD_BEFORE.search(line, 0, match.start())
    assert word_match is not None  # \S*\Z always matches
    word = word_match.group().lstrip(_OPENERS)
    if not word:
        return True
    key = fold_text(word)
    if key in _NUMBER_ABBREVIATIONS:
        return not next_char.isdigit()
    if key == "etc":
        return next_char.isupper()
    if key in _ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return not next_char.isupper()  # an initial: "Maria J. Souza"
    # A number at the start of a line is a list marker: "1. Tomar o remédio".
    return not (word.isdigit() and len(word) <= 2 and not line[: word_match.start()].strip())


def _split_line(line: str) -> list[str]:
    sentences: list[str] = []
    begin = 0
    for match in _END_CANDIDATE.finditer(line):
        following = _NON_SPACE.search(line, match.end())
        if following is None:
            break
        if _ends_sentence(line, match, following.group()):
            piece = line[begin : match.end()].strip()
            if piece:
                sentences.append(piece)
            begin = match.end()
    tail = line[begin:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _clauses(sentence: str) -> list[str]:
    """Cut an overlong sentence into runs of clauses of at most ``_CLAUSE_WORDS`` words.

    Cuts fall after ``,``, ``;`` or ``:``, or between words where a clause alone is too long;
    every piece is a substring of ``sentence``.
    """
    words = list(_TOKEN.finditer(sentence))
    chunks: list[str] = []
    start = 0  # index in ``words`` of the first word of the current chunk
    clause_ends: list[int] = []  # indexes of words ending a clause in the current chunk
    for i, word in enumerate(words):
        if i - start + 1 > _CLAUSE_WORDS:
            cut = clause_ends[-1] if clause_ends else i - 1
            chunks.append(sentence[words[start].start() : words[cut].end()])
            start = cut + 1
            clause_ends = [end for end in clause_ends if end >= start]
        if word.group()[-1] in ",;:":
            clause_ends.append(i)
    if start < len(words):
        chunks.append(sentence[words[start].start() : words[-1].end()])
    return chunks


def split_sentences(text: str) -> list[str]:
    """Split chat text into sentences (Portuguese, English, Spanish).

    A sentence ends at a line break, or at ``.``, ``!``, ``?`` or ``…`` (with any closing
    quotes or brackets) followed by white space, except after an abbreviation (``Dr.``,
    ``Dra.``, ``Sra.``, ``p.ex.``, ``etc.`` before a lowercase word...), an initial
    (``J. Souza``), ``nº.``/``No.`` before a number, or a list marker (``1.`` at the start of a
    line). Decimals (``37.5``), times (``10:30``), dates (``01/12/2026``), e-mails and URLs have
    no white space after their dots and are never cut. A sentence of more than 60 words is cut
    into clauses (at ``,``, ``;`` and ``:``) of at most 40 words. Every sentence returned is a
    substring of ``text``, stripped of surrounding white space.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        for sentence in _split_line(line):
            if len(sentence.split()) > _LONG_SENTENCE_WORDS:
                sentences.extend(_clauses(sentence))
            else:
                sentences.append(sentence)
    return sentences


def _joinable(left: str, right: str) -> bool:
    """Whether ``left + " " + right`` splits back into exactly these two sentences."""
    return _split_line(f"{left} {right}") == [left, right]


def _trim_leading_phatic(sentence: str) -> str:
    """Cut a leading greeting or acknowledgement ("Bom dia, quero marcar" -> "quero marcar")."""
    folded = fold_text(sentence)
    if len(folded) != len(sentence):
        return sentence
    match = _LEADING_PHATIC.match(folded)
    if match is None or match.end() >= len(folded) or match.end() == 0:
        return sentence
    return sentence[match.end() :]


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits with the separators of dates, times, phones, amounts and document numbers.
_NUMERIC = re.compile(r"\d(?:[\d.,:/()hH-]|\s(?=[\d(]))*")
_DOCUMENT_NUMBER = re.compile(
    r"\d{3}\.\d{3}\.\d{3}-\d{2}"  # CPF
    r"|\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}"  # CNPJ
    r"|\d{7}-\d{2}\.\d{4}\.\d\.\d{2}\.\d{4}"  # CNJ case number
)
_DATE_OR_TIME = re.compile(
    r"\d{1,2}/\d{1,2}(?:/\d{2,4})?"  # 20/01, 20/01/2026
    r"|\d{4}-\d{2}-\d{2}"  # 2026-01-20
    r"|\d{1,2}(?::\d{2}|[hH]\d{0,2})"  # 14:30, 14h, 14h30
)
_PHONE = re.compile(r"(?:\(?\d{2,3}\)?[\s.-]?)?\d{4,5}[\s.-]?\d{4}")
_AM_PM = re.compile(r"\s?[ap]\.?m\b", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?:R\$|US\$|\$|€|£)\s?$")
_CURRENCY_AFTER = re.compile(
    r"\s?(?:reais|real|d[óo]lar(?:es)?|dollars?|euros?|pesos?|usd|brl|eur)\b", re.IGNORECASE
)


def _numeric_kinds(text: str) -> set[str]:
    """Kinds of the numbers in ``text``: ``date`` (dates and times), ``money``, ``contact``
    (phones, CPF/CNPJ, case numbers), ``identifier`` (codes, long numbers) or ``number``."""
    kinds: set[str] = set()
    for match in _NUMERIC.finditer(text):
        chunk = match.group().rstrip(".,:/(-")
        start = match.start()
        end = start + len(chunk)
        if _DOCUMENT_NUMBER.fullmatch(chunk):
            kinds.add("contact")
        elif _DATE_OR_TIME.fullmatch(chunk) or _AM_PM.match(text, end):
            kinds.add("date")
        elif _CURRENCY_BEFORE.search(text, max(start - 4, 0), start) or _CURRENCY_AFTER.match(
            text, end
        ):
            kinds.add("money")
        elif _PHONE.fullmatch(chunk):
            kinds.add("contact")
        elif (start and (text[start - 1] == "#" or text[start - 1].isalpha())) or sum(
            ch.isdigit() for ch in chunk
        ) >= 5:
            kinds.add("identifier")  # #4821, AB1234, 0 8472 1123 5567
        else:
            kinds.add("number")
    return kinds


def _parse_keywords(keywords: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Split keywords in :class:`~langmem_tiered.compression.prompts.VerticalGuide` notation
    into exact words and prefixes (entries ending with ``*``)."""
    keywords = tuple(keywords)
    exact = frozenset(k for k in keywords if not k.endswith("*"))
    return exact, tuple(sorted({k[:-1] for k in keywords if k.endswith("*")}))


_MEMO_LIMIT = 100_000  # words classified per vertical
_CACHE_LIMIT = 10_000  # analyses and token counts of lines kept for the next fold


class _Lexicon:
    """Tells which folded words are keywords, critical keywords or cue words of a vertical.

    Each word is classified once (a bit mask, memoized): checking a word against a hundred
    prefixes costs more than the rest of its scoring.
    """

    __slots__ = ("_critical", "_keywords", "_memo", "analyses")

    def __init__(self, guide: VerticalGuide) -> None:
        self._keywords = _parse_keywords(guide.keywords)
        self._critical = _parse_keywords(guide.critical)
        self._memo: dict[str, int] = {}
        # (text, trimmed) -> analysis, for units that come back in the next previous summary.
        self.analyses: dict[tuple[str, bool], _Analysis | None] = {}

    def _classify(self, word: str) -> int:
        bits = 0
        for bit, (exact, prefixes) in (
            (1, self._keywords),
            (2, self._critical),
            (4, (_CUE_EXACT, _CUE_PREFIXES)),
        ):
            if word in exact or word.startswith(prefixes):
                bits |= bit
        return bits

    def count(self, words: Iterable[str]) -> tuple[int, int, int]:
        """Numbers of vertical keywords, critical keywords and cue words among ``words``."""
        memo = self._memo
        keywords = critical = cues = 0
        for word in words:
            bits = memo.get(word)
            if bits is None:
                bits = self._classify(word)
                if len(memo) < _MEMO_LIMIT:
                    memo[word] = bits
            if bits:
                keywords += bits & 1
                critical += (bits >> 1) & 1
                cues += bits >> 2
        return keywords, critical, cues


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What a unit's score needs from its text, apart from the chunk's term statistics."""

    terms: frozenset[str]
    phatic_share: float
    features: float


@dataclass(slots=True)
class _Unit:
    """A candidate of the summary: one sentence, or one tool line."""

    order: int  # chronological position
    group: int  # units of one group (message, or line of the previous summary) share a line
    role: str | None  # None: prose of a previous summary written without speaker prefixes
    name: str | None
    text: str
    is_tool: bool
    previous: bool
    trimmed: bool = False  # a leading greeting or acknowledgement was cut off
    worthless: bool = False  # only greetings/thanks/acknowledgements, or no words at all
    terms: frozenset[str] = frozenset()
    features: float = 0.0
    phatic_share: float = 0.0
    score: float = 0.0
    cost: int = 0
    priority: float = 0.0

    @property
    def prefix(self) -> str:
        if self.is_tool:
            return "tool "
        if self.role is None:
            return ""
        if self.name and _SAFE_NAME.fullmatch(self.name):
            return f"{self.role} ({self.name}): "
        return f"{self.role}: "


_PREFIX = re.compile(r"(user|assistant|operator|system)(?: \(([\w.' -]{1,64})\))?: ")
_SAFE_NAME = re.compile(r"[\w.'-](?:[\w.' -]{0,62}[\w.'-])?")  # names shown in a prefix
_BULLET = re.compile(r"^[-*•]\s+")


class ExtractiveSummarizer:
    """Offline extractive summarizer; see the module documentation for how it works.

    Args:
        max_tokens: Summary length used when a call does not give ``max_tokens``.
        count: Counts tokens of a text; default: the package's default tokenizer. Pass the
            model's own counter (``tokenizer.count``) to budget in its tokens.
        weights: Scoring weights; default :class:`ExtractiveWeights`.

    Raises:
        ConfigurationError: ``max_tokens`` is not a positive integer.
    """

    name = "extractive"

    def __init__(
        self,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        count: Callable[[str], int] | None = None,
        weights: ExtractiveWeights | None = None,
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be a positive integer, not {max_tokens!r}")
        self.max_tokens = max_tokens
        self._count = count if count is not None else default_tokenizer().count
        self.weights = weights if weights is not None else ExtractiveWeights()
        self._lexicons: dict[tuple[tuple[str, ...], tuple[str, ...]], _Lexicon] = {}
        self._costs: dict[str, int] = {}  # line -> tokens, for lines that come back

    def __repr__(self) -> str:
        return f"ExtractiveSummarizer(max_tokens={self.max_tokens})"

    # ---------------------------------------------------------------------------- public API

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        """Return the updated summary of ``previous_summary`` plus ``messages``.

        Args:
            previous_summary: The running summary so far (``""`` on the first fold); its
                sentences compete with the new ones, with a retention bonus.
            messages: The new messages, oldest first.
            vertical: ``generic``, ``medical``, ``dental``, ``legal`` or ``retail`` (any key
                of :data:`~langmem_tiered.compression.prompts.VERTICAL_GUIDES`).
            max_tokens: Upper bound of the result in tokens; default: the constructor's.

        Returns:
            Selected sentences in chronological order, one line per message with a speaker
            prefix; ``""`` when nothing is worth keeping.

        Raises:
            InvalidInputError: unknown vertical, or ``max_tokens`` not a positive integer.
        """
        guide = check_vertical(vertical)
        budget = self.max_tokens if max_tokens is None else max_tokens
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise InvalidInputError(f"max_tokens must be a positive integer, not {budget!r}")
        units = self._units(previous_summary, messages)
        if not units:
            return ""
        self._score(units, guide)
        return self._select(units, budget)

    async def asummarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        """Same as :meth:`summarize` (pure CPU work of about a millisecond: no thread hop)."""
        return self.summarize(previous_summary, messages, vertical, max_tokens=max_tokens)

    # ---------------------------------------------------------------------------- units

    def _units(self, previous_summary: str, messages: Sequence[Message]) -> list[_Unit]:
        units: list[_Unit] = []
        group = 0
        for line in previous_summary.splitlines():
            line = line.strip()
            if not line:
                continue
            group += 1
            if line.startswith("tool "):
                units.append(_Unit(len(units), group, "tool", None, line[5:], True, True))
                continue
            prefix = _PREFIX.match(line)
            if prefix is not None:
                role, name, body = prefix.group(1), prefix.group(2), line[prefix.end() :]
            else:
                role, name, body = None, None, _BULLET.sub("", line, count=1)
            for sentence in split_sentences(body):
                units.append(_Unit(len(units), group, role, name, sentence, False, True))

        answers = pair_tool_results(messages)
        answered = {
            call.id for m in messages for call in m.tool_calls if call.id and call.id in answers
        }
        for message in messages:
            group += 1
            if message.role == "tool":
                if message.tool_call_id in answered:
                    continue  # written with its call
                line = format_tool_call(
                    None, message.text, name=message.name, limit=_TOOL_RESULT_CHARS
                )
                units.append(_Unit(len(units), group, "tool", None, line[5:], True, False))
                continue
            for sentence in split_sentences(message.text):
                text = _trim_leading_phatic(sentence)
                unit = _Unit(len(units), group, message.role, message.name, text, False, False)
                unit.trimmed = len(text) != len(sentence)
                units.append(unit)
            for call in message.tool_calls:
                answer = answers.get(call.id) if call.id else None
                line = format_tool_call(
                    call,
                    None if answer is None else answer.text,
                    limit=_TOOL_ARG_CHARS,
                    result_limit=_TOOL_RESULT_CHARS,
                )
                group += 1
                units.append(_Unit(len(units), group, "tool", None, line[5:], True, False))
        return units

    # ---------------------------------------------------------------------------- scoring

    def _lexicon(self, guide: VerticalGuide) -> _Lexicon:
        key = (guide.keywords, guide.critical)
        lexicon = self._lexicons.get(key)
        if lexicon is None:
            lexicon = self._lexicons[key] = _Lexicon(guide)
        return lexicon

    def _score(self, units: list[_Unit], guide: VerticalGuide) -> None:
        w = self.weights
        lexicon = self._lexicon(guide)
        document_frequency: dict[str, int] = {}
        analyses = lexicon.analyses
        for unit in units:
            key = (unit.text, unit.trimmed)
            if key in analyses:
                analysis = analyses[key]
            else:
                analysis = self._analyze(unit.text, unit.trimmed, lexicon)
                if len(analyses) >= _CACHE_LIMIT:
                    analyses.clear()
                analyses[key] = analysis
            if analysis is None:
                unit.worthless = True
                continue
            unit.terms = analysis.terms
            unit.phatic_share = analysis.phatic_share
            unit.features = analysis.features
            for term in unit.terms:
                document_frequency[term] = document_frequency.get(term, 0) + 1

        n = len(units)
        term_weight = {
            term: (1.0 + math.log(df)) * math.log(1.0 + n / df)
            for term, df in document_frequency.items()
        }
        saliences = [
            math.fsum(term_weight[t] for t in unit.terms) / math.sqrt(len(unit.terms))
            if unit.terms
            else 0.0
            for unit in units
        ]
        top = max(saliences) or 1.0
        new_units = [unit for unit in units if not unit.previous]
        newest = max(len(new_units) - 1, 1)
        rank = {id(unit): i for i, unit in enumerate(new_units)}
        costs = self._costs
        for unit, salience in zip(units, saliences, strict=True):
            if unit.worthless:
                unit.score = 0.0
            else:
                score = (w.salience * salience / top + unit.features) * _ROLE_FACTOR.get(
                    unit.role or "user", 1.0
                )
                score *= 1.0 - w.phatic * unit.phatic_share
                if unit.role == "assistant" and unit.text.endswith("?"):
                    score *= w.assistant_question
                if unit.previous:
                    score = score * w.retention_factor + w.retention_bonus
                else:
                    score *= 1.0 + w.recency * rank[id(unit)] / newest
                unit.score = score
            if unit.score >= w.min_score:  # only candidates are counted
                line = unit.prefix + unit.text
                cost = costs.get(line)
                if cost is None:
                    if len(costs) >= _CACHE_LIMIT:
                        costs.clear()
                    cost = costs[line] = self._count(line) + 1
                unit.cost = cost
                unit.priority = unit.score / max(unit.cost, 1) ** w.length_exponent

    def _analyze(self, text: str, trimmed: bool, lexicon: _Lexicon) -> _Analysis | None:
        """Terms, greeting share and feature bonuses of a unit; None if it is worthless."""
        w = self.weights
        folded = fold_text(text)
        words = _WORD.findall(folded)
        if not words:
            return None
        rest = _without_phatic(words)
        phatic = len(words) - len(rest) + trimmed
        terms = frozenset(t for t in rest if t not in _STOPWORDS and (len(t) > 1 or t.isdigit()))

        # Entities: capitalized words, except the first word of the sentence unless a
        # capitalized word follows it ("Maria Aparecida Souza").
        entities: set[str] = set()
        if len(folded) == len(text):
            originals = _WORD.findall(text)
            if len(originals) == len(words):
                capitalized = [original[0].isupper() for original in originals]
                for i, word in enumerate(words):
                    if (
                        capitalized[i]
                        and (i or (len(words) > 1 and capitalized[1]))
                        and len(word) > 1
                        and not word[0].isdigit()
                        and word not in _STOPWORDS
                        and word not in _PHATIC_WORDS
                        and word not in _ABBREVIATIONS  # titles: Dr., Sra., Prof.
                    ):
                        entities.add(word)

        unique_words = set(words)
        kinds = _numeric_kinds(text) if any(word[0].isdigit() for word in words) else set()
        if "@" in text and _EMAIL.search(text):
            kinds.add("contact")
        features = 0.0
        if "date" in kinds or not _DATE_WORDS.isdisjoint(unique_words):
            features += w.date
        elif not _RELATIVE_DATE_WORDS.isdisjoint(unique_words):
            features += w.relative_date
        if "money" in kinds:
            features += w.money
        if "contact" in kinds:
            features += w.contact
        if "identifier" in kinds:
            features += w.identifier
        if "number" in kinds and kinds <= {"number", "identifier"}:
            features += w.number
        keywords, critical, cues = lexicon.count(unique_words)
        features += w.vertical * min(keywords, 2) + w.critical * min(critical, 1)
        if (phatic and not features and not (terms - entities)) or (not terms and not features):
            return None  # a greeting, thanks or acknowledgement, at most with a name
        return _Analysis(
            terms=terms,
            phatic_share=min(phatic / len(words), 1.0),
            features=features + w.entity * min(len(entities), 3) + w.cue * min(cues, 2),
        )

    # ---------------------------------------------------------------------------- selection

    def _redundant(self, unit: _Unit, kept: list[_Unit]) -> bool:
        w = self.weights
        terms = unit.terms
        for other in kept:
            if not terms:
                if fold_text(other.text) == fold_text(unit.text):
                    return True
                continue
            shared = len(terms & other.terms)
            if not shared:
                continue
            if shared / len(terms | other.terms) >= w.duplicate_jaccard:
                return True
            if shared / len(terms) >= w.duplicate_containment:
                return True
        return False

    def _select(self, units: list[_Unit], budget: int) -> str:
        min_score = self.weights.min_score
        candidates = [u for u in units if u.score >= min_score and u.cost <= budget]
        candidates.sort(key=lambda u: (-u.priority, u.order))
        kept: list[_Unit] = []
        used = 0
        for unit in candidates:
            if used + unit.cost > budget or self._redundant(unit, kept):
                continue
            kept.append(unit)
            used += unit.cost
        kept.sort(key=lambda u: u.order)
        summary = _render(kept)
        while kept and self._count(summary) > budget:  # a tokenizer that is not additive
            weakest = min(kept, key=lambda u: (u.priority, -u.order))
            kept.remove(weakest)
            summary = _render(kept)
        return summary


def _render(units: Sequence[_Unit]) -> str:
    lines: list[str] = []
    previous: _Unit | None = None
    for unit in units:
        if (
            previous is not None
            and not unit.is_tool
            and not previous.is_tool
            and unit.group == previous.group
            and _joinable(previous.text, unit.text)
        ):
            lines[-1] = f"{lines[-1]} {unit.text}"
        else:
            lines.append(unit.prefix + unit.text)
        previous = unit
    return "\n".join(lines)
