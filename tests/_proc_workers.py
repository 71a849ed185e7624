"""Top-level worker functions for the multi-process fault tests (``spawn`` needs importable code).

Every worker reports back through a queue as ``(name, "ok", payload)`` or
``(name, "error", traceback_text)`` so the parent can assert on what each process saw. Workers
wait on a barrier first, so the interesting part starts in all processes at the same moment.
"""

from __future__ import annotations

import traceback
from typing import Any

BARRIER_TIMEOUT = 60.0


def append_worker(
    name: str,
    postgres_url: str,
    redis_url: str | None,
    schema: str,
    redis_prefix: str,
    ids: list[str],
    slot: int,
    acked: Any,
    barrier: Any,
    out: Any,
) -> None:
    """Append ``ids`` one by one to session t/u/s; publish the latest acknowledged seq in
    ``acked[slot]`` after every append; report ``{"seqs": {id: seq}, "order": [ids],
    "stats": {...}}``."""
    try:
        from langmem_tiered import TieredMemory

        memory = TieredMemory.connect(
            postgres_url=postgres_url,
            redis_url=redis_url,
            schema=schema,
            redis_prefix=redis_prefix,
            window_size=10,
        )
        try:
            session = memory.session("t", "u", "s")
            barrier.wait(BARRIER_TIMEOUT)
            seqs: dict[str, int] = {}
            for message_id in ids:
                stored = session.add_message(id=message_id, role="user", content=message_id)
                assert stored.id == message_id
                assert stored.seq is not None
                seqs[message_id] = stored.seq
                if acked is not None:
                    acked[slot] = max(acked[slot], stored.seq)
            stats = memory.stats()
        finally:
            memory.close()
        out.put((name, "ok", {"seqs": seqs, "stats": stats}))
    except BaseException:
        out.put((name, "error", traceback.format_exc()))


def migrate_worker(name: str, postgres_url: str, schema: str, barrier: Any, out: Any) -> None:
    """Open a ``PostgresStore`` on ``schema`` (which applies migrations); report its version."""
    try:
        from langmem_tiered.store import PostgresStore

        store = PostgresStore(postgres_url, schema=schema)
        barrier.wait(BARRIER_TIMEOUT)
        try:
            store.open()
            version = store.schema_version()
        finally:
            store.close()
        out.put((name, "ok", {"schema_version": version}))
    except BaseException:
        out.put((name, "error", traceback.format_exc()))
