"""The handler a processor's `Worker` runs: routes each job to its `@process` method by name."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from framework.di.explorer import HandlerDefinition, ProcessorDefinition
from framework.di.providers import describe_target, short_name
from framework.errors import ConfigurationError, UnrecoverableError
from framework.queue import Job, Worker
from framework.queue.interceptors import Interceptor, intercepted
from framework.queue.sandbox import SandboxError, SandboxPool
from framework.queue.sandbox.reference import HandlerReference, handler_reference

Resolve = Callable[[object], Interceptor]  # an interceptor token (class or instance) -> the instance


def as_is(token: object) -> Interceptor:
    assert isinstance(token, Interceptor), token
    return token


class JobDispatcher:
    """Calls the processor method registered for `job.name` (or the catch-all).

    `Job[Model]` handlers get `job.data` validated into `Model`; invalid data, and a job name no
    method handles, fail the job with `UnrecoverableError` (no retry), saying why. Plain `def`
    methods run in a thread (with the job's log context), so they never block the event loop. A method's
    `@use_interceptors` run around it (`resolve` turns their tokens into instances); the class's and the
    global ones are the worker's own (`Worker(interceptors=...)`).
    """

    def __init__(self, instance: object, definition: ProcessorDefinition, resolve: Resolve = as_is) -> None:
        self._definition = definition
        # Sandboxed methods (@process(sandbox=True)) share one process pool, run by the worker (its size
        # follows the worker's concurrency).
        handlers = [*definition.handlers.values(), *([definition.catch_all] if definition.catch_all else [])]
        self.sandbox_pool: SandboxPool | None = None
        if any(h.sandbox for h in handlers):
            self.sandbox_pool = SandboxPool(
                max_jobs_per_child=definition.worker_options.get("max_jobs_per_child")
            )
        self._routes = {name: self._route(instance, h, resolve) for name, h in definition.handlers.items()}
        self._catch_all = (
            self._route(instance, definition.catch_all, resolve) if definition.catch_all else None
        )

    def _route(self, instance: object, handler: HandlerDefinition, resolve: Resolve) -> _Route:
        route = _Route(instance, handler, resolve)
        if handler.sandbox and self.sandbox_pool is not None:
            try:
                reference = handler_reference(getattr(self._definition.cls, handler.method))
            except SandboxError as exc:
                raise ConfigurationError(
                    f"{short_name(self._definition.cls)}.{handler.method}() is sandboxed: {exc}"
                ) from None
            route.sandbox = (self.sandbox_pool, reference)
            self.sandbox_pool.preload.append(reference)
        return route

    def bind(self, worker: Worker) -> None:
        """Run plain `def` methods in `worker`'s threads: as many as its concurrency (also when it is
        changed while running), a cancelled job's thread still counted until it returns."""
        for route in [*self._routes.values(), self._catch_all]:
            if route is not None:
                route.worker = worker

    async def __call__(self, job: Job[Any]) -> Any:
        route = self._routes.get(job.name, self._catch_all)
        if route is None:
            known = ", ".join(repr(n) for n in self._definition.handlers) or "none"
            raise UnrecoverableError(
                f"no handler for job name {job.name!r} on queue {self._definition.queue!r}: "
                f"{short_name(self._definition.cls)} handles {known}; add @process({job.name!r}) "
                "or a catch-all @process()"
            )
        return await route(job)


class _Route:
    __slots__ = ("_definition", "_interceptors", "_method", "sandbox", "worker")

    def __init__(self, instance: object, definition: HandlerDefinition, resolve: Resolve) -> None:
        self._method: Callable[..., Any] = getattr(instance, definition.method)
        self._definition = definition
        self._interceptors = tuple(resolve(token) for token in definition.interceptors)
        self.worker: Worker | None = None
        self.sandbox: tuple[SandboxPool, HandlerReference] | None = None

    async def __call__(self, job: Job[Any]) -> Any:
        if self._interceptors:
            return await intercepted(self._interceptors, job, lambda: self._run(job))
        return await self._run(job)

    async def _run(self, job: Job[Any]) -> Any:
        d = self._definition
        data = job.data
        if d.adapter is not None:
            try:
                job.data = d.adapter.validate_python(job.data)
            except ValidationError as exc:
                raise UnrecoverableError(
                    f"invalid data for job {job.name!r} (id {job.id}), "
                    f"expected {_type_name(d.data_type)}: {exc}"
                ) from None
        if self.sandbox is not None:
            pool, reference = self.sandbox
            return await pool.run(reference, job, data)  # the child validates the JSON data again
        args = (job,) if d.takes_job else ()
        if d.is_async:
            return await self._method(*args)
        if self.worker is not None:
            return await self.worker.run_sync(functools.partial(self._method, *args), job)
        return await asyncio.to_thread(self._method, *args)


def _type_name(tp: Any) -> str:
    return describe_target(tp)
