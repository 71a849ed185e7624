"""Pure model checks: ids, key encoding, JSON validation (no services)."""

from __future__ import annotations

import itertools

import pytest

from langmem_tiered import InvalidIdError, Message, SessionKey
from langmem_tiered.models import check_id, json_dumps, json_loads, messages_from_json_items

IDS = ["a", "b", "a:b", "b:c", ":", "%", "%3A", "{", "}", "{a}", "ç", "日本", "a b", "*", "a%3Ab"]


def test_key_tags_are_injective() -> None:
    tags = {}
    for t, u, s in itertools.product(IDS, repeat=3):
        tag = SessionKey(t, u, s).tag
        assert tag not in tags, (tags.get(tag), (t, u, s))
        assert "{" not in tag and "}" not in tag and tag.count(":") == 2
        tags[tag] = (t, u, s)


@pytest.mark.parametrize("bad", ["", "x" * 257, "\x00", "a\tb", "\ud800", "\x7f", 1, b"bytes"])
def test_check_id_rejects(bad: object) -> None:
    with pytest.raises(InvalidIdError):
        check_id("tenant", bad)


def test_check_id_accepts_unicode_and_punctuation() -> None:
    for ok in ["ação", "a:b", "{x}", "x" * 256, "🙂"]:
        assert check_id("tenant", ok) == ok


def test_json_helpers_keep_big_ints_and_order() -> None:
    value = {"z": 2**80, "a": [1.5, None, "ç"]}
    assert json_loads(json_dumps(value)) == value
    assert list(json_loads(json_dumps(value))) == ["z", "a"]


def test_batch_decode_matches_single() -> None:
    items = [Message(role="user", content=str(i), seq=i) for i in range(1, 4)]
    decoded = messages_from_json_items([m.to_json() for m in items])
    assert decoded == items
    assert messages_from_json_items([]) == []


def test_text_of_structured_content() -> None:
    m = Message(
        role="user", content=[{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}]
    )
    assert m.text == "a\nb"
