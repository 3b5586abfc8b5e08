"""Thread runner: runs a worker's plain (sync) handler in a thread, and keeps track of threads left behind.

The threads are the worker's own (not the loop's default executor, capped at min(32, cpus + 4)), as many as
its concurrency, so `concurrency = 8` really runs 8 sync handlers at once; `resize` follows a live change.

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
from concurrent.futures import ThreadPoolExecutor
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

    def __init__(
        self, *, orphans: set[ThreadSlot], on_orphan_returned: Callable[[], None], size: int = 1
    ) -> None:
        self._orphans = orphans
        self._on_orphan_returned = on_orphan_returned
        self._size = size
        self._executor: ThreadPoolExecutor | None = None

    def resize(self, size: int) -> None:
        """Allow `size` threads at once. Growing starts a larger pool for the next calls (the old pool's
        threads finish their calls); shrinking keeps the pool, the worker's free slots bound the calls."""
        if size > self._size and self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._size = max(size, self._size) if self._executor is not None else size

    def shutdown(self) -> None:
        """Let the threads end with their calls; no new calls."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="nestq-handler")
        return self._executor

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
            result = await loop.run_in_executor(self._pool(), target)
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
