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

**Redis Cluster.** The same keys work unchanged on a cluster: a session's keys, and one
tenant's content-cache namespace, each live in one slot, so every script (EVALSHA, routed by
its first key) and every MGET stays on one node. Give ``redis+cluster://host:port`` (or
``rediss+cluster://``; several seed nodes as ``host1:port1,host2:port2``), ``cluster=True``
with a plain ``redis://`` URL, or a ready ``redis.asyncio.cluster.RedisCluster`` as
``client``. redis-py's cluster client follows MOVED/ASK redirects and retries TRYAGAIN itself;
what still fails (a primary down before its replica takes over: connection refused,
CLUSTERDOWN, an uncovered slot) becomes :class:`TierUnavailableError`, as on one Redis, and
the engine serves from Postgres meanwhile. A promoted replica has another ``run_id``, so the
windows it inherited are refilled from Postgres before they are served (see ``_RUN_ID``).
SCAN-based operations (:meth:`AsyncRedisTier.user_keys`, a namespace's ``cache_delete``) visit
every primary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import redis as aioredis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError
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

__all__ = ["CLUSTER_SCHEMES", "RedisTier"]
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"URL schemes that select the Redis Cluster client, and the plain scheme each stands for."
_FAILURES = (RedisError, RedisClusterException, OSError)
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def _glob_literal(text: str) -> str:
    """``text`` as a literal inside a SCAN MATCH pattern. Percent-encoded ids hold only
    ``[A-Za-z0-9_.~%-]``, so this changes nothing for them; it keeps the pattern exact even
    if the encoding ever does not."""
    return text.translate(_GLOB_SPECIAL)


_node: Callable[[str, int], Any] = ClusterNode


def _cluster_url(url: str) -> tuple[str, list[tuple[str, int]]] | None:
    """Split a ``redis+cluster://`` URL into a plain URL on the first seed node and the other
    seed nodes; None if ``url`` is not a cluster URL."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    if plain is None:
        return None
    netloc, slash, tail = rest.partition("/")
    auth, at, hosts = netloc.rpartition("@")
    seeds = hosts.split(",")
    others: list[tuple[str, int]] = []
    for seed in seeds[1:]:
        host, colon, port = seed.rpartition(":")
        if not colon or not host or (not port.isdigit()):
            raise ConfigurationError(f"cluster seed node must be host:port, got {seed!r}")
        others.append((host.strip("[]"), int(port)))
    return (f"{plain}://{auth}{at}{seeds[0]}{slash}{tail}", others)


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
_SCRIPTS = {
    "append": _APPEND,
    "fill": _FILL,
    "read": _READ,
    "put_state": _PUT_STATE,
    "get_state": _GET_STATE,
    "invalidate": _INVALIDATE,
    "put_context": _PUT_CONTEXT,
}


class RedisTier:
    """Hot tier on Redis or Redis Cluster.

    Args:
        url: ``redis://`` URL (``rediss://`` for TLS, ``unix://`` for a socket), or
            ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://``) for a cluster.
        client: An existing ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``
            to use instead of ``url`` (not closed by :meth:`close`).
        cluster: Treat a plain ``redis://`` URL as a seed node of a Redis Cluster.
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
        client: aioredis.Redis | RedisCluster | None = None,
        cluster: bool = False,
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
        self._client: aioredis.Redis | RedisCluster | None = client
        self._owns_client = client is None
        self._url = url
        self._seeds: list[tuple[str, int]] = []
        self._socket_timeout = socket_timeout
        if url is not None:
            split = _cluster_url(url)
            if split is not None:
                url, self._seeds = split
                cluster = True
            parts = urlsplit(url)
            if parts.scheme not in ("redis", "rediss", "unix"):
                raise ConfigurationError(
                    f"invalid Redis URL: the scheme must be redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://, got {parts.scheme or url!r}"
                )
            if cluster and (parts.scheme == "unix" or parts.path.strip("/") not in ("", "0")):
                raise ConfigurationError("a Redis Cluster URL takes no database number or socket")
            try:
                parts.port
            except ValueError as exc:
                raise ConfigurationError(f"invalid Redis URL: {exc}") from exc
            self._url = url
        self.cluster = cluster or isinstance(client, RedisCluster)
        "True when the tier talks to a Redis Cluster."
        self.prefix = quote(prefix, safe="")
        self.window_size = window_size
        self._ttl_ms = int(ttl_seconds * 1000)
        self._scripts: dict[str, Any] = {}
        if client is not None:
            self._register(client)
        elif not self.cluster:
            self._redis()

    def _register(self, client: aioredis.Redis | RedisCluster) -> None:
        for name, text in _SCRIPTS.items():
            self._scripts[name] = client.register_script(text)

    def _redis(self) -> aioredis.Redis | RedisCluster:
        """The client, created on first use: the sync cluster client connects while it is
        built, and an unreachable cluster must be a :class:`TierUnavailableError` of one
        operation, not an error constructing the memory."""
        client = self._client
        if client is not None:
            return client
        assert self._url is not None
        timeouts: dict[str, Any] = {
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": self._socket_timeout,
            "health_check_interval": 30,
        }
        try:
            if self.cluster:
                client = RedisCluster.from_url(
                    self._url,
                    startup_nodes=[_node(h, p) for h, p in self._seeds] or None,
                    retry=Retry(NoBackoff(), 1),
                    **timeouts,
                )
            else:
                client = aioredis.Redis.from_url(self._url, retry=Retry(NoBackoff(), 1), **timeouts)
        except ValueError as exc:
            raise ConfigurationError(f"invalid Redis URL: {exc}") from exc
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        self._register(client)
        self._client = client
        return client

    @property
    def client(self) -> aioredis.Redis | RedisCluster:
        """The underlying redis-py client (``Redis`` or ``RedisCluster``)."""
        return self._redis()

    def keys_for(self, key: SessionKey) -> list[str]:
        """The Redis keys of one session: ``[meta, window]``."""
        base = f"{self.prefix}:{{{key.tag}}}"
        return [base + ":m", base + ":w"]

    def _call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        self._redis()
        try:
            return self._scripts[script](keys=keys, args=args)
        except _FAILURES as exc:
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
        self._call("append", self.keys_for(key), args)

    def fill(self, key: SessionKey, last_seq: int, lo: int, messages: Sequence[Message]) -> None:
        args: list[Any] = [last_seq, lo, self._ttl_ms]
        args.extend((m.to_json() for m in messages[-self.window_size :]))
        self._call("fill", self.keys_for(key), args)

    def read(self, key: SessionKey, n: int) -> HotRead | None:
        reply = self._call("read", self.keys_for(key), [max(n, 1), self._ttl_ms])
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
        self._call("put_state", self.keys_for(key), args)

    def get_state(self, key: SessionKey) -> HotState | None:
        reply = self._call("get_state", self.keys_for(key), [self._ttl_ms])
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
        self._call("invalidate", [*self.keys_for(key), self.context_key_for(key)], [])

    def drop(self, key: SessionKey) -> int:
        try:
            return int(self._redis().delete(*self.keys_for(key), self.context_key_for(key)))
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def user_keys(self, tenant: str, user: str | None = None) -> list[str]:
        scope = _glob_literal(quote(tenant, safe=""))
        if user is not None:
            scope += ":" + _glob_literal(quote(user, safe=""))
        prefix = _glob_literal(self.prefix)
        patterns = [f"{prefix}:{{{scope}:*"]
        if user is None:
            patterns.append(f"{prefix}:cc:{{{scope}:*")
        found: list[str] = []
        client = self._redis()
        try:
            for pattern in patterns:
                for name in client.scan_iter(match=pattern, count=1000):
                    found.append(name.decode() if isinstance(name, bytes) else str(name))
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return sorted(set(found))

    def delete_keys(self, keys: Sequence[str]) -> int:
        deleted = 0
        try:
            for key in keys:
                deleted += int(self._redis().delete(key))
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return deleted

    def context_key_for(self, key: SessionKey) -> str:
        """The Redis hash holding the session's composed contexts."""
        return f"{self.prefix}:{{{key.tag}}}:c"

    def get_context(self, key: SessionKey, stamp: str) -> bytes | None:
        try:
            value = self._redis().hget(self.context_key_for(key), stamp)
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    def put_context(self, key: SessionKey, stamp: str, data: bytes, ttl: float) -> None:
        args = [stamp, data, max(1, int(ttl * 1000)), MAX_CONTEXTS_PER_SESSION]
        self._call("put_context", [self.context_key_for(key)], args)

    def cache_key_for(self, tenant: str, namespace: str, digest: str) -> str:
        """The Redis key of one content-cache entry (ids percent-encoded)."""
        return f"{self.prefix}:cc:{{{quote(tenant, safe='')}:{quote(namespace, safe='')}}}:{digest}"

    def cache_get(self, tenant: str, namespace: str, digests: Sequence[str]) -> list[bytes | None]:
        if not digests:
            return []
        keys = [self.cache_key_for(tenant, namespace, d) for d in digests]
        try:
            values = self._redis().mget(keys)
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc
        return [
            None if v is None else v.encode() if isinstance(v, str) else bytes(v) for v in values
        ]

    def cache_put(
        self, tenant: str, namespace: str, digest: str, data: bytes, ttl: float | None
    ) -> None:
        key = self.cache_key_for(tenant, namespace, digest)
        try:
            self._redis().set(key, data, px=None if ttl is None else max(1, int(ttl * 1000)))
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def cache_delete(self, tenant: str, namespace: str, digests: Sequence[str] | None) -> None:
        try:
            if digests is not None:
                keys = [self.cache_key_for(tenant, namespace, d) for d in digests]
            else:
                pattern = _glob_literal(self.cache_key_for(tenant, namespace, "")) + "*"
                keys = [k for k in self._redis().scan_iter(match=pattern, count=1000)]
            for i in range(0, len(keys), 500):
                self._redis().delete(*keys[i : i + 500])
        except _FAILURES as exc:
            raise TierUnavailableError(f"Redis hot tier failed: {exc}") from exc

    def ping(self) -> bool:
        """True when Redis answers; on a cluster, when every primary answers and the cluster
        serves all its slots (``cluster_state:ok``: not during a failover)."""
        try:
            client = self._redis()
            if not client.ping():
                return False
            if isinstance(client, RedisCluster):
                info = client.cluster_info()
                return info.get("cluster_state") == "ok"
            return True
        except (*_FAILURES, TierUnavailableError):
            return False

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            client, self._client = (self._client, None)
            client.close()
