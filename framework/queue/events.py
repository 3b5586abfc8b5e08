"""QueueEvents: every state change of a queue, from every worker on every machine.

Fed by the queue's Redis stream (`{prefix:queue}:events`, capped near 10,000 entries). Reading it is a
blocking XREAD on a connection of its own, so an idle listener costs nothing. When Redis goes away the
iterator keeps retrying (capped backoff), logs once per outage and once on recovery, and resumes from the
last event it delivered: events written while it was away are not skipped (unless the capped stream
dropped them meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from framework.connection import CONNECTION_ERRORS, Connection, Outage, clone_redis, create_redis
from framework.queue.keys import QueueKeys
from framework.queue.serialization import as_text

_JSON_FIELDS = ("returnvalue", "data")
# An XREAD that has not returned this long after its block time sits on a dead connection (a network cut
# sends no FIN/RST): it is abandoned, and the connection dropped.
_BLOCK_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One event: `event` is its name ("completed", "failed", "progress", ...), `data` its other fields.

    `returnvalue` (completed) and `data` (progress) are decoded from JSON.
    """

    event: str
    job_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @classmethod
    def from_entry(cls, entry_id: Any, raw: dict[Any, Any]) -> QueueEvent:
        from framework.queue import serialization

        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        name = fields.pop("event", "")
        job_id = fields.pop("jobId", None)
        data: dict[str, Any] = dict(fields)
        for key in _JSON_FIELDS:
            if key in data:
                try:
                    data[key] = serialization.loads(data[key])
                except ValueError:
                    pass
        return cls(event=name, job_id=job_id, data=data, id=as_text(entry_id))


class QueueEvents:
    """Async iterator over a queue's events.

    Args:
        queue_name: the queue to listen to.
        connection, prefix: as for `Queue`.
        last_id: "$" (default) for events from now on, "0" for everything still in the stream, or an event id.
        partitions: the queue's partition count (`Queue(name, partitions=K)`): events of every partition,
            each partition's in order (see `framework.queue.partitioned_events`).

    Example:
        async with QueueEvents("reports") as events:
            async for ev in events:
                if ev.event == "completed": ...
    """

    def __new__(cls, queue_name: str, *args: Any, partitions: int = 1, **kwargs: Any) -> QueueEvents:
        if partitions != 1 and cls is QueueEvents:
            from framework.queue.partitioned_events import PartitionedQueueEvents

            return super().__new__(PartitionedQueueEvents)
        return super().__new__(cls)

    def __init__(
        self,
        queue_name: str,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        last_id: str = "$",
        block: float = 5.0,
        partitions: int = 1,
    ) -> None:
        from framework.queue.queue import _default_prefix

        self.queue_name = queue_name
        self.partitions = partitions
        self.keys = QueueKeys(prefix or _default_prefix(), queue_name)
        self.last_id = last_id
        self._block_ms = int(block * 1000)
        self._connection = connection
        self._client: Redis | None = None
        self._owns = False
        self._closed = False
        self._buffer: list[QueueEvent] = []
        self._outage = Outage("event listener", queue=queue_name)

    def _get_client(self) -> Redis:
        if self._client is None:
            # Blocking reads get a client of their own so they never hold a shared pool's connection.
            base, owned = create_redis(self._connection, key=self.keys.base)
            self._client = base if owned else clone_redis(base)
            self._owns = True
        return self._client

    async def start(self) -> str:
        """Pin the position: with last_id "$", resolve it now so no event after this call is missed."""
        if self.last_id == "$":
            last = await self._get_client().xrevrange(self.keys.events, count=1)
            self.last_id = as_text(last[0][0]) if last else "0-0"
        return self.last_id

    async def read(self, count: int = 100) -> list[QueueEvent]:
        """Block (up to `block` seconds) for the next events; [] on a quiet stream."""
        if self.last_id == "$":
            await self.start()
        async with asyncio.timeout(self._block_ms / 1000 + _BLOCK_MARGIN):
            reply: Any = await self._get_client().xread(
                {self.keys.events: self.last_id}, count=count, block=self._block_ms
            )
        out: list[QueueEvent] = []
        for _stream, entries in reply or []:
            for entry_id, raw in entries:
                out.append(QueueEvent.from_entry(entry_id, raw))
                self.last_id = as_text(entry_id)
        return out

    def __aiter__(self) -> AsyncIterator[QueueEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[QueueEvent]:
        while not self._closed:
            try:
                events = await self.read()
            except CONNECTION_ERRORS as exc:
                if self._closed:
                    return
                self._outage.failed(exc)
                await self._outage.pause()
                continue
            self._outage.ok()
            for ev in events:
                yield ev

    async def close(self) -> None:
        self._closed = True
        if self._client is not None and self._owns:
            await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> QueueEvents:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
