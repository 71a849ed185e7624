#!/usr/bin/env python
"""Evidence recall on LoCoMo through the package's recall tier, beside a BM25 baseline.

How the project's recall quality is judged, on data it does not ship (the file is read where
it lies; its licence forbids copying it). Keep the arguments and the output stable.

Per conversation of ``--data`` (one tenant and user per conversation, one session per LoCoMo
session): every turn is stored as a message (the speaker as the message's ``name``, the text
plus ``[shares <caption>]`` for an image, ``dia_id`` in the metadata, the session's date as its
time), the background indexer builds the recall items, and every question of categories 1-4
is asked through ``user.recall(question, k)``. Recall@k is the fraction of the question's
evidence ``dia_id``\\s found among the sources of the top-k hits (evidence ids normalized as
the data's README says), averaged over questions; hit@k the fraction of questions with at
least one; tokens@k the mean token count of the k hits' text (an item that covers more turns
costs more: recall bought with size shows up here).

Configurations, all in the same run and over the same ingested data:

* ``hybrid``: the package's default recall (vectors and full text fused by reciprocal rank);
* ``vector``: vector ranking alone; ``text``: Postgres full text (BM25 over tsvectors) alone;
* ``bm25-turns``: the reference: BM25 (k1 1.2, b 0.75, ``rank-bm25`` when installed, else the
  same formula here) over single turns "speaker: text [shares caption]", lowercase ``\\w+``.

Each k is a separate ``recall(question, k, max_tokens=k * --tokens-per-item)`` call (100 per
item by default: the goal is 10 items within 1000 tokens); overlapping spans come back merged.

Output: one line per configuration (recall@k for each ``--k``, hit@k, tokens@k, p50/p99
latency over all calls), recall per category, and the final line
``hybrid recall@10 = X, tokens = T``.

Usage::

    python benchmarks/locomo_recall.py --data ../shared/bench-data/locomo/locomo-dev.json \\
        --k 5,10,20
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import Progress, quantile  # noqa: E402
from langmem_tiered import TieredMemory  # noqa: E402
from langmem_tiered.store.embedded import start_embedded  # noqa: E402

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_TOKEN = re.compile(r"\w+")
_DATE = re.compile(r"(\d{1,2}):(\d{2})\s*(am|pm)\s+on\s+(\d{1,2})\s+(\w+),?\s+(\d{4})", re.I)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}


def session_time(text: str | None, fallback: datetime) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` -> an aware datetime (``fallback`` if unparsable)."""
    match = _DATE.search(text or "")
    if not match:
        return fallback
    hour, minute, half, day, month, year = match.groups()
    h = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    month_no = _MONTHS.get(month.lower())
    if month_no is None:
        return fallback
    return datetime(int(year), month_no, int(day), h, int(minute), tzinfo=timezone.utc)


def turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", ""))
    caption = turn.get("blip_caption")
    if caption:
        text += f" [shares {caption}]"
    return text


def sessions_of(conversation: dict[str, Any]) -> list[tuple[str, datetime, list[dict[str, Any]]]]:
    """``(session name, start time, turns)`` for every ``session_N`` list, in order."""
    names = sorted(
        (k for k, v in conversation.items() if re.fullmatch(r"session_\d+", k) and v),
        key=lambda k: int(k.split("_")[1]),
    )
    out = []
    fallback = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for name in names:
        start = session_time(conversation.get(f"{name}_date_time"), fallback)
        fallback = start + timedelta(days=1)
        out.append((name, start, conversation[name]))
    return out


def known_ids(sample: dict[str, Any]) -> set[str]:
    return {str(t["dia_id"]) for _, _, ts in sessions_of(sample["conversation"]) for t in ts}


def evidence_ids(raw: Sequence[str], known: set[str]) -> set[str]:
    """Normalize evidence ids as the data's README says."""
    out = set()
    for item in raw:
        for part in re.split(r"[;\s]+", str(item)):
            match = re.fullmatch(r"D(\d+):0*(\d+)", part.strip())
            if match:
                dia = f"D{match[1]}:{match[2]}"
                if dia in known:
                    out.add(dia)
    return out


def questions_of(sample: dict[str, Any], known: set[str]) -> list[tuple[str, int, set[str]]]:
    out = []
    for qa in sample["qa"]:
        category = int(qa.get("category", 0))
        if category not in CATEGORIES:
            continue
        evidence = evidence_ids(qa.get("evidence", []), known)
        if evidence:
            out.append((str(qa["question"]), category, evidence))
    return out


class Bm25:
    """BM25 over tokenized documents (``rank-bm25``'s BM25Okapi when installed)."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        try:
            from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]
        except ImportError:
            BM25Okapi = None
        self._lib = BM25Okapi(docs, k1=k1, b=b) if BM25Okapi is not None else None
        self.docs = docs
        self.k1, self.b = k1, b
        self.avgdl = sum(map(len, docs)) / max(len(docs), 1)
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(doc))
        n = len(docs)
        self.idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1) for t, f in df.items()}
        self.tf = [Counter(doc) for doc in docs]

    def scores(self, query: list[str]) -> list[float]:
        if self._lib is not None:
            return [float(x) for x in self._lib.get_scores(query)]
        out = []
        for tf, doc in zip(self.tf, self.docs, strict=True):
            norm = self.k1 * (1 - self.b + self.b * len(doc) / self.avgdl)
            out.append(
                sum(
                    self.idf.get(t, 0.0) * tf[t] * (self.k1 + 1) / (tf[t] + norm)
                    for t in query
                    if t in tf
                )
            )
        return out


class Tally:
    """Recall/hit/tokens/latency of one configuration."""

    def __init__(self, ks: Sequence[int]) -> None:
        self.ks = ks
        self.recall: dict[int, list[float]] = {k: [] for k in ks}
        self.hit: dict[int, list[float]] = {k: [] for k in ks}
        self.tokens: dict[int, list[int]] = {k: [] for k in ks}
        self.by_category: dict[int, dict[int, list[float]]] = defaultdict(
            lambda: {k: [] for k in ks}
        )
        self.latency_ms: list[float] = []

    def add(
        self,
        k: int,
        sources: list[set[str]],
        tokens: list[int],
        evidence: set[str],
        category: int,
        ms: float,
    ) -> None:
        """One question's top-``k`` result: each item's source dia_ids and tokens."""
        found: set[str] = set().union(*sources[:k]) if sources else set()
        r = len(found & evidence) / len(evidence)
        self.recall[k].append(r)
        self.hit[k].append(1.0 if found & evidence else 0.0)
        self.tokens[k].append(sum(tokens[:k]))
        self.by_category[category][k].append(r)
        self.latency_ms.append(ms)

    @staticmethod
    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    def line(self, name: str, ref_k: int) -> str:
        lat = sorted(self.latency_ms)
        parts = [f"{name:<11}"]
        parts += [f"R@{k} {self.mean(self.recall[k]):.3f}" for k in self.ks]
        parts += [f"hit@{k} {self.mean(self.hit[k]):.3f}" for k in self.ks]
        parts.append(f"tokens@{ref_k} {self.mean(self.tokens[ref_k]):.0f}")
        if lat:
            parts.append(f"p50 {quantile(lat, 0.5):.1f} ms p99 {quantile(lat, 0.99):.1f} ms")
        return "  ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="locomo JSON (read in place)")
    parser.add_argument("--k", default="5,10,20", help="comma-separated k values")
    parser.add_argument("--postgres-url", help="Postgres with pgvector (default: embedded)")
    parser.add_argument(
        "--embedder", default="local", choices=["local", "none"], help="embedder of the memory"
    )
    parser.add_argument("--span", type=int, default=None, help="turns per message item")
    parser.add_argument(
        "--kinds", default="message", help="item kinds recalled (message,summary,fact)"
    )
    parser.add_argument("--conversations", type=int, default=0, help="only the first N")
    parser.add_argument(
        "--tokens-per-item",
        type=int,
        default=100,
        help="recall(k) gets max_tokens = k x this (0: no budget); the goal is T@10 <= 1000",
    )
    args = parser.parse_args(argv)

    ks = sorted({int(x) for x in args.k.split(",")})
    ref_k = 10 if 10 in ks else ks[len(ks) // 2]
    data = json.loads(args.data.read_text(encoding="utf-8"))
    if args.conversations:
        data = data[: args.conversations]
    url = args.postgres_url or start_embedded(tempfile.mkdtemp(prefix="lmt-locomo-"))
    schema = "locomo_" + uuid.uuid4().hex[:8]
    options: dict[str, Any] = {"embedder": "local" if args.embedder == "local" else None}
    if args.span is not None:
        options["recall_span"] = args.span
    memory = TieredMemory.connect(
        postgres_url=url,
        schema=schema,
        summarize="summary" in args.kinds,
        extract_facts="fact" in args.kinds,
        recall_in_context=False,
        **options,
    )
    kinds = tuple(args.kinds.split(","))
    configs = ["hybrid", "vector", "text"] if args.embedder == "local" else ["text"]
    tallies = {name: Tally(ks) for name in [*configs, "bm25-turns"]}
    count = memory._tokenizer.count
    try:
        turns_total = sum(len(t) for s in data for _, _, t in sessions_of(s["conversation"]))
        ingest = Progress(turns_total, 1, unit="turn")
        started = time.perf_counter()
        for sample in data:
            conv = sample["conversation"]
            tenant, user = f"locomo-{sample['sample_id']}", "u"
            for name, start, turns in sessions_of(conv):
                session = memory.session(tenant, user, name)
                session.add_messages(
                    [
                        {
                            "id": f"{name}-{i}",
                            "role": "user"
                            if t.get("speaker") == conv["speaker_a"]
                            else "assistant",
                            "name": re.sub(r"[^\w-]", "_", str(t.get("speaker", "x")))[:64],
                            "content": turn_text(t),
                            "metadata": {"dia_id": t.get("dia_id")},
                            "created_at": start + timedelta(seconds=30 * i),
                        }
                        for i, t in enumerate(turns)
                    ]
                )
                ingest.advance(len(turns), f"ingest {tenant} {name}")
        ingest.line("waiting for the background indexer (items, embeddings)...")
        memory.flush()
        ingest.close()
        print(f"ingested and indexed {turns_total} turns in {time.perf_counter() - started:.1f} s")

        asked = sum(len(questions_of(s, known_ids(s))) for s in data)
        ask = Progress(asked * len(tallies), 1, unit="query")
        for sample in data:
            conv = sample["conversation"]
            tenant, user = f"locomo-{sample['sample_id']}", "u"
            turns = [t for _, _, ts in sessions_of(conv) for t in ts]
            known = known_ids(sample)
            docs = [f"{t.get('speaker', '')}: {turn_text(t)}" for t in turns]
            bm25 = Bm25([_TOKEN.findall(d.lower()) for d in docs])
            handle = memory.user(tenant, user)
            for question, category, evidence in questions_of(sample, known):
                for name in configs:
                    for k in ks:
                        budget = args.tokens_per_item * k if args.tokens_per_item else None
                        t0 = time.perf_counter()
                        hits = handle.recall(
                            question, k=k, kinds=kinds, mode=name, max_tokens=budget
                        )
                        ms = (time.perf_counter() - t0) * 1000
                        sources = [{str(s.metadata.get("dia_id")) for s in h.sources} for h in hits]
                        tokens = [h.tokens for h in hits]
                        tallies[name].add(k, sources, tokens, evidence, category, ms)
                    ask.advance(1, f"questions {tenant}")
                for k in ks:
                    t0 = time.perf_counter()
                    scores = bm25.scores(_TOKEN.findall(question.lower()))
                    order = sorted(range(len(docs)), key=lambda i: -scores[i])[:k]
                    ms = (time.perf_counter() - t0) * 1000
                    tallies["bm25-turns"].add(
                        k,
                        [{turns[i]["dia_id"]} for i in order],
                        [count(docs[i]) for i in order],
                        evidence,
                        category,
                        ms,
                    )
                ask.advance(1, f"questions {tenant}")
        ask.close()
    finally:
        memory.close()

    n_questions = len(tallies["bm25-turns"].recall[ks[0]])
    print(
        f"\nLoCoMo evidence recall: {len(data)} conversations, {n_questions} questions "
        f"(categories 1-4), items: {kinds}, span {memory.recall_span}, embedder "
        f"{args.embedder}"
    )
    for name, tally in tallies.items():
        print(tally.line(name, ref_k))
    print(f"\nrecall@{ref_k} per category")
    header = "  ".join(f"{CATEGORIES[c]:>11}" for c in sorted(CATEGORIES))
    print(f"{'':<11}  {header}")
    for name, tally in tallies.items():
        cells = "  ".join(
            f"{Tally.mean(tally.by_category[c][ref_k]):>11.3f}" for c in sorted(CATEGORIES)
        )
        print(f"{name:<11}  {cells}")
    main_name = "hybrid" if "hybrid" in tallies else "text"
    main_tally = tallies[main_name]
    print(
        f"\n{main_name} recall@{ref_k} = {Tally.mean(main_tally.recall[ref_k]):.3f}, "
        f"tokens = {Tally.mean(main_tally.tokens[ref_k]):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
