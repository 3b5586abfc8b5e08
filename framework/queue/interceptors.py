"""Interceptors: code that runs around every job (tracing, database sessions, tenant context).

An interceptor is any object with `async def intercept(self, job, call_next) -> Any`. It may run code
before and after `await call_next()` (which runs the next interceptor, then the handler, and returns the
result), transform the result, or return without calling `call_next` at all (the job completes with
what it returned). An exception it raises, or lets through, fails the attempt like a handler's.

The first interceptor of a list is the outermost. This module owns only the chaining; the module system
(`framework.di.interceptors`) resolves interceptor classes from the container.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from framework.errors import ConfigurationError

if TYPE_CHECKING:
    from framework.queue.job import Job

__all__ = ["CallNext", "Interceptor", "check_interceptor", "intercepted"]

CallNext = Callable[[], Awaitable[Any]]


@runtime_checkable
class Interceptor(Protocol):
    """Runs around a job's handler: `return await call_next()` to run it."""

    async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
        """Run around the rest of the chain; what this returns becomes the job's result."""
        ...


def check_interceptor(value: object, where: str) -> None:
    """Raise `ConfigurationError` unless `value` (a class or an instance) has an `async def intercept`."""
    method = getattr(value, "intercept", None)
    if method is None or not inspect.iscoroutinefunction(method):
        raise ConfigurationError(
            f"{where}: {_name(value)} is not an interceptor; give it "
            "`async def intercept(self, job, call_next)` returning `await call_next()` (or its own result)"
        )


def intercepted(interceptors: Sequence[Interceptor], job: Job[Any], call: CallNext) -> Awaitable[Any]:
    """`call()` wrapped in `interceptors`, the first one outermost."""
    for interceptor in reversed(interceptors):
        call = _link(interceptor, job, call)
    return call()


def _link(interceptor: Interceptor, job: Job[Any], call_next: CallNext) -> CallNext:
    def call() -> Awaitable[Any]:
        return interceptor.intercept(job, call_next)

    return call


def _name(value: object) -> str:
    target = value if isinstance(value, type) else type(value)
    return str(getattr(target, "__qualname__", target)).rsplit("<locals>.", 1)[-1]
