"""The explorer: finds processors and event listeners among the providers and checks them.

Everything a decorator recorded is validated here, before any instance exists, so a wrong hook
arity, two handlers for one job name, or a processor for a queue no module registers fails
`Application.create(...)` with a message naming the class and the method.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, get_args, get_origin

from pydantic import TypeAdapter

from framework.di.interceptors import interceptors_of
from framework.di.metadata import (
    PROCESS_ATTR,
    QUEUE_EVENT_ATTR,
    WORKER_HOOK_ATTR,
    ProcessMetadata,
    decorated_methods,
    listener_metadata,
    processor_metadata,
)
from framework.di.providers import short_name
from framework.di.queue_module import QueueSpec, registered_queues
from framework.di.scanner import Binding, ModuleGraph
from framework.errors import ConfigurationError
from framework.queue import Job, Worker
from framework.queue.worker_events import HOOKS, WorkerEvent

# Worker arguments the application fills itself; a @processor may not set them.
_RESERVED_WORKER_ARGS = frozenset({"queue_name", "name", "handler", "connection", "prefix", "interceptors"})


@dataclass(frozen=True)
class HandlerDefinition:
    """A `@process` method: how to call it, and the type its `Job[T]` annotation asks for."""

    method: str
    takes_job: bool
    is_async: bool
    data_type: Any | None
    adapter: TypeAdapter[Any] | None
    interceptors: tuple[object, ...] = ()  # @use_interceptors on the method, outermost first
    sandbox: bool = False  # run in a sandbox process (@process(sandbox=True) or @processor(sandbox=True))


@dataclass(frozen=True)
class ProcessorDefinition:
    """A `@processor` class: its queue, worker options, handlers by job name and worker hooks."""

    binding: Binding
    cls: type
    queue: str
    worker_options: Mapping[str, Any]
    handlers: Mapping[str, HandlerDefinition]
    catch_all: HandlerDefinition | None
    hooks: tuple[tuple[WorkerEvent, str], ...]  # (event, method name)
    interceptors: tuple[object, ...] = ()  # @use_interceptors on the class, outermost first

    @property
    def label(self) -> str:
        return f"{short_name(self.cls)} (module {self.binding.module.name})"


@dataclass(frozen=True)
class ListenerDefinition:
    """A `@queue_events_listener` class and its `@on_queue_event` methods."""

    binding: Binding
    cls: type
    queue: str
    handlers: tuple[tuple[str, str, bool], ...]  # (event, method name, takes the event)


@dataclass(frozen=True)
class Exploration:
    """Processors, listeners, and every queue some module registers."""

    processors: tuple[ProcessorDefinition, ...]
    listeners: tuple[ListenerDefinition, ...]
    queues: Mapping[str, QueueSpec]

    def processor_for(self, queue: str) -> ProcessorDefinition | None:
        return next((p for p in self.processors if p.queue == queue), None)


def explore(graph: ModuleGraph) -> Exploration:
    """Find and validate every processor and listener of `graph`.

    Raises:
        ConfigurationError: naming the class, method and what to change.
    """
    queues: dict[str, QueueSpec] = {}
    for node in graph.modules:
        for spec in registered_queues(node.module):
            queues.setdefault(spec.name, spec)
    processors: list[ProcessorDefinition] = []
    listeners: list[ListenerDefinition] = []
    for binding in graph.bindings():
        cls = _class_of(binding)
        if cls is None:
            continue
        p_meta, l_meta = processor_metadata(cls), listener_metadata(cls)
        if binding.declared_in == "processors" and p_meta is None and l_meta is None:
            raise ConfigurationError(
                f"{binding.module.name}.processors lists {short_name(cls)}, which is neither a "
                "@processor(...) nor a @queue_events_listener(...) class; decorate it or move it to providers"
            )
        for queue in {m.queue for m in (p_meta, l_meta) if m is not None}:
            if queue not in queues:
                kind = (
                    "@processor" if p_meta is not None and p_meta.queue == queue else "@queue_events_listener"
                )
                raise ConfigurationError(
                    f"{short_name(cls)} (module {binding.module.name}) is a {kind} for queue {queue!r}, "
                    f"which no module registers (registered: {', '.join(map(repr, queues)) or 'none'}); add "
                    f"QueueModule.register_queue({queue!r}) to {binding.module.name}.imports"
                )
        if p_meta is not None:
            processors.append(
                _processor(binding, cls, p_meta.queue, p_meta.worker_options),
            )
        if l_meta is not None:
            listeners.append(_listener(binding, cls, l_meta.queue))
    _one_processor_per_queue(processors)
    return Exploration(processors=tuple(processors), listeners=tuple(listeners), queues=queues)


def _class_of(binding: Binding) -> type | None:
    spec = binding.spec
    if spec.kind == "class":
        return spec.target if isinstance(spec.target, type) else None
    if spec.kind == "value" and not isinstance(spec.target, type):
        return type(spec.target)  # a test's fake instance of a decorated class
    return None


def _processor(binding: Binding, cls: type, queue: str, options: Mapping[str, Any]) -> ProcessorDefinition:
    where = f"{short_name(cls)} (module {binding.module.name})"
    _check_worker_options(where, options)
    handlers: dict[str, HandlerDefinition] = {}
    owners: dict[str | None, str] = {}
    catch_all: HandlerDefinition | None = None
    for method, func, record in _methods(cls, PROCESS_ATTR):
        assert isinstance(record, ProcessMetadata)
        definition = _handler(where, method, func)
        if record.sandbox or options.get("sandbox"):
            definition = replace(definition, sandbox=True)
        for job_name in record.names:
            if job_name in owners:
                what = (
                    f"jobs named {job_name!r}"
                    if job_name is not None
                    else "every other job name (@process())"
                )
                raise ConfigurationError(
                    f"{where} has two handlers for {what}: {owners[job_name]}() and {method}(); keep one"
                )
            owners[job_name] = method
            if job_name is None:
                catch_all = definition
            else:
                handlers[job_name] = definition
    if not owners:
        raise ConfigurationError(
            f"{where} is a @processor({queue!r}) without handlers; decorate a method with "
            "@process('job-name') or @process() for every job name"
        )
    hooks: list[tuple[WorkerEvent, str]] = []
    for method, func, events in _methods(cls, WORKER_HOOK_ATTR):
        for event in events:
            shape = HOOKS[WorkerEvent(event)]
            _check_arity(where, method, func, shape.arity, f"@on_{event}", shape.signature)
            hooks.append((WorkerEvent(event), method))
    return ProcessorDefinition(
        binding=binding,
        cls=cls,
        queue=queue,
        worker_options=dict(options),
        handlers=handlers,
        catch_all=catch_all,
        hooks=tuple(hooks),
        interceptors=interceptors_of(cls),
    )


def _listener(binding: Binding, cls: type, queue: str) -> ListenerDefinition:
    where = f"{short_name(cls)} (module {binding.module.name})"
    handlers: list[tuple[str, str, bool]] = []
    for method, func, events in _methods(cls, QUEUE_EVENT_ATTR):
        low, high = _positional_range(func)
        if low > 1 or (high is not None and high < 0):
            raise ConfigurationError(
                f"{where}.{method}() is an @on_queue_event handler; it must take (self, event) or (self)"
            )
        takes_event = high is None or high >= 1
        handlers.extend((event, method, takes_event) for event in events)
    if not handlers:
        raise ConfigurationError(
            f"{where} is a @queue_events_listener({queue!r}) without @on_queue_event('completed') methods"
        )
    return ListenerDefinition(binding=binding, cls=cls, queue=queue, handlers=tuple(handlers))


def _handler(where: str, method: str, func: Callable[..., Any]) -> HandlerDefinition:
    low, high = _positional_range(func)
    if low > 1:
        raise ConfigurationError(
            f"{where}.{method}() is a @process handler; it must take (self, job) or (self)"
        )
    takes_job = high is None or high >= 1
    data_type = _job_data_type(where, method, func) if takes_job else None
    adapter: TypeAdapter[Any] | None = None
    if data_type is not None:
        try:
            adapter = TypeAdapter(data_type)
        except Exception as exc:
            raise ConfigurationError(
                f"{where}.{method}(): cannot validate job data as {data_type!r}: {exc}"
            ) from None
    is_async = inspect.iscoroutinefunction(func)
    return HandlerDefinition(
        method=method,
        takes_job=takes_job,
        is_async=is_async,
        data_type=data_type,
        adapter=adapter,
        interceptors=interceptors_of(func),
    )


def _job_data_type(where: str, method: str, func: Callable[..., Any]) -> Any | None:
    params = [p for p in inspect.signature(func).parameters.values()][1:]
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise ConfigurationError(
            f"{where}.{method}(): cannot evaluate its type hints ({exc}); import the types at run time"
        ) from None
    hint = hints.get(params[0].name)
    if hint is None or get_origin(hint) is not Job:
        return None
    (data_type,) = get_args(hint)
    if data_type is Any or isinstance(data_type, typing.TypeVar):
        return None
    return data_type


def _check_arity(
    where: str, method: str, func: Callable[..., Any], arity: int, deco: str, signature: str
) -> None:
    low, high = _positional_range(func)
    if low <= arity and (high is None or high >= arity):
        return
    raise ConfigurationError(
        f"{where}.{method}() is an {deco} hook, which is called with {arity} argument"
        f"{'' if arity == 1 else 's'}; declare it as def {method}{signature}"
    )


def _positional_range(func: Callable[..., Any]) -> tuple[int, int | None]:
    """(required, maximum or None for *args) positional arguments, not counting self.

    A required keyword-only parameter makes the method uncallable positionally: reported as a
    requirement no call can meet.
    """
    params = list(inspect.signature(func).parameters.values())[1:]
    low = high = 0
    unbounded = False
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            high += 1
            if p.default is p.empty:
                low += 1
        elif p.kind is p.VAR_POSITIONAL:
            unbounded = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return 99, -1
    return low, None if unbounded else high


def _methods(cls: type, attr: str) -> list[tuple[str, Callable[..., Any], Any]]:
    return list(decorated_methods(cls, attr))


def _check_worker_options(where: str, options: Mapping[str, Any]) -> None:
    reserved = sorted(set(options) & _RESERVED_WORKER_ARGS)
    if reserved:
        raise ConfigurationError(
            f"{where}: @processor cannot set {', '.join(reserved)}; the application provides them "
            "(set connection and prefix with QueueModule.for_root, interceptors with @use_interceptors(...) "
            "or QueueModule.for_root(interceptors=[...]))"
        )
    try:
        params = inspect.signature(Worker).parameters
    except (TypeError, ValueError):  # pragma: no cover - Worker is a plain class
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(k for k in options if k not in params)
    if unknown:
        accepted = sorted(
            k for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k not in _RESERVED_WORKER_ARGS
        )
        raise ConfigurationError(
            f"{where}: @processor got {', '.join(unknown)}, which Worker does not take "
            f"(it takes {', '.join(accepted)})"
        )


def _one_processor_per_queue(processors: list[ProcessorDefinition]) -> None:
    seen: dict[str, ProcessorDefinition] = {}
    for p in processors:
        other = seen.get(p.queue)
        if other is not None:
            raise ConfigurationError(
                f"queue {p.queue!r} has two processors, {other.label} and {p.label}; one queue is served by "
                "one @processor class: put all its @process handlers there"
            )
        seen[p.queue] = p
