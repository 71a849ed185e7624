"""Context composition: named blocks fitted into one token budget (pure, no I/O).

The engine gathers blocks (its own ``system``, ``state``, ``summary`` and ``recent``, plus one
from each registered :class:`BlockProvider`) and calls :func:`compose`, which returns a
:class:`ContextBundle` that flattens to chat messages or text.
"""

from .bundle import (
    BLOCK_ORDER,
    ContextBlock,
    ContextBundle,
    flatten_blocks,
    message_tokens,
    render_message,
)
from .compose import BlockProvider, ContextRequest, compose, tool_call_groups

__all__ = [
    "BLOCK_ORDER",
    "BlockProvider",
    "ContextBlock",
    "ContextBundle",
    "ContextRequest",
    "compose",
    "flatten_blocks",
    "message_tokens",
    "render_message",
    "tool_call_groups",
]
