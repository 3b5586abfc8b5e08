"""Decorators of the module system. Each one only records metadata (see `metadata.py`).

The explorer reads the records when the application is created, so every mistake a decorator
cannot see on its own (a hook of the wrong arity, two handlers for one job name, a queue no module
registers) is reported at bootstrap, naming the class and the method.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from framework.di.metadata import (
    LISTENER_ATTR,
    PROCESS_ATTR,
    PROCESSOR_ATTR,
    QUEUE_EVENT_ATTR,
    WORKER_HOOK_ATTR,
    Inject,
    ListenerMetadata,
    ProcessMetadata,
    ProcessorMetadata,
    QueueToken,
)
from framework.errors import ConfigurationError
from framework.queue.worker_events import HOOKS, WorkerEvent

if TYPE_CHECKING:
    from framework.queue import RateLimit

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


def inject(token: object) -> Inject:
    """Mark a constructor parameter to receive the provider registered under `token`.

    Use it in `Annotated[T, inject(token)]` for anything the type hint alone cannot find: a string
    token, a second provider of the same class, a value provider.
    """
    return Inject(token)


def inject_queue(name: str) -> Inject:
    """Mark a constructor parameter to receive the `Queue` registered as `name`.

    Example: `def __init__(self, reports: Annotated[Queue, inject_queue("reports")]) -> None`.
    """
    return Inject(QueueToken(_queue_name(name, "inject_queue")))


def processor(
    queue: str,
    *,
    concurrency: int | None = None,
    limiter: RateLimit | None = None,
    lock_duration: float | timedelta | None = None,
    stalled_interval: float | timedelta | None = None,
    max_stalled_count: int | None = None,
    **worker_options: Any,
) -> Callable[[C], C]:
    """Make a class the processor of `queue`: the application runs one `Worker` for it.

    Args:
        queue: name of a queue registered with `QueueModule.register_queue(...)`.
        concurrency: jobs run at once by this worker (default 1).
        limiter: a `RateLimit` shared by every worker of the queue.
        lock_duration: seconds a job's lock lives between renewals.
        stalled_interval: seconds between stall checks.
        max_stalled_count: stalls before a job is failed instead of retried.
        **worker_options: any other keyword argument of `Worker`; `sandbox=True` runs every handler of
            the class in sandbox processes (as `@process(..., sandbox=True)`), `max_jobs_per_child=n`
            recycles them.

    Methods decorated with `@process(name)` handle jobs; `@on_completed` and friends are hooks.
    """
    name = _queue_name(queue, "@processor")
    given = {
        "concurrency": concurrency,
        "limiter": limiter,
        "lock_duration": lock_duration,
        "stalled_interval": stalled_interval,
        "max_stalled_count": max_stalled_count,
    }
    options = {k: v for k, v in given.items() if v is not None} | worker_options

    def decorate(cls: C) -> C:
        setattr(cls, PROCESSOR_ATTR, ProcessorMetadata(queue=name, worker_options=options))
        return cls

    return decorate


@overload
def process(name: F, /) -> F: ...
@overload
def process(name: str | None = None, /, *, sandbox: bool = False) -> Callable[[F], F]: ...
def process(name: str | Callable[..., Any] | None = None, /, *, sandbox: bool = False) -> Any:
    """Handle jobs named `name` with this method; `@process()` (or bare `@process`) handles the rest.

    The method takes the job (`def generate(self, job: Job[Params])`) or nothing. A `Job[Model]`
    annotation validates `job.data` into `Model`; invalid data fails the job without retry. Plain
    `def` methods run in a worker thread. Stack several `@process(...)` to handle several names.

    `sandbox=True` runs the method in one of the worker's sandbox processes (CPU-bound or crash-prone
    code; see `framework.queue.sandbox`): it is called there on a bare instance of the class, without its
    injected dependencies, and must be importable by name (a method of a module-level class).
    """
    if callable(name):
        return _mark_process(name, None)
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"@process takes a job name (a non-empty string) or nothing, got {name!r}")

    def decorate(fn: F) -> F:
        return _mark_process(fn, name, sandbox)

    return decorate


def _mark_process(fn: F, name: str | None, sandbox: bool = False) -> F:
    previous = getattr(fn, PROCESS_ATTR, None)
    names = previous.names if isinstance(previous, ProcessMetadata) else ()
    sandbox = sandbox or (isinstance(previous, ProcessMetadata) and previous.sandbox)
    setattr(fn, PROCESS_ATTR, ProcessMetadata(names=(*names, name), sandbox=sandbox))
    return fn


class _WorkerHook:
    """A worker-local event hook decorator, usable bare (`@on_completed`) or called (`@on_completed()`)."""

    def __init__(self, event: WorkerEvent) -> None:
        self.event = event
        self.__name__ = f"on_{event}"
        self.__doc__ = (
            f"Call this method on the worker's {event.value!r} event, with the signature "
            f"`{HOOKS[event].signature}`.\n\n"
            "Sync or async. A hook that raises is logged; it never changes the job's outcome."
        )

    @overload
    def __call__(self, fn: F, /) -> F: ...
    @overload
    def __call__(self) -> Callable[[F], F]: ...
    def __call__(self, *args: Any) -> Any:
        if len(args) > 1:
            raise TypeError(f"@{self.__name__} takes the method, or nothing")
        fn = args[0] if args else None
        if fn is None:
            return self._mark
        return self._mark(fn)

    def _mark(self, fn: F) -> F:
        if not callable(fn):
            raise ConfigurationError(f"@{self.__name__} decorates a method, got {fn!r}")
        events: tuple[WorkerEvent, ...] = getattr(fn, WORKER_HOOK_ATTR, ())
        setattr(fn, WORKER_HOOK_ATTR, (*events, self.event))
        return fn

    def __repr__(self) -> str:
        return f"<worker hook decorator {self.__name__}>"


on_active = _WorkerHook(WorkerEvent.ACTIVE)
on_progress = _WorkerHook(WorkerEvent.PROGRESS)
on_completed = _WorkerHook(WorkerEvent.COMPLETED)
on_failed = _WorkerHook(WorkerEvent.FAILED)
on_stalled = _WorkerHook(WorkerEvent.STALLED)
on_error = _WorkerHook(WorkerEvent.ERROR)
on_drained = _WorkerHook(WorkerEvent.DRAINED)


def queue_events_listener(queue: str) -> Callable[[C], C]:
    """Make a class listen to `queue`'s event stream: events from every worker on every machine.

    Its `@on_queue_event("completed")` methods get each matching `QueueEvent`. The application
    reads the stream in one task per queue while it is started.
    """
    name = _queue_name(queue, "@queue_events_listener")

    def decorate(cls: C) -> C:
        setattr(cls, LISTENER_ATTR, ListenerMetadata(queue=name))
        return cls

    return decorate


def on_queue_event(*events: str) -> Callable[[F], F]:
    """Call this method with each `QueueEvent` whose `.event` is one of `events` ("completed", ...).

    The method takes the event (`def done(self, event: QueueEvent)`) or nothing; sync or async.
    A listener that raises is logged and the stream goes on.
    """
    if not events or not all(isinstance(e, str) and e for e in events):
        raise ConfigurationError(
            f"@on_queue_event takes one or more event names such as 'completed' or 'failed', got {events!r}"
        )

    def decorate(fn: F) -> F:
        previous: tuple[str, ...] = getattr(fn, QUEUE_EVENT_ATTR, ())
        setattr(fn, QUEUE_EVENT_ATTR, (*previous, *events))
        return fn

    return decorate


def _queue_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where} takes a queue name (a non-empty string), got {name!r}")
    return name
