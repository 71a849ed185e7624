"""Semantic recall behind the engine: background indexing, embedding, search, backfill, and
the ``recalled`` context block (the sync twin ``_recall.py`` is generated).

Indexing never runs in the append path. After an append the engine schedules a background
job per session that turns the new messages into items (spans of turns, see
:mod:`langmem_tiered.recall.items`), stores them with their full-text vectors, advancing the
session's ``recall_upto_seq`` with a compare-and-set in the same transaction (so two processes
never index one batch twice), and then embeds them. New summary versions and facts are indexed
by the same jobs. ``flush()`` waits for all of it; :func:`backfill` catches up whatever is
missing (sessions written while recall was off, items without a vector of the current model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone
from typing import Any

from .._acompat import ASYNC
from ..compliance.crypto import FieldCipher
from ..context.bundle import ContextBlock
from ..context.compose import ContextRequest
from ..errors import ConfigurationError, InvalidInputError, ModelError
from ..models import Message, SessionKey, check_json_value
from ..store._pg_async import unseal_content
from ..store.recall_sql import search_sql
from .embedders import check_vectors
from .items import (
    MAX_MEMORY_KEY,
    MEMORY_KEY_PREFIX,
    ItemDraft,
    fact_item,
    memory_item,
    message_items,
    message_line,
    query_configs,
    search_terms,
    summary_item,
    vector_literal,
)
from .merge import merge_hits
from .model import RECALL_KINDS, RecallHit, SourceMessage

__all__ = [
    "AsyncRecallProvider",
    "backfill",
    "embed_items",
    "index_facts_once",
    "index_session_once",
    "recall",
]

_log = logging.getLogger("langmem_tiered")

INDEX_BATCH = 64
"""Messages turned into items (and embedded) per background step."""
PARALLEL_MIN_ITEMS = 3000
"""From this many items in a user's scope (learnt from the previous search), a hybrid search
runs its two rankings side by side on two connections; below it one statement is faster (at
100k items, 1k per user: p50 2.9 ms in one statement, 3.5 ms side by side; at 1M items, 10k per
user: 11.5 ms against 9.6 ms; ``benchmarks/bench_recall_scale.py``)."""
FACTS_BATCH = 500
"""Facts indexed per background step (the store reads at most this many at once)."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: how a long operation reports where it is."""


async def vectors_ready(memory: Any) -> bool:
    """Whether the memory's embedder can be used: pgvector present, column and index made.

    Also records the model; vectors of other models are then "stale" (kept, never compared
    with this model's queries, re-embedded by ``backfill``)."""
    embedder = memory._embedder
    if embedder is None:
        return False
    if memory._vectors is None:
        store = await memory._ready()
        ok = await store.ensure_vectors(embedder.dimension)
        if ok:
            others = await store.register_embedding_model(embedder.model_id, embedder.dimension)
            memory._stale_models = others
            if others:
                _log.warning(
                    "recall items embedded by %s exist; this memory embeds with %s: run "
                    "backfill() to re-embed them (until then only full text finds them)",
                    ", ".join(others),
                    embedder.model_id,
                )
        else:
            _log.warning("the server has no pgvector: recall is full-text only")
        memory._vectors = ok
    return bool(memory._vectors)


async def embed_items(memory: Any, rows: Sequence[tuple[str, str, int, str]]) -> int:
    """Embed items ``(tenant, user, item_id, text)`` with the memory's embedder and store the
    vectors; returns how many were embedded (0 without an embedder or pgvector)."""
    embedder = memory._embedder
    if not rows or embedder is None or not await vectors_ready(memory):
        return 0
    store = await memory._ready()
    texts = [memory._text_for_llm(r[0], r[3], embedder) for r in rows]
    try:
        raw = await embedder.aembed_documents(texts)
    except Exception as exc:
        raise ModelError(f"embedder {embedder.model_id} failed: {exc}") from exc
    vectors = check_vectors(embedder, raw, len(texts))
    await store.set_embeddings(
        [(r[0], r[1], r[2]) for r in rows],
        [vector_literal(v) for v in vectors],
        model=embedder.model_id,
        dim=embedder.dimension,
    )
    memory._stats["items_embedded"] += len(rows)
    return len(rows)


async def index_session_once(memory: Any, key: SessionKey) -> bool:
    """Index the session's next batch of messages (and any new summary); True if more remain."""
    store = await memory._ready()
    count = memory._tokenizer.count
    config = memory.text_search
    more = False
    upto, last_seq = await store.recall_progress(key)
    if last_seq > upto:
        span = memory.recall_span
        messages = await store.messages(
            key, after_seq=max(0, upto - span + 1), limit=INDEX_BATCH + span - 1
        )
        fresh = [m for m in messages if (m.seq or 0) > upto]
        if fresh:
            new_upto = fresh[-1].seq or upto
            drafts = message_items(
                key.session, messages, start_after=upto, span=span, count=count, config=config
            )
            inserted = await store.add_recall_items(
                key.tenant, key.user, drafts, advance=(key, upto, new_upto)
            )
            if inserted is None:
                return True  # another process indexed (part of) it: read the progress again
            memory._stats["items_indexed"] += len(inserted)
            tokens = sum(d.token_count for d in drafts)
            await _embed_inserted(memory, key.tenant, key.user, inserted, (key, tokens))
            more = new_upto < last_seq
    summaries = await store.unindexed_summaries(key)
    if summaries:
        drafts = [summary_item(key.session, s, count=count, config=config) for s in summaries]
        inserted = await store.add_recall_items(key.tenant, key.user, drafts)
        assert inserted is not None
        memory._stats["items_indexed"] += len(inserted)
        tokens = sum(d.token_count for d in drafts)
        await _embed_inserted(memory, key.tenant, key.user, inserted, (key, tokens))
    return more


async def index_facts_once(memory: Any, user: tuple[str, str]) -> bool:
    """Index the facts of ``(tenant, user)`` not indexed yet; True if more remain."""
    tenant, user_id = user
    store = await memory._ready()
    facts = await store.unindexed_facts(tenant, user_id)
    if not facts:
        return False
    count = memory._tokenizer.count
    drafts = [fact_item(f, count=count, config=memory.text_search) for f in facts]
    inserted = await store.add_recall_items(tenant, user_id, drafts)
    assert inserted is not None
    memory._stats["items_indexed"] += len(inserted)
    await _embed_inserted(memory, tenant, user_id, inserted, None)
    return len(facts) >= FACTS_BATCH


async def put_memories(
    memory: Any,
    tenant: str,
    user: str,
    memories: Sequence[tuple[str, str | None]],
    occurred_at: datetime | None,
) -> int:
    """Write (or, with text None, delete) long-term memories by key, embedded before this
    returns; return how many were stored."""
    _check_when("occurred_at", occurred_at)
    when = occurred_at or datetime.now(timezone.utc)
    drafts: list[ItemDraft] = []
    keys: list[str] = []
    for key, text in memories:
        if not isinstance(key, str) or not key or len(key) > MAX_MEMORY_KEY:
            raise InvalidInputError(f"a memory key is a string of 1..{MAX_MEMORY_KEY} characters")
        check_json_value(key, "memory key")
        keys.append(MEMORY_KEY_PREFIX + key)
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("a memory's text is a non-empty string")
        check_json_value(text, "memory text")
        if len(text.encode("utf-8")) > memory.max_message_bytes:
            raise InvalidInputError(f"a memory's text is over {memory.max_message_bytes} bytes")
        count = memory._tokenizer.count
        drafts.append(
            memory_item(key, text, count=count, config=memory.text_search, occurred_at=when)
        )
    if len(set(keys)) != len(keys):
        raise InvalidInputError("a memory key is given twice")
    store = await memory._ready()
    inserted = await store.replace_recall_items(tenant, user, keys, drafts)
    memory._stats["items_indexed"] += len(inserted)
    await _embed_inserted(memory, tenant, user, inserted, None)
    return len(inserted)


async def _embed_inserted(
    memory: Any,
    tenant: str,
    user: str,
    inserted: Sequence[tuple[int, str]],
    spend: tuple[SessionKey, int] | None,
) -> None:
    """Embed freshly inserted items; count the tokens against the session when given."""
    if not inserted or memory._embedder is None:
        return
    done = await embed_items(memory, [(tenant, user, i, t) for i, t in inserted])
    if done and spend is not None:
        memory._spend(spend[0], "embed", input_tokens=spend[1])


def _check_when(name: str, value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidInputError(f"{name} must be a timezone-aware datetime")


def _check_positive(name: str, value: Any, upper: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= upper:
        raise InvalidInputError(f"{name} must be an int in 1..{upper}, got {value!r}")
    return value


async def recall(
    memory: Any,
    tenant: str,
    user: str,
    query: str,
    *,
    k: int = 10,
    session: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Collection[str] | None = None,
    exclude_after: tuple[str, int] | None = None,
    recency_weight: float = 0.0,
    rrf_k: float | None = None,
    candidates: int | None = None,
    mode: str = "hybrid",
    max_tokens: int | None = None,
    merge: bool = True,
) -> list[RecallHit]:
    """Hybrid search over the user's recall items (see ``AsyncSession.recall``)."""
    if not isinstance(query, str):
        raise InvalidInputError("query must be a string")
    if mode not in ("hybrid", "vector", "text"):
        raise InvalidInputError("mode is 'hybrid', 'vector' or 'text'")
    check_json_value(query, "query")
    _check_positive("k", k, 1000)
    _check_when("since", since)
    _check_when("until", until)
    if kinds is not None and (isinstance(kinds, str) or not isinstance(kinds, Collection)):
        raise InvalidInputError(f"kinds is a non-empty collection of {RECALL_KINDS}")
    wanted = list(RECALL_KINDS if kinds is None else kinds)
    if not wanted or any(x not in RECALL_KINDS for x in wanted):
        raise InvalidInputError(f"kinds is a non-empty collection of {RECALL_KINDS}")
    if not isinstance(recency_weight, (int, float)) or not 0 <= recency_weight <= 10:
        raise InvalidInputError("recency_weight must be between 0 and 10")
    rrf = memory.recall_rrf_k if rrf_k is None else rrf_k
    if not isinstance(rrf, (int, float)) or not 0 <= rrf <= 10_000:
        raise InvalidInputError("rrf_k must be between 0 and 10000")
    n = _check_positive("candidates", candidates or max(memory.recall_candidates, k), 10_000)
    if max_tokens is not None:
        _check_positive("max_tokens", max_tokens, 10_000_000)
    store = await memory._ready()
    if not query.strip():
        return []
    params: dict[str, Any] = {
        "t": tenant,
        "u": user,
        "s": session,
        "kinds": wanted,
        "since": since,
        "until": until,
        "n": max(n, k),
        # merging overlapping spans consumes candidates: fetch more than k fused ones
        "k": min(max(n, k), max(4 * k, 40)) if merge or max_tokens is not None else k,
        "rrf_k": float(rrf),
        "wv": 1.0,
        "wt": 1.0,
        "wr": float(recency_weight),
    }
    if exclude_after is not None:
        params["xs"], params["xa"] = exclude_after
    dim = None
    embedder = memory._embedder
    if mode == "vector" and (embedder is None or not await vectors_ready(memory)):
        raise ConfigurationError("vector recall needs an embedder and pgvector")
    if mode != "text" and embedder is not None and await vectors_ready(memory):
        try:
            raw = await embedder.aembed_query(memory._text_for_llm(tenant, query, embedder))
        except Exception as exc:
            raise ModelError(f"embedder {embedder.model_id} failed: {exc}") from exc
        params["q"] = vector_literal(check_vectors(embedder, [raw], 1)[0])
        params["model"] = embedder.model_id
        dim = embedder.dimension
    configs = query_configs(query, memory.text_search)
    terms, content_terms = search_terms(query, configs) if mode != "vector" else ("", "")
    if not terms:
        configs = []
    if terms:
        params.update(terms=terms, content_terms=content_terms)
        params.update(
            words=terms.replace(" or ", " "), content_words=content_terms.replace(" or ", " ")
        )
        params.update({f"cfg{i}": c for i, c in enumerate(configs)})
    if dim is None and not terms:
        return []
    shape = {
        "dim": dim,
        "lexical": bool(terms),
        "configs": len(configs),
        "session": session is not None,
        "since": since is not None,
        "until": until is not None,
        "exclude": exclude_after is not None,
        "recency": recency_weight > 0,
    }
    scope_key = (tenant, user)
    if dim is not None and terms and memory._scope_sizes.get(scope_key, 0) >= PARALLEL_MIN_ITEMS:
        # Both rankings side by side on two connections, then one statement reads the
        # winners' rows: on a large scope the latency is the slower ranking's, not the sum.
        vector_sql, text_sql = search_sql(**shape, part="vector"), search_sql(**shape, part="text")
        if ASYNC:
            by_vector, by_text = await asyncio.gather(
                store.search_recall(vector_sql, params), store.search_recall(text_sql, params)
            )
        else:
            pending = memory._side_executor().submit(store.search_recall, vector_sql, params)
            by_text = store.search_recall(text_sql, params)
            by_vector = pending.result()
        ranks: dict[int, list[Any]] = {}
        for item_id, vr, dist in by_vector:
            ranks[item_id] = [vr, None, dist]
        for item_id, tr, scope_n in by_text:
            ranks.setdefault(item_id, [None, None, None])[1] = tr
            memory._scope_sizes[scope_key] = scope_n
        if recency_weight <= 0:
            # the fused order is known here: read only the rows that can be returned
            def fused(item: tuple[int, list[Any]]) -> tuple[float, int]:
                vr, tr = item[1][0], item[1][1]
                score = (1.0 / (rrf + vr) if vr else 0.0) + (1.0 / (rrf + tr) if tr else 0.0)
                return -score, item[0]

            ranks = dict(sorted(ranks.items(), key=fused)[: params["k"]])
        if not ranks:
            rows = []
        else:
            params.update(
                ids=list(ranks),
                vrs=[r[0] for r in ranks.values()],
                trs=[r[1] for r in ranks.values()],
                dists=[r[2] for r in ranks.values()],
            )
            rows = await store.search_recall(search_sql(**shape, part="fuse"), params)
    else:
        rows = await store.search_recall(search_sql(**shape), params)
    memory._stats["recalls"] += 1
    if rows and rows[0][-3] is not None:
        if len(memory._scope_sizes) >= 10_000:
            memory._scope_sizes.clear()
        memory._scope_sizes[scope_key] = rows[0][-3]
    hits = [_hit(row, store.cipher) for row in rows]
    if not merge:
        if max_tokens is None:
            return hits[:k]
        kept: list[RecallHit] = []
        total = 0
        for hit in hits:
            if len(kept) < k and total + hit.tokens <= max_tokens:
                kept.append(hit)
                total += hit.tokens
        return kept
    return merge_hits(hits, k=k, max_tokens=max_tokens, count=memory._tokenizer.count)


def _hit(row: Sequence[Any], cipher: FieldCipher | None = None) -> RecallHit:
    (item_id, kind, session, seq_from, seq_to, fact_id, text, tokens, occurred_at, config, score,
     vr, tr, similarity, source_key, _, invalid_at, sources) = row  # fmt: skip
    seqs = list(range(seq_from, seq_to + 1)) if seq_from is not None and seq_to is not None else []
    return RecallHit(
        item_id=item_id,
        kind=kind,
        text=text,
        score=float(score),
        tokens=tokens,
        session=session,
        seqs=seqs,
        sources=[_source(session, s, cipher) for s in sources or ()],
        fact_id=fact_id,
        occurred_at=occurred_at,
        vector_rank=vr,
        text_rank=tr,
        similarity=similarity,
        item_ids=[item_id],
        ts_config=config,
        valid_until=invalid_at,
        key=source_key[len(MEMORY_KEY_PREFIX) :] if kind == "memory" else None,
    )


def _source(session: str, row: Sequence[Any], cipher: FieldCipher | None = None) -> SourceMessage:
    seq, message_id, role, created_at, metadata, name, content, tool_calls = row
    content = unseal_content(content, cipher)
    message = Message.model_validate(
        {
            "id": message_id,
            "role": role,
            "name": name,
            "content": content,
            "tool_calls": tool_calls,
        }  # fmt: skip
    )
    return SourceMessage(
        session=session,
        seq=seq,
        id=message_id,
        role=role,
        created_at=created_at,  # ISO text from json: pydantic parses any fraction length
        metadata=metadata,
        text=message_line(message),
    )


async def backfill(
    memory: Any,
    *,
    tenant: str | None = None,
    reembed: bool = True,
    progress: Progress | None = None,
    batch: int = INDEX_BATCH,
) -> dict[str, int]:
    """Index every session, summary and fact not yet indexed, then (``reembed``) embed every
    item without a vector of the current model. Idempotent and resumable: it only ever does
    what is missing, so running it twice, or after an interruption, is safe."""
    store = await memory._ready()
    out = {"sessions": 0, "items_indexed": 0, "items_embedded": 0, "indexes_built": 0}
    before = memory._stats["items_indexed"]
    embedded_before = memory._stats["items_embedded"]
    behind = await store.sessions_behind(tenant)
    for i, key in enumerate(behind):
        while await index_session_once(memory, key):
            pass
        out["sessions"] += 1
        if progress is not None:
            progress("index", i + 1, len(behind))
    users = await store.users_with_unindexed_facts(tenant)
    for i, pair in enumerate(users):
        while await index_facts_once(memory, pair):
            pass
        if progress is not None:
            progress("facts", i + 1, len(users))
    out["items_indexed"] = memory._stats["items_indexed"] - before
    embedder = memory._embedder
    if (
        embedder is not None
        and await vectors_ready(memory)
        and await store.build_vector_index(embedder.dimension)
    ):
        out["indexes_built"] = 1
    if reembed and embedder is not None and await vectors_ready(memory):
        total = await store.count_stale_items(embedder.model_id, tenant)
        after: tuple[str, str, int] = ("", "", 0)
        done = 0
        while True:
            rows = await store.stale_items(
                embedder.model_id, tenant=tenant, after=after, limit=batch
            )
            if not rows:
                break
            done += await embed_items(memory, rows)
            after = rows[-1][:3]
            if progress is not None:
                progress("embed", done, total)
        memory._stale_models = [] if tenant is None else memory._stale_models
    out["items_embedded"] = memory._stats["items_embedded"] - embedded_before
    return out


class AsyncRecallProvider:
    """The ``recalled`` block of a composed context: what the user said before, found by the
    query's meaning, beyond what the summary and the recent turns already hold.

    Args:
        k: Items searched for.
        budget_fraction: Share of the context budget the block may take.
        kinds: Item kinds recalled.
        recency_weight: Passed to the search (0: meaning only).
    """

    name = "recalled"

    def __init__(
        self,
        k: int = 8,
        *,
        budget_fraction: float = 0.25,
        kinds: Collection[str] = RECALL_KINDS,
        recency_weight: float = 0.0,
    ) -> None:
        if not 0 < budget_fraction <= 1:
            raise InvalidInputError("budget_fraction must be in (0, 1]")
        self.k = _check_positive("k", k, 1000)
        self.budget_fraction = budget_fraction
        self.kinds = tuple(kinds)
        self.recency_weight = recency_weight

    async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
        if not request.query or not request.query.strip():
            return None
        memory = request.memory
        store = await memory._ready()
        key = SessionKey(request.tenant, request.user, request.session)
        # the verbatim part of this session (after the summary) is in the context already
        upto, _, _, _ = await store.summary_state(key)
        hits = await recall(
            memory,
            request.tenant,
            request.user,
            request.query,
            k=self.k,
            kinds=self.kinds,
            exclude_after=(request.session, upto),
            recency_weight=self.recency_weight,
            max_tokens=max(1, int(request.budget_tokens * self.budget_fraction)),
        )
        budget = max(1, int(request.budget_tokens * self.budget_fraction))
        count = memory._tokenizer.count
        text = ""
        # headers and separators cost tokens too: drop the last hits until the block fits
        while hits:
            text = "\n\n".join(_hit_text(h) for h in hits)
            if count(text) <= budget:
                break
            hits = hits[:-1]
        if not hits:
            return None
        items = [{"item_ids": hit.item_ids, **hit.provenance} for hit in hits]
        return ContextBlock(
            name="recalled",
            text=text,
            tokens=count(text),
            trim_unit="paragraph",
            metadata={"items": items},
        )

    async def acache_token(self, request: ContextRequest) -> str:
        if not request.query or not request.query.strip():
            return "-"  # no query, no block
        store = await request.memory._ready()
        version = await store.recall_version(request.tenant, request.user)
        return f"{version}:{self.k}:{self.budget_fraction}:{sorted(self.kinds)}"


def _hit_text(hit: RecallHit) -> str:
    """A hit as the recalled block shows it (message spans carry their date line already)."""
    if hit.kind == "message":
        return hit.text
    when = hit.occurred_at.date().isoformat()
    if hit.valid_until is not None:  # a fact that is no longer true says so
        when += f" until {hit.valid_until.date().isoformat()}"
    return f"[{hit.kind}, {when}]\n{hit.text}"
