"""Turn a `connection` argument (URL, client or None) into a redis.asyncio client, and ride out outages.

None means: `NESTQ_REDIS_URL` from the settings, else the embedded server for this folder.

Clients made here retry a command that hits a dropped or refused connection for a bounded time
(`GIVE_UP_AFTER` seconds, capped backoff), then raise `RedisUnavailableError` naming the URL: a Redis
restart does not fail a producer, and a Redis that is gone does not hang one. Long-lived consumers
(workers, event listeners, schedulers) catch that error and keep going with an `Outage`, which logs once
when an outage starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis comes with redis[hiredis]
    hiredis = None  # type: ignore[assignment]
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework import cluster, sentinel
from framework.errors import CommandTimeoutError, RedisAccessError, RedisUnavailableError

Connection = str | Redis | RedisCluster | None
# A client nestq may be handed or create for work that is not one queue's (discovery, server info).
AnyRedis = Redis | RedisCluster
T = TypeVar("T")

# Seconds a command keeps retrying on a lost connection before its caller gets RedisUnavailableError.
GIVE_UP_AFTER = 5.0
CONNECT_TIMEOUT = 2.0
# Connections of one client nestq creates (a process's shared client): beyond it, commands wait their turn.
MAX_CONNECTIONS = 100
# No read timeout (redis-py 8 defaults to 5 s): a blocking BZPOPMIN / XREAD of 5 s would race it, and with
# one set redis-py wraps every write in asyncio.wait_for, which on Python 3.11 can swallow a task's
# cancellation (a worker that cannot be stopped). A connection cut without a FIN/RST (network partition) is
# found by TCP keepalive instead (~10 s idle, then 3 probes 5 s apart); blocking commands bound their own
# wait with asyncio.timeout.
KEEPALIVE_OPTIONS: dict[int, int] = {
    opt: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (opt := getattr(socket, name, None)) is not None
}
# Errors that mean "Redis is not reachable right now" (BusyLoadingError is a ConnectionError).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
    # A cluster's redirects and failovers (cluster.py follows them; the command did not run).
    *cluster.CLUSTER_RETRY_ERRORS,
)

# Set while a command's retry loop runs in this task, so the connect retry nested inside it makes one
# attempt and the outer loop alone decides how long to keep going.
_in_retry: contextvars.ContextVar[bool] = contextvars.ContextVar("nestq_in_retry", default=False)


def command_timeout() -> float:
    """The per-command deadline of producers and admin calls, in seconds (`NESTQ_COMMAND_TIMEOUT`)."""
    from framework.settings import get_settings

    return get_settings().command_timeout


def is_permanent(error: BaseException) -> bool:
    """Whether a Redis error cannot go away by retrying: a wrong password or user, an ACL that forbids a
    command or key (NOPERM), a TLS certificate that fails verification."""
    from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError, ResponseError

    if isinstance(error, AuthenticationError | AuthorizationError | NoPermissionError):
        return True
    text = str(error)
    if isinstance(error, ResponseError) and text.startswith(("NOPERM", "WRONGPASS", "NOAUTH")):
        return True
    seen: BaseException | None = error
    for _ in range(5):  # the TLS error is the cause of redis-py's ConnectionError
        if seen is None:
            break
        if "CERTIFICATE_VERIFY_FAILED" in str(seen) or type(seen).__name__ == "SSLCertVerificationError":
            return True
        if "WRONGPASS" in str(seen) or "invalid username-password" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BoundedRetry(Retry):
    """redis-py retry policy: retry connection errors with capped backoff until `deadline` seconds
    have passed since the first failure, then raise `RedisUnavailableError` naming `url` (redacted).

    With `command_timeout`, a command (its retries included) that has no answer after that many seconds
    raises `CommandTimeoutError` (a paused or cut-off server); None for clients of blocking reads. An error
    that retrying cannot fix (`is_permanent`) raises `RedisAccessError` at once."""

    def __init__(
        self, url: str, deadline: float = GIVE_UP_AFTER, command_timeout: float | None = None
    ) -> None:
        super().__init__(ExponentialBackoff(cap=0.5, base=0.05), retries=1_000_000)
        from framework.settings import redact_url

        self.url = redact_url(url)
        self.deadline = deadline
        self.command_timeout = command_timeout

    def without_timeout(self) -> BoundedRetry:
        """The same policy without a per-command deadline (for blocking reads)."""
        retry = BoundedRetry("", self.deadline)
        retry.url = self.url
        return retry

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        if _in_retry.get():
            return await do()
        token = _in_retry.set(True)
        try:
            if self.command_timeout is None:
                return await self._retry(do, fail, is_retryable, with_failure_count)
            deadline = asyncio.timeout(self.command_timeout)
            failed: list[BaseException] = []
            try:
                async with deadline:
                    return await self._retry(do, fail, is_retryable, with_failure_count, failed)
            except TimeoutError:
                if not deadline.expired():
                    raise  # someone else's timeout
                if failed:  # refused or dropped meanwhile: the server is unreachable rather than silent
                    raise RedisUnavailableError(self.url, self.command_timeout, failed[-1]) from failed[-1]
                raise CommandTimeoutError(self.url, self.command_timeout) from None
        finally:
            _in_retry.reset(token)

    async def _retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None,
        with_failure_count: bool,
        failed: list[BaseException] | None = None,
    ) -> T:
        started: float | None = None
        failures = 0
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                if is_permanent(error):
                    await (fail(error, failures + 1) if with_failure_count else fail(error))
                    raise RedisAccessError(self.url, error) from error
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                if failed is not None:
                    failed.append(error)
                await (fail(error, failures) if with_failure_count else fail(error))
                now = time.monotonic()
                if started is None:
                    started = now
                left = self.deadline - (now - started)
                if left <= 0:
                    raise RedisUnavailableError(self.url, self.deadline, error) from error
                await asyncio.sleep(min(self._backoff.compute(failures), left))


def resolve_url(connection: str | None) -> str:
    """The server URL to use when no client was given."""
    if connection:
        return connection
    from framework.settings import get_settings

    url = get_settings().redis_url
    if url:
        return url
    from framework.embedded import embedded_url

    return embedded_url()


def create_redis(connection: Connection, *, key: str | bytes | None = None) -> tuple[Redis, bool]:
    """Return (client, owned). A client passed in is shared and not closed by nestq (owned is False).

    On a Redis Cluster (a `redis+cluster://` URL or a `RedisCluster`), `key` names the hash slot the client
    is for (a queue's keys share one): the client returned talks to the master serving that slot and
    follows it through failovers (`framework.cluster`). It is always owned; the cluster client is not."""
    if isinstance(connection, Redis):
        sibling = None if key is None else cluster.sibling_client(connection, key)
        return (connection, False) if sibling is None else (sibling, True)
    topology: cluster.ClusterTopology | None = None
    if isinstance(connection, RedisCluster):
        topology = cluster.topology_of(connection)
        url = topology.name
    else:
        url = resolve_url(connection)
        if cluster.is_cluster_url(url):
            topology = cluster.topology_of(url)
    deadline = command_timeout()
    # A blocking pool: when every connection is busy (many processors in one process share this client), a
    # command waits for one (up to the command deadline) instead of failing with "Too many connections".
    options: dict[str, Any] = {
        "max_connections": MAX_CONNECTIONS,
        "timeout": deadline,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": None,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE_OPTIONS,
        "health_check_interval": 30,
        "retry": BoundedRetry(url, command_timeout=deadline),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    if topology is not None:
        if key is None:
            raise TypeError("a Redis Cluster client is made per hash slot: pass key= (a queue's key)")
        client = cluster.slot_client(topology, key, options)
    elif sentinel.is_sentinel_url(url):
        client = sentinel.create_sentinel_redis(url, **options)
    else:
        pool = BlockingConnectionPool.from_url(url, **options)
        client = Redis(connection_pool=pool)
        client.auto_close_connection_pool = True
    client.connection_pool.connection_class = _hiredis_packing(client.connection_pool.connection_class)
    return client, True


def create_client(connection: Connection) -> tuple[AnyRedis, bool]:
    """Return (client, owned) for work that is not one queue's: a `RedisCluster` for a cluster URL (queues
    made on it get their own slot client), else as `create_redis`."""
    if isinstance(connection, RedisCluster):
        return connection, False
    if not isinstance(connection, Redis):
        url = resolve_url(connection)
        if cluster.is_cluster_url(url):
            return cluster.create_cluster(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_keepalive=True,
                socket_keepalive_options=KEEPALIVE_OPTIONS,
            ), True
    return create_redis(connection)


def is_cluster(connection: Connection) -> bool:
    """Whether `connection` (a URL, a client, or None for the settings) is a Redis Cluster."""
    if isinstance(connection, RedisCluster):
        return True
    if isinstance(connection, Redis):
        return False
    return cluster.is_cluster_url(resolve_url(connection))


_FAST_CLASSES: dict[type[Any], type[Any]] = {}


def _hiredis_packing(cls: type[Any]) -> type[Any]:
    """`cls` with commands packed by hiredis (C) instead of redis-py's Python packer.

    redis-py's asyncio connections pack every argument in Python; with the 8+ arguments per job of a
    batched script call that is the largest single cost of a busy worker. Same rules as redis-py's own
    `HiredisRespSerializer` (used by its sync client): a first argument like "SCRIPT LOAD" is split.
    """
    if hiredis is None or getattr(cls, "_nestq_fast_pack", False):
        return cls
    fast = _FAST_CLASSES.get(cls)
    if fast is None:

        def pack_command(self: Any, *args: Any) -> list[bytes]:
            first = args[0]
            if isinstance(first, str):
                if " " in first:
                    args = (*first.split(), *args[1:])
            elif isinstance(first, bytes) and b" " in first:
                args = (*first.split(), *args[1:])
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                # memoryview, bool and friends: let redis-py say what it thinks of them.
                packed: list[bytes] = cls.pack_command(self, *args)
                return packed

        fast = type(cls.__name__, (cls,), {"pack_command": pack_command, "_nestq_fast_pack": True})
        _FAST_CLASSES[cls] = fast
    return fast


def clone_redis(client: Redis, *, name: str | None = None) -> Redis:
    """A new client with its own connection pool to the same server, for blocking commands: without a read
    timeout (the caller bounds each wait), whatever the original client has. `name` is set on each of its
    connections (CLIENT SETNAME), so they can be told apart in CLIENT LIST."""
    kwargs = dict(client.connection_pool.connection_kwargs)
    kwargs["socket_timeout"] = None
    retry = kwargs.get("retry")
    if isinstance(retry, BoundedRetry):
        kwargs["retry"] = retry.without_timeout()  # the caller bounds each blocking wait itself
    if name is not None:
        kwargs["client_name"] = name
    original = client.connection_pool
    if isinstance(original, SentinelConnectionPool):  # also bound to a service and its sentinels
        pool = sentinel.clone_sentinel_pool(original, kwargs)
    else:
        pool = original.__class__(connection_class=original.connection_class, **kwargs)
    return Redis(connection_pool=pool)


class Outage:
    """Tracks one component's view of Redis: logs once when it becomes unreachable and once when it
    is back (never once per attempt), and paces retries with a capped backoff.

    Args:
        component: what is waiting, for the log lines ("worker", "event listener", "scheduler").
        cap: longest pause between two attempts, in seconds.
        **context: bound to both log lines (queue=..., worker=...).
    """

    def __init__(self, component: str, *, cap: float = 2.0, **context: Any) -> None:
        self.component = component
        self.cap = cap
        self.context = context
        self.since: float | None = None
        self.outages = 0
        self._recovered: list[Callable[[], None]] = []
        self._log = structlog.get_logger("nestq.connection")

    @property
    def active(self) -> bool:
        return self.since is not None

    def on_recovered(self, callback: Callable[[], None]) -> None:
        """Call `callback` (sync, quick) each time Redis answers again after an outage."""
        self._recovered.append(callback)

    def failed(self, exc: BaseException) -> bool:
        """Record a failed attempt; returns True when this starts an outage (logged here, once)."""
        if self.since is not None:
            return False
        self.since = time.monotonic()
        self.outages += 1
        self._log.warning(
            f"redis unreachable; {self.component} retrying until it is back", error=str(exc), **self.context
        )
        return True

    async def pause(self) -> None:
        """Sleep before the next attempt: 0.1 s, doubling up to `cap`."""
        waited = 0.0 if self.since is None else time.monotonic() - self.since
        await asyncio.sleep(min(0.1 * 2 ** min(waited, 8), self.cap))

    def ok(self) -> None:
        """Record a successful call; ends an outage (logged here, once)."""
        if self.since is None:
            return
        seconds = round(time.monotonic() - self.since, 1)
        self.since = None
        self._log.info(
            f"redis reachable again; {self.component} resumed", outage_seconds=seconds, **self.context
        )
        for callback in self._recovered:
            callback()
