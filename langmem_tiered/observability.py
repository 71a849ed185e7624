"""OpenTelemetry traces and metrics for every public operation (optional dependency).

Install ``langmem-tiered[otel]`` (``opentelemetry-api`` only; the SDK and exporters are the
application's choice), then, once at start-up::

    from langmem_tiered.observability import LangmemInstrumentor

    LangmemInstrumentor().instrument()            # global providers, or:
    LangmemInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

``instrument()`` / ``uninstrument()`` at module level do the same. The instrumentor has the shape
of ``opentelemetry-instrumentation``'s ``BaseInstrumentor`` (a singleton with ``instrument``,
``uninstrument``, ``is_instrumented_by_opentelemetry`` and ``instrumentation_dependencies``)
without needing that package.

**Explicit, not at import.** Nothing is wrapped until ``instrument()`` is called, like every
OpenTelemetry instrumentor: importing ``langmem_tiered`` has no side effects and costs nothing
whether or not OpenTelemetry is installed, and the application decides which providers and
which options (below) apply. Without OpenTelemetry, ``instrument()`` logs a warning and wraps
nothing. With the API but no SDK configured, spans and instruments are the API's no-ops
(``benchmarks/bench_observability.py`` measures what the wrapping then costs).

**What is wrapped.** Every public method defined on :class:`~langmem_tiered.TieredMemory`,
:class:`~langmem_tiered.Session`, :class:`~langmem_tiered.UserHandle`,
:class:`~langmem_tiered.ContentCache` and their async twins, except :data:`NOT_TRACED` (handle
factories and in-process accessors with no I/O). Coroutine functions get async wrappers, the
others sync ones; ``functools.wraps`` keeps names, docstrings and signatures, and
``uninstrument()`` puts the original functions back. Span names are
``langmem.<memory|session|user|content_cache>.<method>`` (the same for both twins; the
``langmem.api`` attribute says ``sync`` or ``async``). A call made inside another (say
``Session.facts`` calling ``UserHandle.facts``) is a child span.

**Attributes and PII.** Spans carry ``langmem.tenant`` (a tenant id is an account, not a
person), ``langmem.tier`` (the hot tier's name), ``langmem.api``, ``langmem.cache.namespace``
for the content cache, and what the call found: ``langmem.hot.hit`` (``recent``, ``context``),
``langmem.context_cache.hit`` and ``langmem.context.tokens`` / ``langmem.context.tokens_saved``
(``context``), ``langmem.cache.hit`` / ``hits`` / ``misses`` / ``generated`` (content cache).
User and session ids are added (``langmem.user``, ``langmem.session``) only with
``include_ids=True``. Message text, state, facts, queries and cache keys are never recorded.
A failed call gets status ERROR with the exception's class name and ``error.type``; the
exception's message (which may quote input) is recorded as a span event only with
``record_exceptions=True``.

**Metrics** (meter ``langmem_tiered``): ``langmem.operation.duration`` (histogram, s,
attributes ``op`` such as ``session.recent``, ``langmem.tier``, ``error.type`` on failure);
counters ``langmem.hot.hits``, ``langmem.hot.misses`` (stale windows included),
``langmem.context_cache.hits``, ``langmem.context_cache.misses``,
``langmem.content_cache.hits`` (``langmem.cache.tier`` hot/postgres),
``langmem.content_cache.misses`` and ``langmem.tokens_saved`` (``source`` context or
content_cache); and the observable gauge ``langmem.background.queue_depth`` (background jobs
submitted and not finished, per hot tier, over the instrumented memories alive). Metric
attributes leave the tenant out (its cardinality is the application's) unless
``tenant_in_metrics=True``.

**How hits are known without changing the engine.** The engine counts hot hits, context-cache
hits and content-cache lookups in private dicts (``memory._stats``, ``cache._counts``). The first
instrumented call on a memory or cache swaps that dict for a subclass that, on every increase,
also feeds the metric counters and the operation in progress (a context variable, so
concurrent tasks and threads never see each other's counts). The same object keeps, per
memory, the last :data:`LATENCY_WINDOW` durations of each operation, which
``memory.stats()["latency"]`` summarizes while instrumented (:func:`observed`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "LATENCY_WINDOW",
    "NOT_TRACED",
    "LangmemInstrumentor",
    "instrument",
    "instrumented",
    "observed",
    "uninstrument",
]

_log = logging.getLogger("langmem_tiered.observability")

NOT_TRACED: frozenset[str] = frozenset(
    {
        "memory.session",  # handle factories: no I/O until a method of the handle runs
        "memory.user",
        "memory.content_cache",
        "memory.register_provider",  # configuration and in-process reads
        "memory.subscribe",
        "memory.economy",
        "memory.stats",
        "content_cache.counters",
        "content_cache.reset_counters",
    }
)
"""Public methods (``kind.method``) left unwrapped: handle factories and in-process accessors
with no I/O."""

LATENCY_WINDOW = 1024
"""Durations kept per memory and operation for the percentiles of ``stats()["latency"]``."""

# (module, class, kind): the span name is langmem.<kind>.<method>
_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("langmem_tiered._engine_async", "AsyncTieredMemory", "memory"),
    ("langmem_tiered._engine", "TieredMemory", "memory"),
    ("langmem_tiered._engine_async", "AsyncSession", "session"),
    ("langmem_tiered._engine", "Session", "session"),
    ("langmem_tiered._engine_async", "AsyncUserHandle", "user"),
    ("langmem_tiered._engine", "UserHandle", "user"),
    ("langmem_tiered.cache._content_async", "AsyncContentCache", "content_cache"),
    ("langmem_tiered.cache._content", "ContentCache", "content_cache"),
)

_HISTOGRAM_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# engine counters (memory._stats) a call or a metric cares about -> metric counter
_MEMORY_COUNTERS = {
    "hot_hits": "hot_hits",
    "hot_misses": "hot_misses",
    "hot_repairs": "hot_misses",  # the window was there but stale: served from Postgres
    "context_cache_hits": "context_hits",
    "context_cache_misses": "context_misses",
}
# content-cache counters (cache._counts), kept under these names in a call's counts
_CACHE_COUNTERS = {
    "hot_hits": "cache.hot_hits",
    "postgres_hits": "cache.postgres_hits",
    "misses": "cache.misses",
    "generated": "cache.generated",
    "tokens_saved": "cache.tokens_saved",
}


# -- state while instrumented -------------------------------------------------------------------


@dataclass
class _State:
    tracer: Tracer
    duration: Histogram
    counters: dict[str, Counter]
    include_ids: bool
    record_exceptions: bool
    tenant_in_metrics: bool
    status_error: Callable[[str], Any]
    set_span_in_context: Callable[[Span], Any]
    attach: Callable[[Any], object]
    detach: Callable[[Any], None]
    originals: list[tuple[type, str, Any]] = field(default_factory=list)
    memories: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


_STATE: _State | None = None
_LOCK = threading.RLock()
_now = time.perf_counter


class _Call:
    """One instrumented call in progress (the value of :data:`_CURRENT` meanwhile)."""

    __slots__ = ("counts", "ctx_token", "metric", "probe", "span", "start", "tenant", "token")

    counts: dict[str, int] | None  # what the engine counted meanwhile (made on first count)
    ctx_token: object | None
    metric: dict[str, str]
    probe: _ProbedStats | None
    span: Span
    start: float
    tenant: str | None
    token: Token[_Call | None]


_CURRENT: ContextVar[_Call | None] = ContextVar("langmem_tiered_call", default=None)


def _metric_attrs(base: dict[str, str], call: _Call | None, state: _State) -> dict[str, str]:
    if state.tenant_in_metrics and call is not None and call.tenant is not None:
        return {**base, "langmem.tenant": call.tenant}
    return base


class _ProbedStats(dict[str, int]):
    """A memory's ``_stats``, also telling the metrics and the call in progress what it counts,
    and keeping the memory's recent operation latencies and content-cache totals."""

    __slots__ = ("attrs", "cache", "context_tokens_saved", "latencies", "tier")

    def __init__(self, counts: dict[str, int], tier: str) -> None:
        super().__init__(counts)
        self.tier = tier
        self.attrs = {"langmem.tier": tier}
        self.latencies: dict[str, _Window] = {}
        self.cache = dict.fromkeys(("hot_hits", "postgres_hits", "misses", "tokens_saved"), 0)
        self.context_tokens_saved = 0

    def __setitem__(self, key: str, value: int) -> None:
        delta = value - dict.get(self, key, 0)
        dict.__setitem__(self, key, value)
        state = _STATE
        metric = _MEMORY_COUNTERS.get(key)
        if state is None or metric is None or delta <= 0:
            return
        call = _CURRENT.get()
        if call is not None:
            counts = call.counts
            if counts is None:
                counts = call.counts = {}
            counts[key] = counts.get(key, 0) + delta
        state.counters[metric].add(delta, _metric_attrs(self.attrs, call, state))

    def observe(self, op: str, seconds: float) -> None:
        window = self.latencies.get(op)
        if window is None:
            window = self.latencies.setdefault(op, _Window())
        window.durations.append(seconds)
        window.count += 1  # not exact under threads; the percentiles use the durations


class _Window:
    """The last :data:`LATENCY_WINDOW` durations of one operation, and how many calls."""

    __slots__ = ("count", "durations")

    def __init__(self) -> None:
        self.durations: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.count = 0


class _ProbedCounts(dict[str, int]):
    """A content cache's ``_counts``, feeding the metrics, the call in progress and the
    memory's content-cache totals (``reset_counters`` resets, it does not count)."""

    __slots__ = ("probe",)

    def __init__(self, counts: dict[str, int], probe: _ProbedStats) -> None:
        super().__init__(counts)
        self.probe = probe

    def __setitem__(self, key: str, value: int) -> None:
        delta = value - dict.get(self, key, 0)
        dict.__setitem__(self, key, value)
        state = _STATE
        name = _CACHE_COUNTERS.get(key)
        if state is None or name is None or delta <= 0:
            return
        call = _CURRENT.get()
        if call is not None:
            counts = call.counts
            if counts is None:
                counts = call.counts = {}
            counts[name] = counts.get(name, 0) + delta
        probe = self.probe
        if key in probe.cache:
            probe.cache[key] += delta
        attrs = _metric_attrs(probe.attrs, call, state)
        if key == "hot_hits" or key == "postgres_hits":
            tier = "hot" if key == "hot_hits" else "postgres"
            state.counters["cache_hits"].add(delta, {**attrs, "langmem.cache.tier": tier})
        elif key == "misses":
            state.counters["cache_misses"].add(delta, attrs)
        elif key == "tokens_saved":
            state.counters["tokens_saved"].add(delta, {**attrs, "source": "content_cache"})


def _probe(memory: Any, state: _State) -> _ProbedStats:
    """The memory's probed counters, swapping them in on first use."""
    stats = memory._stats
    if type(stats) is _ProbedStats:
        return stats
    with _LOCK:
        stats = memory._stats
        if type(stats) is not _ProbedStats:
            stats = _ProbedStats(stats, memory.hot_tier.name)
            memory._stats = stats
        state.memories.add(memory)
        return stats


def _probe_cache(cache: Any, probe: _ProbedStats) -> None:
    if type(cache._counts) is _ProbedCounts:
        return
    with cache._counts_lock:  # the cache's own lock: no increment is lost in the swap
        if type(cache._counts) is not _ProbedCounts:
            cache._counts = _ProbedCounts(cache._counts, probe)


# -- per-kind accessors ----------------------------------------------------------------------


def _param(fn: Callable[..., Any], name: str) -> int | None:
    """Index in ``args`` (self excluded) of parameter ``name``; -1 if keyword-only; None if
    absent."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    for i, p in enumerate(params):
        if p.name == name:
            kinds = (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            return i if p.kind in kinds else -1
    return None


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, pos: int | None) -> Any:
    if pos is None:
        return None
    if 0 <= pos < len(args):
        return args[pos]
    return kwargs.get(name)


class _Spec:
    """What the wrapper of one method needs, computed once at :func:`instrument`."""

    __slots__ = (
        "api",
        "ids_of",
        "is_cache",
        "is_context",
        "memory_of",
        "metric",
        "op",
        "span_name",
        "tenant_of",
    )

    def __init__(self, kind: str, method: str, api: str, fn: Callable[..., Any]) -> None:
        self.api = api
        self.op = f"{kind}.{method}"
        self.span_name = "langmem." + self.op
        self.is_cache = kind == "content_cache"
        self.is_context = self.op == "session.context"
        self.metric: dict[str, dict[str, str]] = {}  # hot tier -> metric attributes
        positions = {name: _param(fn, name) for name in ("tenant", "user", "session")}
        self.memory_of: Callable[[Any], Any]
        self.tenant_of: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]
        self.ids_of: Callable[[Any, tuple[Any, ...], dict[str, Any]], dict[str, Any]]
        if kind == "memory":
            self.memory_of = lambda obj: None if isinstance(obj, type) else obj  # classmethods
            self.tenant_of = lambda obj, a, k: _arg(a, k, "tenant", positions["tenant"])
            self.ids_of = lambda obj, a, k: {
                "langmem.user": _arg(a, k, "user", positions["user"]),
                "langmem.session": _arg(a, k, "session", positions["session"]),
            }
        elif kind == "session":
            self.memory_of = lambda obj: obj.memory
            self.tenant_of = lambda obj, a, k: obj.key.tenant
            self.ids_of = lambda obj, a, k: {
                "langmem.user": obj.key.user,
                "langmem.session": obj.key.session,
            }
        elif kind == "user":
            self.memory_of = lambda obj: obj.memory
            self.tenant_of = lambda obj, a, k: obj.tenant
            self.ids_of = lambda obj, a, k: {"langmem.user": obj.user}
        else:
            self.memory_of = lambda obj: obj._memory
            self.tenant_of = lambda obj, a, k: obj.tenant
            self.ids_of = lambda obj, a, k: {}


# -- the wrapper ---------------------------------------------------------------------------------


def _begin(
    state: _State, spec: _Spec, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Call:
    memory = spec.memory_of(obj)
    tenant = spec.tenant_of(obj, args, kwargs)
    if not isinstance(tenant, str):
        tenant = None
    attrs: dict[str, Any] = {"langmem.api": spec.api}
    call = _Call()
    if memory is not None:
        probe = call.probe = _probe(memory, state)
        if spec.is_cache:
            _probe_cache(obj, probe)
            attrs["langmem.cache.namespace"] = obj.namespace
        attrs["langmem.tier"] = tier = probe.tier
        metric = spec.metric.get(tier)
        if metric is None:
            metric = spec.metric.setdefault(tier, {"op": spec.op, "langmem.tier": tier})
    else:
        call.probe = None
        metric = {"op": spec.op}
    if tenant is not None:
        attrs["langmem.tenant"] = tenant
        if state.tenant_in_metrics:
            metric = {**metric, "langmem.tenant": tenant}
    if state.include_ids:
        attrs.update(
            (k, v) for k, v in spec.ids_of(obj, args, kwargs).items() if isinstance(v, str)
        )
    call.metric = metric
    call.tenant = tenant
    call.counts = None
    call.span = span = state.tracer.start_span(spec.span_name, attributes=attrs)
    # A no-op tracer's span without a parent is invalid: making it current changes nothing.
    if span.is_recording() or span.get_span_context().is_valid:
        call.ctx_token = state.attach(state.set_span_in_context(span))
    else:
        call.ctx_token = None
    call.token = _CURRENT.set(call)
    call.start = _now()
    return call


def _end(state: _State, spec: _Spec, call: _Call, result: Any, exc: BaseException | None) -> None:
    """Finish the call's span and metrics; never raises (instrumentation must not break the
    operation)."""
    elapsed = _now() - call.start
    try:
        _CURRENT.reset(call.token)
        counts = call.counts
        if counts:
            parent = call.token.old_value
            if isinstance(parent, _Call):  # the caller's span reports what its callees found
                mine = parent.counts
                if mine is None:
                    mine = parent.counts = {}
                for key, n in counts.items():
                    mine[key] = mine.get(key, 0) + n
        span = call.span
        context_bundle = exc is None and spec.is_context
        try:
            if span.is_recording():
                if counts:
                    _hit_attributes(span, counts)
                if context_bundle:
                    span.set_attribute("langmem.context.tokens", result.total_tokens)
                    span.set_attribute("langmem.context.tokens_saved", result.tokens_saved)
                if exc is not None:
                    span.set_attribute("error.type", _error_type(exc))
                    span.set_status(state.status_error(type(exc).__name__))
                    if state.record_exceptions:
                        span.record_exception(exc)
            span.end()
        finally:
            if call.ctx_token is not None:
                state.detach(call.ctx_token)
        metric = call.metric
        if exc is not None:
            metric = {**metric, "error.type": _error_type(exc)}
        state.duration.record(elapsed, metric)
        probe = call.probe
        if probe is not None:
            probe.observe(spec.op, elapsed)
            if context_bundle and result.tokens_saved > 0:
                probe.context_tokens_saved += result.tokens_saved
                state.counters["tokens_saved"].add(
                    result.tokens_saved, {**call.metric, "source": "context"}
                )
    except Exception:
        _log.debug("ending the span of %s failed", spec.op, exc_info=True)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _hit_attributes(span: Span, counts: dict[str, int]) -> None:
    hits, misses = counts.get("hot_hits", 0), counts.get("hot_misses", 0)
    misses += counts.get("hot_repairs", 0)
    if hits or misses:
        span.set_attribute("langmem.hot.hit", misses == 0)
    hits, misses = counts.get("context_cache_hits", 0), counts.get("context_cache_misses", 0)
    if hits or misses:
        span.set_attribute("langmem.context_cache.hit", misses == 0)
    hits = counts.get("cache.hot_hits", 0) + counts.get("cache.postgres_hits", 0)
    misses = counts.get("cache.misses", 0)
    if hits + misses == 1:
        span.set_attribute("langmem.cache.hit", hits == 1)
    if hits + misses:
        span.set_attribute("langmem.cache.hits", hits)
        span.set_attribute("langmem.cache.misses", misses)
    if counts.get("cache.generated"):
        span.set_attribute("langmem.cache.generated", counts["cache.generated"])


def _wrap(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            state = _STATE
            if state is None:
                return await fn(self, *args, **kwargs)
            try:
                call = _begin(state, spec, self, args, kwargs)
            except Exception:  # instrumentation must never break the operation
                _log.debug("starting the span of %s failed", spec.op, exc_info=True)
                return await fn(self, *args, **kwargs)
            try:
                result = await fn(self, *args, **kwargs)
            except BaseException as exc:
                _end(state, spec, call, None, exc)
                raise
            _end(state, spec, call, result, None)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            state = _STATE
            if state is None:
                return fn(self, *args, **kwargs)
            try:
                call = _begin(state, spec, self, args, kwargs)
            except Exception:
                _log.debug("starting the span of %s failed", spec.op, exc_info=True)
                return fn(self, *args, **kwargs)
            try:
                result = fn(self, *args, **kwargs)
            except BaseException as exc:
                _end(state, spec, call, None, exc)
                raise
            _end(state, spec, call, result, None)
            return result

        wrapper = sync_wrapper
    wrapper._langmem_otel = True  # type: ignore[attr-defined]
    return wrapper


def _kind(cls: type) -> str:
    for module, name, kind in _TARGETS:
        if cls.__module__ in (module, "langmem_tiered") and cls.__name__ == name:
            return kind
    raise ValueError(f"{cls.__qualname__} is not instrumented by langmem_tiered")


def traced_methods(cls: type) -> list[str]:
    """Names of the public methods of ``cls`` that :func:`instrument` wraps (``cls`` is one of
    the memory, session, user-handle and content-cache classes)."""
    kind = _kind(cls)
    names = []
    for name, raw in vars(cls).items():
        if name.startswith("_") or f"{kind}.{name}" in NOT_TRACED:
            continue
        fn = raw.__func__ if isinstance(raw, classmethod) else raw
        if inspect.isfunction(fn):
            names.append(name)
    return names


def _targets() -> Iterable[tuple[type, str]]:
    for module, name, kind in _TARGETS:
        yield getattr(importlib.import_module(module), name), kind


# -- metrics --------------------------------------------------------------------------------------


def _queue_depth(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    state = _STATE
    if state is None:
        return []
    depth: dict[str, int] = {}
    for memory in list(state.memories):
        tier = memory.hot_tier.name
        depth[tier] = depth.get(tier, 0) + len(memory._background)
    return [Observation(n, {"langmem.tier": tier}) for tier, n in depth.items()]


def _instruments(meter_provider: Any) -> tuple[Histogram, dict[str, Counter]]:
    from opentelemetry import metrics

    meter = metrics.get_meter("langmem_tiered", __version__, meter_provider)
    try:
        duration = meter.create_histogram(
            "langmem.operation.duration",
            unit="s",
            description="Duration of langmem-tiered operations",
            explicit_bucket_boundaries_advisory=_HISTOGRAM_BUCKETS,
        )
    except TypeError:  # an API older than the bucket advisory
        duration = meter.create_histogram(
            "langmem.operation.duration",
            unit="s",
            description="Duration of langmem-tiered operations",
        )
    specs = {
        "hot_hits": ("langmem.hot.hits", "{read}", "Recent windows served by the hot tier"),
        "hot_misses": (
            "langmem.hot.misses",
            "{read}",
            "Recent windows read from Postgres (absent or stale in the hot tier)",
        ),
        "context_hits": (
            "langmem.context_cache.hits",
            "{context}",
            "Composed contexts served from the context cache",
        ),
        "context_misses": (
            "langmem.context_cache.misses",
            "{context}",
            "Composed contexts not in the context cache",
        ),
        "cache_hits": ("langmem.content_cache.hits", "{lookup}", "Content-cache hits"),
        "cache_misses": ("langmem.content_cache.misses", "{lookup}", "Content-cache misses"),
        "tokens_saved": (
            "langmem.tokens_saved",
            "{token}",
            "Tokens not sent thanks to composed contexts (vs the full history) and "
            "content-cache hits",
        ),
    }
    counters = {
        key: meter.create_counter(name, unit=unit, description=text)
        for key, (name, unit, text) in specs.items()
    }
    meter.create_observable_gauge(
        "langmem.background.queue_depth",
        callbacks=[_queue_depth],
        unit="{job}",
        description="Background jobs submitted and not finished",
    )
    return duration, counters


# -- the instrumentor -----------------------------------------------------------------------------


class LangmemInstrumentor:
    """Instrument langmem-tiered for OpenTelemetry (``BaseInstrumentor``'s shape).

    A singleton: ``LangmemInstrumentor() is LangmemInstrumentor()``.
    """

    _instance: LangmemInstrumentor | None = None
    _is_instrumented_by_opentelemetry = False

    def __new__(cls, *args: Any, **kwargs: Any) -> LangmemInstrumentor:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return self._is_instrumented_by_opentelemetry

    def instrumentation_dependencies(self) -> Collection[str]:
        """No third-party library is instrumented: the package instruments itself."""
        return ()

    def instrument(self, **kwargs: Any) -> None:
        """Wrap every public operation; see :meth:`_instrument` for the options.

        Does nothing (with a warning) when already instrumented or when OpenTelemetry is
        not installed.
        """
        if self._is_instrumented_by_opentelemetry:
            _log.warning("Attempting to instrument while already instrumented")
            return None
        kwargs.pop("skip_dep_check", None)  # passed by opentelemetry-instrument
        kwargs.pop("raise_exception_on_conflict", None)
        try:
            importlib.import_module("opentelemetry.trace")
            importlib.import_module("opentelemetry.metrics")
        except ImportError:
            _log.warning(
                "OpenTelemetry is not installed (pip install 'langmem-tiered[otel]'): "
                "nothing is instrumented"
            )
            return None
        self._instrument(**kwargs)
        self._is_instrumented_by_opentelemetry = True
        return None

    def uninstrument(self, **kwargs: Any) -> None:
        """Put the original methods back."""
        if not self._is_instrumented_by_opentelemetry:
            _log.warning("Attempting to uninstrument while already uninstrumented")
            return None
        self._uninstrument(**kwargs)
        self._is_instrumented_by_opentelemetry = False
        return None

    def _instrument(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        include_ids: bool = False,
        record_exceptions: bool = False,
        tenant_in_metrics: bool = False,
        **_: Any,
    ) -> None:
        """
        Args:
            tracer_provider: Default: the global one (no-op until an SDK sets one).
            meter_provider: Default: the global one.
            include_ids: Add user and session ids to spans (``langmem.user``,
                ``langmem.session``). Off by default: they identify people.
            record_exceptions: Record a failed call's exception (message and stack trace)
                as a span event. Off by default: messages may quote the input.
            tenant_in_metrics: Add ``langmem.tenant`` to metric attributes (one series per
                tenant).
        """
        global _STATE
        from opentelemetry import context, trace
        from opentelemetry.trace import Status, StatusCode

        duration, counters = _instruments(meter_provider)
        state = _State(
            tracer=trace.get_tracer("langmem_tiered", __version__, tracer_provider),
            duration=duration,
            counters=counters,
            include_ids=include_ids,
            record_exceptions=record_exceptions,
            tenant_in_metrics=tenant_in_metrics,
            status_error=lambda text: Status(StatusCode.ERROR, text),
            set_span_in_context=trace.set_span_in_context,
            attach=context.attach,
            detach=context.detach,
        )
        with _LOCK:
            for cls, kind in _targets():
                api = "async" if cls.__name__.startswith("Async") else "sync"
                for name in traced_methods(cls):
                    raw = vars(cls)[name]
                    fn = raw.__func__ if isinstance(raw, classmethod) else raw
                    if getattr(fn, "_langmem_otel", False):
                        continue
                    spec = _Spec(kind, name, api, fn)
                    wrapped = _wrap(fn, spec)
                    setattr(
                        cls, name, classmethod(wrapped) if isinstance(raw, classmethod) else wrapped
                    )
                    state.originals.append((cls, name, raw))
            _STATE = state

    def _uninstrument(self, **kwargs: Any) -> None:
        global _STATE
        with _LOCK:
            state, _STATE = _STATE, None
            if state is not None:
                for cls, name, raw in reversed(state.originals):
                    setattr(cls, name, raw)


def instrument(**kwargs: Any) -> None:
    """``LangmemInstrumentor().instrument(**kwargs)``."""
    LangmemInstrumentor().instrument(**kwargs)


def uninstrument() -> None:
    """``LangmemInstrumentor().uninstrument()``."""
    LangmemInstrumentor().uninstrument()


def instrumented() -> bool:
    """True while the package is instrumented."""
    return _STATE is not None


def observed(memory: Any) -> dict[str, Any] | None:
    """What the instrumentation measured for ``memory`` (used by ``memory.stats()``), or None
    when not instrumented.

    Returns ``latency`` (per operation: ``count`` of calls, and ``p50_ms``, ``p90_ms``,
    ``p99_ms``, ``max_ms`` over the last :data:`LATENCY_WINDOW`), ``content_cache`` (hits per
    tier, misses and tokens saved of this memory's content caches) and
    ``context_tokens_saved``.
    """
    state = _STATE
    if state is None:
        return None
    probe = _probe(memory, state)
    latency: dict[str, dict[str, float | int]] = {}
    for op, window in sorted(probe.latencies.items()):
        values = sorted(window.durations)
        if not values:
            continue
        latency[op] = {
            "count": window.count,
            "p50_ms": _rank(values, 0.50) * 1000,
            "p90_ms": _rank(values, 0.90) * 1000,
            "p99_ms": _rank(values, 0.99) * 1000,
            "max_ms": values[-1] * 1000,
        }
    return {
        "latency": latency,
        "content_cache": dict(probe.cache),
        "context_tokens_saved": probe.context_tokens_saved,
    }


def _rank(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return values[max(0, min(len(values), math.ceil(q * len(values))) - 1)]
