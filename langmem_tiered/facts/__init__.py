"""Temporal facts: the data model, the extractor protocol, its prompt, and the offline extractor.

A fact is a value of a snake_case key about a user, valid over ``[valid_at, invalid_at)``.
Extractors (:class:`FactExtractor`) turn new messages into :class:`FactOperation` objects
(ADD, UPDATE, INVALIDATE, NONE) with their provenance; the store applies them and returns
:class:`Fact` rows. :class:`RuleBasedExtractor` is the offline extractor for Portuguese,
English and Spanish; an LLM-backed extractor sends :func:`render_fact_prompt` with
:data:`FACT_EXTRACTION_SCHEMA` and reads the answer with :func:`parse_fact_operations`.
Everything here is pure: no I/O.
"""

from .model import DEFAULT_MULTI_VALUED_KEYS, Fact, FactOp, FactOperation
from .prompts import (
    FACT_EXTRACTION_SCHEMA,
    FACT_PROMPT_VERSION,
    parse_fact_operations,
    render_fact_prompt,
)
from .protocol import FactExtractor
from .rules import RuleBasedExtractor

__all__ = [
    "DEFAULT_MULTI_VALUED_KEYS",
    "FACT_EXTRACTION_SCHEMA",
    "FACT_PROMPT_VERSION",
    "Fact",
    "FactExtractor",
    "FactOp",
    "FactOperation",
    "RuleBasedExtractor",
    "parse_fact_operations",
    "render_fact_prompt",
]
