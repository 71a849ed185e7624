"""Fit context blocks into a token budget (pure, deterministic), and the provider protocol.

:func:`compose` takes the blocks gathered from the providers and returns a
:class:`~langmem_tiered.context.bundle.ContextBundle` whose flattened messages fit the budget.
Blocks are given up by priority, lowest first: a text block loses whole sentences (or lines,
or paragraphs: its ``trim_unit``) from its ``trimmable_from`` side down to its
``min_tokens``, and is dropped when that is 0; a message block loses whole messages from its
trimmable side, an assistant message with tool calls always together with the tool results
that follow it. Only when every block is at its ``min_tokens`` and the budget is still not met
are blocks cut below it, in the same order. The input is never trimmed.

Providers (:class:`BlockProvider`) are registered on the engine; the engine asks each one for
a block and passes them all here, so new kinds of blocks plug in without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..compression.policy import group_messages
from ..errors import InvalidInputError
from ..models import Message
from .bundle import (
    ContextBlock,
    ContextBundle,
    message_tokens,
    section_text,
    split_units,
    text_message_tokens,
)

__all__ = ["BlockProvider", "ContextRequest", "compose", "tool_call_groups"]


@dataclass(frozen=True, slots=True)
class ContextRequest:
    """What a :class:`BlockProvider` is asked for.

    Attributes:
        tenant: Tenant id.
        user: User id.
        session: Session id.
        query: The current input or search query, if any (recall searches by it).
        budget_tokens: The budget of the whole bundle (a provider may aim well below it).
        memory: The engine asking (``AsyncTieredMemory`` for ``aprovide``, ``TieredMemory``
            for ``provide``), for providers that read the store.
    """

    tenant: str
    user: str
    session: str
    query: str | None
    budget_tokens: int
    memory: Any = field(default=None, repr=False, compare=False)


@runtime_checkable
class BlockProvider(Protocol):
    """Supplies one block of the context (facts, handover, recall...).

    The engine's async code calls :meth:`aprovide`, its generated sync twin :meth:`provide`;
    a provider implements both (one may simply call the other's logic). Returning None means
    "nothing to add this time". The returned block's ``tokens`` need not be exact: the
    composer recounts.

    Composed contexts are cached only if every provider also has ``acache_token(request)`` /
    ``cache_token(request)`` returning a string that changes whenever its block would (e.g.
    the version of the user's facts); without it, or when it returns None, the engine composes
    afresh every time.
    """

    name: str

    async def aprovide(self, request: ContextRequest) -> ContextBlock | None:
        """Return this provider's block for ``request``, or None."""
        ...

    def provide(self, request: ContextRequest) -> ContextBlock | None:
        """Blocking twin of :meth:`aprovide`."""
        ...


def tool_call_groups(messages: Sequence[Message]) -> tuple[int, list[list[Message]]]:
    """Split messages into the units a window may be cut between.

    Units are :func:`langmem_tiered.compression.policy.group_messages`: an assistant message
    with tool calls and everything up to the last result answering those calls form one unit,
    other tool messages join the unit before them, and no unit starts with a tool message.

    Args:
        messages: Messages in conversation order.

    Returns:
        The number of leading ``tool`` messages that belong to no unit (their assistant message
        is not in ``messages``), and the units.
    """
    orphans = 0
    while orphans < len(messages) and messages[orphans].role == "tool":
        orphans += 1
    # The same grouping as the summary buffer's cut: an assistant message with tool calls
    # stays with every message up to the last result answering it (matched by tool_call_id).
    groups = group_messages(messages[orphans:])
    return orphans, groups


class _Work:
    """A block being fitted: its units and the range of them still kept."""

    __slots__ = ("block", "group_tokens", "groups", "hi", "lo", "n", "orphans", "texts")

    def __init__(
        self,
        block: ContextBlock,
        *,
        texts: list[str] | None = None,
        groups: list[list[Message]] | None = None,
        group_tokens: list[int] | None = None,
        orphans: int = 0,
    ) -> None:
        self.block = block
        self.texts = texts
        self.groups = groups
        self.group_tokens = group_tokens or []
        self.orphans = orphans
        self.n = len(texts) if texts is not None else len(groups or [])
        self.lo = 0
        self.hi = self.n

    @property
    def kept(self) -> int:
        return self.hi - self.lo

    def keep(self, k: int, lo0: int, hi0: int) -> None:
        """Keep ``k`` units of ``[lo0, hi0)``, dropping from the trimmable side."""
        if self.block.trimmable_from == "end":
            self.lo, self.hi = lo0, lo0 + k
        else:
            self.lo, self.hi = hi0 - k, hi0

    def text(self) -> str:
        assert self.texts is not None
        return "".join(self.texts[self.lo : self.hi]).strip()

    def messages(self) -> list[Message]:
        assert self.groups is not None
        return [m for group in self.groups[self.lo : self.hi] for m in group]

    def messages_tokens(self) -> int:
        return sum(self.group_tokens[self.lo : self.hi])


class _Fitter:
    def __init__(
        self, work: list[_Work], count: Callable[[str], int], budget: int, overhead: int
    ) -> None:
        self.work = work
        self._count = count
        self._memo: dict[str, int] = {}
        self.budget = budget
        self.overhead = overhead

    def count(self, text: str) -> int:
        value = self._memo.get(text)
        if value is None:
            value = self._memo[text] = self._count(text)
        return value

    def block_tokens(self, w: _Work) -> int:
        """Tokens of a block as reported in the bundle (text only, or messages with overhead)."""
        if w.groups is not None:
            return w.messages_tokens()
        if w.block.name == "input":
            return self.count(w.block.text or "")
        return self.count(w.text())

    def total(self) -> int:
        """Tokens of the flattened messages for the current state (as ``flatten_blocks``)."""
        total = 0
        sections = []
        for w in self.work:
            if w.groups is not None:
                total += w.messages_tokens()
            elif w.block.name == "input":
                assert w.block.text is not None
                total += text_message_tokens("user", w.block.text, self.count, self.overhead)
            else:
                section = section_text(w.block, w.text())
                if section:
                    sections.append(section)
        if sections:
            text = "\n\n".join(sections)
            total += text_message_tokens("system", text, self.count, self.overhead)
        return total

    def shrink(self, w: _Work, honour_min: bool) -> None:
        """Give up as much of ``w`` as needed (or as allowed) to meet the budget.

        Called only while the total is over budget. Keeps the largest number of units that
        fits; if none fits, keeps the fewest allowed (not below ``min_tokens`` when honoured).
        """
        lo0, hi0 = w.lo, w.hi
        n = hi0 - lo0
        if n == 0:
            return
        minimum = w.block.min_tokens if honour_min else 0

        def tokens_at(k: int) -> int:
            w.keep(k, lo0, hi0)
            return self.block_tokens(w)

        def fits(k: int) -> bool:
            w.keep(k, lo0, hi0)
            return self.total() <= self.budget

        if minimum <= 0:
            k_min = 0
        elif tokens_at(n) < minimum:
            k_min = n
        else:
            # Fewest units whose tokens reach the minimum; `hi` is always a tested success.
            lo, hi = 1, n
            while lo < hi:
                mid = (lo + hi) // 2
                if tokens_at(mid) >= minimum:
                    hi = mid
                else:
                    lo = mid + 1
            k_min = hi
        if k_min >= n or not fits(k_min):
            w.keep(k_min, lo0, hi0)
            return
        # fits(k_min) is true and fits(n) is false: keep the most units that fit.
        good, bad = k_min, n
        while bad - good > 1:
            mid = (good + bad) // 2
            if fits(mid):
                good = mid
            else:
                bad = mid
        w.keep(good, lo0, hi0)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {value}")
    return value


def compose(
    blocks: Sequence[ContextBlock],
    *,
    budget_tokens: int,
    count: Callable[[str], int],
    full_history_tokens: int,
    overhead_per_message: int = 3,
) -> ContextBundle:
    """Fit blocks into ``budget_tokens`` and return the bundle (pure and deterministic).

    Blocks are put in bundle order whatever order they come in. Empty blocks are left out.
    Leading ``tool`` messages of a message block (other than ``input``) whose assistant
    message is not in the block are dropped, so a window never starts with an orphan tool
    result. Then, while the flattened messages exceed the budget, blocks are given up lowest
    priority first (see the module docstring). Every block's ``tokens`` is recounted.

    Args:
        blocks: The blocks; names must be unique.
        budget_tokens: Most tokens the flattened messages may take, per-message overhead
            included.
        count: The tokenizer's ``count(text) -> int``.
        full_history_tokens: Tokens of the whole history, counted the same way (sum of
            :func:`~langmem_tiered.context.bundle.message_tokens`); gives ``tokens_saved``.
        overhead_per_message: Tokens the chat format adds per message.

    Returns:
        The bundle; ``bundle.count_tokens(count) == bundle.total_tokens <= budget_tokens``.

    Raises:
        InvalidInputError: duplicate block names, a negative or non-integer number, or an
            input block that alone exceeds the budget.
    """
    budget = _check_int("budget_tokens", budget_tokens, 1)
    full = _check_int("full_history_tokens", full_history_tokens, 0)
    overhead = _check_int("overhead_per_message", overhead_per_message, 0)
    seen: set[str] = set()
    for block in blocks:
        if not isinstance(block, ContextBlock):
            raise InvalidInputError(f"blocks must be ContextBlock, not {type(block).__name__}")
        if block.name in seen:
            raise InvalidInputError(f"two blocks are named {block.name!r}")
        seen.add(block.name)

    notes: list[str] = []
    work: list[_Work] = []
    fitter = _Fitter(work, count, budget, overhead)
    for block in sorted(blocks, key=lambda b: b.sort_key):
        if block.is_empty:
            continue
        if block.messages is not None:
            if block.name == "input":
                orphans, groups = 0, [list(block.messages)]
            else:
                orphans, groups = tool_call_groups(block.messages)
                if orphans:
                    notes.append(
                        f"{block.name}: dropped {orphans} leading tool message(s) whose tool "
                        "call is not in the block"
                    )
                if not groups:
                    continue
            group_tokens = [
                sum(message_tokens(m, fitter.count, overhead) for m in group) for group in groups
            ]
            work.append(_Work(block, groups=groups, group_tokens=group_tokens, orphans=orphans))
        else:
            assert block.text is not None
            units = (
                [block.text] if block.name == "input" else split_units(block.text, block.trim_unit)
            )
            work.append(_Work(block, texts=units))

    inputs = [w for w in work if w.block.name == "input"]
    if inputs:
        w = inputs[0]
        need = (
            w.messages_tokens()
            if w.groups is not None
            else text_message_tokens("user", w.block.text or "", fitter.count, overhead)
        )
        if need > budget:
            raise InvalidInputError(
                f"the input alone takes {need} tokens; the budget is {budget_tokens}"
            )

    candidates = sorted(
        (w for w in work if w.block.name != "input"),
        key=lambda w: (w.block.priority, w.block.sort_key),
    )
    before = {id(w): (w.n, fitter.block_tokens(w)) for w in candidates}
    for honour_min in (True, False):
        for w in candidates:
            if fitter.total() <= budget:
                break
            fitter.shrink(w, honour_min)

    for w in candidates:
        n0, tokens0 = before[id(w)]
        if w.kept == n0:
            continue
        block = w.block
        why = f"(priority {block.priority}) to fit the budget of {budget} tokens"
        if w.kept == 0 or (w.groups is None and not w.text()):
            notes.append(f"{block.name}: dropped ({tokens0} tokens) {why}")
            continue
        now = fitter.block_tokens(w)
        if w.groups is not None:
            all_messages = sum(len(g) for g in w.groups)
            what = f"{all_messages - len(w.messages())} of {all_messages} messages"
        else:
            what = f"{n0 - w.kept} of {n0} {block.trim_unit}s"
        note = (
            f"{block.name}: trimmed {what} from the {block.trimmable_from} "
            f"({tokens0} -> {now} tokens) {why}"
        )
        if now < block.min_tokens:
            note += f"; below its min_tokens of {block.min_tokens}, the budget left no room"
        notes.append(note)

    kept_blocks: list[ContextBlock] = []
    for w in work:
        block = w.block
        update: dict[str, Any] = {"tokens": fitter.block_tokens(w)}
        if w.groups is not None:
            if w.kept == 0:
                continue
            if w.kept != w.n or w.orphans:
                update["messages"] = w.messages()
        elif block.name != "input":
            text = w.text()
            if not text:
                continue
            if w.kept != w.n:
                update["text"] = text
        kept_blocks.append(block.model_copy(update=update))

    total = fitter.total()
    bundle = ContextBundle(
        blocks=kept_blocks,
        budget_tokens=budget,
        total_tokens=total,
        full_history_tokens=full,
        tokens_saved=max(0, full - total),
        dropped=notes,
        overhead_per_message=overhead,
    )
    recount = bundle.count_tokens(fitter.count)  # same strings, so memoized counts
    if recount != total or recount > budget:  # a bug here, never the caller's fault
        raise AssertionError(
            f"composed context takes {recount} tokens (computed {total}); budget {budget}"
        )
    return bundle
