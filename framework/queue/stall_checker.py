"""Stall checker: moves the jobs of dead workers back to waiting (or fails them past `max_stalled_count`).

Every worker runs the check once per interval, but `moveStalledJobsToWait` does the work for the whole
queue at most once per interval. A job is recovered only when its lock has been missing for a whole
interval, so a live worker whose locks lapsed (blocked loop, Redis restart) can take them back first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from framework.connection import CONNECTION_ERRORS, is_permanent
from framework.errors import CorruptJobError
from framework.queue.job import Job
from framework.queue.options import DEFAULT_KEEP_FAILED, keep_for
from framework.queue.queue import Queue, now_ms
from framework.queue.scripts import script
from framework.queue.serialization import as_text

log = structlog.get_logger("nestq.worker")


class StallChecker:
    """Runs the stall check of one queue for one worker.

    Args:
        client: the worker's Redis client.
        queue: the worker's queue.
        interval: seconds between two checks.
        max_stalled_count: times a job may stall before it is failed.
        max_events: length cap of the queue's event stream.
        on_stalled: called with each recovered job (still in Redis).
        on_failed: called with each job the check failed (stalled too often, or cancelled), after
            `on_stalled`: the worker that ran the check reports it as its `failed` event too.
        on_error: called with an error the worker reports as its `error` event.
        connection_lost: awaited after a connection error (reports the outage, paces the retry).
    """

    def __init__(
        self,
        client: Redis,
        queue: Queue,
        *,
        interval: float,
        max_stalled_count: int,
        max_events: int,
        on_stalled: Callable[[Job[Any]], None],
        on_error: Callable[[BaseException], None],
        connection_lost: Callable[[BaseException], Awaitable[None]],
        on_failed: Callable[[Job[Any]], None] | None = None,
    ) -> None:
        self._client = client
        self._queue = queue
        self._interval = interval
        self._max_stalled_count = max_stalled_count
        self._max_events = max_events
        self._on_stalled = on_stalled
        self._on_failed = on_failed
        self._on_error = on_error
        self._connection_lost = connection_lost

    async def run(self) -> None:
        """Check for stalled jobs every interval until cancelled."""
        lua = script("moveStalledJobsToWait")
        k = self._queue.keys
        keep_count, keep_age = keep_for(None, DEFAULT_KEEP_FAILED)
        while True:
            try:
                res = await lua(
                    self._client,
                    k.stall_keys(),
                    [
                        self._queue.base,
                        now_ms(),
                        self._max_stalled_count,
                        int(self._interval * 1000),
                        self._max_events,
                        keep_count,
                        keep_age,
                    ],
                )
                if res:
                    stalled, failed = res
                    for raw_id in list(stalled) + list(failed):
                        jid = as_text(raw_id)
                        log.warning(
                            "stalled job recovered",
                            queue=self._queue.name,
                            job_id=jid,
                            outcome="failed" if raw_id in failed else "moved back to waiting",
                        )
                        try:
                            job = await self._queue.get_job(jid)
                        except CorruptJobError:
                            continue  # a hand-edited hash: its run fails it; the stall check carries on
                        if job is not None:
                            self._on_stalled(job)
                            if raw_id in failed and self._on_failed is not None:
                                self._on_failed(job)
            except CONNECTION_ERRORS as exc:
                await self._connection_lost(exc)
            except RedisError as exc:
                if not is_permanent(exc):  # NOPERM & co: the fetch loop reports it once and stops the worker
                    log.exception("stall check failed", queue=self._queue.name)
                self._on_error(exc)
            await asyncio.sleep(self._interval)
