"""Retrievers over the tiered store: the user's temporal facts and recall, with provenance in
node metadata (for ``ContextChatEngine``, query engines...)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from langmem_tiered import Session

from ._config import TieredConfig

__all__ = ["TieredFactsRetriever", "TieredRecallRetriever"]


class _Base(BaseRetriever):
    def __init__(self, *, session: str = "default", **fields: Any) -> None:
        super().__init__()
        self.config = TieredConfig(**fields)
        self.config._check_ids(session)
        self.session = session

    def _sync(self) -> Session:
        c = self.config
        return c._sync_memory().session(c.tenant, c.user, self.session)

    def _async(self) -> Any:  # an AsyncSession run on the runner loop
        return self.config._async_session(self.session)


def _fact_node(fact: Any) -> NodeWithScore:
    value = fact.value if isinstance(fact.value, str) else json.dumps(fact.value)
    metadata = {
        "kind": "fact",
        "fact_id": fact.id,
        "key": fact.key,
        "valid_at": fact.valid_at.isoformat(),
        "invalid_at": fact.invalid_at.isoformat() if fact.invalid_at else None,
        "source_session": fact.source_session,
        "source_seq_from": fact.source_seq_from,
        "source_seq_to": fact.source_seq_to,
        "confidence": fact.confidence,
    }
    node = TextNode(text=f"{fact.key}: {value}", id_=f"fact-{fact.id}", metadata=metadata)
    return NodeWithScore(node=node, score=float(fact.confidence))


class TieredFactsRetriever(_Base):
    """The user's facts (current, or true at ``as_of``) whose key or value shares a word with
    the query (all facts for an empty query), as nodes with their validity interval."""

    def __init__(
        self, *, session: str = "default", as_of: datetime | None = None, **fields: Any
    ) -> None:
        super().__init__(session=session, **fields)
        self.as_of = as_of

    @staticmethod
    def _match(query: str, nodes: list[NodeWithScore]) -> list[NodeWithScore]:
        words = {w for w in query.lower().replace("_", " ").split() if len(w) > 2}
        if not words:
            return nodes
        hits = [
            n for n in nodes if words & set(n.node.get_content().lower().replace("_", " ").split())
        ]
        return hits or nodes

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        facts = self._sync().facts(self.as_of)
        return self._match(query_bundle.query_str, [_fact_node(f) for f in facts])

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        facts = await self._async().facts(self.as_of)
        return self._match(query_bundle.query_str, [_fact_node(f) for f in facts])


def _hit_node(hit: Any) -> NodeWithScore:
    metadata = {
        "kind": hit.kind,
        "item_id": hit.item_id,
        "session": hit.session,
        "seqs": list(hit.seqs),
        "fact_id": hit.fact_id,
        "occurred_at": hit.occurred_at.isoformat() if hit.occurred_at else None,
        "source_ids": [s.id for s in hit.sources],
    }
    node = TextNode(text=hit.text, id_=f"recall-{hit.item_id}", metadata=metadata)
    return NodeWithScore(node=node, score=float(hit.score))


class TieredRecallRetriever(_Base):
    """Hybrid recall over what the user said before (``scope="user"``: all sessions)."""

    def __init__(
        self, *, session: str = "default", k: int = 5, scope: str = "user", **fields: Any
    ) -> None:
        super().__init__(session=session, **fields)
        self.k = k
        self.scope = scope

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._sync().recall(query_bundle.query_str, self.k, scope=self.scope)
        return [_hit_node(h) for h in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self._async().recall(query_bundle.query_str, self.k, scope=self.scope)
        return [_hit_node(h) for h in hits]
