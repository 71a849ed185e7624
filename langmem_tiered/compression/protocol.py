"""The :class:`Summarizer` protocol: what the summary buffer calls to fold old turns.

The summary buffer folds the oldest unsummarized messages of a session into its running summary
*incrementally*: a summarizer receives the previous summary and only the new chunk of messages,
and returns the complete updated summary. It never sees the whole history again, so the cost of
one fold does not grow with the length of the session.

Any object with the right shape is a summarizer (structural typing): the offline
:class:`~langmem_tiered.compression.extractive.ExtractiveSummarizer` shipped with the package,
or an adapter around a LangChain chat model or a LlamaIndex LLM that sends
:func:`~langmem_tiered.compression.prompts.render_summary_prompt` to the model. The engine's
async code awaits :meth:`Summarizer.asummarize`; its generated sync twin calls
:meth:`Summarizer.summarize`, so an implementation provides both (an offline one may simply
have ``asummarize`` call ``summarize``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..models import Message

__all__ = ["Summarizer"]


@runtime_checkable
class Summarizer(Protocol):
    """Turns ``(previous summary, new messages, vertical)`` into an updated summary.

    Attributes:
        name: A short, stable identifier of the implementation and its model (e.g.
            ``"extractive"`` or ``"openai:gpt-4o-mini"``), recorded beside each summary so a
            summary can be traced to what wrote it.

    Implementations must:

    * return the *complete* updated summary (not a delta), in the conversation's language;
    * keep what the vertical says must survive (see
      :data:`~langmem_tiered.compression.prompts.VERTICAL_GUIDES`) and stay within
      ``max_tokens`` when it is given;
    * raise :class:`~langmem_tiered.errors.InvalidInputError` for an unknown vertical
      (:func:`~langmem_tiered.compression.prompts.check_vertical` does the check);
    * not modify ``messages``: the originals are never changed by summarizing.
    """

    name: str

    def summarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        """Return the updated summary (blocking).

        Args:
            previous_summary: The running summary so far; ``""`` for the first fold.
            messages: The new messages to fold in, oldest first. A tool call and its results
                are always in the same chunk.
            vertical: Which facts must survive: ``generic``, ``medical``, ``dental``,
                ``legal`` or ``retail``.
            max_tokens: Upper bound for the summary's length in tokens; ``None`` leaves the
                choice to the implementation.

        Returns:
            The new summary text, replacing ``previous_summary``.

        Raises:
            InvalidInputError: ``vertical`` is unknown or ``max_tokens`` is not positive.
        """
        ...

    async def asummarize(
        self,
        previous_summary: str,
        messages: Sequence[Message],
        vertical: str = "generic",
        *,
        max_tokens: int | None = None,
    ) -> str:
        """Async twin of :meth:`summarize`, with the same parameters and result."""
        ...
