"""Thread runner: runs a worker's plain (sync) handler in a thread, and keeps track of threads left behind.

A thread cannot be interrupted: when its job is cancelled or times out, the result is discarded but the
thread's slot (a `ThreadSlot` in the worker's orphan set) stays taken until it returns, so `concurrency`
still bounds the threads at work.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import Callable
from typing import Any

import structlog

from framework.queue.job import Job

log = structlog.get_logger("nestq.worker")


class ThreadSlot:
    """The thread of one sync handler call; counted against concurrency until it returns."""

    __slots__ = ("done", "job_id")

    def __init__(self) -> None:
        self.done = False
        self.job_id = ""


class ThreadRunner:
    """Runs sync handler calls in the default executor for one worker.

    Args:
        orphans: the worker's threads whose job was stopped while they ran (added here, removed when they
            return).
        on_orphan_returned: called when such a thread returns (its slot is free again).
    """

    def __init__(self, *, orphans: set[ThreadSlot], on_orphan_returned: Callable[[], None]) -> None:
        self._orphans = orphans
        self._on_orphan_returned = on_orphan_returned

    async def call(self, handler: Callable[[Job[Any]], Any], job: Job[Any]) -> Any:
        """Run `handler(job)` in a thread (contextvars copied); await its result if that is awaitable."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        slot = ThreadSlot()

        def target() -> Any:
            try:
                return ctx.run(handler, job)
            finally:
                slot.done = True
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(self._thread_returned, slot)

        try:
            result = await loop.run_in_executor(None, target)
        except asyncio.CancelledError:
            if not slot.done:
                slot.job_id = job.id
                self._orphans.add(slot)
            raise
        if inspect.isawaitable(result):
            return await result
        return result

    def _thread_returned(self, slot: ThreadSlot) -> None:
        if slot in self._orphans:
            self._orphans.discard(slot)
            log.info("thread of a stopped job returned; its result was discarded", job_id=slot.job_id)
            self._on_orphan_returned()
