"""JobWaiter: resolves `wait_until_finished` futures from the queue's event stream (no polling).

One reader task per Queue, started on the first waiter and stopped when none is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from framework.errors import JobFailedError
from framework.queue.events import QueueEvents

if TYPE_CHECKING:
    from framework.queue.queue import Queue


class JobWaiter:
    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._futures: dict[str, set[asyncio.Future[Any]]] = {}
        self._events: QueueEvents | None = None
        self._task: asyncio.Task[None] | None = None

    async def register(self, job_id: str) -> asyncio.Future[Any]:
        """A future for the job's end. The stream position is pinned before this returns."""
        if self._task is None or self._task.done():
            self._events = QueueEvents(
                self._queue.name, connection=self._queue.client, prefix=self._queue.prefix, block=2.0
            )
            await self._events.start()
            self._task = asyncio.create_task(self._run(self._events), name=f"nestq-waiter-{self._queue.name}")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(job_id, set()).add(fut)
        return fut

    def unregister(self, job_id: str, fut: asyncio.Future[Any]) -> None:
        futs = self._futures.get(job_id)
        if futs is not None:
            futs.discard(fut)
            if not futs:
                del self._futures[job_id]

    async def _run(self, events: QueueEvents) -> None:
        async for ev in events:
            if ev.event not in ("completed", "failed") or ev.job_id not in self._futures:
                continue
            for fut in list(self._futures.get(ev.job_id, ())):
                if fut.done():
                    continue
                if ev.event == "completed":
                    fut.set_result(ev.data.get("returnvalue"))
                else:
                    fut.set_exception(JobFailedError(ev.job_id, ev.data.get("failedReason")))

    async def close(self) -> None:
        if self._events is not None:
            await self._events.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        self._events = None
