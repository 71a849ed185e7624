"""The :class:`FactExtractor` protocol: what the engine calls to turn messages into facts.

Extraction runs in the background after appends, in batches: an extractor receives the new
messages of a session (oldest first) and the user's current facts, and returns the
:class:`~langmem_tiered.facts.model.FactOperation` objects that bring the facts up to date,
each carrying its provenance (the seqs of the messages it came from). The store applies a
batch atomically.

Any object with the right shape is an extractor (structural typing): the offline
:class:`~langmem_tiered.facts.rules.RuleBasedExtractor` shipped with the package, or an adapter
that sends :func:`~langmem_tiered.facts.prompts.render_fact_prompt` to an LLM with
:data:`~langmem_tiered.facts.prompts.FACT_EXTRACTION_SCHEMA` as its structured output and
reads the answer with :func:`~langmem_tiered.facts.prompts.parse_fact_operations`. The engine's
async code awaits :meth:`FactExtractor.aextract`; its generated sync twin calls
:meth:`FactExtractor.extract`, so an implementation provides both (an offline one may simply
have ``aextract`` call ``extract``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..models import Message
from .model import Fact, FactOperation

__all__ = ["FactExtractor"]


@runtime_checkable
class FactExtractor(Protocol):
    """Turns ``(new messages, current facts)`` into fact operations.

    Attributes:
        name: A short, stable identifier of the implementation and its model (``"rules"``,
            ``"openai:gpt-4o-mini"``), recorded as ``created_by`` of the facts it asserts.

    Implementations must:

    * process ``messages`` in order, so that a later message wins over an earlier one in the
      same batch (``ADD`` morning, then ``UPDATE`` afternoon);
    * choose the op against ``current`` and against what earlier messages of the batch
      established: ``ADD`` for a new key (or a new value of a multi-valued key), ``UPDATE``
      for a changed single-valued key, ``INVALIDATE`` for a retraction; a value equal to the
      current one needs no operation (or ``NONE``);
    * set ``source_seqs`` to the seqs of the messages each operation came from;
    * never invent: no operation without a message that states it;
    * not modify ``messages`` or ``current``.
    """

    name: str

    def extract(self, messages: Sequence[Message], current: Sequence[Fact]) -> list[FactOperation]:
        """Return the operations the messages imply (blocking).

        Args:
            messages: New messages of one session, oldest first.
            current: The user's current facts (facts with ``invalid_at`` set are ignored).

        Returns:
            The operations, in the order they should be applied.
        """
        ...

    async def aextract(
        self, messages: Sequence[Message], current: Sequence[Fact]
    ) -> list[FactOperation]:
        """Async twin of :meth:`extract`, with the same parameters and result."""
        ...
