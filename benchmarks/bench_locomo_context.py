#!/usr/bin/env python
"""Tokens sent per turn against the full history, and compose latency, over LoCoMo.

Replays each conversation of the LoCoMo development split (``--data``, read where it lies and
never copied) turn by turn into one langmem session on the Redis hot tier (tenant ``locomo``,
user = the conversation's ``sample_id``; ``speaker_a`` is the ``user``, ``speaker_b`` the
``assistant``, ``name=`` the speaker, metadata ``dia_id``, LoCoMo session number and date).
After every append it composes the context with each budget (``--budgets``), passing the next
turn's text as ``input=``, and records ``total_tokens`` (what would be sent) and
``full_history_tokens`` (what sending the whole history would cost). Background summarization
runs as in production: nothing waits for it during a LoCoMo session, and ``memory.flush()`` at
the end of each ``session_N`` models the time that passes between sessions.

Reported per conversation and overall, for each budget: mean tokens sent per turn, mean full
history per turn, their ratio, and the ratio at the end of the conversation (target: <= 10 %).

Then, on a hot session (the last replayed conversation, flushed), it measures p50/p99 of the same
``context()`` call repeated, interleaved in rounds with a raw redis-py ``LRANGE`` of 50 items +
``json.loads`` of each (the session's last 50 messages, JSON-encoded as the hot tier stores them,
in a scratch list of the same Redis), and ``recent(50)`` for reference. Target: compose p50
<= 3 x raw. On a FAIL it profiles the compose call (cProfile, top 15 by cumulative time) so the
engine developer can see where the time goes. PASS/FAIL is printed; the script always exits 0.

Everything it creates (the Postgres schema, Redis keys, the embedded server's temporary folder)
is removed at the end.

Usage::

    .venv/bin/python benchmarks/bench_locomo_context.py \\
        --data ../shared/bench-data/locomo/locomo-dev.json
    .venv/bin/python benchmarks/bench_locomo_context.py --data PATH --quick     # smoke run
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from _common import (
    OpResult,
    Progress,
    delete_redis_keys,
    drop_schemas,
    environment,
    environment_lines,
    interleaved_round,
    latency_table,
    quantile,
    start_embedded_postgres,
    stop_embedded_postgres,
)

from langmem_tiered import TieredMemory
from langmem_tiered.tokens import default_tokenizer

TENANT = "locomo"
SESSION_ID = "conversation"  # one langmem session per LoCoMo conversation (user = sample_id)
RAW_N = 50  # items of the raw LRANGE baseline (the engine's default hot window)
TARGET_END_RATIO = 0.10  # tokens sent at the end of a conversation <= 10 % of the full history
TARGET_COMPOSE = 3.0  # compose p50 on a hot session <= 3 x raw LRANGE 50 + decode p50
QUICK_SESSIONS = 3
PROFILE_TOP = 15

_SESSION_KEY = re.compile(r"^session_(\d+)$")
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    session_n: int
    date: str | None
    speaker: str
    dia_id: str
    content: str  # the text, with "[shares <caption>]" when the turn shares an image


@dataclass
class Conversation:
    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: list[tuple[int, str | None, list[Turn]]]
    question: str  # first QA question: the input of the hot-session compose

    @property
    def turns(self) -> list[Turn]:
        return [t for _, _, turns in self.sessions for t in turns]


def load_conversations(
    path: str, limit: int | None, max_sessions: int | None
) -> list[Conversation]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    out: list[Conversation] = []
    for item in data[:limit]:
        conv = item["conversation"]
        numbers = sorted(
            int(m.group(1)) for k in conv if (m := _SESSION_KEY.match(k)) and conv[k]
        )  # iterate over the session_N lists: some dates name sessions without turns
        sessions = []
        for n in numbers[:max_sessions]:
            date = conv.get(f"session_{n}_date_time")
            turns = []
            for t in conv[f"session_{n}"]:
                text = t.get("text", "")
                caption = t.get("blip_caption")
                if caption:
                    text = f"{text} [shares {caption}]"
                turns.append(Turn(n, date, t["speaker"], t["dia_id"], text))
            sessions.append((n, date, turns))
        qa = item.get("qa") or [{}]
        out.append(
            Conversation(
                item["sample_id"],
                conv["speaker_a"],
                conv["speaker_b"],
                sessions,
                qa[0].get("question") or "What did we talk about last time?",
            )
        )
    return out


# -- replay -----------------------------------------------------------------------------------


@dataclass
class BudgetSeries:
    sent: list[int] = field(default_factory=list)  # bundle.total_tokens, one per turn
    full: list[int] = field(default_factory=list)  # bundle.full_history_tokens, one per turn
    compose_ns: list[int] = field(default_factory=list)
    with_summary: int = 0  # composes that kept the summary block ...
    summary_available: int = 0  # ... among those made once a summary existed

    @property
    def mean_sent(self) -> float:
        return statistics.mean(self.sent)

    @property
    def mean_full(self) -> float:
        return statistics.mean(self.full)

    @property
    def end_ratio(self) -> float:
        return self.sent[-1] / self.full[-1] if self.full[-1] else float("inf")


@dataclass
class ConvResult:
    sample_id: str
    turns: int
    sessions: int
    series: dict[int, BudgetSeries]
    add_ns: list[int] = field(default_factory=list)
    flush_seconds: float = 0.0
    seconds: float = 0.0
    summaries: int = 0  # summary versions stored for the session
    summaries_written: int = 0  # stats() delta
    summary_tokens: int = 0  # the last summary: its size ...
    summary_covered: int = 0  # ... and the tokens of the messages it covers
    summary_upto_seq: int = 0
    stored_tokens: int = 0  # sum of the stored messages' token_count
    full_mismatches: int = 0  # composes whose full_history_tokens != running sum of token_count
    full_max_diff: int = 0
    unknown_speakers: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # stats() deltas


COUNTERS = (
    "hot_hits",
    "hot_misses",
    "hot_repairs",
    "hot_write_failures",
    "hot_read_failures",
    "hot_bypassed",
    "summaries_written",
    "summary_lease_busy",
    "summary_lost_race",
    "background_errors",
    "contexts_composed",
    "context_cache_hits",
    "context_cache_misses",
)


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    return {
        k: int(after[k]) - int(before.get(k, 0))
        for k, v in after.items()
        if isinstance(v, int) and not isinstance(v, bool)
    }


class Bench:
    def __init__(self, args: argparse.Namespace, postgres_url: str) -> None:
        self.args = args
        self.postgres_url = postgres_url
        self.redis_url = args.redis_url
        run = uuid.uuid4().hex[:10]
        self.schema = f"bench_{run}_locomo"
        self.redis_prefix = f"lmt-bench-{run}"
        self.raw_key = f"{self.redis_prefix}:raw:lrange{RAW_N}"
        self.memory: TieredMemory | None = None
        self.rconn: redis.Redis | None = None
        self.created_schemas: list[str] = []

    def setup(self) -> None:
        self.created_schemas = [self.schema]
        self.memory = TieredMemory.connect(
            postgres_url=self.postgres_url,
            redis_url=self.redis_url,
            schema=self.schema,
            redis_prefix=self.redis_prefix,
            buffer_tokens=self.args.buffer_tokens,
            min_fold_tokens=self.args.min_fold_tokens,
            summary_tokens=self.args.summary_tokens,
        )
        self.rconn = redis.Redis.from_url(self.redis_url)
        self.rconn.ping()
        self.args.window = self.memory.hot_tier.window_size

    def environment(self) -> dict[str, Any]:
        assert self.rconn is not None
        with psycopg.connect(self.postgres_url, autocommit=True) as pconn:
            env = environment(self.rconn, pconn)
        tok = default_tokenizer()
        env["tokenizer"] = f"{type(tok).__name__} ({tok.name})"
        return env

    # replay ------------------------------------------------------------------------------------

    def replay(self, convs: list[Conversation]) -> list[ConvResult]:
        mem = self.memory
        assert mem is not None
        budgets = self.args.budgets
        pc = time.perf_counter_ns
        total_turns = sum(len(c.turns) for c in convs)
        progress = Progress(total=total_turns, rounds=len(convs), unit="turn")
        results: list[ConvResult] = []
        try:
            for ci, conv in enumerate(convs):
                t_conv = time.perf_counter()
                s = mem.session(TENANT, conv.sample_id, SESSION_ID)
                turns = conv.turns
                res = ConvResult(
                    conv.sample_id,
                    len(turns),
                    len(conv.sessions),
                    {b: BudgetSeries() for b in budgets},
                )
                before = mem.stats()
                i = 0
                for n, _date, session_turns in conv.sessions:
                    for turn in session_turns:
                        if turn.speaker == conv.speaker_a:
                            role = "user"
                        else:
                            role = "assistant"
                            res.unknown_speakers += turn.speaker != conv.speaker_b
                        t0 = pc()
                        stored = s.add_message(
                            role=role,
                            content=turn.content,
                            name=turn.speaker,
                            metadata={
                                "dia_id": turn.dia_id,
                                "session": turn.session_n,
                                "session_date": turn.date,
                            },
                        )
                        res.add_ns.append(pc() - t0)
                        res.stored_tokens += stored.token_count or 0
                        i += 1
                        next_text = turns[i].content if i < len(turns) else None
                        for b in budgets:
                            t0 = pc()
                            bundle = s.context(budget_tokens=b, input=next_text)
                            elapsed = pc() - t0
                            series = res.series[b]
                            series.compose_ns.append(elapsed)
                            series.sent.append(bundle.total_tokens)
                            series.full.append(bundle.full_history_tokens)
                            diff = abs(bundle.full_history_tokens - res.stored_tokens)
                            if diff:
                                res.full_mismatches += 1
                                res.full_max_diff = max(res.full_max_diff, diff)
                            names = bundle.names
                            if "summary" in names or any(
                                "summary:" in note for note in bundle.dropped
                            ):
                                series.summary_available += 1
                                series.with_summary += "summary" in names
                        progress.advance(1, f"{conv.sample_id} session {n}")
                    # The end of a LoCoMo session: time passes, background work completes.
                    t0 = pc()
                    mem.flush()
                    res.flush_seconds += (pc() - t0) / 1e9
                res.counters = _delta(mem.stats(), before)
                summaries = s.summaries()
                res.summaries = len(summaries)
                res.summaries_written = res.counters.get("summaries_written", 0)
                if summaries:
                    last = summaries[-1]
                    res.summary_tokens = last.token_count
                    res.summary_covered = last.covered_tokens
                    res.summary_upto_seq = last.upto_seq
                res.seconds = time.perf_counter() - t_conv
                results.append(res)
                ends = ", ".join(
                    f"b={b}: {res.series[b].sent[-1]}/{res.series[b].full[-1]} "
                    f"= {res.series[b].end_ratio:.1%}"
                    for b in budgets
                )
                progress.line(
                    f"[{ci + 1}/{len(convs)}] {conv.sample_id}: {res.turns} turns, "
                    f"{res.sessions} sessions, {res.summaries} summaries, end {ends} "
                    f"({res.seconds:.1f} s)"
                )
        finally:
            progress.close()
        return results

    # latency on a hot session -------------------------------------------------------------------

    def latency(self, conv: Conversation) -> dict[str, Any]:
        mem, r = self.memory, self.rconn
        assert mem is not None and r is not None
        args = self.args
        mem.flush()
        s = mem.session(TENANT, conv.sample_id, SESSION_ID)
        probe = conv.question
        last = s.recent(RAW_N)
        pipe = r.pipeline(transaction=False)
        pipe.delete(self.raw_key)
        pipe.rpush(self.raw_key, *[m.to_json() for m in last])
        pipe.execute()
        raw_bytes = sum(len(m.to_json()) for m in last)
        loads = json.loads
        key = self.raw_key

        def raw_lrange() -> Any:
            return [loads(item) for item in r.lrange(key, -RAW_N, -1)]

        def make_compose(b: int) -> Any:
            return lambda: s.context(budget_tokens=b, input=probe)

        ops: list[tuple[str, str, Any]] = [
            (f"compose_{b}", f"context(budget={b:,}) [hot session]", make_compose(b))
            for b in args.budgets
        ]
        # The cache-miss reference runs on a copy of the session: distinct inputs on the hot
        # session itself would fill its bounded context cache and evict the measured entries.
        b_max = max(args.budgets)
        copy = mem.session(TENANT, conv.sample_id, SESSION_ID + "-copy")
        history = s.messages()
        for i in range(0, len(history), 100):
            copy.add_messages(
                [
                    {"role": m.role, "content": m.content, "name": m.name, "metadata": m.metadata}
                    for m in history[i : i + 100]
                ]
            )
        mem.flush()
        distinct = itertools.count()
        ops.append(
            (
                f"uncached_{b_max}",
                f"context(budget={b_max:,}) cache miss (ref.)",
                lambda: copy.context(budget_tokens=b_max, input=f"{probe} (#{next(distinct)})"),
            )
        )
        ops.append(
            (
                f"recent_{RAW_N}",
                f"recent({RAW_N})      [redis tier] (ref.)",
                lambda: s.recent(RAW_N),
            )
        )
        ops.append(("raw_lrange", f"raw redis: LRANGE {RAW_N} + json.loads", raw_lrange))

        # Warm-up, and a look at what one compose of the hot session holds.
        for _, _, fn in ops:
            for _ in range(args.warmup):
                fn()
        shapes = {}
        for b in args.budgets:
            bundle = s.context(budget_tokens=b, input=probe)
            shapes[b] = {
                "total_tokens": bundle.total_tokens,
                "full_history_tokens": bundle.full_history_tokens,
                "blocks": {blk.name: blk.tokens for blk in bundle.blocks},
                "recent_messages": len(getattr(bundle.block("recent"), "messages", None) or []),
            }

        bundle = copy.context(budget_tokens=b_max, input=probe)
        copy_shape = {
            "total_tokens": bundle.total_tokens,
            "full_history_tokens": bundle.full_history_tokens,
            "blocks": {blk.name: blk.tokens for blk in bundle.blocks},
            "recent_messages": len(getattr(bundle.block("recent"), "messages", None) or []),
        }

        results = {name: OpResult(name, label) for name, label, _ in ops}
        counters: dict[str, dict[str, int]] = {name: {} for name, _, _ in ops}
        calls: dict[str, int] = dict.fromkeys(results, 0)

        def around(name: str, run: Any) -> None:
            before = mem.stats()
            run()
            for k, v in _delta(mem.stats(), before).items():
                counters[name][k] = counters[name].get(k, 0) + v

        progress = Progress(total=args.rounds * args.n * len(ops), rounds=args.rounds)
        try:
            for rnd in range(args.rounds):
                desc = f"latency round {rnd + 1}/{args.rounds}"

                def on_chunk(k: int, desc: str = desc) -> None:
                    progress.advance(k * len(ops), desc)

                samples = interleaved_round(
                    ops, args.n, args.chunk, rnd, on_chunk=on_chunk, around=around
                )
                for name, _, _ in ops:
                    results[name].add_round(samples[name])
                    calls[name] += len(samples[name])
                progress.line(
                    f"latency round {rnd + 1}/{args.rounds}: p50 µs "
                    + ", ".join(f"{n}={results[n].p50_us[-1]:.0f}" for n, _, _ in ops)
                )
        finally:
            progress.close()

        ratios: list[dict[str, Any]] = []
        raw = results["raw_lrange"]
        for name, label, _ in ops:
            if name == "raw_lrange":
                continue
            res = results[name]
            per_round = [a / b for a, b in zip(res.p50_us, raw.p50_us, strict=True)]
            target = TARGET_COMPOSE if name.startswith("compose_") else None
            value = res.p50 / raw.p50
            ratios.append(
                {
                    "name": name,
                    "ratio": label.split("[")[0].replace("(ref.)", "").strip()
                    + f" p50 / raw LRANGE {RAW_N}+decode p50",
                    "value": value,
                    "per_round": per_round,
                    "per_round_median": statistics.median(per_round),
                    "per_round_min": min(per_round),
                    "per_round_max": max(per_round),
                    "target": target,
                    "verdict": None if target is None else ("PASS" if value <= target else "FAIL"),
                }
            )

        profile = None
        failing = [x for x in ratios if x["verdict"] == "FAIL"]
        targeted = [x for x in ratios if x["target"] is not None]
        if (failing or args.profile) and args.profile_calls > 0:
            worst = max(failing or targeted, key=lambda x: x["value"])
            b = int(worst["name"].split("_", 1)[1])
            profile = profile_compose(make_compose(b), b, args.profile_calls)

        return {
            "sample_id": conv.sample_id,
            "probe_input": probe,
            "raw_items": len(last),
            "raw_bytes": raw_bytes,
            "shapes": shapes,
            "copy_shape": copy_shape,
            "results": results,
            "counters": counters,
            "calls": calls,
            "ratios": ratios,
            "profile": profile,
        }

    # cleanup ----------------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        if self.memory is not None:
            try:
                self.memory.close()
            except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                problems.append(f"closing memory: {exc}")
        problems += drop_schemas(self.postgres_url, self.created_schemas)
        problems += delete_redis_keys(self.rconn, self.redis_url, self.redis_prefix)
        return problems


# -- profile ----------------------------------------------------------------------------------


def _where(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":  # built-in
        return name
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        if path.startswith(_REPO + os.sep):
            path = os.path.relpath(path, _REPO)
    return f"{path}:{line}({name})"


def profile_compose(fn: Any, budget: int, calls: int) -> dict[str, Any]:
    """cProfile ``calls`` calls of ``fn``; the top entries by cumulative and by own time."""

    def loop() -> None:
        for _ in range(calls):
            fn()

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(loop)
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    rows = []
    for func, (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func[2] in ("loop", "<lambda>") or "disable' of '_lsprof" in func[2]:
            continue
        rows.append(
            {
                "function": _where(func),
                "calls_per_compose": nc / calls,
                "cum_us_per_compose": ct / calls * 1e6,
                "own_us_per_compose": tt / calls * 1e6,
            }
        )
    by_cum = sorted(rows, key=lambda x: -x["cum_us_per_compose"])[:PROFILE_TOP]
    by_own = sorted(rows, key=lambda x: -x["own_us_per_compose"])[:10]
    return {
        "budget": budget,
        "calls": calls,
        "wall_us_per_compose": wall / calls * 1e6,
        "top_cumulative": by_cum,
        "top_own": by_own,
    }


# -- report -----------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def _p(ns: list[int], q: float) -> float:
    return quantile(sorted(ns), q) / 1000


def render(
    env: dict[str, Any],
    args: argparse.Namespace,
    convs: list[Conversation],
    results: list[ConvResult],
    lat: dict[str, Any] | None,
) -> str:
    budgets = args.budgets
    lines = ["langmem_tiered LoCoMo context benchmark"]
    lines.extend(environment_lines(env, args.postgres_label))
    lines.append(
        f"  data: {args.data} ({len(convs)} conversations, {sum(r.turns for r in results):,} "
        f"turns, {sum(r.sessions for r in results)} sessions"
        + (f"; first {args.sessions} sessions of each" if args.sessions else "")
        + ")"
    )
    lines.append(
        f"  tokenizer: {env['tokenizer']} | buffer_tokens {args.buffer_tokens}, "
        f"min_fold_tokens {args.min_fold_tokens}, summary_tokens {args.summary_tokens} | "
        f"budgets {', '.join(f'{b:,}' for b in budgets)}"
    )
    lines.append(
        "  per turn: add_message, then context(budget_tokens=B, input=<next turn's text>) per "
        "budget; flush() after each LoCoMo session"
    )
    lines.append("")
    lines.append(
        "Tokens sent per turn (bundle.total_tokens) vs full history (bundle.full_history_tokens)"
    )
    head = (
        f"{'conversation':<12}  {'turns':>5}  {'sess':>4}  {'summ':>4}  {'budget':>6}  "
        f"{'mean sent':>9}  {'mean full':>9}  {'ratio':>7}  {'end sent':>8}  {'end full':>8}  "
        f"{'end ratio':>9}  {'target <=10 %':>13}"
    )
    lines.append(head)
    lines.append("-" * len(head))
    for r in results:
        for j, b in enumerate(budgets):
            s = r.series[b]
            left = (
                f"{r.sample_id:<12}  {r.turns:>5}  {r.sessions:>4}  {r.summaries:>4}"
                if j == 0
                else " " * 33
            )
            verdict = "PASS" if s.end_ratio <= TARGET_END_RATIO else "FAIL"
            lines.append(
                f"{left}  {b:>6,}  {s.mean_sent:>9,.0f}  {s.mean_full:>9,.0f}  "
                f"{pct(s.mean_sent / s.mean_full):>7}  {s.sent[-1]:>8,}  {s.full[-1]:>8,}  "
                f"{pct(s.end_ratio):>9}  {verdict:>13}"
            )
    lines.append("-" * len(head))
    overall = overall_figures(results, budgets)
    for j, b in enumerate(budgets):
        o = overall[b]
        left = (
            f"{'all (' + str(len(results)) + ')':<12}  {o['turns']:>5}  {o['sessions']:>4}  "
            f"{o['summaries']:>4}"
            if j == 0
            else " " * 33
        )
        verdict = (
            f"{o['end_pass']}/{len(results)} {'PASS' if o['end_pass'] == len(results) else 'FAIL'}"
        )
        lines.append(
            f"{left}  {b:>6,}  {o['mean_sent']:>9,.0f}  {o['mean_full']:>9,.0f}  "
            f"{pct(o['ratio']):>7}  {o['end_sent_mean']:>8,.0f}  {o['end_full_mean']:>8,.0f}  "
            f"{'max ' + pct(o['end_ratio_max']):>9}  {verdict:>13}"
        )
    lines.append(
        "  ratio = mean sent / mean full over every turn; end = the last turn's compose; 'all' "
        "end columns: means, worst ratio"
    )
    lines.append(
        "  summ = summary versions written for the conversation (stats().summaries_written: "
        f"{sum(r.summaries_written for r in results)} in all)"
    )
    lines.append("")

    lines.append("Replay details")
    for b in budgets:
        o = overall[b]
        avail = o["summary_available"]
        kept = (
            f"summary block kept in {o['with_summary']}/{avail} composes made once a summary "
            f"existed ({pct(o['with_summary'] / avail) if avail else 'n/a'})"
        )
        lines.append(
            f"  budget {b:>6,}: context() during replay p50 {_p(o['compose_ns'], 0.5):,.0f} µs, "
            f"p99 {_p(o['compose_ns'], 0.99):,.0f} µs; {kept}"
        )
    add_ns = [x for r in results for x in r.add_ns]
    lines.append(
        f"  add_message during replay: p50 {_p(add_ns, 0.5):,.0f} µs, p99 "
        f"{_p(add_ns, 0.99):,.0f} µs; flush() at session ends waited "
        f"{sum(r.flush_seconds for r in results):.2f} s in all"
    )
    c = {k: sum(r.counters.get(k, 0) for r in results) for k in COUNTERS}
    lines.append(
        f"  context cache during replay: hits {c['context_cache_hits']:,}, misses "
        f"{c['context_cache_misses']:,} (every turn appends, so a miss is expected)"
    )
    composes = c["contexts_composed"]
    hot_reads = c["hot_hits"] + c["hot_misses"] + c["hot_repairs"]
    lines.append(
        f"  unsummarized tail read from the hot tier in {c['hot_hits']:,}/{composes:,} composes "
        f"(misses {c['hot_misses']}, repairs {c['hot_repairs']}; "
        f"{composes - hot_reads:,} read from Postgres: the unsummarized tail was longer than the "
        f"hot window of {args.window} messages)"
    )
    lines.append(
        f"  summarization: {c['summaries_written']} written, lease busy "
        f"{c['summary_lease_busy']}, lost races {c['summary_lost_race']}, background errors "
        f"{c['background_errors']}; hot-tier failures: write {c['hot_write_failures']}, read "
        f"{c['hot_read_failures']}, bypassed {c['hot_bypassed']}"
    )
    for r in results:
        lines.append(
            f"  {r.sample_id}: last summary v{r.summaries} = {r.summary_tokens} tokens covering "
            f"{r.summary_covered:,} tokens (seq 1-{r.summary_upto_seq}); stored "
            f"{r.stored_tokens:,} tokens in {r.turns} messages"
            + (f"; {r.unknown_speakers} turns by an unknown speaker" if r.unknown_speakers else "")
        )
    mismatches = sum(r.full_mismatches for r in results)
    total_composes = sum(len(r.series[b].sent) for r in results for b in budgets)
    lines.append(
        f"  check: full_history_tokens == running sum of stored token_count in "
        f"{total_composes - mismatches:,}/{total_composes:,} composes"
        + (
            f" (MISMATCH, max difference {max(r.full_max_diff for r in results)} tokens)"
            if mismatches
            else ""
        )
    )

    if lat is None:
        return "\n".join(lines)
    lines.append("")
    res: dict[str, OpResult] = lat["results"]
    lines.append(
        f"Compose latency on a hot session ({lat['sample_id']}, after flush; "
        f"input = its first QA question; {args.rounds} rounds x {args.n} calls, chunks of "
        f"{args.chunk}, interleaved, warm-up {args.warmup}; figures = median over rounds)"
    )
    for b, shape in lat["shapes"].items():
        blocks = ", ".join(f"{k} {v}" for k, v in shape["blocks"].items())
        lines.append(
            f"  context(budget={b:,}): {shape['total_tokens']:,} of "
            f"{shape['full_history_tokens']:,} tokens; blocks: {blocks}; "
            f"{shape['recent_messages']} recent messages"
        )
    cs = lat["copy_shape"]
    blocks = ", ".join(f"{k} {v}" for k, v in cs["blocks"].items())
    lines.append(
        f"  cache-miss reference: a copy of the session (same messages, added in batches of 100, "
        f"its own summary), a distinct input each call; context(budget={max(args.budgets):,}): "
        f"{cs['total_tokens']:,} of {cs['full_history_tokens']:,} tokens; blocks: {blocks}; "
        f"{cs['recent_messages']} recent messages"
    )
    lines.append(
        f"  raw baseline: the session's last {lat['raw_items']} messages as the hot tier encodes "
        f"them (Message.to_json(), {lat['raw_bytes'] / max(1, lat['raw_items']):.0f} B avg), "
        "in a scratch list of the same Redis"
    )
    lines.append("")
    lines.extend(latency_table(res.values()))
    lines.append("")
    for name, n_calls in lat["calls"].items():
        if name == "raw_lrange":
            continue
        cnt = lat["counters"][name]
        cache = {k: v for k, v in cnt.items() if "cache" in k}
        cache_text = (
            ", ".join(f"{k} {v}" for k, v in sorted(cache.items()))
            if cache
            else "no context-cache counter in stats()"
        )
        lines.append(
            f"  {name}: {n_calls} measured calls; hot hits {cnt.get('hot_hits', 0)}, misses "
            f"{cnt.get('hot_misses', 0)}, repairs {cnt.get('hot_repairs', 0)}; "
            f"contexts_composed +{cnt.get('contexts_composed', 0)}; {cache_text}"
        )
    lines.append("")
    lines.append(
        "ratios (median p50 / median p50; in brackets the same ratio taken within each round: "
        "median, min-max):"
    )
    lw = max(len(x["ratio"]) for x in lat["ratios"])
    for x in lat["ratios"]:
        verdict = (
            f"target <= {x['target']:.1f}  {x['verdict']}"
            if x["target"] is not None
            else "(no target)"
        )
        lines.append(
            f"  {x['ratio']:<{lw}}  {x['value']:5.2f}  "
            f"[{x['per_round_median']:.2f}, {x['per_round_min']:.2f}-{x['per_round_max']:.2f}]  "
            f"{verdict}"
        )
    prof = lat["profile"]
    if prof is not None:
        lines.append("")
        lines.append(
            f"Where compose spends its time: cProfile of {prof['calls']} calls of "
            f"context(budget_tokens={prof['budget']:,}) on the hot session "
            f"({prof['wall_us_per_compose']:,.0f} µs per call under the profiler, which inflates "
            "Python-heavy code); µs per compose call"
        )
        for title, rows in (
            (f"top {PROFILE_TOP} by cumulative time", prof["top_cumulative"]),
            ("top 10 by own time", prof["top_own"]),
        ):
            lines.append(f"  {title}:")
            lines.append(f"    {'cum µs':>8}  {'own µs':>8}  {'calls':>7}  function")
            for row in rows:
                lines.append(
                    f"    {row['cum_us_per_compose']:>8,.1f}  {row['own_us_per_compose']:>8,.1f}  "
                    f"{row['calls_per_compose']:>7.1f}  {row['function']}"
                )
    return "\n".join(lines)


def overall_figures(results: list[ConvResult], budgets: list[int]) -> dict[int, dict[str, Any]]:
    out = {}
    for b in budgets:
        sent = [x for r in results for x in r.series[b].sent]
        full = [x for r in results for x in r.series[b].full]
        ends = [r.series[b].end_ratio for r in results]
        out[b] = {
            "turns": sum(r.turns for r in results),
            "sessions": sum(r.sessions for r in results),
            "summaries": sum(r.summaries for r in results),
            "mean_sent": statistics.mean(sent),
            "mean_full": statistics.mean(full),
            "ratio": statistics.mean(sent) / statistics.mean(full),
            "end_sent_mean": statistics.mean(r.series[b].sent[-1] for r in results),
            "end_full_mean": statistics.mean(r.series[b].full[-1] for r in results),
            "end_ratio_max": max(ends),
            "end_pass": sum(e <= TARGET_END_RATIO for e in ends),
            "with_summary": sum(r.series[b].with_summary for r in results),
            "summary_available": sum(r.series[b].summary_available for r in results),
            "compose_ns": [x for r in results for x in r.series[b].compose_ns],
        }
    return out


def to_json(
    env: dict[str, Any],
    args: argparse.Namespace,
    results: list[ConvResult],
    lat: dict[str, Any] | None,
) -> dict[str, Any]:
    overall = overall_figures(results, args.budgets)
    payload: dict[str, Any] = {
        "environment": env,
        "config": {
            "data": args.data,
            "budgets": args.budgets,
            "conversations": args.conversations,
            "sessions": args.sessions,
            "buffer_tokens": args.buffer_tokens,
            "min_fold_tokens": args.min_fold_tokens,
            "summary_tokens": args.summary_tokens,
            "rounds": args.rounds,
            "n": args.n,
            "chunk": args.chunk,
            "warmup": args.warmup,
            "hot_window": args.window,
            "postgres": args.postgres_label,
            "redis_url": args.redis_url,
            "targets": {"end_ratio": TARGET_END_RATIO, "compose_vs_raw": TARGET_COMPOSE},
        },
        "overall": {
            str(b): {k: v for k, v in o.items() if k != "compose_ns"}
            | {
                "compose_p50_us": _p(o["compose_ns"], 0.5),
                "compose_p99_us": _p(o["compose_ns"], 0.99),
            }
            for b, o in overall.items()
        },
        "conversations": [
            {
                "sample_id": r.sample_id,
                "turns": r.turns,
                "sessions": r.sessions,
                "summaries": r.summaries,
                "summaries_written": r.summaries_written,
                "summary_tokens": r.summary_tokens,
                "summary_covered_tokens": r.summary_covered,
                "summary_upto_seq": r.summary_upto_seq,
                "stored_tokens": r.stored_tokens,
                "full_history_mismatches": r.full_mismatches,
                "seconds": r.seconds,
                "flush_seconds": r.flush_seconds,
                "add_message_p50_us": _p(r.add_ns, 0.5),
                "counters": r.counters,
                "budgets": {
                    str(b): {
                        "mean_sent": s.mean_sent,
                        "mean_full": s.mean_full,
                        "ratio": s.mean_sent / s.mean_full,
                        "end_sent": s.sent[-1],
                        "end_full": s.full[-1],
                        "end_ratio": s.end_ratio,
                        "end_verdict": "PASS" if s.end_ratio <= TARGET_END_RATIO else "FAIL",
                        "compose_p50_us": _p(s.compose_ns, 0.5),
                        "with_summary": s.with_summary,
                        "summary_available": s.summary_available,
                        "sent_per_turn": s.sent,
                        "full_per_turn": s.full,
                    }
                    for b, s in r.series.items()
                },
            }
            for r in results
        ],
    }
    if lat is not None:
        payload["latency"] = {
            "sample_id": lat["sample_id"],
            "probe_input": lat["probe_input"],
            "raw_items": lat["raw_items"],
            "raw_bytes": lat["raw_bytes"],
            "shapes": {str(b): v for b, v in lat["shapes"].items()},
            "copy_shape": lat["copy_shape"],
            "operations": {
                x.name: {
                    "label": x.label,
                    "p50_us": x.p50,
                    "p99_us": x.p99,
                    "p50_us_per_round": x.p50_us,
                    "p99_us_per_round": x.p99_us,
                    "mean_us_per_round": x.mean_us,
                    "samples": x.samples,
                }
                for x in lat["results"].values()
            },
            "counters": lat["counters"],
            "ratios": lat["ratios"],
            "profile": lat["profile"],
        }
    return payload


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Replay LoCoMo turn by turn: tokens sent per turn against the full history "
        "for fixed budgets, and compose latency on a hot session against raw LRANGE + decode."
    )
    ap.add_argument("--data", required=True, help="the LoCoMo dev JSON (locomo-dev.json)")
    ap.add_argument("--budgets", default="1000,2000", help="comma-separated token budgets")
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="Postgres to use (default: an embedded server in a temporary folder, removed after)",
    )
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis hot tier")
    ap.add_argument(
        "--conversations", type=int, default=None, help="replay only the first N (default: all)"
    )
    ap.add_argument(
        "--sessions",
        type=int,
        default=None,
        help="replay only the first N sessions of each conversation (default: all; "
        f"--quick: {QUICK_SESSIONS})",
    )
    ap.add_argument("--json", metavar="PATH", default=None, help="also write results as JSON")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: first {QUICK_SESSIONS} sessions of each conversation, 2 latency "
        "rounds of 100 calls",
    )
    ap.add_argument(
        "--buffer-tokens", type=int, default=800, help="engine buffer_tokens (the default)"
    )
    ap.add_argument("--min-fold-tokens", type=int, default=300, help="engine min_fold_tokens")
    ap.add_argument("--summary-tokens", type=int, default=400, help="engine summary_tokens")
    ap.add_argument("--rounds", type=int, default=None, help="latency rounds (default 5)")
    ap.add_argument("--n", type=int, default=None, help="latency calls per op per round (300)")
    ap.add_argument("--chunk", type=int, default=50, help="calls per op before switching")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured calls per op (50)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile the compose call even when the latency target passes",
    )
    ap.add_argument(
        "--profile-calls",
        type=int,
        default=None,
        help="compose calls profiled when the latency target fails (default 300; 0: no profile)",
    )
    args = ap.parse_args(argv)
    try:
        budgets = [int(x) for x in args.budgets.split(",") if x.strip()]
    except ValueError:
        ap.error("--budgets takes comma-separated integers, e.g. 1000,2000")
    if not budgets or any(b < 1 for b in budgets):
        ap.error("--budgets must be positive integers")
    args.budgets = list(dict.fromkeys(budgets))
    if args.quick and args.sessions is None:
        args.sessions = QUICK_SESSIONS
    defaults = {"rounds": (2, 5), "n": (100, 300), "warmup": (20, 50), "profile_calls": (100, 300)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    for name in ("rounds", "n", "chunk"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    for name in ("conversations", "sessions"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name} must be >= 1")
    if args.warmup < 5:
        ap.error("--warmup must be >= 5 (psycopg prepares statements after 5 executions)")
    if not os.path.isfile(args.data):
        ap.error(f"--data {args.data}: no such file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    convs = load_conversations(args.data, args.conversations, args.sessions)
    if not convs or not any(c.turns for c in convs):
        print(f"no conversations with turns in {args.data}", file=sys.stderr)
        return 0
    convs = [c for c in convs if c.turns]
    print(
        f"{len(convs)} conversations, {sum(len(c.turns) for c in convs):,} turns from {args.data}",
        file=sys.stderr,
        flush=True,
    )
    if args.postgres_url is None:
        print("starting embedded PostgreSQL in a temporary folder...", file=sys.stderr, flush=True)
        url, folder = start_embedded_postgres()
        args.postgres_label = f"embedded ({folder})"
    else:
        url = args.postgres_url
        args.postgres_label = "--postgres-url"

    bench = Bench(args, url)
    lat = None
    try:
        bench.setup()
        env = bench.environment()
        results = bench.replay(convs)
        print(f"measuring compose latency on {convs[-1].sample_id}...", file=sys.stderr, flush=True)
        lat = bench.latency(convs[-1])
    finally:
        problems = bench.cleanup()
        if args.postgres_url is None:
            problems += stop_embedded_postgres(folder)
        for p in problems:
            print(f"cleanup: {p}", file=sys.stderr)

    print(render(env, args, convs, results, lat), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(to_json(env, args, results, lat), fh, indent=1, ensure_ascii=False)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
