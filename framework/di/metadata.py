"""What the decorators record, and how the explorer reads it back.

Decorators only attach these frozen records to classes and functions; nothing here runs user code.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PROCESSOR_ATTR: Final = "__nestq_processor__"
LISTENER_ATTR: Final = "__nestq_listener__"
PROCESS_ATTR: Final = "__nestq_process__"
WORKER_HOOK_ATTR: Final = "__nestq_worker_hooks__"
QUEUE_EVENT_ATTR: Final = "__nestq_queue_events__"


@dataclass(frozen=True)
class Inject:
    """`Annotated[T, inject(token)]` marker: inject the provider registered under `token`."""

    token: object


@dataclass(frozen=True)
class QueueToken:
    """The provider token of the `Queue` registered under `name` (see `inject_queue`)."""

    name: str

    def __str__(self) -> str:
        return f"Queue {self.name!r}"


@dataclass(frozen=True)
class ProcessorMetadata:
    """Recorded by `@processor(queue, ...)`: the queue and the options of the class's worker."""

    queue: str
    worker_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListenerMetadata:
    """Recorded by `@queue_events_listener(queue)`."""

    queue: str


@dataclass(frozen=True)
class ProcessMetadata:
    """Recorded by `@process(name)`; `names` holds None for the catch-all handler; `sandbox` runs the
    method in a sandbox process."""

    names: tuple[str | None, ...]
    sandbox: bool = False


def processor_metadata(cls: type) -> ProcessorMetadata | None:
    """The `@processor` record of a class, if any."""
    meta = getattr(cls, PROCESSOR_ATTR, None)
    return meta if isinstance(meta, ProcessorMetadata) else None


def listener_metadata(cls: type) -> ListenerMetadata | None:
    """The `@queue_events_listener` record of a class, if any."""
    meta = getattr(cls, LISTENER_ATTR, None)
    return meta if isinstance(meta, ListenerMetadata) else None


def decorated_methods(cls: type, attr: str) -> Iterator[tuple[str, Any, Any]]:
    """Yield (method name, function, record) for every method of `cls` carrying the record `attr`.

    Walks the MRO through `getattr_static`, so no descriptor or property runs, and a subclass's
    method hides the base class method of the same name.
    """
    for name in _attribute_names(cls):
        try:
            value = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        func = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        record = getattr(func, attr, None) if callable(func) else None
        if record is not None:
            yield name, func, record


def _attribute_names(cls: type) -> list[str]:
    # Base classes first, each in definition order; dict keys dedupe while keeping that order.
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object:
            names.update(dict.fromkeys(vars(klass)))
    return list(names)
