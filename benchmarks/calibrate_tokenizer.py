"""Calibrate the offline token estimator against real tiktoken counts.

Fits :data:`langmem_tiered.tokens._estimate.COEFFICIENTS` (one weight per feature of
:func:`langmem_tiered.tokens._estimate.features`) so that the estimate's mean absolute
percentage error is smallest, each language weighing the same, and prints:

* the fitted constants, ready to paste into ``langmem_tiered/tokens/_estimate.py``;
* the error table per language and kind of text -- in-sample and 5-fold cross-validated for the
  fitted constants, and for the constants currently in the package;
* how far ``cl100k_base`` counts are from ``o200k_base`` (when that file is available too) and
  how long one estimate takes.

Texts: Markdown files (``--seeds``; each file's language, Portuguese or Spanish, is recognised
from its function words and printed), split into blank-line separated blocks, each block marked
``markup`` (inside a code fence, box drawing, tables) or ``prose``; and the LoCoMo dialogue turns
(``--locomo``, English), one sample per turn. Data is read where it lies, never copied.

The true counts come from ``TiktokenTokenizer`` (offline: ``--tiktoken-file`` or a file found
where ``langmem_tiered.tokens.find_encoding_file`` looks). Needs numpy and scipy.

    python benchmarks/calibrate_tokenizer.py --seeds ../shared/seeds \\
        --locomo ../shared/bench-data/locomo/locomo-dev.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import numpy as np
    from scipy.optimize import nnls
except ImportError:  # pragma: no cover - guidance only
    sys.exit("calibrate_tokenizer needs numpy and scipy: pip install numpy scipy")

from langmem_tiered.tokens import TiktokenTokenizer
from langmem_tiered.tokens._estimate import COEFFICIENTS, FEATURE_NAMES, features

_PT_MARKERS = {"não", "uma", "são", "você", "também", "isso", "muito", "ao", "pela", "mais"}
_ES_MARKERS = {"el", "los", "las", "del", "una", "pero", "muy", "más", "también", "está"}
_BOX = re.compile(r"[\u2500-\u257f]")


@dataclass(frozen=True)
class Sample:
    lang: str
    kind: str
    source: str
    text: str


def _language(text: str) -> str:
    words = re.findall(r"\w+", text.lower())
    pt = sum(1 for w in words if w in _PT_MARKERS)
    es = sum(1 for w in words if w in _ES_MARKERS)
    return "pt" if pt >= es else "es"


def _blocks(text: str) -> Iterable[tuple[str, bool]]:
    """Blank-line separated blocks, each with whether it is code/markup."""
    in_fence = False
    lines: list[str] = []
    markup = False
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("```"):
            in_fence = not in_fence
            markup = True
        if not line.strip() and not in_fence:
            if lines:
                block = "\n".join(lines)
                table = sum(1 for ln in lines if ln.lstrip().startswith("|")) * 2 >= len(lines)
                yield block, markup or table or bool(_BOX.search(block))
            lines, markup = [], False
            continue
        lines.append(line)
        markup = markup or in_fence


def load_seeds(paths: Sequence[Path]) -> list[Sample]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
    samples: list[Sample] = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        lang = _language(text)
        print(f"  {file.name}: {lang}")
        for block, markup in _blocks(text):
            samples.append(Sample(lang, "markup" if markup else "prose", file.name, block))
    return samples


def load_locomo(path: Path) -> list[Sample]:
    samples: list[Sample] = []
    for conversation in json.loads(path.read_text(encoding="utf-8")):
        for key, turns in conversation["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                for turn in turns:
                    if turn.get("text"):
                        samples.append(
                            Sample("en", "chat", conversation["sample_id"], turn["text"])
                        )
    return samples


def _groups(samples: Sequence[Sample]) -> list[tuple[str, np.ndarray]]:
    lang = np.array([s.lang for s in samples])
    kind = np.array([s.kind for s in samples])
    out: list[tuple[str, np.ndarray]] = []
    for code, label in (("en", "English"), ("pt", "Portuguese"), ("es", "Spanish")):
        for k in ("chat", "prose", "markup"):
            mask = (lang == code) & (kind == k)
            if mask.any():
                out.append((f"{label} {k}", mask))
        if (lang == code).any() and len(set(kind[lang == code])) > 1:
            out.append((f"{label} all", lang == code))
    return out


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, rounds: int = 60) -> np.ndarray:
    """Non-negative coefficients minimising sum(weight * |x @ b - y| / y) (IRLS over NNLS)."""
    w = weight / y**2
    beta, _ = nnls(x * np.sqrt(w)[:, None], y * np.sqrt(w), maxiter=10_000)
    for _ in range(rounds):
        residual = np.abs(x @ beta - y)
        w = weight / y / np.maximum(residual, 0.25)
        beta, _ = nnls(x * np.sqrt(w)[:, None], y * np.sqrt(w), maxiter=10_000)
    return np.asarray(beta)


def predict(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """As EstimatingTokenizer.count: rounded, at least 1."""
    return np.maximum(1.0, np.floor(x @ beta + 0.5))


def table(rows: list[tuple[str, dict[str, str]]], columns: Sequence[str]) -> str:
    head = f"{'text':<22}{'n':>6}" + "".join(f"{c:>24}" for c in columns)
    lines = [head, "-" * len(head)]
    for label, cells in rows:
        lines.append(f"{label:<22}{cells['n']:>6}" + "".join(f"{cells[c]:>24}" for c in columns))
    return "\n".join(lines)


def errors(pred: np.ndarray, y: np.ndarray, mask: np.ndarray) -> str:
    ape = np.abs(pred[mask] - y[mask]) / y[mask]
    bias = pred[mask].sum() / y[mask].sum() - 1
    return f"{100 * ape.mean():4.1f}% p90 {100 * np.percentile(ape, 90):4.1f}% {100 * bias:+5.1f}%"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        type=Path,
        nargs="+",
        required=True,
        help="Portuguese/Spanish Markdown files or folders of them",
    )
    parser.add_argument(
        "--locomo", type=Path, required=True, help="LoCoMo JSON (English dialogue turns)"
    )
    parser.add_argument("--encoding", default="o200k_base")
    parser.add_argument(
        "--tiktoken-file",
        type=Path,
        default=None,
        help="the encoding's .tiktoken file (default: search offline)",
    )
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    truth = TiktokenTokenizer(args.encoding, path=args.tiktoken_file)
    print(f"true counts: {truth!r}")
    print("languages of the seed files:")
    samples = load_seeds(args.seeds) + load_locomo(args.locomo)
    samples = [s for s in samples if s.text.strip()]
    y = np.array([truth.count(s.text) for s in samples], dtype=float)
    x = np.array([features(s.text) for s in samples], dtype=float)
    groups = _groups(samples)

    # Each language weighs the same, whatever its number of samples.
    lang = np.array([s.lang for s in samples])
    weight = np.zeros(len(samples))
    for code in set(lang):
        weight[lang == code] = 1.0 / (lang == code).sum()

    beta = fit(x, y, weight)
    rng = np.random.default_rng(0)
    fold = rng.integers(0, args.folds, len(samples))
    cv = np.zeros(len(samples))
    for k in range(args.folds):
        held = fold == k
        cv[held] = predict(x[held], fit(x[~held], y[~held], weight[~held]))

    current = np.array(COEFFICIENTS)
    naive = np.array([max(-(-len(s.text.encode()) // 4), len(s.text.split())) for s in samples])

    print("\nfitted constants (paste into langmem_tiered/tokens/_estimate.py):")
    print("COEFFICIENTS: tuple[float, ...] = (")
    for name, value in zip(FEATURE_NAMES, beta, strict=True):
        print(f"    {value:.4f},  # {name}")
    print(")")

    columns = ["fitted", f"fitted {args.folds}-fold CV", "package constants", "bytes/4 (old)"]
    preds = [predict(x, beta), cv, predict(x, current), naive.astype(float)]
    rows = []
    for label, mask in groups:
        cells = {"n": str(int(mask.sum()))}
        for column, pred in zip(columns, preds, strict=True):
            cells[column] = errors(pred, y, mask)
        rows.append((label, cells))
    print(f"\nerror against {truth.name}: mean |error|/true per text, p90, bias of the total")
    print(table(rows, columns))

    try:
        other_name = "cl100k_base" if args.encoding == "o200k_base" else "o200k_base"
        other = TiktokenTokenizer(other_name)
    except Exception as exc:  # noqa: BLE001 - optional comparison
        print(f"\n(no {other_name} comparison: {exc.__class__.__name__})")
    else:
        print(f"\n{other.name} total against {truth.name}:")
        for label, mask in groups:
            total = sum(other.count(s.text) for s, m in zip(samples, mask, strict=True) if m)
            print(f"  {label:<22}{100 * (total / y[mask].sum() - 1):+5.1f}%")

    texts = [s.text for s in samples]
    from langmem_tiered.tokens import EstimatingTokenizer

    estimator = EstimatingTokenizer()
    for tokenizer in (estimator, truth):
        start = time.perf_counter()
        for text in texts:
            tokenizer.count(text)
        elapsed = time.perf_counter() - start
        mean_chars = statistics.fmean(len(t) for t in texts)
        print(
            f"{tokenizer.name}: {1e6 * elapsed / len(texts):.1f} us per text "
            f"(mean {mean_chars:.0f} characters)"
        )


if __name__ == "__main__":
    main()
