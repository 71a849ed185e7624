"""Precision and recall of a PII detector on a labelled sample (used by the tests and the
benchmark; see ``tests/data/pii_labelled.jsonl``).

A labelled line is ``{"id", "lang", "split", "text", "known_names": [...], "expected":
[{"type", "start", "end", "value"}]}``. A predicted span counts as found when an expected span
of the same type overlaps it (each expected span is matched once); ``exact`` counts the found
spans whose boundaries are identical too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Sample", "Score", "Span", "format_table", "load_labelled", "score"]

Span = tuple[str, int, int]  # (type, start, end)
Detect = Callable[[str, Sequence[str]], Iterable[Span]]


@dataclass(frozen=True)
class Sample:
    id: str
    lang: str
    text: str
    known_names: tuple[str, ...]
    expected: tuple[Span, ...]
    split: str = "dev"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    exact: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_labelled(path: str | Path) -> list[Sample]:
    """The samples of a labelled JSONL file."""
    samples: list[Sample] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec: dict[str, Any] = json.loads(line)
        expected = tuple((e["type"], int(e["start"]), int(e["end"])) for e in rec["expected"])
        samples.append(
            Sample(
                rec["id"],
                rec["lang"],
                rec["text"],
                tuple(rec["known_names"]),
                expected,
                rec.get("split", "dev"),
            )
        )
    return samples


def score(
    detect: Detect, samples: Iterable[Sample], misses: list[str] | None = None
) -> dict[str, Score]:
    """Per-type scores (and ``"all"``) of ``detect`` on ``samples``; mistakes are appended to
    ``misses`` as readable lines when it is given."""
    scores: dict[str, Score] = {}
    for sample in samples:
        predicted = sorted(detect(sample.text, sample.known_names), key=lambda s: s[1])
        unmatched = list(sample.expected)
        for typ, start, end in predicted:
            s = scores.setdefault(typ, Score())
            hit = next((e for e in unmatched if e[0] == typ and e[1] < end and start < e[2]), None)
            if hit is None:
                s.fp += 1
                if misses is not None:
                    misses.append(f"FP {sample.id} {typ}: {sample.text[start:end]!r}")
                continue
            unmatched.remove(hit)
            s.tp += 1
            s.exact += hit[1] == start and hit[2] == end
        for typ, start, end in unmatched:
            scores.setdefault(typ, Score()).fn += 1
            if misses is not None:
                misses.append(f"FN {sample.id} {typ}: {sample.text[start:end]!r}")
    total = Score()
    for s in scores.values():
        total.tp, total.fp, total.fn, total.exact = (
            total.tp + s.tp,
            total.fp + s.fp,
            total.fn + s.fn,
            total.exact + s.exact,
        )
    return {**dict(sorted(scores.items())), "all": total}


def format_table(scores: dict[str, Score], title: str = "") -> str:
    """A plain-text table of ``scores``."""
    lines = [title] if title else []
    lines.append(f"{'type':<8} {'prec':>6} {'recall':>6} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}")
    for typ, s in scores.items():
        lines.append(
            f"{typ:<8} {s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} "
            f"{s.tp:>4} {s.fp:>4} {s.fn:>4}"
        )
    return "\n".join(lines)
