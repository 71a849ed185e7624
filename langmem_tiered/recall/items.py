"""Turning messages, summaries and facts into recall items, and queries into search terms.

Pure code (no I/O): the engine's background job calls these builders and hands the drafts to
the store, which computes the full-text vector in Postgres with the draft's text-search
configuration and stores the embedding beside it.

Message items are *spans* of consecutive turns of one session rather than single turns: a turn
alone is often too short to be found by its meaning ("Yes, last Tuesday!") and an answer is
often spread over a question and its reply. Each span's provenance is the seq range it covers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..compression.extractive import STOPWORDS, fold_text
from ..errors import ConfigurationError
from ..facts.model import Fact
from ..models import Message, Summary
from ..tokens import arguments_json

__all__ = [
    "TEXT_SEARCH_CONFIGS",
    "ItemDraft",
    "date_line",
    "detect_config",
    "fact_item",
    "message_items",
    "message_line",
    "query_configs",
    "render_span",
    "search_terms",
    "summary_item",
    "vector_literal",
]

TEXT_SEARCH_CONFIGS: tuple[str, ...] = ("english", "portuguese", "spanish", "simple")
"""Postgres text-search configurations recall uses (``simple``: no stemming, no stopwords)."""

_ALL_STOPWORDS = frozenset().union(*STOPWORDS.values())
_WORD = re.compile(r"\w+")
MAX_QUERY_TERMS = 64


@dataclass(frozen=True, slots=True)
class ItemDraft:
    """A recall item before it is stored (the store adds its tsvector and embedding)."""

    kind: str
    source_key: str
    session: str | None
    seq_from: int | None
    seq_to: int | None
    text: str
    token_count: int
    ts_config: str
    occurred_at: datetime
    fact_id: int | None = None
    search_text: str | None = None
    """What the full-text vector is built from when it differs from ``text`` (message spans
    leave out the role labels, which every turn has and which match every query on "user")."""


def detect_config(text: str, default: str = "simple") -> str:
    """The text-search configuration for ``text``: the language whose function words it uses
    most (English, Portuguese, Spanish), or ``default`` when none clearly dominates."""
    words = _WORD.findall(fold_text(text))
    counts = sorted(
        ((sum(w in stop for w in words), name) for name, stop in STOPWORDS.items()),
        reverse=True,
    )
    (best, name), (second, _) = counts[0], counts[1]
    if best >= 2 and best > second:
        return name
    return default


def check_config(config: str) -> str:
    if config not in (*TEXT_SEARCH_CONFIGS, "auto"):
        raise ConfigurationError(
            f"text_search must be 'auto' or one of {TEXT_SEARCH_CONFIGS}, got {config!r}"
        )
    return config


def message_line(message: Message, *, label: bool = True) -> str:
    """One turn as recall text: ``role: text`` (the speaker's ``name`` when it has one),
    tool calls as ``name(arguments)``; ``label=False`` drops a bare role label (a ``name``
    stays: it says who spoke)."""
    parts = [message.text] if message.text else []
    for call in message.tool_calls:
        parts.append(f"{call.name}({arguments_json(call.args)})")
    body = " ".join(parts).strip()
    if not body:
        return ""
    who = message.name or (message.role if label else None)
    return f"{who}: {body}" if who else body


_MONTHS: dict[str, tuple[str, ...]] = {
    language: tuple(names.split())
    for language, names in {
        "english": "January February March April May June July August September October "
        "November December",
        "portuguese": "janeiro fevereiro março abril maio junho julho agosto setembro outubro "
        "novembro dezembro",
        "spanish": "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
        "noviembre diciembre",
    }.items()
}


def date_line(when: datetime, config: str) -> str:
    """The date a span was said, in the span's language: ``[8 May 2023]``, ``[8 de maio de
    2023]``; ISO for ``simple``. It gives the model the time of what it recalls, and lets
    questions such as "what happened in May 2023?" match by words."""
    names = _MONTHS.get(config)
    if names is None:
        return f"[{when.date().isoformat()}]"
    month = names[when.month - 1]
    if config == "english":
        return f"[{when.day} {month} {when.year}]"
    return f"[{when.day} de {month} de {when.year}]"


def render_span(lines: Sequence[str], when: datetime, config: str) -> str:
    """A span's text: its date line, then one line per turn."""
    return "\n".join([date_line(when, config), *lines])


def message_items(
    session: str,
    messages: Sequence[Message],
    *,
    start_after: int,
    span: int,
    count: Callable[[str], int],
    config: str,
) -> list[ItemDraft]:
    """Spans of ``span`` consecutive turns ending at each message after ``start_after``.

    ``messages`` are the session's messages in seq order, including up to ``span - 1`` before
    ``start_after`` as the leading context of the first new spans. Each new message ends
    exactly one span (its ``source_key`` is that message's seq), so building again from the
    same point creates the same items.
    """
    out: list[ItemDraft] = []
    for i, message in enumerate(messages):
        seq = message.seq or 0
        if seq <= start_after:
            continue
        if message.role == "system":
            continue  # instructions, not conversation: never an item, never in a span
        window = [
            m
            for m in messages[max(0, i - span + 1) : i + 1]
            if m.role != "system" and message_line(m)
        ]
        if not window:
            continue
        bare = [message_line(m, label=False) for m in window]
        cfg = config if config != "auto" else detect_config("\n".join(bare))
        when = window[0].created_at or datetime.now(timezone.utc)
        text = render_span([message_line(m) for m in window], when, cfg)
        search_text = render_span(bare, when, cfg)
        out.append(
            ItemDraft(
                kind="message",
                source_key=f"m:{session}:{seq}",
                session=session,
                seq_from=window[0].seq,
                seq_to=seq,
                text=text,
                token_count=count(text),
                ts_config=cfg,
                # a span is said when its last turn is (since/until and recency use it)
                occurred_at=message.created_at or when,
                search_text=search_text,
            )
        )
    return out


def summary_item(
    session: str, summary: Summary, *, count: Callable[[str], int], config: str
) -> ItemDraft:
    """A running-summary snapshot; its provenance is the range that version folded in."""
    return ItemDraft(
        kind="summary",
        source_key=f"s:{session}:{summary.version}",
        session=session,
        seq_from=summary.from_seq,
        seq_to=summary.upto_seq,
        text=summary.text,
        token_count=summary.token_count or count(summary.text),
        ts_config=config if config != "auto" else detect_config(summary.text),
        occurred_at=summary.created_at,
    )


def fact_text(fact: Fact) -> str:
    value = fact.value
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return f"{fact.key.replace('_', ' ')}: {value}"


def fact_item(fact: Fact, *, count: Callable[[str], int], config: str) -> ItemDraft:
    """A fact as ``key words: value``; its provenance is the messages it was read from."""
    text = fact_text(fact)
    return ItemDraft(
        kind="fact",
        source_key=f"f:{fact.id}",
        session=fact.source_session,
        seq_from=fact.source_seq_from,
        seq_to=fact.source_seq_to,
        text=text,
        token_count=count(text),
        ts_config=config if config != "auto" else detect_config(text, default="simple"),
        occurred_at=fact.valid_at,
        fact_id=fact.id,
    )


MEMORY_KEY_PREFIX = "k:"
MAX_MEMORY_KEY = 1024


def memory_item(
    key: str, text: str, *, count: Callable[[str], int], config: str, occurred_at: datetime
) -> ItemDraft:
    """A long-term memory written by key (no session, no source messages)."""
    return ItemDraft(
        kind="memory",
        source_key=MEMORY_KEY_PREFIX + key,
        session=None,
        seq_from=None,
        seq_to=None,
        text=text,
        token_count=count(text),
        ts_config=config if config != "auto" else detect_config(text, default="simple"),
        occurred_at=occurred_at,
    )


def search_terms(query: str, configs: Sequence[str] = ()) -> tuple[str, str]:
    """Words of ``query`` for ``websearch_to_tsquery`` as an OR of terms: for the language
    configurations (which drop their own stopwords; the query's language's function words are
    dropped here too, Postgres' lists miss some, e.g. Portuguese "é"), and without any
    language's stopwords (for ``simple``, which keeps them)."""
    words = [w for w in _WORD.findall(query.casefold()) if w != "or"][:MAX_QUERY_TERMS]
    if len(configs) == 1 and configs[0] in STOPWORDS:
        stop = STOPWORDS[configs[0]]
        words = [w for w in words if fold_text(w) not in stop]
    content = [w for w in words if fold_text(w) not in _ALL_STOPWORDS]
    return " or ".join(words), " or ".join(content)


def query_configs(query: str, config: str) -> list[str]:
    """Language configurations to parse a query with: the fixed one, else the query's detected
    language, else all three (items of undetected language use ``simple``, always added)."""
    if config != "auto":
        return [config]
    found = detect_config(query, default="")
    return [found] if found else ["english", "portuguese", "spanish"]


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form of a vector: ``[0.1,0.2,...]``."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
