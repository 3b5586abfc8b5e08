"""QueueEvents of a partitioned queue: one stream per partition, read at once, merged as they come.

Each partition's events keep their order; events of different partitions interleave as they arrive (their
ids are their partition's stream ids). Each partition is read by its own blocking XREAD (on a cluster the
streams live on different shards, so one XREAD cannot name them all); a read that has not returned yet is
kept for the next `read()`, so no event is read twice or skipped.
"""

from __future__ import annotations

import asyncio
import contextlib

from framework.connection import Connection
from framework.queue.events import QueueEvent, QueueEvents
from framework.queue.routing import check_partitions, partition_name


class PartitionedQueueEvents(QueueEvents):
    """Events of every partition of a queue (create it with `QueueEvents(name, partitions=K)`)."""

    def __init__(
        self,
        queue_name: str,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        last_id: str = "$",
        block: float = 5.0,
        partitions: int = 2,
    ) -> None:
        super().__init__(
            queue_name,
            connection=connection,
            prefix=prefix,
            last_id=last_id,
            block=block,
            partitions=check_partitions(partitions),
        )
        self.parts = [
            QueueEvents(
                partition_name(queue_name, i),
                connection=connection,
                prefix=prefix,
                last_id=last_id,
                block=block,
            )
            for i in range(partitions)
        ]
        self._reads: dict[int, asyncio.Task[list[QueueEvent]]] = {}

    async def start(self) -> str:
        for part in self.parts:
            await part.start()
        self.last_id = ",".join(part.last_id for part in self.parts)
        return self.last_id

    async def read(self, count: int = 100) -> list[QueueEvent]:
        for i, part in enumerate(self.parts):
            if i not in self._reads:
                self._reads[i] = asyncio.ensure_future(part.read(count))
        await asyncio.wait(self._reads.values(), return_when=asyncio.FIRST_COMPLETED)
        out: list[QueueEvent] = []
        failure: BaseException | None = None
        for i, task in list(self._reads.items()):
            if not task.done():
                continue
            del self._reads[i]
            exc = task.exception()
            if exc is not None:
                failure = failure or exc
            else:
                out.extend(task.result())
        self.last_id = ",".join(part.last_id for part in self.parts)
        if failure is not None and not out:
            raise failure
        return out

    async def close(self) -> None:
        self._closed = True
        reads, self._reads = list(self._reads.values()), {}
        for task in reads:
            task.cancel()
        for task in reads:
            with contextlib.suppress(BaseException):
                await task
        for part in self.parts:
            await part.close()
