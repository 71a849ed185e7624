"""Tenant isolation fuzzed with hypothesis (issue 8), on real Postgres and both hot tiers.

Each example builds two or three distinct but confusable identities ``(tenant, user,
session)``: one id a prefix of another, ``_`` vs ``-``, ``%`` vs ``%25``, ``:`` vs ``%3A``,
glob characters (``*``, ``?``, ``[a]``) vs the text they match, ``{}`` (the Redis hash tag),
case, NFC vs NFD of the same text, ids at the 256-character limit, and a ``:`` that moves
between tenant and user. Every identity writes its own secret markers (messages, state, facts
through the session and the user, a long-term memory, content-cache entries) and then every read
(messages, recent, state, context, facts, recall, search_facts, the content cache and its export,
cache namespaces, the hot tier's user keys) is checked: a marker may come back only to the
identity that owns it. A clear and an erasure of one identity leave the others intact, and the
erased one's proof is clean. On Redis every key of the test prefix must parse back, by its
percent-encoded hash tag, to exactly one identity that wrote it.

Ids that ``check_id`` rejects (empty, over 256 characters, control characters, lone surrogates,
not a string) raise ``InvalidIdError`` at every entry point and write nothing.

Markers are registered for the whole test function (one schema and prefix per function), so a
marker of an earlier example that surfaces under another identity fails too.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import psycopg
import pytest
import redis as redis_py
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from langmem_tiered import AsyncTieredMemory, InvalidIdError, TieredMemory
from langmem_tiered.models import MAX_ID_LENGTH, check_id

Identity = tuple[str, str, str]

# -- strategies ------------------------------------------------------------------------------

_CONTROL = "".join(chr(i) for i in range(32)) + "\x7f"
_HOSTILE = [
    ":", "{", "}", "%", "_", "-", "*", "?", "[", "]", "\\", " ", "~", "/", "#", ".", "'", '"',
    "%25", "%3A", "%7B", "%7D", "a", "A", "b", "0", "é", "e\u0301", "ß", "İ", "ı", "😀",
    "\u200b", "\ufeff", "\u0085", "\u00a0", "ção",
]  # fmt: skip
# any character check_id accepts: valid UTF-8 (no lone surrogate), no C0 control, no DEL
_ANY_CHAR = st.characters(codec="utf-8", exclude_characters=_CONTROL)
_ATOM = st.one_of(st.sampled_from(_HOSTILE), _ANY_CHAR)
_PIECE = st.lists(_ATOM, max_size=5).map("".join)
_BASE = st.lists(_ATOM, min_size=1, max_size=6).map("".join)
_KINDS = (
    "prefix",
    "underscore",
    "percent",
    "colon",
    "brace",
    "glob",
    "case",
    "unicode",
    "long",
)


@st.composite
def confusable_pair(draw: st.DrawFn) -> tuple[str, str]:
    """Two distinct valid ids that a careless encoding, pattern or comparison would confuse."""
    kind = draw(st.sampled_from(_KINDS))
    p, q = draw(_PIECE), draw(_PIECE)
    if kind == "prefix":
        a = draw(_BASE)
        b = a + draw(st.sampled_from([":", "{", "}", "%", "_", "-", "*", "%3A", ""])) + draw(_BASE)
    elif kind == "underscore":
        a, b = p + "_" + q, p + "-" + q
    elif kind == "percent":
        a, b = p + "%" + q, p + "%25" + q
    elif kind == "colon":
        a, b = p + ":" + q, p + "%3A" + q
    elif kind == "brace":
        a, b = p + "{" + q + "}", draw(st.sampled_from([p + q, p + "%7B" + q + "%7D", p + "}" + q]))
    elif kind == "glob":
        a = p + draw(st.sampled_from(["*", "?", "[a]", "[!b]", "\\a", "[a-z]"])) + q
        b = p + "a" + q
    elif kind == "case":
        a = p + draw(st.sampled_from(["aB", "straße", "İx", "ǅ"])) + q
        b = draw(st.sampled_from([a.swapcase(), a.upper(), a.lower(), a.casefold()]))
    elif kind == "unicode":
        text = p + draw(st.sampled_from(["é", "ção", "Å", "ñ", "한"])) + q
        a, b = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    else:  # ids at the limit: same text, one character shorter or different at the very end
        unit = draw(_BASE)
        a = (unit * (MAX_ID_LENGTH // len(unit) + 1))[:MAX_ID_LENGTH]
        b = draw(st.sampled_from([a[:-1], a[:-1] + ("x" if a[-1] != "x" else "y")]))
    a, b = a[:MAX_ID_LENGTH] or "x", b[:MAX_ID_LENGTH] or "x"
    assume(a != b)
    return a, b


@st.composite
def identities(draw: st.DrawFn) -> list[Identity]:
    """Two or three distinct (tenant, user, session) triples, confusable in at least one part."""
    if draw(st.integers(0, 4)) == 0:  # a ':' that moves between tenant and user
        x, y, z = draw(_BASE), draw(_BASE), draw(_BASE)
        sep = draw(st.sampled_from([":", "%3A", "}:{"]))
        s = draw(_BASE)
        return [(x + sep + y, z, s), (x, y + sep + z, s)]
    confused = draw(st.sets(st.sampled_from(["tenant", "user", "session"]), min_size=1))
    parts: list[tuple[str, ...]] = []
    for part in ("tenant", "user", "session"):
        parts.append(draw(confusable_pair()) if part in confused else (draw(_BASE),))
    combos = list(itertools.product(*parts))
    return draw(st.lists(st.sampled_from(combos), min_size=2, max_size=3, unique=True))


_INVALID_ID = st.one_of(
    st.just(""),
    st.text(_ANY_CHAR, min_size=MAX_ID_LENGTH + 1, max_size=MAX_ID_LENGTH + 40),
    st.builds(lambda a, c, b: a + c + b, _PIECE, st.sampled_from(list(_CONTROL)), _PIECE),
    st.builds(lambda a, c, b: a + c + b, _PIECE, st.characters(categories=["Cs"]), _PIECE),
    st.sampled_from([None, 7, 1.5, b"tenant", ["t"], ("t",)]),
)

FUZZ = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Fixed cases that always run (besides the random ones).
_FIXED: list[list[Identity]] = [
    [("a:b", "c", "s"), ("a", "b:c", "s"), ("a%3Ab", "c", "s")],
    [("t", "ana", "s"), ("t", "ana_b", "s"), ("t", "ana-b", "s")],
    [("t%", "u", "s"), ("t%25", "u", "s"), ("t*", "u", "s")],
    [("{t}", "u", "s"), ("t", "u", "s"), ("{t", "}u", "s")],
    [("caf\u00e9", "u", "s"), ("cafe\u0301", "u", "s"), ("CAFÉ", "u", "s")],
    [("é" * MAX_ID_LENGTH, "😀" * MAX_ID_LENGTH, "s"), ("é" * 255, "😀" * MAX_ID_LENGTH, "s")],
]


# -- the scenario (one body for the sync and the async API) ----------------------------------

_MARKER = re.compile(r"lmk[0-9a-f]{16}")


async def _r(value: Any) -> Any:
    """Await what the async API returns; pass the sync API's results through."""
    return await value if inspect.isawaitable(value) else value


@dataclass
class Ledger:
    """What one test function wrote, across its examples (one schema and prefix each)."""

    owner: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    sessions: set[Identity] = field(default_factory=set)
    namespaces: dict[str, set[str]] = field(default_factory=dict)
    examples: itertools.count[int] = field(default_factory=itertools.count)

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"Ledger({len(self.owner)} markers, {len(self.sessions)} sessions)"

    def marker(self, level: str, owner: tuple[str, ...]) -> str:
        value = "lmk" + secrets.token_hex(8)
        self.owner[value] = (level, owner)
        return value

    def check(self, text: str, view: str, who: tuple[str, ...], what: str) -> set[str]:
        """Every marker in ``text`` (read as ``who`` through a ``view``) belongs to ``who``."""
        found = set(_MARKER.findall(text))
        for marker in found:
            assert marker not in self.erased, f"{what} of {who!r} returned erased {marker}"
            assert marker in self.owner, f"{what} of {who!r} returned an unknown marker"
            level, owner = self.owner[marker]
            if view == "session":  # the session's own history and state
                ok = level == "session" and owner == who
            elif view == "user":  # facts, recall, context: all of the user's sessions
                ok = level in ("session", "user") and owner[:2] == who[:2]
            else:  # a content cache (tenant, namespace)
                ok = level == "cache" and owner == who
            assert ok, f"{what} of {who!r} returned {marker} of {level} {owner!r}"
        return found


@dataclass
class Written:
    said: str
    messages: list[str]
    state: str
    session_fact: str


def _tagged(n: int, ids: list[Identity]) -> list[Identity]:
    """Session ids unique to the example, keeping the prefix relations and the 256 limit."""
    tag = f"x{n}~"
    out = []
    for t, u, s in ids:
        s = tag + s if len(tag) + len(s) <= MAX_ID_LENGTH else tag + s[len(tag) :]
        out.append((t, u, s))
    return out


def _parse_hot_name(name: str, prefix: str | None) -> tuple[str, tuple[str, ...]]:
    """``(kind, ids)`` of a hot-tier key: a Redis key (``prefix`` given) or an in-process name.

    The ids are the percent-encoded parts of the hash tag; each must be the canonical encoding
    of its decoded id, so one key can only ever name one identity.
    """
    if prefix is None:  # InProcessTier.user_keys: "session:<tag>" or "cc:<t>:<ns>:<digest>"
        kind, _, rest = name.partition(":")
        encoded = rest.split(":")
        if kind == "cc":
            assert len(encoded) == 3 and re.fullmatch(r"[0-9a-f]{64}", encoded[2]), name
            encoded = encoded[:2]
        else:
            assert kind == "session" and len(encoded) == 3, name
    else:
        assert name.startswith(prefix + ":"), name
        rest = name[len(prefix) + 1 :]
        kind = "cc" if rest.startswith("cc:") else "session"
        if kind == "cc":
            rest = rest[3:]
        assert rest.startswith("{"), name
        tag, close, suffix = rest[1:].partition("}")  # Redis's hash tag: up to the first '}'
        assert close, name
        encoded = tag.split(":")
        if kind == "cc":
            assert len(encoded) == 2 and re.fullmatch(r":[0-9a-f]{64}", suffix), name
        else:
            assert len(encoded) == 3 and suffix in (":m", ":w", ":c"), name
    ids = tuple(unquote(part, errors="strict") for part in encoded)
    assert [quote(i, safe="") for i in ids] == encoded, f"{name} is not canonically encoded"
    return kind, ids


def _redis_names(redis_url: str, prefix: str) -> list[str]:
    client = redis_py.Redis.from_url(redis_url)
    try:
        return [k.decode() for k in client.scan_iter(match=prefix + ":*", count=1000)]
    finally:
        client.close()


def _check_redis(ledger: Ledger, redis_url: str, prefix: str, erased: Iterable[Identity]) -> int:
    """Every key of the prefix names exactly one identity that wrote it; none of ``erased``."""
    names = _redis_names(redis_url, prefix)
    gone = {(t, u) for t, u, _ in erased}
    for name in names:
        kind, ids = _parse_hot_name(name, prefix)
        if kind == "cc":
            assert ids[1] in ledger.namespaces.get(ids[0], set()), f"{name}: no such cache"
        else:
            assert ids in ledger.sessions, f"{name} names no identity that wrote"
            assert ids[:2] not in gone, f"{name} survived the erasure of its user"
    return len(names)


async def _scenario(
    mem: TieredMemory | AsyncTieredMemory,
    ledger: Ledger,
    raw_ids: list[Identity],
    erase_index: int,
    target: tuple[str, str] | None,
) -> None:
    n = next(ledger.examples)
    ids = _tagged(n, raw_ids)
    assume(len(set(ids)) == len(ids))
    for part in itertools.chain.from_iterable(ids):  # generated within what check_id accepts
        assert check_id("id", part) == part
    users = list(dict.fromkeys((t, u) for t, u, _ in ids))
    written: dict[Identity, Written] = {}
    user_fact: dict[tuple[str, str], str] = {}
    memo: dict[tuple[str, str], str] = {}
    cached: dict[tuple[str, str], str] = {}

    # -- writes: every identity its own markers ---------------------------------------------
    for i, who in enumerate(ids):
        s = mem.session(*who)
        m1, m2 = ledger.marker("session", who), ledger.marker("session", who)
        texts = [f"my secret code is {m1}", f"noted, the code {m2} is safe"]
        stored = await _r(
            s.add_messages(
                [{"role": "user", "content": texts[0]}, {"role": "assistant", "content": texts[1]}]
            )
        )
        assert [m.seq for m in stored] == [1, 2]
        state = ledger.marker("session", who)
        await _r(s.update_state(secret=state))
        fact = ledger.marker("user", who[:2])
        await _r(s.remember(f"code_{n}_{i}", fact))
        written[who] = Written(m1, texts, state, fact)
        ledger.sessions.add(who)
    for t, u in users:
        h = mem.user(t, u)
        user_fact[(t, u)] = ledger.marker("user", (t, u))
        await _r(h.remember(f"plan_{n}", user_fact[(t, u)]))
        memo[(t, u)] = ledger.marker("user", (t, u))
        await _r(h.put_memory(f"memo_{n}", f"remember the word {memo[(t, u)]}"))
        # the namespace is the user id: confusable namespaces under confusable tenants
        cached[(t, u)] = ledger.marker("cache", (t, u))
        cache = mem.content_cache(t, u)
        await _r(cache.set("shared", cached[(t, u)]))  # one digest in every cache
        await _r(cache.set(f"k{n}", {"v": cached[(t, u)]}))
        ledger.namespaces.setdefault(t, set()).add(u)
    assert await _r(mem.flush(timeout=60))

    foreign = {
        who: [
            m
            for other in ids
            if other[:2] != who[:2]
            for m in (written[other].said, user_fact[other[:2]], memo[other[:2]])
        ]
        for who in ids
    }

    async def check_session(who: Identity, texts: list[str], state: str | None) -> None:
        s = mem.session(*who)
        msgs = await _r(s.messages())
        assert [m.text for m in msgs] == texts
        recent = await _r(s.recent(10))
        assert [m.text for m in recent] == texts
        ledger.check("\n".join(m.text for m in msgs + recent), "session", who, "messages")
        got = await _r(s.state())
        assert got == ({} if state is None else {"secret": state})
        ledger.check(json.dumps(got), "session", who, "state")

    async def check_user(who: Identity, present: bool, said: bool) -> None:
        """The user's facts, recall, search and contexts: ``present`` whether the user's data
        still exists, ``said`` whether the session's messages do."""
        t, u, _ = who
        h = mem.user(t, u)
        facts = await _r(h.facts())
        found = ledger.check(json.dumps([[f.key, f.value] for f in facts]), "user", who, "facts")
        mine = {user_fact[(t, u)]} | {written[w].session_fact for w in ids if w[:2] == (t, u)}
        assert mine <= found if present else not found & mine
        hits = await _r(h.recall(memo[(t, u)], k=20))
        found = ledger.check("\n".join(x.text for x in hits), "user", who, "recall")
        assert (memo[(t, u)] in found) == present
        by_words = await _r(h.search_facts(user_fact[(t, u)]))
        assert [f.value for f in by_words] == ([user_fact[(t, u)]] if present else [])
        for marker in foreign[who]:
            hits = await _r(h.recall(marker, k=20))
            ledger.check("\n".join(x.text for x in hits), "user", who, "recall of a foreign word")
            facts = await _r(h.search_facts(marker))
            ledger.check(json.dumps([f.value for f in facts]), "user", who, "search_facts")
        s = mem.session(*who)
        query = foreign[who][0] if foreign[who] else memo[(t, u)]
        said_marker = written[who].said
        for q in (said_marker, query):
            text = (await _r(s.context(query=q, budget_tokens=4000))).to_text()
            ledger.check(text, "user", who, "context")
            if said and q == said_marker:
                assert q in text  # in the recent turns

    async def check_cache(t: str, u: str) -> None:
        cache = mem.content_cache(t, u)
        mine = cached[(t, u)]
        assert await _r(cache.get("shared")) == mine
        assert await _r(cache.get_many(["shared", f"k{n}", "absent"])) == [mine, {"v": mine}, None]
        records = await _r(cache.export())
        ledger.check(json.dumps(records, default=str), "cache", (t, u), "cache export")
        assert {r["key"] for r in records} >= {"shared", f"k{n}"}
        assert set(await _r(mem.cache_namespaces(t))) == ledger.namespaces[t]

    async def check_user_keys(who: Identity) -> None:
        tier = mem.hot_tier
        prefix = None if target is None else target[1]
        names = await _r(tier.user_keys(who[0], who[1]))
        for name in names:
            kind, parsed = _parse_hot_name(name, prefix)
            assert kind == "session" and parsed[:2] == who[:2], f"user_keys{who[:2]}: {name}"
        own = {_parse_hot_name(x, prefix)[1] for x in names}
        assert who in own
        for name in await _r(tier.user_keys(who[0])):
            assert _parse_hot_name(name, prefix)[1][0] == who[0], f"user_keys({who[0]!r}): {name}"

    # -- reads: each identity sees its own markers and nobody else's --------------------------
    for who in ids:
        await check_session(who, written[who].messages, written[who].state)
        await check_user(who, present=True, said=True)
        await check_user_keys(who)
    for t, u in users:
        await check_cache(t, u)
    if target is not None:
        assert _check_redis(ledger, *target, erased=()) >= 2 * len(ids)

    # -- a clear of one identity leaves the others intact ------------------------------------
    cleared = ids[0]
    assert await _r(mem.session(*cleared).clear()) == 2
    for who in ids:
        if who == cleared:
            await check_session(who, [], None)
        else:
            await check_session(who, written[who].messages, written[who].state)
    for t, u in users:
        await check_cache(t, u)

    # -- an erasure of one identity's user leaves every other user intact --------------------
    victim = ids[erase_index % len(ids)]
    report = await _r(mem.erase_user(victim[0], victim[1]))
    assert report.verified and report.residue == {}, report
    assert await _r(mem.verify_erased(victim[0], victim[1])) == {}
    ledger.erased |= {
        m for m, (lvl, o) in ledger.owner.items() if lvl != "cache" and o[:2] == victim[:2]
    }
    # the hot tier first: a read below refills an (empty) window for the session it reads
    assert await _r(mem.hot_tier.user_keys(victim[0], victim[1])) == []
    if target is not None:
        _check_redis(ledger, *target, erased=[victim])
    for who in ids:
        if who[:2] == victim[:2]:
            await check_session(who, [], None)
            await check_user(who, present=False, said=False)
        else:
            texts = [] if who == cleared else written[who].messages
            await check_session(who, texts, None if who == cleared else written[who].state)
            await check_user(who, present=True, said=who != cleared)
    for t, u in users:  # the content cache is the tenant's, not the user's: erase_user keeps it
        await check_cache(t, u)
    if target is not None:
        _check_redis(ledger, *target, erased=())


def _redis_target(hot: str, redis_url: str, redis_prefix: str) -> tuple[str, str] | None:
    return (redis_url, redis_prefix) if hot == "redis" else None


@FUZZ
@given(ids=identities(), erase_index=st.integers(0, 2))
@example(ids=_FIXED[0], erase_index=1)
@example(ids=_FIXED[4], erase_index=0)
@example(ids=_FIXED[5], erase_index=1)
def test_isolation_sync(
    memory: TieredMemory,
    hot: str,
    redis_url: str,
    redis_prefix: str,
    ledger: Ledger,
    ids: list[Identity],
    erase_index: int,
) -> None:
    target = _redis_target(hot, redis_url, redis_prefix)
    asyncio.run(_scenario(memory, ledger, ids, erase_index, target))


@FUZZ
@given(ids=identities(), erase_index=st.integers(0, 2))
@example(ids=_FIXED[1], erase_index=2)
@example(ids=_FIXED[2], erase_index=0)
@example(ids=_FIXED[3], erase_index=1)
async def test_isolation_async(
    amemory: AsyncTieredMemory,
    hot: str,
    redis_url: str,
    redis_prefix: str,
    ledger: Ledger,
    ids: list[Identity],
    erase_index: int,
) -> None:
    target = _redis_target(hot, redis_url, redis_prefix)
    await _scenario(amemory, ledger, ids, erase_index, target)


@pytest.fixture
def ledger() -> Ledger:
    """What the test function wrote, shared by its examples."""
    return Ledger()


# -- ids that check_id rejects ---------------------------------------------------------------


def _snapshot(
    postgres_url: str, schema: str, mem: TieredMemory, redis: tuple[str, str] | None
) -> Any:
    """Every table's content (hashed) and the hot tier's names."""
    with psycopg.connect(postgres_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY 1",
                [schema],
            )
        ]
        rows = {
            t: conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) "
                f"FROM {schema}.{t} x"
            ).fetchone()
            for t in tables
        }
    names = sorted(mem.hot_tier.user_keys("t") if redis is None else _redis_names(*redis))
    return rows, names


_ENTRY_POINTS = {
    "session(tenant)": lambda m, bad: m.session(bad, "u", "s"),
    "session(user)": lambda m, bad: m.session("t", bad, "s"),
    "session(session)": lambda m, bad: m.session("t", "u", bad),
    "user(tenant)": lambda m, bad: m.user(bad, "u"),
    "user(user)": lambda m, bad: m.user("t", bad),
    "content_cache(tenant)": lambda m, bad: m.content_cache(bad, "ns"),
    "content_cache(namespace)": lambda m, bad: m.content_cache("t", bad),
    "cache_namespaces": lambda m, bad: m.cache_namespaces(bad),
    "recall(session)": lambda m, bad: m.user("t", "u").recall("code", session=bad),
    "erase_user(tenant)": lambda m, bad: m.erase_user(bad, "u"),
    "erase_user(user)": lambda m, bad: m.erase_user("t", bad),
    "erase_tenant": lambda m, bad: m.erase_tenant(bad),
    "verify_erased": lambda m, bad: m.verify_erased("t", bad),
    "delete_session(session)": lambda m, bad: m.delete_session("t", "u", bad),
    "list_users": lambda m, bad: m.list_users(bad),
}


# where None is the documented default (all sessions of the user, the whole tenant)
_NONE_IS_ALL = {"recall(session)", "verify_erased"}


@pytest.fixture
def seeded(memory: TieredMemory) -> TieredMemory:
    s = memory.session("t", "u", "s")
    s.add_message(role="user", content="keep me lmk0123456789abcdef")
    s.context(query="keep", budget_tokens=500)
    memory.user("t", "u").remember("plan", "gold")
    memory.content_cache("t", "ns").set("k", "v")
    assert memory.flush(timeout=60)
    return memory


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad=_INVALID_ID)
@example(bad="x" * (MAX_ID_LENGTH + 1))
@example(bad="\ud800")
@example(bad="a\x00b")
def test_rejected_ids_raise_and_write_nothing(
    seeded: TieredMemory,
    postgres_url: str,
    schema: str,
    hot: str,
    redis_url: str,
    redis_prefix: str,
    bad: Any,
) -> None:
    target = _redis_target(hot, redis_url, redis_prefix)
    with pytest.raises(InvalidIdError):
        check_id("tenant", bad)
    before = _snapshot(postgres_url, schema, seeded, target)
    assert before[1], "the seeded session has hot keys"
    for name, call in _ENTRY_POINTS.items():
        if bad is None and name in _NONE_IS_ALL:
            continue
        with pytest.raises(InvalidIdError):
            call(seeded, bad)
            pytest.fail(f"{name} accepted {bad!r}")
    assert _snapshot(postgres_url, schema, seeded, target) == before
    s = seeded.session("t", "u", "s")
    assert [m.text for m in s.messages()] == ["keep me lmk0123456789abcdef"]
    assert seeded.content_cache("t", "ns").get("k") == "v"


def test_the_limit_itself_is_accepted_everywhere(memory: TieredMemory) -> None:
    """The longest ids check_id accepts (256 characters, 4-byte ones too) work end to end."""
    for longest in ("x" * MAX_ID_LENGTH, "😀" * MAX_ID_LENGTH, "%" * MAX_ID_LENGTH):
        s = memory.session(longest, longest, longest)
        s.add_message(role="user", content=f"hello {longest[:3]}")
        assert [m.text for m in s.recent(5)] == [f"hello {longest[:3]}"]
        memory.content_cache(longest, longest).set("k", longest)
        assert memory.content_cache(longest, longest).get("k") == longest
        with pytest.raises(InvalidIdError):
            memory.session(longest + "x", "u", "s")
