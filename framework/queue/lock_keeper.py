"""Lock keeper: renews the locks of a worker's active jobs, and stops the handlers of jobs whose lock is lost.

All locks go out in one `extendLocks` call every lock_duration / 3, or at once on `renew_soon()` (after a
blocked event loop, a Redis outage or a (re)subscription to cancel requests). The same call reports the
jobs flagged for cancellation, so a cancel request missed on the pub/sub channel still arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from framework.connection import CONNECTION_ERRORS, is_permanent
from framework.errors import LockLostError
from framework.queue.job import Job
from framework.queue.queue import Queue
from framework.queue.scripts import script
from framework.queue.serialization import as_text

log = structlog.get_logger("nestq.worker")


class LockKeeper:
    """Keeps the locks of one worker's active jobs.

    Args:
        client: the worker's Redis client.
        queue: the worker's queue.
        lock_ms: lock duration in milliseconds; locks are renewed every third of it.
        active: the worker's jobs under lock (a lost one is removed here).
        tasks: the worker's running handlers, by job id.
        lost: ids of jobs whose handler is being stopped because the lock was lost (added here).
        renew_now: set to renew at once rather than at the next interval.
        on_cancel: called with the id of a job flagged for cancellation.
        on_error: called with an error the worker reports as its `error` event.
        connection_lost: awaited after a connection error (reports the outage, paces the retry).
        connection_ok: called after a successful call (ends an outage).
    """

    def __init__(
        self,
        client: Redis,
        queue: Queue,
        *,
        lock_ms: int,
        active: dict[str, Job[Any]],
        tasks: Mapping[str, asyncio.Task[None]],
        lost: set[str],
        renew_now: asyncio.Event,
        on_cancel: Callable[[str], None],
        on_error: Callable[[BaseException], None],
        connection_lost: Callable[[BaseException], Awaitable[None]],
        connection_ok: Callable[[], None],
    ) -> None:
        self._client = client
        self._queue = queue
        self._lock_ms = lock_ms
        self._active = active
        self._tasks = tasks
        self._lost = lost
        self._renew_now = renew_now
        self._on_cancel = on_cancel
        self._on_error = on_error
        self._connection_lost = connection_lost
        self._connection_ok = connection_ok

    async def run(self) -> None:
        """Renew locks until cancelled."""
        interval = self._lock_ms / 3000
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._renew_now.wait()
            self._renew_now.clear()
            if not self._active:
                continue
            jobs = list(self._active.values())
            try:
                if len(self._queue.parts) == 1:
                    lost, cancelled = await self._renew(self._client, self._queue, jobs)
                else:
                    lost, cancelled = await self._renew_partitions(jobs)
                self._connection_ok()
            except CONNECTION_ERRORS as exc:
                await self._connection_lost(exc)
                self._renew_now.set()
                continue
            except RedisError as exc:
                if not is_permanent(exc):  # NOPERM & co: the fetch loop reports it once and stops the worker
                    log.exception("renewing locks failed", queue=self._queue.name)
                self._on_error(exc)
                continue
            for raw_id in lost:
                self._lock_lost(as_text(raw_id))
            for raw_id in cancelled:
                self._on_cancel(as_text(raw_id))

    async def _renew(self, client: Redis, queue: Queue, jobs: list[Job[Any]]) -> tuple[list[Any], list[Any]]:
        args: list[Any] = [queue.base, self._lock_ms]
        for job in jobs:
            args += [job.id, job.token or ""]
        lost, cancelled = await script("extendLocks")(client, [queue.keys.active], args)
        return list(lost), list(cancelled)

    async def _renew_partitions(self, jobs: list[Job[Any]]) -> tuple[list[Any], list[Any]]:
        """A partitioned queue: each partition's locks in one call of its own, all at once."""
        groups: dict[int, tuple[Queue, list[Job[Any]]]] = {}
        for job in jobs:
            queue = job.queue or self._queue
            groups.setdefault(id(queue), (queue, []))[1].append(job)
        replies = await asyncio.gather(*(self._renew(q.client, q, group) for q, group in groups.values()))
        return [x for lost, _ in replies for x in lost], [x for _, cancelled in replies for x in cancelled]

    def renew_soon(self) -> None:
        """Renew the locks now (after an outage, a blocked loop, or a (re)subscription to cancels)."""
        self._renew_now.set()

    def _lock_lost(self, job_id: str) -> None:
        job = self._active.pop(job_id, None)
        task = self._tasks.get(job_id)
        if job is None or job_id in self._lost:
            return
        log.warning(
            "lost the lock of a running job (another worker may run it); stopping its handler, "
            "its result will be discarded",
            queue=self._queue.name,
            job_id=job_id,
            job_name=job.name,
        )
        self._on_error(LockLostError(f"job {job_id}: the lock is no longer held by this worker"))
        if task is not None:
            self._lost.add(job_id)
            task.cancel()
