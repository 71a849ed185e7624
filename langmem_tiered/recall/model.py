"""Pure data of semantic recall: what a search returns, and where each hit came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RECALL_KINDS", "RecallHit", "RecallKind", "SourceMessage"]

RecallKind = Literal["message", "summary", "fact", "memory"]
RECALL_KINDS: tuple[str, ...] = ("message", "summary", "fact", "memory")
"""``memory``: a long-term memory written by key (``user.put_memory``, the LangGraph store)."""


class SourceMessage(BaseModel):
    """One message a recall hit was made from (its provenance)."""

    model_config = ConfigDict(frozen=True)

    session: str
    seq: int
    id: str
    role: str
    created_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    text: str = ""
    """The turn as recall shows it: ``speaker: text``."""


class RecallHit(BaseModel):
    """One recalled item, best first in a result list.

    Attributes:
        item_id: The recall item's id (stable while the item exists); for hits merged from
            overlapping spans, the best-ranked one's (all are in ``item_ids``).
        kind: ``message`` (a span of turns), ``summary`` (a running-summary snapshot) or
            ``fact``.
        text: What the item says; what a prompt would include.
        score: Fused score (reciprocal-rank fusion of the vector and full-text rankings, plus
            recency when asked); comparable within one result list only.
        tokens: Token count of ``text``.
        session: The session the item comes from (None for a fact stated outside sessions).
        seqs: Seqs of the source messages in that session (a summary: the range it folded; a
            fact: the messages it was read from; empty for a fact asserted through the API).
        sources: The source messages themselves (id, role, time, metadata) when they still
            exist; a fact's or summary's sources are given as far as the messages are kept.
        fact_id: The fact row of a ``fact`` hit.
        occurred_at: When the source was said (or the fact became true).
        vector_rank: 1-based rank in the vector ranking, None if not in it.
        text_rank: 1-based rank in the full-text ranking, None if not in it.
        similarity: Cosine similarity to the query (None if not in the vector ranking).
        item_ids: Every item the hit was merged from (overlapping spans of one session).
        ts_config: Text-search configuration (language) of the item.
        valid_until: For a fact that is no longer true, when it stopped being true (the
            user's current facts are ``facts()``; fact items keep the history searchable).
    """

    model_config = ConfigDict(frozen=True)

    item_id: int
    kind: RecallKind
    text: str
    score: float
    tokens: int
    session: str | None
    seqs: list[int]
    sources: list[SourceMessage] = Field(default_factory=list)
    fact_id: int | None = None
    occurred_at: datetime
    vector_rank: int | None = None
    text_rank: int | None = None
    similarity: float | None = None
    item_ids: list[int] = Field(default_factory=list)
    ts_config: str = "simple"
    valid_until: datetime | None = None
    key: str | None = None
    """For a ``memory`` item, the key it was written under."""

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the hit came from, as plain data: session, seqs, message ids and metadata."""
        found = {
            "kind": self.kind,
            "session": self.session,
            "seqs": list(self.seqs),
            "message_ids": [s.id for s in self.sources],
            "metadata": [dict(s.metadata) for s in self.sources],
            "fact_id": self.fact_id,
        }
        if self.kind == "memory":
            found["key"] = self.key
        return found
