"""Redis Cluster: `redis+cluster://` URLs, `RedisCluster` clients, and one plain client per queue slot.

A queue's keys share one hash tag (`{prefix:queue}`), so they live on one node. On a cluster nestq gives
each queue a plain `redis.asyncio.Redis` whose connections go to the master that owns the queue's slot
*now* (`slot_client`): scripts, pipelines, MULTI, blocking reads and held connections then work as on one
server, and loading a script on "the node of this key" is just `SCRIPT LOAD` on that client.

The owner of each slot comes from `ClusterTopology` (CLUSTER SLOTS, asked of any known node). A connection
looks its address up each time it connects, and drops itself when the owner changed. A MOVED reply moves
the slot at once; MOVED, ASK, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY and refused connections mark the
map stale, so the next connection asks the cluster again. None of these ran the command, so the client's
retry policy (`connection.BoundedRetry`) sends it again, within the same deadline as an outage. Each event
is logged once (when it starts, and when the owner of a slot changes), never once per attempt.

ASK (a slot being migrated) is retried until the migration ends: a queue's slot is not served from two
nodes at once. This module knows nothing about queues.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    ReadOnlyError,
    RedisError,
    TryAgainError,
)

__all__ = [
    "CLUSTER_RETRY_ERRORS",
    "CLUSTER_SCHEMES",
    "ClusterTopology",
    "create_cluster",
    "each_primary",
    "is_cluster_url",
    "slot_client",
    "topology_of",
]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SLOTS = 16384
# Replies that mean "not here, not now": the command did not run, so sending it again is safe.
# (MovedError is an AskError; MasterDownError a ClusterDownError.)
CLUSTER_RETRY_ERRORS: tuple[type[BaseException], ...] = (
    AskError,
    TryAgainError,
    ClusterDownError,
    ReadOnlyError,
)
# Two refreshes of the map at most this close together (seconds): a failover makes every connection fail.
_REFRESH_GAP = 0.2
# An error this long after the last one starts a new event (logged again).
_QUIET = 5.0
# What a connection to one node may take from a cluster's options (not its pool or callbacks).
_CONNECTION_OPTIONS = (
    "username", "password", "credential_provider", "client_name", "encoding", "encoding_errors",
    "decode_responses", "health_check_interval", "socket_connect_timeout", "socket_keepalive",
    "socket_keepalive_options", "socket_read_size", "socket_timeout", "protocol",
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_check_hostname",
    "ssl_min_version", "ssl_ciphers", "ssl_include_verify_flags", "ssl_exclude_verify_flags",
)  # fmt: skip

log = structlog.get_logger("nestq.cluster")


def is_cluster_url(url: str | None) -> bool:
    """Whether `url` is a `redis+cluster://` or `rediss+cluster://` URL."""
    return bool(url) and str(url).partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The seed nodes of a cluster URL and the options of a connection to one node (password, TLS, ...).

    `redis+cluster://[user:password@]host:port[,host:port...][/0][?options]`: any node is a seed.
    """
    from framework.settings import redact_url

    scheme, _, rest = url.partition("://")
    tls = scheme.lower() == "rediss+cluster"
    netloc, slash, tail = rest.partition("/")
    query = ""
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
        tail = ""
    userinfo, at, hosts = netloc.rpartition("@")
    seeds: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"a cluster URL lists nodes as host:port separated by commas, got {redact_url(url)!r}"
            )
        seeds.append((host.strip("[]"), int(port)))
    plain = f"{'rediss' if tls else 'redis'}://{userinfo}{at}{seeds[0][0]}:{seeds[0][1]}{slash}{tail}"
    if query:
        plain += "?" + query
    options: dict[str, Any] = dict(parse_url(plain))
    if options.pop("db", 0) not in (0, "0", None):
        raise ValueError(f"a Redis Cluster has only database 0, got {redact_url(url)!r}")
    options.pop("host", None)
    options.pop("port", None)
    connection_class = options.pop("connection_class", None)
    if tls or (isinstance(connection_class, type) and issubclass(connection_class, SSLConnection)):
        options["ssl"] = True
    if "username" in options and options["username"] is not None:
        options["username"] = unquote(options["username"])
    return seeds, options


class ClusterTopology:
    """Which master serves each slot, asked of the cluster when stale. Holds no connection between calls.

    Args:
        seeds: nodes to ask first (any node of the cluster).
        options: options of a connection to one node (password, TLS, timeouts).
        name: the cluster, for log lines (no password).
    """

    def __init__(self, seeds: Iterable[tuple[str, int]], options: dict[str, Any], name: str) -> None:
        self.seeds = list(dict.fromkeys(seeds))
        self.options = options
        self.name = name
        self._owners: list[tuple[str, int] | None] = []
        self._primaries: set[tuple[str, int]] = set()
        self._replicas: list[tuple[str, int]] = []
        self._stale = True
        self._refreshed_at = 0.0
        self._last_error_at = -_QUIET
        self._inflight: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def owner(self, slot: int) -> tuple[str, int] | None:
        """The master serving `slot` as last seen (None before the first refresh or when uncovered)."""
        return self._owners[slot] if self._owners else None

    def moved(self, error: MovedError) -> None:
        """A MOVED reply: the slot is served elsewhere now (the map is asked again too)."""
        if self._owners:
            address = (str(error.host), int(error.port))
            self._owners[error.slot_id] = address
            self._primaries.add(address)
        self.failed(error)

    def failed(self, error: BaseException) -> None:
        """A redirect, a cluster error or a refused connection: ask the cluster again before connecting."""
        self._stale = True
        now = time.monotonic()
        if now - self._last_error_at > _QUIET:
            log.warning(
                "redis cluster: redirected or unavailable; following the cluster's new layout",
                cluster=self.name,
                error=str(error),
            )
        self._last_error_at = now

    async def address(self, slot: int) -> tuple[str, int]:
        """The master to connect to for `slot`, refreshing the map first when it is stale."""
        if self._stale or not self._owners:
            await self.refresh()
        owner = self.owner(slot)
        if owner is None:
            raise ClusterDownError(f"CLUSTERDOWN slot {slot} is not served by any node of {self.name}")
        return owner

    async def refresh(self) -> None:
        """Ask the cluster which master serves each slot (one refresh at a time per event loop)."""
        loop = asyncio.get_running_loop()
        task = self._inflight.get(loop)
        if task is None:
            if self._owners and time.monotonic() - self._refreshed_at < _REFRESH_GAP:
                return
            task = self._inflight[loop] = loop.create_task(self._refresh())
            task.add_done_callback(lambda _: self._inflight.pop(loop, None))
        await asyncio.shield(task)

    async def _refresh(self) -> None:
        self._refreshed_at = time.monotonic()
        candidates = list(dict.fromkeys([*self.primaries(), *self.seeds, *self._replicas]))
        errors: list[str] = []
        for host, port in candidates:
            try:
                owners, replicas = await self._ask(host, port)
            except (RedisError, OSError) as exc:
                errors.append(f"{host}:{port}: {exc}")
                continue
            self._apply(owners, replicas)
            return
        raise ClusterDownError(
            f"CLUSTERDOWN no node of {self.name} answered CLUSTER SLOTS: {'; '.join(errors)}"
        )

    async def _ask(self, host: str, port: int) -> tuple[list[tuple[str, int] | None], list[tuple[str, int]]]:
        options = dict(self.options)
        options["socket_connect_timeout"] = min(options.get("socket_connect_timeout") or 1.0, 1.0)
        options["socket_timeout"] = 2.0
        ssl = options.pop("ssl", False)
        client = Redis(host=host, port=port, ssl=ssl, retry=Retry(NoBackoff(), 0), **options)
        try:
            reply = await client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        owners: list[tuple[str, int] | None] = [None] * SLOTS
        replicas: list[tuple[str, int]] = []
        for start, end, master, *others in reply:
            address = _address(master, host)
            for slot in range(int(start), int(end) + 1):
                owners[slot] = address
            replicas += [_address(other, host) for other in others]
        return owners, replicas

    def _apply(self, owners: list[tuple[str, int] | None], replicas: list[tuple[str, int]]) -> None:
        before = self._owners
        self._owners = owners
        self._primaries = set(dict.fromkeys(owner for owner in owners if owner is not None))
        self._replicas = replicas
        self._stale = False
        if before and before != owners:
            changed = sorted(
                {f"{h}:{p}" for b, a in zip(before, owners, strict=True) if b != a and a for h, p in [a]}
            )
            log.info("redis cluster: slots have a new master", cluster=self.name, now_served_by=changed)

    def primaries(self) -> list[tuple[str, int]]:
        """Every master serving at least one slot, as last seen."""
        return list(self._primaries)

    def is_primary(self, address: tuple[str, int]) -> bool:
        """Whether `address` served a slot at the last look (True before the first one)."""
        return not self._owners or address in self._primaries


def _address(node: list[Any], asked: str) -> tuple[str, int]:
    host = node[0].decode() if isinstance(node[0], bytes) else str(node[0])
    # An empty host (or "?") means "the address you reached me at".
    return (host if host and host != "?" else asked), int(node[1])


class _SlotMixin:
    """A connection that goes to whichever master serves its slot, looked up each time it connects.

    A command for another slot (a caller mixing queues on one client) is answered MOVED: the connection then
    reconnects to the node named in the reply and the command is sent again there; it stays on that node
    while it is a master, so a client used for keys of several slots works, paying a reconnect per move."""

    host: str
    port: int

    def __init__(self, *, topology: ClusterTopology, slot: int, **kwargs: Any) -> None:
        self._topology = topology
        self._slot = slot
        self._redirect: tuple[str, int] | None = None  # from a MOVED reply: where to connect next
        super().__init__(**kwargs)

    async def connect(self) -> None:
        if self.is_connected and (  # type: ignore[attr-defined]
            self._redirect is not None or not self._topology.is_primary((self.host, self.port))
        ):
            await self.disconnect()  # type: ignore[attr-defined]  # moved, or no longer a master: follow
        await super().connect()  # type: ignore[misc]

    async def _connect(self) -> None:
        redirect, self._redirect = self._redirect, None
        self.host, self.port = redirect or await self._topology.address(self._slot)
        try:
            await super()._connect()  # type: ignore[misc]
        except (TimeoutError, OSError, RedisError) as exc:
            self._topology.failed(exc)
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except MovedError as exc:
            self._topology.moved(exc)
            self._redirect = (str(exc.host), int(exc.port))
            raise
        except CLUSTER_RETRY_ERRORS as exc:
            self._topology.failed(exc)
            raise


class SlotConnection(_SlotMixin, Connection):
    """A TCP connection to the master of one slot."""


class SSLSlotConnection(_SlotMixin, SSLConnection):
    """A TLS connection to the master of one slot."""


_topologies: dict[str, ClusterTopology] = {}
_client_topologies: weakref.WeakKeyDictionary[RedisCluster, ClusterTopology] = weakref.WeakKeyDictionary()


def topology_of(connection: str | RedisCluster) -> ClusterTopology:
    """The topology of a cluster URL or client (one per URL or client, shared by its queues)."""
    from framework.settings import redact_url

    if isinstance(connection, str):
        topology = _topologies.get(connection)
        if topology is None:
            seeds, options = parse_cluster_url(connection)
            topology = _topologies[connection] = ClusterTopology(seeds, options, redact_url(connection))
        return topology
    topology = _client_topologies.get(connection)
    if topology is None:
        manager = connection.nodes_manager
        nodes = [*manager.startup_nodes.values(), *manager.nodes_cache.values()]
        kwargs = manager.connection_kwargs
        options = {k: kwargs[k] for k in _CONNECTION_OPTIONS if kwargs.get(k) is not None}
        cls = kwargs.get("connection_class")
        if isinstance(cls, type) and issubclass(cls, SSLConnection):
            options["ssl"] = True
        seeds = [(node.host, int(node.port)) for node in nodes]
        name = ",".join(f"{h}:{p}" for h, p in seeds[:3])
        topology = _client_topologies[connection] = ClusterTopology(seeds, options, name)
    return topology


def slot_client(topology: ClusterTopology, key: str | bytes, pool_options: dict[str, Any]) -> Redis:
    """A plain client whose connections go to the master serving `key`'s slot, following failovers.

    `pool_options` are those of `connection.create_redis` (timeouts, retry, max_connections): the same
    behaviour as a client of one server."""
    raw = key.encode() if isinstance(key, str) else key
    options = dict(topology.options)
    ssl = options.pop("ssl", False)
    options.update(pool_options)
    options["retry_on_error"] = [*options.get("retry_on_error", ()), *CLUSTER_RETRY_ERRORS]
    pool = BlockingConnectionPool(
        connection_class=SSLSlotConnection if ssl else SlotConnection,
        topology=topology,
        slot=key_slot(raw),
        **options,
    )
    client = Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def create_cluster(url: str, **options: Any) -> RedisCluster:
    """A `RedisCluster` for a `redis+cluster://` URL (for code that wants a cluster-aware client)."""
    seeds, node_options = parse_cluster_url(url)
    node_options.update(options)
    return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in seeds], **node_options)


@asynccontextmanager
async def each_primary(client: Redis | RedisCluster) -> AsyncIterator[list[Redis]]:
    """A client on each master of `client`'s cluster, to SCAN the whole key space (closed on exit); on a
    single server, `client` itself."""
    if isinstance(client, RedisCluster):
        topology: ClusterTopology | None = topology_of(client)
    else:
        topology = client.connection_pool.connection_kwargs.get("topology")
    if not isinstance(topology, ClusterTopology):
        yield [client]  # type: ignore[list-item]  # a plain Redis
        return
    await topology.refresh()
    options = dict(topology.options)
    ssl = options.pop("ssl", False)
    clients = [Redis(host=h, port=p, ssl=ssl, **options) for h, p in topology.primaries()]
    try:
        yield clients
    finally:
        for node in clients:
            await node.aclose()


def is_slot_client(client: object) -> bool:
    """Whether `client` is one made by `slot_client` (a cluster's, for one slot)."""
    pool = getattr(client, "connection_pool", None)
    return isinstance(getattr(pool, "connection_kwargs", {}).get("topology"), ClusterTopology)


def sibling_client(client: Redis, key: str | bytes) -> Redis | None:
    """For a slot client of another slot than `key`'s: a new one (same options) for `key`'s slot; else None.

    So `Queue(other, connection=queue.client)` works on a cluster as on one server."""
    kwargs = client.connection_pool.connection_kwargs
    topology = kwargs.get("topology")
    if not isinstance(topology, ClusterTopology):
        return None
    slot = key_slot(key.encode() if isinstance(key, str) else key)
    if kwargs.get("slot") == slot:
        return None
    pool = client.connection_pool
    options = {**kwargs, "slot": slot}
    sibling_pool = BlockingConnectionPool(
        connection_class=pool.connection_class,
        max_connections=pool.max_connections,
        timeout=getattr(pool, "timeout", 20),
        **options,
    )
    sibling = Redis(connection_pool=sibling_pool)
    sibling.auto_close_connection_pool = True
    return sibling
