"""OpenTelemetry instrumentation on real Postgres and both hot tiers: spans of sync and async
operations (names, attributes, hit/miss, parents), error spans, no user ids or text in
attributes, uninstrument, metrics, ``stats()``, and a process without OpenTelemetry."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from langmem_tiered import (
    AsyncContentCache,
    AsyncSession,
    AsyncTieredMemory,
    AsyncUserHandle,
    ContentCache,
    InvalidInputError,
    Session,
    TieredMemory,
    UserHandle,
    observability,
)
from langmem_tiered.observability import NOT_TRACED, LangmemInstrumentor, traced_methods

CLASSES: tuple[type, ...] = (
    TieredMemory,
    AsyncTieredMemory,
    Session,
    AsyncSession,
    UserHandle,
    AsyncUserHandle,
    ContentCache,
    AsyncContentCache,
)

# Distinctive values that must never reach an attribute (unless include_ids for the ids).
USER, SESSION = "user-7f3a9e", "sess-9c1d42"
SECRET = "my diagnosis is zebrafish-syndrome"


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrument(self, **options: Any) -> None:
        LangmemInstrumentor().instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attrs: Any) -> int:
        return sum(
            p.value
            for p in self.points(name)
            if all(p.attributes.get(k) == v for k, v in attrs.items())
        )

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    o.instrument()
    try:
        yield o
    finally:
        if LangmemInstrumentor().is_instrumented_by_opentelemetry:
            LangmemInstrumentor().uninstrument()
        o.close()


def _all_attribute_values(spans: list[ReadableSpan]) -> list[str]:
    values = []
    for span in spans:
        values += [str(v) for v in (span.attributes or {}).values()]
        for event in span.events:
            values += [str(v) for v in (event.attributes or {}).values()]
        values.append(span.status.description or "")
    return values


# -- spans ---------------------------------------------------------------------------------------


def test_sync_operations_make_spans_with_tenant_tier_and_hits(
    otel: Otel, memory: TieredMemory, hot: str
) -> None:
    otel.exporter.clear()  # the fixture's connect() (a classmethod: no tier yet)
    s = memory.session("acme", USER, SESSION)
    s.add_messages([{"role": "user", "content": f"message {i}"} for i in range(3)])
    s.recent(2)
    s.recent(50)  # beyond the window (10): read from Postgres
    s.update_state(stage="triage")
    s.context(budget_tokens=500)
    s.context(budget_tokens=500)
    s.remember("city", "Lisbon")
    assert [f.value for f in s.facts()] == ["Lisbon"]
    memory.health()

    for span in otel.spans():
        assert span.name.startswith("langmem.")
        assert span.attributes is not None and span.attributes["langmem.api"] == "sync"
        assert span.attributes["langmem.tier"] == hot
        assert span.kind.name == "INTERNAL"
    add = otel.spans("langmem.session.add_messages")
    assert len(add) == 1 and add[0].attributes is not None
    assert add[0].attributes["langmem.tenant"] == "acme"
    assert add[0].status.status_code == StatusCode.UNSET
    recent = otel.spans("langmem.session.recent")
    assert [r.attributes["langmem.hot.hit"] for r in recent if r.attributes] == [True, False]
    ctx = otel.spans("langmem.session.context")
    assert [c.attributes["langmem.context_cache.hit"] for c in ctx if c.attributes] == [
        False,
        True,
    ]
    assert all(c.attributes and c.attributes["langmem.context.tokens"] > 0 for c in ctx)
    # Session.facts calls UserHandle.facts: a child span in the same trace
    (outer,) = otel.spans("langmem.session.facts")
    (inner,) = otel.spans("langmem.user.facts")
    assert inner.parent is not None and outer.context is not None
    assert inner.parent.span_id == outer.context.span_id
    assert inner.context is not None and inner.context.trace_id == outer.context.trace_id
    assert inner.attributes is not None and inner.attributes["langmem.tenant"] == "acme"
    (health,) = otel.spans("langmem.memory.health")
    assert health.attributes is not None and "langmem.tenant" not in health.attributes


async def test_async_operations_make_spans(otel: Otel, amemory: AsyncTieredMemory) -> None:
    otel.exporter.clear()
    s = amemory.session("acme", USER, SESSION)
    await s.add_message(role="user", content="hello")
    await s.recent(5)
    user = amemory.user("acme", USER)
    await user.remember("city", "Porto")
    assert (await user.fact("city")) is not None
    cache = amemory.content_cache("acme", "descriptions")
    calls: list[int] = []

    async def generate() -> str:
        calls.append(1)
        return "a red mug"

    assert await cache.get_or_generate("sku-1", generate) == "a red mug"
    assert await cache.get_or_generate("sku-1", generate) == "a red mug"
    assert calls == [1]
    await amemory.flush()

    names = {span.name for span in otel.spans()}
    assert {
        "langmem.session.add_message",
        "langmem.session.recent",
        "langmem.user.remember",
        "langmem.user.fact",
        "langmem.content_cache.get_or_generate",
        "langmem.content_cache.lookup",
        "langmem.content_cache.set",
        "langmem.memory.flush",
    } <= names
    for span in otel.spans():
        assert span.attributes is not None and span.attributes["langmem.api"] == "async"
    (recent,) = otel.spans("langmem.session.recent")
    assert recent.attributes is not None and recent.attributes["langmem.hot.hit"] is True
    first, second = otel.spans("langmem.content_cache.get_or_generate")
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["langmem.cache.hit"] is False
    assert first.attributes["langmem.cache.generated"] == 1
    assert second.attributes["langmem.cache.hit"] is True
    assert "langmem.cache.generated" not in second.attributes
    assert first.attributes["langmem.cache.namespace"] == "descriptions"
    assert first.attributes["langmem.tenant"] == "acme"
    # the lookup inside get_or_generate is its child
    lookups = otel.spans("langmem.content_cache.lookup")
    assert first.context is not None
    assert any(lk.parent and lk.parent.span_id == first.context.span_id for lk in lookups)


async def test_concurrent_calls_report_their_own_hits(
    otel: Otel, amemory: AsyncTieredMemory
) -> None:
    """The hit/miss of a call comes from a context variable: concurrent tasks on one memory
    never see each other's counts."""
    hit = amemory.session("t-hit", "u", "s")
    miss = amemory.session("t-miss", "u", "s")
    for s in (hit, miss):
        await s.add_messages([{"role": "user", "content": f"m{i}"} for i in range(5)])
    for _ in range(5):
        await asyncio.gather(*(c for _ in range(3) for c in (hit.recent(3), miss.recent(50))))
    recent = otel.spans("langmem.session.recent")
    assert len(recent) == 30
    for span in recent:
        assert span.attributes is not None
        assert span.attributes["langmem.hot.hit"] is (span.attributes["langmem.tenant"] == "t-hit")


def test_no_user_ids_or_text_in_attributes(otel: Otel, memory: TieredMemory) -> None:
    def exercise() -> None:
        s = memory.session("acme", USER, SESSION)
        s.add_message(role="user", content=SECRET, metadata={"note": SECRET})
        s.recent(5)
        s.update_state(diagnosis=SECRET)
        s.context(query=SECRET, budget_tokens=300, input=SECRET)
        s.remember("diagnosis", SECRET)
        s.user_handle.search_facts(SECRET)
        memory.content_cache("acme").get_or_generate(SECRET, lambda: SECRET)
        with pytest.raises(InvalidInputError):
            s.recent(-1)

    exercise()
    values = _all_attribute_values(otel.spans())
    assert values
    for forbidden in (USER, SESSION, SECRET, "zebrafish"):
        assert not any(forbidden in v for v in values), forbidden
    metric_attrs = [
        str(v)
        for name in (
            "langmem.operation.duration",
            "langmem.hot.hits",
            "langmem.content_cache.misses",
        )
        for p in otel.points(name)
        for v in p.attributes.values()
    ]
    assert metric_attrs and not any("acme" in v or USER in v for v in metric_attrs)

    # with include_ids the ids appear on spans, and text still never does
    LangmemInstrumentor().uninstrument()
    otel.exporter.clear()
    otel.instrument(include_ids=True)
    exercise()
    spans = otel.spans()
    (add,) = [s for s in spans if s.name == "langmem.session.add_message"]
    assert add.attributes is not None
    assert add.attributes["langmem.user"] == USER and add.attributes["langmem.session"] == SESSION
    (remember,) = [s for s in spans if s.name == "langmem.user.remember"]
    assert remember.attributes is not None and remember.attributes["langmem.user"] == USER
    assert not any(SECRET in v for v in _all_attribute_values(spans))


def test_error_spans(otel: Otel, memory: TieredMemory) -> None:
    s = memory.session("acme", USER, SESSION)
    with pytest.raises(InvalidInputError):
        s.recent(-1)
    (span,) = otel.spans("langmem.session.recent")
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "InvalidInputError"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "langmem_tiered.InvalidInputError"
    assert span.events == ()  # the message may quote input: not recorded by default
    (point,) = [
        p
        for p in otel.points("langmem.operation.duration")
        if p.attributes.get("op") == "session.recent"
    ]
    assert point.attributes["error.type"] == "langmem_tiered.InvalidInputError"
    assert point.count == 1

    LangmemInstrumentor().uninstrument()
    otel.exporter.clear()
    otel.instrument(record_exceptions=True)
    with pytest.raises(InvalidInputError):
        s.recent(-1)
    (span,) = otel.spans("langmem.session.recent")
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes is not None
    assert "non-negative" in str(span.events[0].attributes["exception.message"])


async def test_async_error_span(otel: Otel, amemory: AsyncTieredMemory) -> None:
    with pytest.raises(InvalidInputError):
        await amemory.session("acme", USER, SESSION).context(budget_tokens=0)
    (span,) = otel.spans("langmem.session.context")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None and span.attributes["langmem.api"] == "async"


# -- wrapping ------------------------------------------------------------------------------------


def test_uninstrument_restores_the_originals() -> None:
    before = {cls: dict(vars(cls)) for cls in CLASSES}
    o = Otel()
    o.instrument()
    try:
        instrumentor = LangmemInstrumentor()
        assert (
            instrumentor is LangmemInstrumentor() and instrumentor.is_instrumented_by_opentelemetry
        )
        assert observability.instrumented()
        o.instrument()  # a second instrument() is a no-op (warns in the log)
        for cls in CLASSES:
            for name in traced_methods(cls):
                raw, now = before[cls][name], vars(cls)[name]
                assert now is not raw
                fn = raw.__func__ if isinstance(raw, classmethod) else raw
                wrapped = now.__func__ if isinstance(now, classmethod) else now
                assert getattr(wrapped, "__wrapped__", None) is fn  # wrapped exactly once
                assert wrapped.__name__ == fn.__name__ and wrapped.__doc__ == fn.__doc__
                assert inspect.signature(wrapped) == inspect.signature(fn)
                assert inspect.iscoroutinefunction(wrapped) == inspect.iscoroutinefunction(fn)
            for name in set(before[cls]) - set(traced_methods(cls)):
                assert vars(cls)[name] is before[cls][name]
    finally:
        LangmemInstrumentor().uninstrument()
        o.close()
    assert not LangmemInstrumentor().is_instrumented_by_opentelemetry
    for cls in CLASSES:
        assert dict(vars(cls)) == before[cls]


def test_every_public_operation_is_traced() -> None:
    """The wrapped set is every public function of the classes but NOT_TRACED; pin the main
    operations so that a change in the selection is seen."""
    expected = {
        TieredMemory: {"connect", "local", "open", "close", "flush", "health", "usage", "backfill"},
        Session: {"add_messages", "add_message", "messages", "recent", "state", "update_state"}
        | {"context", "recall", "facts", "remember", "forget", "summary", "clear"},
        UserHandle: {"facts", "fact", "fact_history", "recall", "search_facts", "remember"}
        | {"forget", "put_memory", "put_memories", "delete_memories"},
        ContentCache: {"get_or_generate", "get", "get_many", "lookup", "lookup_many", "set"}
        | {"contains_many", "delete", "clear", "stats", "export"},
    }
    for cls, names in expected.items():
        twin = {
            TieredMemory: AsyncTieredMemory,
            Session: AsyncSession,
            UserHandle: AsyncUserHandle,
            ContentCache: AsyncContentCache,
        }[cls]
        assert names <= set(traced_methods(cls)), names - set(traced_methods(cls))
        assert set(traced_methods(cls)) == set(traced_methods(twin))
    kinds = {TieredMemory: "memory", Session: "session", UserHandle: "user"}
    kinds |= {ContentCache: "content_cache"}
    listed = {
        f"{kind}.{n}" for cls, kind in kinds.items() for n in vars(cls) if not n.startswith("_")
    }
    assert listed >= NOT_TRACED  # no stale entry
    traced = {f"{kind}.{n}" for cls, kind in kinds.items() for n in traced_methods(cls)}
    assert not NOT_TRACED & traced
    assert "memory.stats" in NOT_TRACED and "content_cache.stats" in traced  # I/O: traced


def test_calls_after_uninstrument_make_no_spans(memory: TieredMemory) -> None:
    o = Otel()
    o.instrument()
    LangmemInstrumentor().uninstrument()
    memory.session("acme", USER, SESSION).recent(3)
    assert o.spans() == []
    assert memory.stats()["latency"] is None
    o.close()


# -- metrics and stats() ----------------------------------------------------------------------


def test_metrics(otel: Otel, memory: TieredMemory, hot: str) -> None:
    s = memory.session("acme", USER, SESSION)
    # a long history and a small budget: the composed context saves tokens
    s.add_messages([{"role": "user", "content": f"turn {i} " + "word " * 20} for i in range(8)])
    s.recent(3)
    s.recent(3)
    s.recent(40)
    bundle = s.context(budget_tokens=80)
    assert bundle.tokens_saved > 0
    s.context(budget_tokens=80)
    cache = memory.content_cache("acme", "ns")
    cache.set("k", "value", tokens=7)
    cache.get("k")
    cache.get("absent")

    (duration,) = [
        p
        for p in otel.points("langmem.operation.duration")
        if p.attributes == {"op": "session.recent", "langmem.tier": hot}
    ]
    assert duration.count == 3 and duration.sum > 0
    assert otel.total("langmem.hot.hits", **{"langmem.tier": hot}) >= 2
    assert otel.total("langmem.hot.misses") >= 1
    assert otel.total("langmem.context_cache.misses") == 1
    assert otel.total("langmem.context_cache.hits") == 1
    assert otel.total("langmem.tokens_saved", source="context") == 2 * bundle.tokens_saved
    assert otel.total("langmem.tokens_saved", source="content_cache") == 7
    assert otel.total("langmem.content_cache.hits") == 1
    assert otel.total("langmem.content_cache.misses") == 1
    (depth,) = [
        p
        for p in otel.points("langmem.background.queue_depth")
        if p.attributes["langmem.tier"] == hot
    ]
    assert depth.value >= 0
    data = otel.reader.get_metrics_data()
    units = {
        m.name: m.unit
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert units["langmem.operation.duration"] == "s"


def test_tenant_in_metrics_is_opt_in(otel: Otel, memory: TieredMemory) -> None:
    LangmemInstrumentor().uninstrument()
    otel.instrument(tenant_in_metrics=True)
    s = memory.session("acme", USER, SESSION)
    s.add_message(role="user", content="hi")
    s.recent(1)
    assert otel.total("langmem.hot.hits", **{"langmem.tenant": "acme"}) == 1


def test_stats_rates_tokens_and_latency(memory: TieredMemory) -> None:
    s = memory.session("acme", USER, SESSION)
    s.add_messages([{"role": "user", "content": f"turn {i} " + "word " * 20} for i in range(8)])
    s.recent(3)
    s.recent(40)
    plain = memory.stats()
    assert plain["hit_rates"]["hot"] == pytest.approx(0.5)
    assert plain["hit_rates"]["context_cache"] is None
    assert plain["hit_rates"]["content_cache"] is None
    assert plain["latency"] is None and plain["tokens_saved"] is None
    assert plain["background_queue_depth"] == plain["background_pending"]
    assert plain["economy_mode"] is False and plain["economy_tenants"] == []

    o = Otel()
    o.instrument()
    try:
        for _ in range(5):
            s.recent(3)
        bundle = s.context(budget_tokens=80)
        s.context(budget_tokens=80)
        cache = memory.content_cache("acme", "ns")
        cache.get_or_generate("k", lambda: "value")
        cache.get("k")
        stats = memory.stats()
    finally:
        LangmemInstrumentor().uninstrument()
        o.close()
    assert stats["hit_rates"]["context_cache"] == pytest.approx(0.5)
    assert stats["hit_rates"]["content_cache"] == pytest.approx(0.5)
    assert stats["hit_rates"]["hot"] > plain["hit_rates"]["hot"]
    assert stats["tokens_saved"]["context"] == 2 * bundle.tokens_saved > 0
    assert stats["tokens_saved"]["content_cache"] == memory.tokenizer.count("value")
    recent = stats["latency"]["session.recent"]
    assert recent["count"] == 5
    assert 0 < recent["p50_ms"] <= recent["p90_ms"] <= recent["p99_ms"] <= recent["max_ms"]
    assert stats["latency"]["session.context"]["count"] == 2
    assert stats["latency"]["content_cache.get"]["count"] == 1
    json.dumps(stats)  # JSON-ready for the CLI


def test_observation_does_not_change_counters(memory: TieredMemory) -> None:
    """The probed counters stay what the engine counts."""
    s = memory.session("acme", USER, SESSION)
    s.add_message(role="user", content="hi")
    s.recent(1)
    memory.flush()  # background jobs would change their counters meanwhile
    before = {k: v for k, v in memory.stats().items() if isinstance(v, int)}
    o = Otel()
    o.instrument()
    try:
        s.recent(1)
        s.recent(1)
    finally:
        LangmemInstrumentor().uninstrument()
        o.close()
    s.recent(1)
    memory.flush()
    after = {k: v for k, v in memory.stats().items() if isinstance(v, int)}
    assert after["hot_hits"] == before["hot_hits"] + 3
    assert {k: v for k, v in after.items() if k != "hot_hits"} == {
        k: v for k, v in before.items() if k != "hot_hits"
    }


# -- without OpenTelemetry ------------------------------------------------------------------------

_BLOCKER = '''
import sys

class _NoOpenTelemetry:
    """Behave as if opentelemetry were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoOpenTelemetry())
'''

_SCRIPT = """
import inspect, json, sys
try:
    import opentelemetry
    blocked = False
except ImportError:
    blocked = True
import langmem_tiered
from langmem_tiered import observability
classes = [getattr(langmem_tiered, n) for n in (
    "TieredMemory", "AsyncTieredMemory", "Session", "AsyncSession",
    "UserHandle", "AsyncUserHandle", "ContentCache", "AsyncContentCache")]
def snapshot():
    return {c.__name__ + "." + k: id(v) for c in classes for k, v in vars(c).items()}
before = snapshot()
observability.instrument()
observability.LangmemInstrumentor().instrument()
memory = langmem_tiered.TieredMemory.connect(postgres_url=sys.argv[1], schema=sys.argv[2])
session = memory.session("acme", "u", "s")
session.add_message(role="user", content="hello")
recent = [m.content for m in session.recent(5)]
stats = memory.stats()
memory.close()
print(json.dumps({
    "blocked": blocked,
    "otel_modules": sorted(m for m in sys.modules if m.startswith("opentelemetry")),
    "unchanged": snapshot() == before,
    "instrumented": observability.instrumented(),
    "flag": observability.LangmemInstrumentor().is_instrumented_by_opentelemetry,
    "recent": recent,
    "latency": stats["latency"],
    "hot_rate": stats["hit_rates"]["hot"],
}))
"""


def test_without_opentelemetry_the_package_works_and_nothing_is_wrapped(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(_BLOCKER))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, postgres_url, schema],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "blocked": True,
        "otel_modules": [],
        "unchanged": True,
        "instrumented": False,
        "flag": False,
        "recent": ["hello"],
        "latency": None,
        "hot_rate": 1.0,
    }
    assert "OpenTelemetry is not installed" in out.stderr
