"""Which messages leave the verbatim buffer and are folded into the running summary (pure).

The summary buffer keeps the newest ``buffer_tokens`` of a session verbatim. Messages are
grouped first: an assistant message that calls tools and the tool results answering it form
one *group*, and a cut may only fall between groups. So a tool call is never separated from
its result, and the verbatim part never starts with an orphan ``tool`` message (the failure
LangMem users report in its issues #98, #111 and #118). Folding waits until at least
``min_fold_tokens`` are ready, so the summarizer runs on chunks, not on every message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Message

__all__ = ["FoldPlan", "group_messages", "plan_fold"]


@dataclass(frozen=True, slots=True)
class FoldPlan:
    """Messages to fold into the summary, and those that stay verbatim."""

    fold: list[Message]
    keep: list[Message]

    @property
    def upto_seq(self) -> int | None:
        """The new ``summary_upto_seq`` once ``fold`` is summarized (None: nothing to fold)."""
        return self.fold[-1].seq if self.fold else None


def group_messages(messages: Sequence[Message]) -> list[list[Message]]:
    """Split messages into groups that must not be separated.

    A group is a single message, or an assistant message with tool calls together with every
    message up to the last tool result answering those calls. Any other ``tool`` message joins
    the group before it, so no group after the first starts with a tool message.
    """
    groups: list[list[Message]] = []
    call_group: dict[str, int] = {}  # tool_call_id -> index of the group that made the call
    for message in messages:
        if message.role == "tool" and groups:
            start = call_group.get(message.tool_call_id or "", len(groups) - 1)
            if start < len(groups) - 1:  # merge everything since the call into its group
                merged = [m for group in groups[start:] for m in group]
                del groups[start:]
                groups.append(merged)
                for call_id, index in call_group.items():
                    if index > start:
                        call_group[call_id] = start
            groups[-1].append(message)
            continue
        groups.append([message])
        for call in message.tool_calls:
            if call.id:
                call_group[call.id] = len(groups) - 1
    return groups


def plan_fold(
    unsummarized: Sequence[Message],
    *,
    buffer_tokens: int,
    min_fold_tokens: int = 0,
    max_fold_tokens: int | None = None,
) -> FoldPlan:
    """Decide what to fold: everything older than the newest ``buffer_tokens`` of whole groups.

    Args:
        unsummarized: The session's messages after ``summary_upto_seq``, in seq order, with
            ``token_count`` set.
        buffer_tokens: Tokens kept verbatim (whole groups; the newest group is always kept).
        min_fold_tokens: Fold nothing until at least this many tokens would be folded.
        max_fold_tokens: Fold at most this many tokens at once (whole groups, at least one),
            so a long backlog goes to the summarizer in chunks; the rest waits for the next
            fold.
    """
    groups = group_messages(unsummarized)
    kept_tokens = 0
    cut = len(groups)
    for i in range(len(groups) - 1, -1, -1):
        tokens = sum(m.token_count or 0 for m in groups[i])
        if cut < len(groups) and kept_tokens + tokens > buffer_tokens:
            break
        kept_tokens += tokens
        cut = i
    if max_fold_tokens is not None:
        taken, tokens = 0, 0
        while taken < cut:
            size = sum(m.token_count or 0 for m in groups[taken])
            if taken and tokens + size > max_fold_tokens:
                break
            tokens += size
            taken += 1
        cut = taken
    fold = [m for group in groups[:cut] for m in group]
    keep = [m for group in groups[cut:] for m in group]
    if not fold or sum(m.token_count or 0 for m in fold) < max(min_fold_tokens, 1):
        return FoldPlan([], list(unsummarized))
    return FoldPlan(fold, keep)
