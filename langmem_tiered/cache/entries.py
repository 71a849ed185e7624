"""Pure parts of the content cache: digests of keys and payloads, entries, records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidInputError
from ..models import json_loads

__all__ = ["DEFAULT_CACHE_TTL_SECONDS", "CacheEntry", "cache_digest"]

DEFAULT_CACHE_TTL_SECONDS = 90 * 24 * 3600
"""90 days, as in seed 001."""

_MAX_NAMESPACE = 256
_DEFAULT_TTL = -1.0  # "the cache's own ttl_seconds"
_EXPORT_PAGE = 500


def cache_digest(key_or_payload: Any) -> str:
    """sha256 hex of a string key, or of a payload's canonical JSON."""
    if isinstance(key_or_payload, str):
        data = b"k:" + key_or_payload.encode("utf-8", "surrogatepass")
    elif isinstance(key_or_payload, (Mapping, list, tuple)):
        data = b"p:" + _canonical(key_or_payload)
    else:
        raise InvalidInputError(
            "a cache key is a string, or a payload (a mapping or a list) of JSON values; "
            f"got {type(key_or_payload).__name__}"
        )
    return hashlib.sha256(data).hexdigest()


def _canonical(payload: Any) -> bytes:
    try:
        return json.dumps(
            payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the cache payload is not JSON: {exc}") from exc


def _value_json(value: Any) -> str:
    if value is None:
        raise InvalidInputError("None cannot be cached (a miss is None)")
    try:
        # plain JSON only (no NaN, no datetimes): what comes back must equal what went in
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the cached value is not JSON: {exc}") from exc
    if "\x00" in text or "\\u0000" in text:
        raise InvalidInputError("the cached value holds a NUL character")
    return text


@dataclass(frozen=True)
class CacheEntry:
    """One cached value, as found by :meth:`AsyncContentCache.lookup`."""

    digest: str
    value: Any
    tokens: int
    tier: str
    """``"hot"`` or ``"postgres"``: where this lookup found it."""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _record(tenant: str, namespace: str, row: Sequence[Any]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "namespace": namespace,
        "digest": row[0],
        "key": row[1],
        "value": json_loads(row[2]),
        "tokens": int(row[3]),
        "created_at": _iso(row[4]),
        "expires_at": _iso(row[5]),
        "hits": int(row[6]),
    }


def with_rates(counts: Mapping[str, int]) -> dict[str, Any]:
    """Cache counters (``hot_hits``, ``postgres_hits``, ``misses``...) with ``hits``,
    ``lookups`` and ``hit_rate`` (0.0 before any lookup) added."""
    hits = counts["hot_hits"] + counts["postgres_hits"]
    lookups = hits + counts["misses"]
    return {
        **counts,
        "hits": hits,
        "lookups": lookups,
        "hit_rate": hits / lookups if lookups else 0.0,
    }
