# WARNING: this file is generated from langmem_tiered/tiers/_redis_async.py by tools/async_to_sync.py. DO NOT EDIT.
"""Redis hot tier (redis-py asyncio client; the sync ``RedisTier`` is generated from this file).

Per session, two keys share one hash tag, so every script touches a single cluster slot::

    <prefix>:{<tenant>:<user>:<session>}:m   hash: seq, ok, lo, wrid, state, sv, srid
    <prefix>:{<tenant>:<user>:<session>}:w   list: JSON messages, oldest first
    <prefix>:{<tenant>:<user>:<session>}:c   hash: composed contexts by stamp (bounded)

Content-cache entries (:mod:`langmem_tiered.cache`) are plain strings with an expiry, one hash
tag per tenant and namespace (so a batch read is one MGET on one slot)::

    <prefix>:cc:{<tenant>:<namespace>}:<digest>

Ids are percent-encoded (:attr:`SessionKey.tag`), so no id can reach another session's keys.
Each operation is one Lua script: one round trip, atomic, and it slides the TTL of both keys.
The scripts implement the rules in :mod:`.base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import redis as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..errors import ConfigurationError, TierUnavailableError
from ..models import Message, SessionKey, json_dumps, json_loads, messages_from_json_items
from .base import (
    DEFAULT_HOT_TTL_SECONDS,
    DEFAULT_WINDOW_SIZE,
    MAX_CONTEXTS_PER_SESSION,
    MAX_WINDOW_SIZE,
    HotRead,
    HotState,
)

__all__ = ["RedisTier"]
_RUN_ID = """local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
"""
_APPEND = (
    """
local seq = redis.call('HGET', KEYS[1], 'seq')
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
if not seq and first == 1 then
  -- a brand-new session: these are its first messages, so the window is complete
  """
    + _RUN_ID
    + """
  redis.call('DEL', KEYS[2])
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 6))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
  redis.call('HSET', KEYS[1], 'seq', last, 'ok', 1, 'lo', 1, 'wrid', rid)
elseif not seq then
  redis.call('HSET', KEYS[1], 'seq', last, 'ok', 0)
  redis.call('DEL', KEYS[2])
elseif last <= tonumber(seq) then
  -- already covered by a fill or an earlier append
elseif first <= tonumber(seq) + 1 then
  -- contiguous (or overlapping: a replayed append); push only what lies beyond seq
  if redis.call('HGET', KEYS[1], 'ok') == '1' then
    -- ARGV[5] is the seq of the first item passed (only the batch's tail is passed)
    local skip = math.max(0, tonumber(seq) + 1 - tonumber(ARGV[5]))
    redis.call('RPUSH', KEYS[2], unpack(ARGV, 6 + skip))
    redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
  end
  redis.call('HSET', KEYS[1], 'seq', last)
else
  redis.call('HSET', KEYS[1], 'seq', last, 'ok', 0)
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
)
_FILL = (
    _RUN_ID
    + """
local m = redis.call('HMGET', KEYS[1], 'seq', 'lo')
-- A newer commit is known, or messages below lo were deleted (clear, retention) after this
-- snapshot was read: refuse. A restored meta is older than Postgres, so these guards hold
-- whatever its run_id.
if m[1] and tonumber(m[1]) > tonumber(ARGV[1]) then return 0 end
if m[2] and tonumber(m[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2])
if #ARGV > 3 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 4)) end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'ok', 1, 'lo', ARGV[2], 'wrid', rid)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
)
_READ = (
    _RUN_ID
    + """
local m = redis.call('HMGET', KEYS[1], 'seq', 'ok', 'lo', 'wrid')
if not m[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if m[2] ~= '1' or m[4] ~= rid then return false end
return {m[1], m[3], redis.call('LRANGE', KEYS[2], -tonumber(ARGV[1]), -1)}
"""
)
_PUT_STATE = (
    _RUN_ID
    + """
local m = redis.call('HMGET', KEYS[1], 'sv', 'srid')
if m[1] and m[2] == rid and tonumber(m[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'sv', ARGV[2], 'srid', rid)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
)
_INVALIDATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'ok', 0)
  redis.call('HDEL', KEYS[1], 'state')
end
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""
_PUT_CONTEXT = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
_GET_STATE = (
    _RUN_ID
    + """
local m = redis.call('HMGET', KEYS[1], 'state', 'sv', 'srid')
if not m[1] or m[3] ~= rid then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {m[1], m[2]}
"""
)


class RedisTier:
    """Hot tier on Redis (standalone; keys are Redis Cluster ready).

    Args:
        url: ``redis://`` URL (``rediss://`` for TLS, ``unix://`` for a socket).
        client: An existing client to use instead of ``url`` (not closed by :meth:`close`).
        prefix: First part of every key; lets several deployments share one Redis.
        window_size: Messages kept per session.
        ttl_seconds: Sliding time-to-live of a session's keys.
        socket_timeout: Seconds before a silent Redis counts as unavailable.
    """

    name = "redis"
    authoritative = True
    "Every process writes through the same Redis, so a window that passes the rules is current."

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "lmt",
        window_size: int = DEFAULT_WINDOW_SIZE,
        ttl_seconds: float = DEFAULT_HOT_TTL_SECONDS,
        socket_timeout: float = 1.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("give exactly one of url or client")
        if not 1 <= window_size <= MAX_WINDOW_SIZE or ttl_seconds <= 0:
            raise ConfigurationError(
                f"window_size must be 1..{MAX_WINDOW_SIZE} and ttl_seconds positive"
            )
        if client is None:
            assert url is not None
            try:
                client = aioredis.Redis.from_url(
                    url,
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_timeout,
                    retry=Retry(NoBackoff(), 1),
                    health_check_interval=30,
                )
            except ValueError as exc:
                raise ConfigurationError(f"invalid Redis URL: {exc}") from exc
            self._owns_client = True
        else:
            self._owns_client = False
        self._client = client
        self.prefix = quote(prefix, safe="")
        self.window_size = window_size
        self._ttl_ms = int(ttl_seconds * 1000)
        self._append = client.register_script(_APPEND)
        self._fill = client.register_script(_FILL)
        self._read = client.register_script(_READ)
        self._put_state = client.register_script(_PUT_STATE)
        self._get_state = client.register_script(_GET_STATE)
        self._invalidate = client.register_script(_INVALIDATE)
        self._put_context = client.register_script(_PUT_CONTEXT)

    @property
    def client(self) -> aioredis.Redis:
        """The underlying redis-py client."""
        return self._client

    def keys_for(self, key: SessionKey) -> list[str]:
        """The Redis keys of one session: ``[meta, window]``."""
        base = f"{self.prefix}:{{{key.tag}}}"
        return [base + ":m", base + ":w"]

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def append(self, key: SessionKey, messages: Sequence[Message]) -> None:
        if not messages:
            return
        tail = messages[-self.window_size :]
        args: list[Any] = [
            messages[0].seq,
            messages[-1].seq,
            self.window_size,
            self._ttl_ms,
            tail[0].seq,
        ]
        args.extend((m.to_json() for m in tail))
        self._call(self._append, self.keys_for(key), args)

    def fill(self, key: SessionKey, last_seq: int, lo: int, messages: Sequence[Message]) -> None:
        args: list[Any] = [last_seq, lo, self._ttl_ms]
        args.extend((m.to_json() for m in messages[-self.window_size :]))
        self._call(self._fill, self.keys_for(key), args)

    def read(self, key: SessionKey, n: int) -> HotRead | None:
        reply = self._call(self._read, self.keys_for(key), [max(n, 1), self._ttl_ms])
        if not reply:
            return None
        seq, lo, items = reply
        try:
            messages = messages_from_json_items(items) if n > 0 else []
        except ValueError:
            self.invalidate(key)
            return None
        return HotRead(int(seq), int(lo or 1), messages)

    def put_state(self, key: SessionKey, state: HotState) -> None:
        args = [json_dumps(state.state), state.version, self._ttl_ms]
        self._call(self._put_state, self.keys_for(key), args)

    def get_state(self, key: SessionKey) -> HotState | None:
        reply = self._call(self._get_state, self.keys_for(key), [self._ttl_ms])
        if not reply:
            return None
        try:
            state = json_loads(reply[0])
        except ValueError:
            state = None
        if not isinstance(state, dict):
            self.invalidate(key)
            return None
        return HotState(state, int(reply[1]))

    def invalidate(self, key: SessionKey) -> None:
        self._call(self._invalidate, [*self.keys_for(key), self.context_key_for(key)], [])

    def drop(self, key: SessionKey) -> int:
        try:
            return int(self._client.delete(*self.keys_for(key), self.context_key_for(key)))
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def user_keys(self, tenant: str, user: str | None = None) -> list[str]:
        scope = quote(tenant, safe="") + ("" if user is None else ":" + quote(user, safe=""))
        patterns = [f"{self.prefix}:{{{scope}:*"]
        if user is None:
            patterns.append(f"{self.prefix}:cc:{{{scope}:*")
        found: list[str] = []
        try:
            for pattern in patterns:
                for name in self._client.scan_iter(match=pattern, count=1000):
                    found.append(name.decode() if isinstance(name, bytes) else str(name))
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return sorted(set(found))

    def delete_keys(self, keys: Sequence[str]) -> int:
        deleted = 0
        try:
            for key in keys:
                deleted += int(self._client.delete(key))
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return deleted

    def context_key_for(self, key: SessionKey) -> str:
        """The Redis hash holding the session's composed contexts."""
        return f"{self.prefix}:{{{key.tag}}}:c"

    def get_context(self, key: SessionKey, stamp: str) -> bytes | None:
        try:
            value = self._client.hget(self.context_key_for(key), stamp)
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    def put_context(self, key: SessionKey, stamp: str, data: bytes, ttl: float) -> None:
        args = [stamp, data, max(1, int(ttl * 1000)), MAX_CONTEXTS_PER_SESSION]
        self._call(self._put_context, [self.context_key_for(key)], args)

    def cache_key_for(self, tenant: str, namespace: str, digest: str) -> str:
        """The Redis key of one content-cache entry (ids percent-encoded)."""
        return f"{self.prefix}:cc:{{{quote(tenant, safe='')}:{quote(namespace, safe='')}}}:{digest}"

    def cache_get(self, tenant: str, namespace: str, digests: Sequence[str]) -> list[bytes | None]:
        if not digests:
            return []
        keys = [self.cache_key_for(tenant, namespace, d) for d in digests]
        try:
            values = self._client.mget(keys)
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return [
            None if v is None else v.encode() if isinstance(v, str) else bytes(v) for v in values
        ]

    def cache_put(
        self, tenant: str, namespace: str, digest: str, data: bytes, ttl: float | None
    ) -> None:
        key = self.cache_key_for(tenant, namespace, digest)
        try:
            self._client.set(key, data, px=None if ttl is None else max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def cache_delete(self, tenant: str, namespace: str, digests: Sequence[str] | None) -> None:
        try:
            if digests is not None:
                keys = [self.cache_key_for(tenant, namespace, d) for d in digests]
            else:
                pattern = self.cache_key_for(tenant, namespace, "*")
                keys = [k for k in self._client.scan_iter(match=pattern, count=1000)]
            for i in range(0, len(keys), 500):
                self._client.delete(*keys[i : i + 500])
        except (RedisError, OSError) as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except (RedisError, OSError):
            return False

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
