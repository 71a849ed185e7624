"""Token counting.

:class:`Tokenizer` is what the memory uses to give every stored message its token count.
This module ships an offline estimator; a model's own tokenizer can be plugged in by passing
any object with a ``count(text) -> int`` method.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

__all__ = ["EstimatingTokenizer", "Tokenizer", "default_tokenizer"]


@runtime_checkable
class Tokenizer(Protocol):
    """Counts tokens the way a model bills them."""

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        ...


class EstimatingTokenizer:
    """Offline estimate: about four UTF-8 bytes per token, never less than one per word.

    BPE tokenizers of current OpenAI/Gemini models average 3.5-4.5 bytes per token on English
    and Portuguese prose; counting words as a floor keeps short-word text from being undercounted.
    """

    name = "estimate-4bpt"

    def count(self, text: str) -> int:
        if not text:
            return 0
        by_bytes = math.ceil(len(text.encode("utf-8")) / 4)
        return max(by_bytes, len(text.split()))


def default_tokenizer() -> Tokenizer:
    """The tokenizer used when none is given."""
    return EstimatingTokenizer()
