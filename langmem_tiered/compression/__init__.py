"""Compression: the summary buffer's summarizers and their prompts.

:class:`Summarizer` is the protocol the engine calls to fold old turns into a session's running
summary; :class:`ExtractiveSummarizer` is the offline default; :func:`render_summary_prompt`
builds the vertical-aware prompt an LLM summarizer sends to its model.
"""

from .extractive import ExtractiveSummarizer
from .prompts import SUMMARY_PROMPT_VERSION, VERTICALS, render_summary_prompt
from .protocol import Summarizer

__all__ = [
    "SUMMARY_PROMPT_VERSION",
    "VERTICALS",
    "ExtractiveSummarizer",
    "Summarizer",
    "render_summary_prompt",
]
