"""SandboxedHandler: a worker handler that runs the real one in a sandbox process (see pool.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.queue.job import Job
from framework.queue.sandbox.pool import SandboxPool
from framework.queue.sandbox.reference import HandlerReference, handler_reference


class SandboxedHandler:
    """Runs `handler` in a pool of processes: pass it to `Worker(name, SandboxedHandler(fn))`, or write
    `Worker(name, fn, sandbox=True)`.

    The worker keeps the pool as large as its concurrency, starts the processes when it starts, kills a
    process whose job timed out or was cancelled, and stops them all when it closes.

    Args:
        handler: a module-level `def` or `async def` (or a method of a module-level class), or its
            reference as a "package.module:function" string. It is imported by name in the child; the job
            reaches it as JSON (never pickled). Its `job` has the usual fields, `update_progress(v)` and
            `log(line)` (call them in a `def`, await them in an `async def`).
        max_jobs_per_child: jobs a process runs before it is replaced (None: no limit).

    Raises:
        SandboxError: the handler cannot be imported by name (a lambda, a nested function, ...).
    """

    def __init__(self, handler: Callable[..., Any] | str, *, max_jobs_per_child: int | None = None) -> None:
        self.reference: HandlerReference = handler_reference(handler)
        self.sandbox_pool = SandboxPool(max_jobs_per_child=max_jobs_per_child)
        self.sandbox_pool.preload.append(self.reference)

    async def __call__(self, job: Job[Any]) -> Any:
        return await self.sandbox_pool.run(self.reference, job, job.data)

    def __repr__(self) -> str:
        return f"SandboxedHandler({self.reference.ref!r})"
