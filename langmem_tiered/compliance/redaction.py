"""PII redaction: CPF, CNPJ, phones, e-mail addresses, names known from facts, custom patterns.

A :class:`RedactionPolicy` says *where* text is redacted (before storage, before it leaves for an
LLM or embedder, both, or nowhere) and *what* is redacted; a :class:`Redactor` applies one policy
to a text and returns a :class:`RedactionResult`: the redacted text, each detection (type, label,
span in the original text) and the counts per type. A :class:`PolicySet` holds one policy per
tenant and a default.

Formats
-------
* CPF ``123.456.789-09`` (also ``123456789-09``, or 11 bare digits after the word "CPF") ->
  ``***.***.***-09``, only when the check digits are valid (an invalid CPF is left alone, and
  its digits are not read as a phone either).
* CNPJ ``12.345.678/0001-95`` (also the alphanumeric CNPJ of 2026, or 14 bare digits after the
  word "CNPJ") -> ``**.***.***/****-95``, only with valid check digits.
* Phones, found by the ``phonenumbers`` library (Google's libphonenumber metadata), which knows
  which numbers are *valid* in each region: ``(11) 99999-8888`` -> ``11*****88`` (the first and
  last two digits of the national number, always five stars, so the length is hidden too);
  ``+55 11 99999-8888`` -> ``+55 11*****88``. A number right after "pedido", "protocolo",
  "order", "nota"... is not a phone unless a phone word follows that word.
* E-mail ``joao@email.com`` -> ``***@email.com`` (the domain is kept).
* Names known from facts: ``João Silva`` -> ``João S***`` (first name kept, every further part
  reduced to its initial, particles such as "da" kept); a surname of a known name that appears
  on its own is reduced too (``Silva`` -> ``S***``). Matching ignores case and accents.
* Custom patterns: a regular expression with a label and a replacement (``\\1`` and
  ``\\g<name>`` refer to groups).

When two detections overlap, custom patterns win, then e-mail, CNPJ, CPF, phone, names; within
one type the earlier, then the longer, span wins.

Guarantees: spans are in code points of the original text (any Unicode is fine), the output is
a function of the input alone (deterministic), and redacting redacted text changes nothing
(idempotent), provided custom replacements do not match their own pattern.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ..errors import RedactionError, RedactionPolicyError
from ..facts.rules import valid_cnpj, valid_cpf

__all__ = [
    "DETECTORS",
    "CustomPattern",
    "Detection",
    "Detector",
    "PolicySet",
    "RedactionPolicy",
    "RedactionResult",
    "Redactor",
    "Stage",
    "Where",
    "names_from_facts",
]

Detector = Literal["cpf", "cnpj", "phone", "email", "name"]
Where = Literal["storage", "llm", "both", "off"]
Stage = Literal["storage", "llm"]
DETECTORS: tuple[Detector, ...] = get_args(Detector)

_MAX_PATTERNS = 64
_M = TypeVar("_M", bound=BaseModel)


def _validated(model: type[_M], config: Mapping[str, Any]) -> _M:
    """``model`` built from configuration data; :class:`RedactionPolicyError` if invalid."""
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise RedactionPolicyError(f"invalid {model.__name__}: {exc}") from exc


class CustomPattern(BaseModel):
    """A regular expression whose matches are replaced.

    Attributes:
        label: Name of the pattern, used in detections and counts (``"order"``).
        pattern: A Python regular expression.
        replacement: What a match becomes; ``\\1`` / ``\\g<name>`` refer to groups. Defaults to
            ``[LABEL]`` (the label in upper case).
        ignore_case: Match case-insensitively.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    pattern: str = Field(min_length=1, max_length=2000)
    replacement: str | None = Field(default=None, max_length=500)
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        if compiled.match(""):
            raise ValueError("pattern matches the empty string")
        return value

    def compiled(self) -> re.Pattern[str]:
        """The compiled expression."""
        return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)

    def render(self, match: re.Match[str]) -> str:
        """The replacement of ``match``."""
        if self.replacement is None:
            return f"[{self.label.upper()}]"
        return match.expand(self.replacement)


class RedactionPolicy(BaseModel):
    """What is redacted, and where.

    Attributes:
        where: ``"storage"`` (before text is written), ``"llm"`` (before text leaves for an LLM
            or embedder), ``"both"``, or ``"off"``.
        detectors: The built-in detectors that are on (all by default).
        custom_patterns: Extra patterns, applied before the built-in detectors.
        keep_original: Keep the original text and each detection's original value in the
            :class:`RedactionResult` (for an audit trail kept apart). Off by default: the
            result then holds no personal data at all.
        phone_regions: Regions (ISO 3166 codes) whose numbering plans are tried for numbers
            written without a country code, in order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    where: Where = "both"
    detectors: frozenset[Detector] = frozenset(DETECTORS)
    custom_patterns: tuple[CustomPattern, ...] = Field(default=(), max_length=_MAX_PATTERNS)
    keep_original: bool = False
    phone_regions: tuple[str, ...] = ("BR", "US")

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        regions = tuple(r.upper() for r in value)
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone regions: {unknown}")
        return regions

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RedactionPolicy:
        """Build a policy from configuration data, raising :class:`RedactionPolicyError`."""
        return _validated(cls, config)

    def applies(self, stage: Stage) -> bool:
        """Whether text is redacted at ``stage`` (``"storage"`` or ``"llm"``)."""
        if stage not in ("storage", "llm"):
            raise RedactionPolicyError(f"unknown stage {stage!r}: expected 'storage' or 'llm'")
        return self.where == "both" or self.where == stage


@dataclass(frozen=True)
class Detection:
    """One redacted span.

    Attributes:
        type: ``"cpf"``, ``"cnpj"``, ``"phone"``, ``"email"``, ``"name"`` or ``"custom"``.
        label: The type, or a custom pattern's label.
        start: Start of the span in the original text (code points).
        end: End of the span (exclusive).
        replacement: What the span became.
        original: The original value, only when the policy keeps originals.
    """

    type: str
    label: str
    start: int
    end: int
    replacement: str
    original: str | None = None


@dataclass(frozen=True)
class RedactionResult:
    """The outcome of :meth:`Redactor.redact`.

    Attributes:
        text: The redacted text.
        detections: The redacted spans, in text order (spans refer to the original text).
        counts: Detections per type (``{"cpf": 1, "custom": 2}``).
        label_counts: Detections per label (custom patterns by their label).
        original: The original text, only when the policy keeps originals.
    """

    text: str
    detections: tuple[Detection, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    original: str | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was redacted."""
        return bool(self.detections)


# ---------------------------------------------------------------------------------------------
# Patterns.

_PRIORITY = {"custom": 0, "email": 1, "cnpj": 2, "cpf": 3, "phone": 4, "name": 5}

_LEFT = r"(?<![\w./\-@])"
_RIGHT = r"(?![\w/@]|[.\-][0-9A-Za-z])"
_CPF = re.compile(_LEFT + r"([0-9]{3}\.[0-9]{3}\.[0-9]{3}-?[0-9]{2}|[0-9]{9}-[0-9]{2})" + _RIGHT)
_CNPJ = re.compile(
    _LEFT + r"([0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/[0-9A-Z]{4}-?[0-9]{2}|"
    r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}[0-9]{4}-[0-9]{2})" + _RIGHT
)
_BARE = re.compile(_LEFT + r"([0-9]{14}|[0-9]{11})" + _RIGHT)
_CPF_WORD = re.compile(r"\bc\.?p\.?f\b", re.IGNORECASE)
_CNPJ_WORD = re.compile(r"\bcnpj\b", re.IGNORECASE)
_DOC_WORD_WINDOW = 30

_EMAIL = re.compile(
    r"(?<![\w.%+\-])([\w.%+\-]+)@((?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W\d_]{2,})(?![\w\-]|\.[^\W_])"
)

_PHONE_CANDIDATE = re.compile(r"(?:\+|\b00)?\(?(?<![\w.,/])[0-9][0-9 \t().\-]{5,60}[0-9](?![\w/])")
_PHONE_WORDS = re.compile(
    r"\b(?:telefones?|tel|fones?|celular|cel|whats(?:app)?|zap|wpp|contato|ligar|liga|"
    r"ligue|phone|mobile|cell|call|text|sms|fax|ramal)\b",
    re.IGNORECASE,
)
_NOT_PHONE_WORDS = re.compile(
    r"\b(?:pedido|protocolo|order|orders|nota|invoice|boleto|conta|account|cart[aã]o|card|"
    r"c[oó]digo|code|ticket|ref|id|matr[ií]cula|processo|case|rastreio|tracking|rg|cep|zip|"
    r"senha|password|pin|valor|total|r\$|us\$|serial|nf|nfe|sku|lote|batch)\b",
    re.IGNORECASE,
)
_PHONE_WINDOW = 25
# dates and times are never phones ("2024-03-15 08:00" is a valid US number to libphonenumber)
_DATE_TIME = re.compile(
    r"(?<![\w.\-/])(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}([/.\-])[0-9]{1,2}\1[0-9]{2,4})"
    r"(?![\w/])|\b[0-9]{1,2}[:h][0-9]{2}(?::[0-9]{2})?\b"
)
_MAX_PHONE_CANDIDATES = 64

_PARTICLES = frozenset(
    ["da", "de", "do", "das", "dos", "del", "della", "di", "du", "e", "van", "von", "der"]
    + ["den", "la", "le", "y"]
)


def _fold_char(char: str) -> str:
    """One character, lower-cased and without accents (always exactly one character)."""
    base = unicodedata.normalize("NFD", char)[:1] or char
    low = base.lower()
    return low if len(low) == 1 else base


def _fold(text: str) -> str:
    """``text`` lower-cased without accents, same length, so spans carry over."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


def _digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def _mask_doc(value: str, kind: str) -> str:
    tail = value[-2:]
    return f"***.***.***-{tail}" if kind == "cpf" else f"**.***.***/****-{tail}"


def _mask_phone(national: str, international: bool, country_code: int) -> str:
    masked = f"{national[:2]}*****{national[-2:]}"
    return f"+{country_code} {masked}" if international else masked


@dataclass(frozen=True)
class _Candidate:
    type: str
    label: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class _NameForm:
    """A known name, folded, split into parts."""

    parts: tuple[str, ...]  # original casing
    folded: tuple[str, ...]


def names_from_facts(facts: Iterable[Any], keys: Iterable[str] = ("name",)) -> list[str]:
    """The string values of the facts with one of ``keys`` (objects with ``key`` and ``value``
    attributes such as :class:`~langmem_tiered.Fact`, or mappings with those keys)."""
    wanted = frozenset(keys)
    names: list[str] = []
    for fact in facts:
        if isinstance(fact, Mapping):
            key, value = fact.get("key"), fact.get("value")
        else:
            key, value = getattr(fact, "key", None), getattr(fact, "value", None)
        if key in wanted and isinstance(value, str) and value.strip() and value not in names:
            names.append(value)
    return names


class Redactor:
    """Applies one :class:`RedactionPolicy`. Thread-safe (it holds no mutable state).

    Args:
        policy: The policy; the default policy (everything on, ``where="both"``) if omitted.
    """

    def __init__(self, policy: RedactionPolicy | None = None) -> None:
        self.policy = policy if policy is not None else RedactionPolicy()
        self._custom: list[tuple[CustomPattern, re.Pattern[str]]] = []
        for custom in self.policy.custom_patterns:
            compiled = custom.compiled()
            if custom.replacement is not None:
                try:
                    _check_template(compiled, custom.replacement)
                except IndexError as exc:
                    raise RedactionPolicyError(
                        f"replacement of pattern {custom.label!r} is invalid: {exc}"
                    ) from exc
            self._custom.append((custom, compiled))
        self._on = self.policy.detectors

    def redact_for(
        self, stage: Stage, text: str, known_names: Iterable[str] = ()
    ) -> RedactionResult:
        """:meth:`redact` if the policy redacts at ``stage``, else ``text`` unchanged."""
        if not self.policy.applies(stage):
            _check_text(text)
            return RedactionResult(text=text)
        return self.redact(text, known_names)

    def redact(self, text: str, known_names: Iterable[str] = ()) -> RedactionResult:
        """Redact ``text`` by the policy's detectors and patterns (whatever ``where`` says).

        Args:
            text: The text.
            known_names: Full names known for the user (from facts, see
                :func:`names_from_facts`); used when the ``"name"`` detector is on.
        """
        _check_text(text)
        names = _check_names(known_names)
        # Replacing a span changes its neighbours' context ("...-06PED-1" holds no CPF, but
        # "...-06[ORDER]" does), so the text is redacted again until nothing more is found:
        # that makes redact(redact(x)) == redact(x). Spans are mapped back to the original.
        done: list[_Placed] = []
        current = text
        cache: dict[tuple[str, str], list[tuple[int, int, str]]] = {}  # phones, across passes
        for _ in range(_MAX_PASSES):
            chosen = _choose(self._candidates(current, names, cache))
            if not chosen:
                break
            done = _merge(done, chosen, current)
            current = _render(text, done)
        return self._result(text, done)

    def _candidates(
        self,
        text: str,
        names: list[_NameForm],
        cache: dict[tuple[str, str], list[tuple[int, int, str]]],
    ) -> list[_Candidate]:
        candidates: list[_Candidate] = []
        blocked: list[tuple[int, int]] = []  # spans no phone may touch (documents, e-mails)
        for custom, compiled in self._custom:
            for match in compiled.finditer(text):
                if match.end() > match.start():
                    replacement = custom.render(match)
                    if replacement != match.group(0):
                        candidates.append(
                            _Candidate(
                                "custom", custom.label, match.start(), match.end(), replacement
                            )
                        )
        has_at = "@" in text
        if "email" in self._on and has_at:
            for match in _EMAIL.finditer(text):
                candidates.append(
                    _Candidate(
                        "email", "email", match.start(), match.end(), f"***@{match.group(2)}"
                    )
                )
        has_digits = any("0" <= c <= "9" for c in text)
        if has_digits:
            self._documents(text, candidates, blocked)
            if has_at:
                blocked.extend((m.start(), m.end()) for m in _EMAIL.finditer(text))
            if "phone" in self._on:
                self._phones(text, candidates, blocked, cache)
        if "name" in self._on and names:
            self._names(text, names, candidates)
        return candidates

    # -- detectors -------------------------------------------------------------------------

    def _documents(self, text: str, out: list[_Candidate], blocked: list[tuple[int, int]]) -> None:
        """CPF and CNPJ; every document-shaped span (valid or not) is kept away from phones."""
        for regex, kind, check in ((_CNPJ, "cnpj", valid_cnpj), (_CPF, "cpf", valid_cpf)):
            for match in regex.finditer(text):
                start, end = match.span(1)
                blocked.append((start, end))
                value = re.sub(r"[./\-]", "", match.group(1))
                if kind in self._on and check(value):
                    out.append(_Candidate(kind, kind, start, end, _mask_doc(value, kind)))
        for match in _BARE.finditer(text):
            start, end = match.span(1)
            value = match.group(1)
            kind, check, word = (
                ("cnpj", valid_cnpj, _CNPJ_WORD)
                if len(value) == 14
                else ("cpf", valid_cpf, _CPF_WORD)
            )
            before = text[max(0, start - _DOC_WORD_WINDOW) : start]
            if word.search(before) is None:
                continue
            blocked.append((start, end))
            if kind in self._on and check(value):
                out.append(_Candidate(kind, kind, start, end, _mask_doc(value, kind)))

    def _phones(
        self,
        text: str,
        out: list[_Candidate],
        blocked: list[tuple[int, int]],
        cache: dict[tuple[str, str], list[tuple[int, int, str]]],
    ) -> None:
        regions = self.policy.phone_regions or ("BR",)
        blocked = blocked + [m.span() for m in _DATE_TIME.finditer(text)]
        # blocked spans are masked (same length) so a candidate never runs through them
        masked = text
        for start, end in blocked:
            masked = masked[:start] + "\x00" * (end - start) + masked[end:]
        for tried, candidate in enumerate(_PHONE_CANDIDATE.finditer(masked)):
            if tried >= _MAX_PHONE_CANDIDATES:
                break  # bounds the cost of a text made of numbers
            lo, hi = candidate.span()
            chunk = candidate.group(0)
            digits = len(_digits(chunk))
            if digits < 8 or (digits <= 15 and self._not_a_phone(text, lo, chunk)):
                continue  # too short, or one number right after "pedido", "order"...
            key = (chunk, text[max(0, lo - _PHONE_WINDOW) : lo])
            found = cache.get(key)
            if found is None:
                found = cache[key] = self._phones_in(text, lo, hi, masked, regions)
            for start, end, replacement in found:
                out.append(_Candidate("phone", "phone", lo + start, lo + end, replacement))

    def _phones_in(
        self, text: str, lo: int, hi: int, masked: str, regions: tuple[str, ...]
    ) -> list[tuple[int, int, str]]:
        """The phones in ``text[lo:hi]``, as spans relative to ``lo`` and their masks."""
        chunk = text[lo:hi]
        seen: list[tuple[int, int]] = []
        found: list[tuple[int, int, str]] = []
        for i, region in enumerate(regions):
            if i and _uncovered_digits(masked, lo, hi, [(lo + a, lo + b) for a, b in seen]) < 8:
                break  # an earlier region took the whole chunk
            for match in phonenumbers.PhoneNumberMatcher(
                chunk, region, leniency=phonenumbers.Leniency.VALID
            ):
                if _overlaps(match.start, match.end, seen):
                    continue
                if self._not_a_phone(text, lo + match.start, match.raw_string):
                    continue
                number = match.number
                national = phonenumbers.national_significant_number(number)
                if len(national) < 6:
                    continue
                international = match.raw_string.lstrip("( ").startswith(("+", "00"))
                seen.append((match.start, match.end))
                found.append(
                    (
                        match.start,
                        match.end,
                        _mask_phone(national, international, number.country_code or 0),
                    )
                )
        return found

    @staticmethod
    def _not_a_phone(text: str, start: int, raw: str) -> bool:
        """Whether a non-phone word ("pedido", "order") stands right before the number."""
        if raw.lstrip("( ").startswith(("+", "00")):
            return False
        before = text[max(0, start - _PHONE_WINDOW) : start]
        bads = list(_NOT_PHONE_WORDS.finditer(before))
        if not bads:
            return False
        bad = bads[-1]
        # a phone word after the non-phone word wins: "pedido 123, meu cel 11 9..."
        return _PHONE_WORDS.search(before, bad.end()) is None

    def _names(self, text: str, names: list[_NameForm], out: list[_Candidate]) -> None:
        folded = _fold(text)
        surnames: dict[str, str] = {}
        for name in names:
            pattern = r"\s+".join(re.escape(p) for p in name.folded)
            for match in re.finditer(r"(?<!\w)" + pattern + r"(?!\w)", folded):
                start, end = match.span()
                words = text[start:end].split()
                rendered = [words[0]] + [
                    w if _fold(w) in _PARTICLES else f"{w[0]}***" for w in words[1:]
                ]
                out.append(_Candidate("name", "name", start, end, " ".join(rendered)))
            for part in name.folded[1:]:
                if part not in _PARTICLES and len(part) > 1:
                    surnames.setdefault(part, part)
        for part in sorted(surnames):
            for match in re.finditer(r"(?<!\w)" + re.escape(part) + r"(?!\w)", folded):
                start, end = match.span()
                word = text[start:end]
                if not word[:1].isupper():
                    continue  # "silva" in lower case may be a common word; a surname is capitalised
                out.append(_Candidate("name", "name", start, end, f"{word[0]}***"))

    # -- output ----------------------------------------------------------------------------

    def _result(self, text: str, done: list[_Placed]) -> RedactionResult:
        keep = self.policy.keep_original
        detections: list[Detection] = []
        counts: dict[str, int] = {}
        label_counts: dict[str, int] = {}
        for placed in done:
            detections.append(
                Detection(
                    type=placed.type,
                    label=placed.label,
                    start=placed.start,
                    end=placed.end,
                    replacement=placed.replacement,
                    original=text[placed.start : placed.end] if keep else None,
                )
            )
            counts[placed.type] = counts.get(placed.type, 0) + 1
            label_counts[placed.label] = label_counts.get(placed.label, 0) + 1
        return RedactionResult(
            text=_render(text, done),
            detections=tuple(detections),
            counts=counts,
            label_counts=label_counts,
            original=text if keep else None,
        )


_MAX_PASSES = 4


@dataclass(frozen=True)
class _Placed:
    """A detection in the original text: ``[start, end)`` becomes ``replacement``."""

    type: str
    label: str
    start: int
    end: int
    replacement: str


def _choose(candidates: list[_Candidate]) -> list[_Candidate]:
    """Non-overlapping candidates by priority, in text order."""
    chosen: list[_Candidate] = []
    taken: list[tuple[int, int]] = []
    for cand in sorted(
        candidates, key=lambda c: (_PRIORITY[c.type], c.start, -(c.end - c.start), c.label)
    ):
        if not _overlaps(cand.start, cand.end, taken):
            chosen.append(cand)
            taken.append((cand.start, cand.end))
    chosen.sort(key=lambda c: c.start)
    return chosen


def _render(text: str, done: list[_Placed]) -> str:
    pieces: list[str] = []
    pos = 0
    for placed in done:
        pieces.append(text[pos : placed.start])
        pieces.append(placed.replacement)
        pos = placed.end
    pieces.append(text[pos:])
    return "".join(pieces)


def _merge(done: list[_Placed], chosen: list[_Candidate], current: str) -> list[_Placed]:
    """``done`` (original coordinates) plus ``chosen`` (found in ``current``, the text
    ``done`` renders to); a new span that touches an earlier replacement absorbs it."""
    # where each earlier detection sits in ``current``
    located: list[tuple[_Placed, int, int]] = []
    delta = 0
    for placed in done:
        cur = placed.start + delta
        located.append((placed, cur, cur + len(placed.replacement)))
        delta += len(placed.replacement) - (placed.end - placed.start)
    kept = list(done)
    added: list[_Placed] = []
    for cand in chosen:
        cur_lo, cur_hi = cand.start, cand.end
        absorbed = [
            (p, lo, hi)
            for p, lo, hi in located
            if lo < cur_hi and cur_lo < hi or (lo == hi and cur_lo <= lo < cur_hi)
        ]
        for p, lo, hi in absorbed:
            cur_lo, cur_hi = min(cur_lo, lo), max(cur_hi, hi)
            if p in kept:
                kept.remove(p)
        before = [(p, lo, hi) for p, lo, hi in located if hi <= cur_lo]
        shift = sum(len(p.replacement) - (p.end - p.start) for p, _, _ in before)
        inside = sum(len(p.replacement) - (p.end - p.start) for p, _, _ in absorbed)
        start = cur_lo - shift
        end = cur_hi - shift - inside
        replacement = current[cur_lo : cand.start] + cand.replacement + current[cand.end : cur_hi]
        added.append(_Placed(cand.type, cand.label, start, end, replacement))
    return sorted(kept + added, key=lambda p: p.start)


def _uncovered_digits(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> int:
    """How many digits of ``text[lo:hi]`` lie outside ``spans``."""
    return sum(
        1 for i in range(lo, hi) if "0" <= text[i] <= "9" and not any(s <= i < e for s, e in spans)
    )


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _check_template(compiled: re.Pattern[str], template: str) -> None:
    """Raise ``re.error`` / ``IndexError`` if ``template`` refers to a group ``compiled`` lacks."""
    for ref in re.finditer(r"\\g<([^>]*)>|\\([0-9]{1,2})", template):
        group = ref.group(1) if ref.group(1) is not None else ref.group(2)
        if group.isdigit():
            if int(group) > compiled.groups:
                raise IndexError(f"no group {group}")
        elif group not in compiled.groupindex:
            raise IndexError(f"no group named {group!r}")


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise RedactionError(f"can only redact text, not {type(text).__name__}")


def _check_names(known_names: Iterable[str]) -> list[_NameForm]:
    if isinstance(known_names, str):
        known_names = (known_names,)
    forms: list[_NameForm] = []
    seen: set[tuple[str, ...]] = set()
    for name in known_names:
        if not isinstance(name, str):
            raise RedactionError(f"known names must be text, not {type(name).__name__}")
        parts = tuple(name.split())
        if len(parts) < 2:
            continue  # a first name alone is kept by the format ("João S***")
        folded = tuple(_fold(p) for p in parts)
        if folded not in seen:
            seen.add(folded)
            forms.append(_NameForm(parts, folded))
    # longer names first, so "Maria da Silva Souza" wins over "Maria da Silva"
    forms.sort(key=lambda f: (-len(f.folded), f.folded))
    return forms


class PolicySet(BaseModel):
    """One redaction policy per tenant, and a default for the others.

    Attributes:
        default: The policy of a tenant without one of its own.
        tenants: Tenant id -> policy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: RedactionPolicy = RedactionPolicy()
    tenants: dict[str, RedactionPolicy] = Field(default_factory=dict)
    _redactors: dict[str | None, Redactor] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PolicySet:
        """Build a policy set from configuration data, raising :class:`RedactionPolicyError`."""
        return _validated(cls, config)

    def policy_for(self, tenant: str) -> RedactionPolicy:
        """The policy of ``tenant`` (the default if it has none)."""
        return self.tenants.get(tenant, self.default)

    def redactor_for(self, tenant: str) -> Redactor:
        """A (cached) :class:`Redactor` for ``tenant``'s policy."""
        key = tenant if tenant in self.tenants else None
        redactor = self._redactors.get(key)
        if redactor is None:
            redactor = self._redactors[key] = Redactor(self.policy_for(tenant))
        return redactor

    def redact(
        self, tenant: str, stage: Stage, text: str, known_names: Iterable[str] = ()
    ) -> RedactionResult:
        """Redact ``text`` for ``tenant`` at ``stage`` (unchanged where its policy says not)."""
        return self.redactor_for(tenant).redact_for(stage, text, known_names)
