#!/usr/bin/env python
"""PII redaction: precision / recall per type and throughput, against a plain-regex baseline.

Both redactors run in the same process, on the same texts, in the same run:

* ``Redactor``: ``langmem_tiered.compliance.Redactor()`` with the default policy (CPF and CNPJ
  with check digits, phones through ``phonenumbers`` for BR then US, e-mail, known names,
  idempotent passes).
* ``regex baseline``: one regular expression per type, as one would write it in a hurry (CPF
  ``ddd.ddd.ddd-dd`` with optional punctuation, CNPJ likewise, a BR/US-shaped phone, an e-mail,
  known names matched literally), no check digits, no context.

Quality is measured on ``tests/data/pii_labelled.jsonl`` (a predicted span counts when it
overlaps an expected span of the same type). Throughput (texts per second) is measured on three
corpora: the labelled texts, clean chat messages (no digits, no ``@``) and longer mixed messages
(several sentences with PII): each operation is timed over ``--rounds`` rounds, interleaved, and
the median round is reported. Always exits 0: a measurement, not a test.

    .venv/bin/python benchmarks/bench_redaction.py [--rounds 7] [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from langmem_tiered.compliance import Redactor
from langmem_tiered.compliance._scoring import Span, format_table, load_labelled, score

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "pii_labelled.jsonl"

_BASE = [
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("cnpj", re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b")),
    ("cpf", re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b")),
    (
        "phone",
        re.compile(r"(?:\+\d{1,3}[\s.-]?)?\(?\b\d{2,3}\)?[\s.-]?\d{3,5}[\s.-]?\d{4}\b"),
    ),
]


def baseline(text: str, names: Sequence[str]) -> list[Span]:
    """Plain regular expressions, first come first served, no validation."""
    found: list[Span] = []
    taken: list[tuple[int, int]] = []
    patterns = _BASE + [("name", re.compile(re.escape(n))) for n in names]
    for typ, regex in patterns:
        for m in regex.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e in taken):
                found.append((typ, m.start(), m.end()))
                taken.append(m.span())
    return found


def baseline_redact(text: str, names: Sequence[str]) -> str:
    spans = sorted(baseline(text, names), key=lambda s: s[1])
    out, pos = [], 0
    for _, start, end in spans:
        out += [text[pos:start], "***"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def throughput(
    fn: Callable[[str, Sequence[str]], object],
    corpus: Sequence[tuple[str, Sequence[str]]],
    seconds: float,
) -> float:
    """Texts per second of ``fn`` over ``corpus``, run for about ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        for text, names in corpus:
            fn(text, names)
        done += len(corpus)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per operation and round")
    args = parser.parse_args()

    samples = load_labelled(LABELLED)
    redactor = Redactor()

    def ours(text: str, names: Sequence[str]) -> list[Span]:
        return [(d.type, d.start, d.end) for d in redactor.redact(text, names).detections]

    print(f"quality on {LABELLED.name} ({len(samples)} texts)\n")
    misses: list[str] = []
    print(format_table(score(ours, samples, misses), "Redactor"))
    print()
    print(format_table(score(baseline, samples), "regex baseline"))
    print()

    labelled = [(s.text, s.known_names) for s in samples]
    clean = [
        ("Oi, tudo bem? Queria saber se vocês abrem no sábado de manhã.", ()),
        ("Thanks a lot, that solved my problem. Have a great day!", ()),
        ("Perfeito, então fica combinado para a próxima semana, obrigada!", ("Ana Costa",)),
        ("Can you tell me more about the premium plan and what it includes?", ()),
    ] * 10
    long = [
        (
            " ".join(s.text for s in samples[i : i + 8]),
            tuple(n for s in samples[i : i + 8] for n in s.known_names),
        )
        for i in range(0, len(samples), 8)
    ]
    corpora = {"labelled": labelled, "clean chat": clean, "long mixed": long}
    ops: dict[str, Callable[[str, Sequence[str]], object]] = {
        "Redactor": redactor.redact,
        "regex baseline": baseline_redact,
    }
    results: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = list(ops.items())
        if r % 2:
            order.reverse()  # neither operation always runs first
        for corpus_name, corpus in corpora.items():
            for op_name, fn in order:
                results.setdefault((corpus_name, op_name), []).append(
                    throughput(fn, corpus, args.seconds)
                )
    print(f"throughput, texts/s (median of {args.rounds} rounds)")
    print(f"{'corpus':<12} {'chars/text':>10} {'Redactor':>10} {'baseline':>10} {'ratio':>6}")
    for corpus_name, corpus in corpora.items():
        ours_tps = statistics.median(results[(corpus_name, "Redactor")])
        base_tps = statistics.median(results[(corpus_name, "regex baseline")])
        chars = sum(len(t) for t, _ in corpus) / len(corpus)
        print(
            f"{corpus_name:<12} {chars:>10.0f} {ours_tps:>10.0f} {base_tps:>10.0f} "
            f"{base_tps / ours_tps:>5.1f}x"
        )
    print("\nRedactor misses:")
    print("\n".join(misses) or "(none)")


if __name__ == "__main__":
    main()
