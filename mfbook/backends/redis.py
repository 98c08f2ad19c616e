"""Redis backend (redis-py, synchronous client).

Layout, for prefix ``P`` (default ``mfbook:``), escaped binding ``B`` and hex id ``H``; the
``{B:H}`` hash tag puts every key of one object in one Redis Cluster slot::

    P{B:H}:kv          hash   encoded key -> value
    P{B:H}:keys        zset   encoded keys, score 0 (ZRANGEBYLEX = UTF-8 byte order)
    P{B:H}:ver         hash   encoded key -> version of its last write (tombstones too,
                              until compacted as mfbook.backends.base describes)
    P{B:H}:meta        hash   version, alarm, alarm_version, size, floor, tombstones
    P{B:H}:commit:<t>  string version committed with token t (expires after 10 minutes)
    P{B:H}:lease       string owner of the object, when processes share it (mfbook.placement):
                              a commit made under a lease is refused once it has another value
    Pobjects:B         set    hex ids that were ever written (index for list_objects)

Every commit is ONE Lua script (EVALSHA, reloaded on NOSCRIPT) that checks the read set against
``read_version`` and applies the writes, so commits are atomic and serializable across
processes. Listing is one Lua script too (ZRANGEBYLEX + HMGET in one snapshot).

The ``objects`` index set has no hash tag, so it is in a different slot than the object's keys
and is written outside the commit script: it is added to *before* the first write of each
object and never shrunk, so it is a superset; ``list_objects`` keeps ids that still have data.
A ``redis://`` URL of a Redis Cluster node works too: the backend asks ``INFO cluster`` at its
first connection and then uses redis-py's cluster client, which routes each command (and each
script, by its first key) to the node of the key's slot and follows ``MOVED``/``ASK`` during a
resharding. Everything an object's commit touches carries the object's hash tag, so the commit
script runs on one node; the ``objects`` index is written by plain commands.

Lost connections raise :class:`~mfbook.backends.base.BackendUnavailable` naming the URL
without its password. An operation whose connection was refused or reset is retried once on a
fresh connection (so the first call after a server restart succeeds); a commit is retried with
the same token, so a commit whose reply was lost is never applied twice. A server that does
not answer fails the operation after ``socket_timeout`` (not retried), and the emulator does
not hold its engine lock while it waits (:mod:`mfbook.backend_waits`).
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import (
    KEEP,
    TOMBSTONE_BATCH,
    Backend,
    BackendError,
    BackendUnavailable,
    CommitBatch,
    CommitConflict,
    ObjectStore,
    OwnershipLost,
    decode_key,
    encode_key,
    escape_binding,
    validate_object_hex,
)

__all__ = ["RedisBackend", "RedisObjectStore", "redact_url"]

_T = TypeVar("_T")

_COMMIT_LUA = """\
local kv, zkeys, ver, meta, token_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
if token ~= '' then
  local done = redis.call('GET', token_key)
  if done then
    return {2, tonumber(done)}
  end
end
local fence = ARGV[#ARGV]
if fence ~= '' then
  local holder = redis.call('GET', KEYS[6])
  if holder ~= fence then
    return {3, holder or ''}
  end
end

local read_version = ARGV[2]
local n_read = tonumber(ARGV[7])
local index = 8
if read_version ~= '' then
  local limit = tonumber(read_version)
  local floor = tonumber(redis.call('HGET', meta, 'floor') or '0')
  local result = {0, 0, 0}
  local winning = 0
  for i = index, index + n_read - 1 do
    -- No record: never written, or a tombstone compacted after read_version.
    local written = tonumber(redis.call('HGET', ver, ARGV[i]) or floor)
    if written > limit then
      result[#result + 1] = ARGV[i]
      if written > winning then winning = written end
    end
  end
  if ARGV[3] == '1' then
    local written = redis.call('HGET', meta, 'alarm_version')
    if written and tonumber(written) > limit then
      result[3] = 1
      if tonumber(written) > winning then winning = tonumber(written) end
    end
  end
  if winning > 0 then
    result[2] = winning
    return result
  end
end
index = index + n_read

local n_del = tonumber(ARGV[index])
local del_first = index + 1
index = del_first + n_del
local n_put = tonumber(ARGV[index])
local put_first = index + 1
local alarm_mode = ARGV[5]

if n_del == 0 and n_put == 0 and ARGV[4] ~= '1' and alarm_mode == 'keep' then
  return {1, tonumber(redis.call('HGET', meta, 'version') or '0')}
end

local version = redis.call('HINCRBY', meta, 'version', 1)

local size = tonumber(redis.call('HGET', meta, 'size') or '0')
local made = 0
if ARGV[4] == '1' then
  local all = redis.call('HKEYS', kv)
  for _, key in ipairs(all) do
    redis.call('HSET', ver, key, version)
  end
  made = made + #all
  redis.call('DEL', kv, zkeys)
  size = 0
end
for i = del_first, del_first + n_del - 1 do
  local old = redis.call('HSTRLEN', kv, ARGV[i])
  if redis.call('HDEL', kv, ARGV[i]) == 1 then
    redis.call('ZREM', zkeys, ARGV[i])
    redis.call('HSET', ver, ARGV[i], version)
    size = size - old - string.len(ARGV[i])
    made = made + 1
  end
end
for i = put_first, put_first + 2 * n_put - 1, 2 do
  if redis.call('HEXISTS', kv, ARGV[i]) == 1 then
    size = size - redis.call('HSTRLEN', kv, ARGV[i])
  else
    size = size + string.len(ARGV[i])
    redis.call('ZADD', zkeys, 0, ARGV[i])
  end
  size = size + string.len(ARGV[i + 1])
  redis.call('HSET', kv, ARGV[i], ARGV[i + 1])
  redis.call('HSET', ver, ARGV[i], version)
end
redis.call('HSET', meta, 'size', size)
if made > 0 then
  local tombstones = redis.call('HINCRBY', meta, 'tombstones', made)
  if tombstones >= TOMBSTONE_BATCH and tombstones >= redis.call('HLEN', kv) then
    for _, key in ipairs(redis.call('HKEYS', ver)) do
      if redis.call('HEXISTS', kv, key) == 0 then redis.call('HDEL', ver, key) end
    end
    redis.call('HSET', meta, 'floor', version, 'tombstones', 0)
  end
end
if alarm_mode == 'set' then
  redis.call('HSET', meta, 'alarm', ARGV[6], 'alarm_version', version)
elseif alarm_mode == 'del' then
  redis.call('HDEL', meta, 'alarm')
  redis.call('HSET', meta, 'alarm_version', version)
end
if token ~= '' then
  redis.call('SET', token_key, version, 'EX', 600)
end
return {1, version}
""".replace("TOMBSTONE_BATCH", str(TOMBSTONE_BATCH))

_LIST_LUA = """\
-- KEYS[1] zset of keys, KEYS[2] kv hash; ARGV: min, max, reverse ('0'/'1'), limit (-1 = all)
local keys
if ARGV[3] == '1' then
  keys = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[4])
else
  keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[4])
end
local result = {}
for first = 1, #keys, 1000 do
  local last = math.min(first + 999, #keys)
  local values = redis.call('HMGET', KEYS[2], unpack(keys, first, last))
  for i = first, last do
    result[#result + 1] = keys[i]
    result[#result + 1] = values[i - first + 1]
  end
end
return result
"""


def redact_url(url: str) -> str:
    """Return ``url`` without its password (``redis://:secret@h/0`` → ``redis://h/0``)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{parts.username}@" if parts.username else "") + host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable redis URL>"


class RedisObjectStore(ObjectStore):
    """One Durable Object stored in Redis."""

    def __init__(self, backend: RedisBackend, binding: str, object_hex: str) -> None:
        self._backend = backend
        self._binding = binding
        self._object_hex = object_hex
        base = f"{backend.prefix}{{{escape_binding(binding)}:{object_hex}}}"
        self._kv = f"{base}:kv"
        self._zkeys = f"{base}:keys"
        self._ver = f"{base}:ver"
        self._meta = f"{base}:meta"
        self._token_base = f"{base}:commit:"
        self._scope = f"{binding}:{object_hex}"
        self._lease = f"{base}:lease"  # written by mfbook.placement.leases (same hash tag)
        self._indexed = False

    @property
    def redis_keys(self) -> tuple[str, str, str, str]:
        """Names of the kv hash, key zset, version hash and meta hash of this object."""
        return self._kv, self._zkeys, self._ver, self._meta

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = {encode_key(key): key for key in keys}
        if not wanted:
            return {}
        raw_keys = list(wanted)
        client = self._backend.client
        values = self._backend.call(lambda: client.hmget(self._kv, raw_keys), scope=self._scope)
        return {
            wanted[raw]: cast(bytes, value) for raw, value in zip(raw_keys, values, strict=True) if value is not None
        }

    def _list_range(
        self, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
    ) -> builtins.list[tuple[str, bytes]]:
        minimum = b"[" + low if low else b"-"
        maximum = b"(" + high if high is not None else b"+"
        args = [minimum, maximum, b"1" if reverse else b"0", -1 if limit is None else limit]
        script = self._backend.list_script
        flat = self._backend.call(lambda: script(keys=[self._zkeys, self._kv], args=args), scope=self._scope)
        return [
            (decode_key(flat[index]), flat[index + 1])
            for index in range(0, len(flat), 2)
            if flat[index + 1] is not None
        ]

    def _commit(self, batch: CommitBatch) -> int:
        puts, deletes, alarm, read_version = batch.puts, batch.deletes, batch.alarm, batch.read_version
        writes = batch.writes
        if writes and not self._indexed:
            client = self._backend.client
            index_key = self._backend.index_key(self._binding)
            self._backend.call(lambda: client.sadd(index_key, self._object_hex), scope=self._scope)
            self._indexed = True
        token = uuid.uuid4().hex if writes else ""
        checked = [encode_key(key) for key in batch.read_keys]
        args: builtins.list[Any] = [
            token,
            "" if read_version is None else str(int(read_version)),
            "1" if batch.read_alarm else "0",
            "1" if batch.delete_all else "0",
            "keep" if alarm is KEEP else ("del" if alarm is None else "set"),
            "" if alarm is KEEP or alarm is None else str(int(alarm)),
            len(checked),
            *checked,
            len(deletes),
            *(encode_key(key) for key in deletes),
            len(puts),
        ]
        for key, value in puts.items():
            args.append(encode_key(key))
            args.append(bytes(value))
        fence_for = self._backend.fence_for
        fence = fence_for(self._scope) if fence_for is not None else None
        args.append(fence or "")
        keys = [self._kv, self._zkeys, self._ver, self._meta, self._token_base + token, self._lease]
        script = self._backend.commit_script
        reply = self._backend.call(lambda: script(keys=keys, args=args), scope=self._scope)
        if int(reply[0]) == 3:
            holder = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            raise OwnershipLost(
                f"Durable Object {self._binding} {self._object_hex}: this process no longer owns it "
                f"(its lease {fence} {'is now ' + holder if holder else 'expired'}, e.g. while this process "
                "was paused); the write was refused so as not to overwrite the new owner's.",
                location=self._backend.location,
            )
        if int(reply[0]) == 0:
            conflicts = [decode_key(raw) for raw in reply[3:]]
            raise CommitConflict(conflicts, int(reply[1]), alarm=int(reply[2]) == 1)
        return int(reply[1])

    def _meta_field(self, field: str) -> bytes | None:
        client = self._backend.client
        value = self._backend.call(lambda: client.hget(self._meta, field), scope=self._scope)
        return cast("bytes | None", value)

    def version(self) -> int:
        value = self._meta_field("version")
        return 0 if value is None else int(value)

    def get_alarm(self) -> int | None:
        value = self._meta_field("alarm")
        return None if value is None else int(value)

    def count(self) -> int:
        client = self._backend.client
        return int(self._backend.call(lambda: client.zcard(self._zkeys), scope=self._scope))

    def size_bytes(self) -> int:
        value = self._meta_field("size")
        return 0 if value is None else int(value)

    def has_data(self) -> bool:
        """Return whether the object has any key or an alarm."""
        client = self._backend.client

        def query() -> builtins.list[Any]:
            pipeline = client.pipeline(transaction=False)
            pipeline.exists(self._kv)
            pipeline.hexists(self._meta, "alarm")
            return list(pipeline.execute())

        has_keys, has_alarm = self._backend.call(query, scope=self._scope)
        return bool(has_keys) or bool(has_alarm)


class RedisBackend(Backend):
    """Backend storing objects in one Redis server (``redis://`` or ``rediss://`` URL)."""

    remote = True

    def __init__(self, url: str, *, prefix: str = "mfbook:", options: Mapping[str, Any] | None = None) -> None:
        """Connect lazily to ``url``.

        Args:
            url: ``redis://[[user]:password@]host[:port][/db]`` or ``rediss://…`` (TLS).
            prefix: Prefix of every Redis key this backend writes.
            options: Extra keyword arguments for ``redis.Redis.from_url``.
        """
        self.url = url
        self.location = redact_url(url)
        self.prefix = prefix
        # A stalled server fails an operation after socket_timeout (see call()) without holding
        # the engine lock meanwhile; redis_options={"socket_timeout": s} sets it (and the
        # connect timeout, unless that is given too).
        settings: dict[str, Any] = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 5, "socket_timeout": 5}
        settings.update(options or {})
        if "socket_timeout" in (options or {}) and "socket_connect_timeout" not in (options or {}):
            settings["socket_connect_timeout"] = settings["socket_timeout"]
        settings["decode_responses"] = False  # keys and values are bytes
        self._settings = settings
        self._client: Any = None
        #: Whether the server is a Redis Cluster node (known after the first connection).
        self.cluster = False
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str], RedisObjectStore] = {}

    @property
    def client(self) -> Any:
        """The redis-py client: ``redis.Redis``, or ``RedisCluster`` for a cluster node's URL.

        Made at the first use: ``INFO cluster`` tells a cluster node from a single server.
        The cluster client follows ``MOVED``/``ASK`` redirections (a resharding) itself.

        Raises:
            BackendUnavailable: The server could not be reached.
        """
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
                client = self._client
        return client

    def _connect(self) -> Any:
        single = redis.Redis.from_url(self.url, **self._settings)
        try:
            self.cluster = int(single.info("cluster").get("cluster_enabled", 0)) == 1
        except (redis.ConnectionError, redis.TimeoutError) as error:
            single.close()
            raise BackendUnavailable(
                f"Redis at {self.location} is unavailable: {error}", location=self.location
            ) from error
        except redis.ResponseError:
            self.cluster = False  # INFO refused (a restricted user): a single server
        if not self.cluster:
            client: Any = single
        else:
            single.close()
            settings = {key: value for key, value in self._settings.items() if key != "retry"}
            client = redis.cluster.RedisCluster.from_url(_without_db(self.url), **settings)
        self._commit_script = client.register_script(_COMMIT_LUA)
        self._list_script = client.register_script(_LIST_LUA)
        return client

    @property
    def commit_script(self) -> Any:
        """The commit script (EVALSHA, loaded again on NOSCRIPT)."""
        self.client  # noqa: B018 - connects, registering the scripts
        return self._commit_script

    @property
    def list_script(self) -> Any:
        """The listing script."""
        self.client  # noqa: B018 - connects, registering the scripts
        return self._list_script

    def call(self, operation: Callable[[], _T], *, scope: str | None = None) -> _T:
        """Run ``operation`` and translate errors; a lost connection is retried once.

        A refused or reset connection is retried at once on a fresh one (the first call after
        a server restart succeeds); a *timeout* is not: the server is there but does not
        answer, and the caller has waited ``socket_timeout`` already. With ``scope`` (the
        object, ``"binding:hex"``) the wait runs inside :attr:`io_window`, without the
        engine lock.

        Raises:
            BackendUnavailable: The server could not be reached twice in a row, or did not
                answer within ``socket_timeout``.
            BackendError: Redis answered with an error.
        """
        window = self.io_window if scope is not None else None
        for attempt in (1, 2):
            try:
                if window is None:
                    return operation()
                with window(cast(str, scope)):
                    return operation()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if attempt == 2 or isinstance(error, redis.TimeoutError):
                    raise BackendUnavailable(
                        f"Redis at {self.location} is unavailable: {error}", location=self.location
                    ) from error
            except redis.RedisError as error:
                raise BackendError(f"Redis at {self.location} failed: {error}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    def index_key(self, binding: str) -> str:
        """Name of the set of object ids ever written in ``binding``."""
        return f"{self.prefix}objects:{escape_binding(binding)}"

    def open(self, binding: str, object_hex: str) -> RedisObjectStore:
        validate_object_hex(object_hex)
        with self._lock:
            store = self._stores.get((binding, object_hex))
            if store is None:
                store = self._stores[(binding, object_hex)] = RedisObjectStore(self, binding, object_hex)
            return store

    def list_objects(self, binding: str) -> builtins.list[str]:
        index_key = self.index_key(binding)
        members = self.call(lambda: self.client.smembers(index_key))
        ids = sorted(cast(bytes, raw).decode("ascii") for raw in members)
        return [object_hex for object_hex in ids if self.open(binding, object_hex).has_data()]

    def close(self) -> None:
        with self._lock:
            self._stores.clear()
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _without_db(url: str) -> str:
    """``url`` without its database number (a cluster has database 0 only)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="")) if parts.path.strip("/") in ("", "0") else url
