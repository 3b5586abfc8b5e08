"""`@use_interceptors(...)` and the interceptors of the module system.

    @use_interceptors(TenantContext)              # every job of this processor
    @processor("reports")
    class ReportsProcessor:
        @use_interceptors(DbSession)               # only jobs of this method
        @process("generate")
        async def generate(self, job: Job) -> dict: ...

Global interceptors come from `QueueModule.for_root(interceptors=[...])`. The order around a job is:
global, then the processor class's, then the method's, each list first-outermost.

An interceptor given as a class is a provider token: resolved from the container with constructor
injection. A class no module provides is created by the module that uses it (the processor's module;
the root module for global ones), so it injects what that module sees. An instance is used as is.
The decorator only records metadata; `implicit_interceptors` tells the scanner what to add.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar

from framework.di.metadata import PROCESS_ATTR, decorated_methods, processor_metadata
from framework.errors import ConfigurationError
from framework.queue.interceptors import check_interceptor

if TYPE_CHECKING:
    from framework.di.scanner import ModuleGraph, ModuleNode

__all__ = ["GLOBAL_INTERCEPTORS_ATTR", "INTERCEPTORS_ATTR", "implicit_interceptors", "use_interceptors"]

INTERCEPTORS_ATTR: Final = "__nestq_interceptors__"
GLOBAL_INTERCEPTORS_ATTR: Final = "__nestq_global_interceptors__"

T = TypeVar("T")


def use_interceptors(*interceptors: object) -> Callable[[T], T]:
    """Run `interceptors` around the jobs of this `@processor` class or this `@process` method.

    Args:
        *interceptors: classes with `async def intercept(self, job, call_next)` (resolved from the
            container) or such instances; the first is the outermost.
    """
    if not interceptors:
        raise ConfigurationError("@use_interceptors needs at least one interceptor class")
    for interceptor in interceptors:
        check_interceptor(interceptor, "@use_interceptors")

    def decorate(target: T) -> T:
        if not callable(target):
            raise ConfigurationError(f"@use_interceptors decorates a class or a method, got {target!r}")
        # Decorators apply bottom-up: a decorator written above another wraps it, so its interceptors
        # come first. `vars()` so that a subclass does not extend its base class's list in place.
        own: tuple[object, ...] = (
            vars(target).get(INTERCEPTORS_ATTR, ()) if hasattr(target, "__dict__") else ()
        )
        setattr(target, INTERCEPTORS_ATTR, (*interceptors, *own))
        return target

    return decorate


def interceptors_of(target: object) -> tuple[object, ...]:
    """The interceptors `@use_interceptors` recorded on a class (its MRO) or a function."""
    value = getattr(target, INTERCEPTORS_ATTR, ())
    return tuple(value) if isinstance(value, tuple) else ()


def global_interceptors(graph: ModuleGraph) -> tuple[object, ...]:
    """The interceptors of every `QueueModule.for_root(interceptors=...)` of the graph, in order."""
    found: list[object] = []
    for node in graph.modules:
        found.extend(node.module.__dict__.get(GLOBAL_INTERCEPTORS_ATTR, ()))
    return tuple(found)


def implicit_interceptors(graph: ModuleGraph) -> Iterator[tuple[ModuleNode, type]]:
    """(module, class) for every interceptor class used in `graph` that the module cannot see yet."""
    for token in global_interceptors(graph):
        if isinstance(token, type):
            yield graph.root, token
    for node in graph.modules:
        for binding in list(node.bindings.values()):
            cls = _class_of(binding.spec.kind, binding.spec.target)
            if cls is None or processor_metadata(cls) is None:
                continue
            tokens = list(interceptors_of(cls))
            for _, func, _record in decorated_methods(cls, PROCESS_ATTR):
                tokens.extend(interceptors_of(func))
            for token in tokens:
                if isinstance(token, type):
                    yield node, token


def _class_of(kind: str, target: Any) -> type | None:
    if kind == "class" and isinstance(target, type):
        return target
    if kind == "value" and not isinstance(target, type):
        return type(target)
    return None
