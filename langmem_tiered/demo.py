"""The demo: a short clinic-booking conversation (Portuguese, as in the seeds) on the embedded
default, offline. It shows what was stored, hot versus durable read times, session state
instead of history, temporal facts, the running summary, semantic recall, the composed context,
and that the history survives a restart of the database server.

Run it with ``python -m langmem_tiered demo`` or ``langmem-tiered demo``.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ._engine import TieredMemory
from .store.embedded import default_data_path, stop_embedded

__all__ = ["CONVERSATION", "run_demo"]

# (role, content, state slots set after the turn)
CONVERSATION: list[tuple[str, str, dict[str, Any]]] = [
    ("system", "Você é a assistente virtual da Clínica Sorriso. Seja breve e cordial.", {}),
    (
        "user",
        "Oi, boa tarde! Meu nome é Maria Souza e queria marcar uma consulta.",
        {"current_state": "greeting"},
    ),
    (
        "assistant",
        "Boa tarde, Maria! Com qual especialidade você gostaria de consultar?",
        {"current_state": "selecting_specialty"},
    ),
    (
        "user",
        "Ortodontia. Meu convênio é Amil Dental.",
        {"specialty": "ortodontia", "insurance": "Amil Dental"},
    ),
    (
        "assistant",
        "Temos o Dr. Gustavo Lima e a Dra. Paula Reis. Tem preferência?",
        {"current_state": "selecting_doctor"},
    ),
    (
        "user",
        "Prefiro o Dr. Gustavo. De manhã é melhor para mim.",
        {"doctor": "Dr. Gustavo Lima", "preferred_times": "manhã"},
    ),
    (
        "assistant",
        "O Dr. Gustavo tem terça, 01/12, às 09:00 ou quinta, 03/12, às 10:30.",
        {"current_state": "selecting_slot"},
    ),
    ("user", "Terça às 9h está ótimo.", {"date": "2026-12-01", "time": "09:00"}),
    (
        "assistant",
        "Confirmado: terça, 01/12, às 09:00 com o Dr. Gustavo. Posso ajudar em algo mais?",
        {"current_state": "confirmed"},
    ),
    ("user", "Só isso, obrigada!", {}),
    ("assistant", "Por nada, Maria! Até terça.", {"current_state": "done"}),
    # three months later, the same chat
    (
        "user",
        "Oi, é a Maria de novo. Preciso remarcar a consulta de terça.",
        {"current_state": "rescheduling"},
    ),
    ("assistant", "Claro, Maria. Para quando você gostaria? O Dr. Gustavo atende de manhã.", {}),
    ("user", "Agora prefiro à tarde, pode ser quinta, 03/12?", {"preferred_times": "tarde"}),
    ("assistant", "Quinta, 03/12, o Dr. Gustavo tem 14:00 ou 16:30.", {}),
    (
        "user",
        "14:00. E tenho alergia a dipirona, é bom vocês saberem.",
        {"date": "2026-12-03", "time": "14:00"},
    ),
    (
        "assistant",
        "Anotado: alergia a dipirona. Remarcado para quinta, 03/12, às 14:00.",
        {"current_state": "confirmed"},
    ),
]

DEMO_BUDGET = 300
FIRST_VISIT_TURNS = 11


def _median_us(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


def run_demo(path: str | Path | None = None, *, console: Console | None = None) -> dict[str, Any]:
    """Replay :data:`CONVERSATION`, print what happened, and return the figures shown."""
    console = console or Console()
    folder = Path(path).expanduser() if path else default_data_path() / "demo"
    session_id = (
        "chat-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    )

    console.rule("[bold]langmem-tiered demo[/bold]: clinic booking, embedded default, offline")
    start = time.perf_counter()
    # A small buffer so that this short conversation already shows the summary forming.
    memory = TieredMemory.local(folder, buffer_tokens=90, min_fold_tokens=40, summary_tokens=90)
    console.print(
        f"Started PostgreSQL + pgvector (embedded) in [cyan]{folder}[/cyan] "
        f"in {time.perf_counter() - start:.2f} s; hot tier: {memory.hot_tier.name}"
    )
    session = memory.session("clinica-sorriso", "5573999990001", session_id)
    now = datetime.now(timezone.utc)
    first_visit = now - timedelta(days=90)
    for i, (role, content, slots) in enumerate(CONVERSATION):
        # the first visit happened three months ago; the rescheduling is today
        when = first_visit if i < FIRST_VISIT_TURNS else now - timedelta(hours=1)
        session.add_message(
            role=role,
            content=content,
            metadata={"channel": "whatsapp"},
            created_at=when + timedelta(minutes=i),
        )
        if slots:
            session.update_state(**slots)

    stored = session.messages()
    table = Table(title=f"Stored in Postgres: tenant clinica-sorriso, session {session_id}")
    for column in ("seq", "role", "tokens", "content"):
        table.add_column(column)
    for m in stored:
        text = m.text if len(m.text) <= 70 else m.text[:67] + "..."
        table.add_row(str(m.seq), m.role, str(m.token_count), text)
    console.print(table)

    state = session.state()
    console.print("[bold]Session state[/bold] (a booking flow needs no history to continue):")
    for key, value in state.items():
        console.print(f"  {key} = {value!r}")

    hot_us = _median_us(lambda: session.recent(6), 300)
    cold_us = _median_us(lambda: session.messages(), 300)
    stats = memory.stats()
    console.print(
        f"[bold]Read times[/bold] (median of 300): recent(6) from the hot tier "
        f"[green]{hot_us:.0f} µs[/green]; full history from Postgres "
        f"[yellow]{cold_us:.0f} µs[/yellow] "
        f"({cold_us / hot_us:.1f}x). Hot hits {stats['hot_hits']}, misses {stats['hot_misses']}."
    )
    total_tokens = sum(m.token_count or 0 for m in stored)
    console.print(f"Tokens in the whole history: {total_tokens} (offline estimate).")

    memory.flush()  # summarization and fact extraction run in the background; wait here
    console.rule("[bold]Temporal facts[/bold] (extracted offline, with validity and source)")
    facts_table = Table()
    for column in ("key", "value", "valid from", "valid until", "source seqs"):
        facts_table.add_column(column)
    shown = []
    for key in sorted({f.key for f in session.facts()} | {"preferred_times"}):
        for fact in session.fact_history(key):
            shown.append(fact)
            facts_table.add_row(
                fact.key,
                str(fact.value),
                fact.valid_at.strftime("%Y-%m-%d %H:%M"),
                fact.invalid_at.strftime("%Y-%m-%d %H:%M") if fact.invalid_at else "(current)",
                f"{fact.source_seq_from}-{fact.source_seq_to}",
            )
    console.print(facts_table)
    console.print(
        "preferred_times changed from morning to afternoon: the old fact is closed, not deleted."
    )
    console.rule("[bold]Running summary[/bold] (older turns folded in, originals kept)")
    for version in session.summaries():
        console.print(
            f"[bold]v{version.version}[/bold] covers seq {version.from_seq}..{version.upto_seq} "
            f"({version.token_count} tokens, {version.summarizer}):"
        )
        console.print(version.text, style="dim")
    status = memory.recall_status()
    console.rule(
        "[bold]Semantic recall[/bold] "
        f"({status['embedder'] or 'full text only: pip install langmem-tiered[embeddings]'})"
    )
    question = "qual horário ela prefere?"
    hits = session.recall(question, k=3)
    console.print(f"recall([italic]{question!r}[/italic]):")
    for hit in hits:
        seqs = f"seq {hit.seqs[0]}-{hit.seqs[-1]}" if hit.seqs else "no messages"
        if hit.valid_until is not None:
            seqs += f", true until {hit.valid_until:%Y-%m-%d}"
        console.print(
            f"  [bold]{hit.score:.4f}[/bold] {hit.kind} ({seqs}, "
            f"{hit.occurred_at:%Y-%m-%d}): " + hit.text.replace("\n", " | ")[:110],
            highlight=False,
        )
    bundle = session.context(
        query=question,
        budget_tokens=DEMO_BUDGET,
        input="Qual é o endereço da clínica?",
        system="Você é a assistente virtual da Clínica Sorriso.",
    )
    console.rule(f"[bold]Composed context[/bold] (budget {DEMO_BUDGET} tokens)")
    blocks = Table()
    for column in ("block", "tokens", "what"):
        blocks.add_column(column)
    for block in bundle.blocks:
        what = f"{len(block.messages)} messages" if block.messages else (block.text or "")[:60]
        blocks.add_row(block.name, str(block.tokens), what)
    console.print(blocks)
    console.print(
        f"Context sent: [green]{bundle.total_tokens}[/green] tokens instead of the full history's "
        f"[yellow]{bundle.full_history_tokens}[/yellow]: {bundle.tokens_saved} tokens saved "
        f"({100 * bundle.tokens_saved / max(bundle.full_history_tokens, 1):.0f} %)."
    )
    console.print(bundle.to_text(), style="dim")

    memory.close()
    stopped = stop_embedded(folder)
    console.print(
        f"Closed the memory and {'stopped' if stopped else 'released'} the database server; "
        "opening it again..."
    )
    start = time.perf_counter()
    reopened = TieredMemory.local(folder)
    again = reopened.session("clinica-sorriso", "5573999990001", session_id)
    survived = again.messages()
    console.print(
        f"After the restart ({time.perf_counter() - start:.2f} s): {len(survived)} of "
        f"{len(stored)} messages, state {'kept' if again.state() == state else 'LOST'}; "
        f"last message: [italic]{survived[-1].text if survived else '-'}[/italic]"
    )
    same = [m.model_dump_json() for m in survived] == [m.model_dump_json() for m in stored]
    console.print(
        "History identical after restart: " + ("[green]yes[/green]" if same else "[red]NO[/red]")
    )
    reopened_summaries = again.summaries()
    reopened.close()
    return {
        "path": str(folder),
        "session": session_id,
        "messages": len(stored),
        "hot_recent_us": hot_us,
        "durable_read_us": cold_us,
        "survived_restart": same,
        "state": state,
        "summaries": len(reopened_summaries),
        "context_tokens": bundle.total_tokens,
        "full_history_tokens": bundle.full_history_tokens,
        "tokens_saved": bundle.tokens_saved,
        "facts": [(f.key, f.value, f.invalid_at is None) for f in shown],
        "recall": [(h.kind, h.seqs) for h in hits],
        "embedder": status["embedder"],
    }
