"""Where the dashboard and the ops CLI find queues by name: a fixed list, an `Application`'s registered
queues, or the queues discovered on the server by their keys.

Owns naming and finding queues; it must not read or change jobs (that is `data.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from framework.cluster import each_primary
from framework.connection import AnyRedis
from framework.errors import JobNotFoundError
from framework.queue import Queue
from framework.queue.keys import escape_glob
from framework.queue.routing import split_partition_name, stored_partitions
from framework.queue.serialization import as_text

__all__ = [
    "AppQueues",
    "CombinedQueues",
    "DiscoveredQueues",
    "QueueSource",
    "StaticQueues",
    "discover_queue_names",
    "source_of",
]


@runtime_checkable
class QueueSource(Protocol):
    """Where the dashboard and the CLI find queues by name."""

    async def names(self) -> list[str]:
        """Every queue name, sorted."""
        ...

    async def get(self, name: str) -> Queue:
        """The queue called `name`; raises JobNotFoundError for an unknown name."""
        ...

    async def close(self) -> None:
        """Release what the source opened itself."""
        ...


class StaticQueues:
    """A fixed list of `Queue` objects (closed by their owner, not here)."""

    def __init__(self, queues: Iterable[Queue]) -> None:
        self._queues: dict[str, Queue] = {}
        for queue in queues:
            if not isinstance(queue, Queue):
                raise TypeError(f"expected Queue objects, got {queue!r}")
            self._queues[queue.name] = queue

    async def names(self) -> list[str]:
        return sorted(self._queues)

    async def get(self, name: str) -> Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise _unknown_queue(name, sorted(self._queues)) from None

    async def close(self) -> None:
        return None


class AppQueues:
    """The queues an `Application` registers (`QueueModule.register_queue(...)`)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def _names(self) -> list[str]:
        return sorted(self._app.exploration.queues)

    async def names(self) -> list[str]:
        return self._names()

    async def get(self, name: str) -> Queue:
        if name not in self._app.exploration.queues:
            raise _unknown_queue(name, self._names())
        queue = self._app.queue(name)
        assert isinstance(queue, Queue)
        return queue

    async def close(self) -> None:
        return None


class DiscoveredQueues:
    """Queues found on the server by their keys (`{prefix:name}:meta|id|events`).

    Queues are created on the given client (shared, not closed here); the key scan is repeated at most
    every `ttl` seconds, and at once when an unknown name is asked for.
    """

    def __init__(self, client: AnyRedis, prefix: str, *, ttl: float = 5.0) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self._names: list[str] = []
        self._scanned_at = -float("inf")
        self._queues: dict[str, Queue] = {}

    async def _scan(self) -> list[str]:
        self._names = await discover_queue_names(self.client, self.prefix)
        self._scanned_at = time.monotonic()
        return self._names

    async def names(self) -> list[str]:
        if time.monotonic() - self._scanned_at > self.ttl:
            await self._scan()
        return list(self._names)

    async def get(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is not None:
            return queue
        names = await self.names()
        if name not in names:
            names = await self._scan()
        if name not in names:
            raise _unknown_queue(name, names)
        partitions = await stored_partitions(self.client, self.prefix, name)  # one queue however stored
        queue = self._queues[name] = Queue(
            name, connection=self.client, prefix=self.prefix, partitions=partitions
        )
        return queue

    async def close(self) -> None:
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()


class CombinedQueues:
    """Several sources as one: names are merged, a name is looked up in the first source that has it."""

    def __init__(self, *sources: QueueSource) -> None:
        self._sources = sources

    async def names(self) -> list[str]:
        names: set[str] = set()
        for source in self._sources:
            names.update(await source.names())
        return sorted(names)

    async def get(self, name: str) -> Queue:
        for source in self._sources:
            try:
                return await source.get(name)
            except JobNotFoundError:
                continue
        raise _unknown_queue(name, await self.names())

    async def close(self) -> None:
        for source in self._sources:
            await source.close()


def source_of(queues: object) -> QueueSource:
    """A `QueueSource` for an `Application`, a list of `Queue`, or a source given as is."""
    if isinstance(queues, QueueSource) and not isinstance(queues, type):
        return queues
    if isinstance(queues, Queue):
        return StaticQueues([queues])
    if hasattr(queues, "exploration") and hasattr(queues, "queue"):
        return AppQueues(queues)
    if isinstance(queues, Iterable) and not isinstance(queues, str | bytes | Mapping):
        return StaticQueues(list(queues))
    raise TypeError(f"expected an Application or a list of Queue, got {queues!r}")


def _unknown_queue(name: str, known: Sequence[str]) -> JobNotFoundError:
    # One not-found error for the dashboard and the CLI (a 404, a clear message): no queue, so no job.
    return JobNotFoundError(f"no queue {name!r} (queues: {', '.join(known) or 'none'})")


_DISCOVERY_SUFFIXES = (":meta", ":id", ":events", ":workers")  # workers: a queue only consumed so far


async def discover_queue_names(client: AnyRedis, prefix: str) -> list[str]:
    """Names of the queues that have keys on the server under `prefix` (one SCAN of the key space; on a
    Redis Cluster, one SCAN of each master)."""
    head = "{" + prefix + ":"
    pattern = escape_glob(head) + "*}:[miew]*"
    names: set[str] = set()
    async with each_primary(client) as nodes:
        for node in nodes:
            async for raw in node.scan_iter(match=pattern, count=1000):
                key = as_text(raw)
                if not key.startswith(head) or not key.endswith(_DISCOVERY_SUFFIXES):
                    continue
                name, sep, rest = key[len(head) :].partition("}")
                if sep and name and rest in _DISCOVERY_SUFFIXES and "{" not in name:
                    names.add(name)
    # A partitioned queue's partitions (`name#0`, ...) are shown as the one queue they make up.
    return sorted(n for n in names if (split := split_partition_name(n)) is None or split[0] not in names)
