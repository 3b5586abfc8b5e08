"""Lifecycle hooks: methods a provider, processor or module may define, called by the application.

On start, `on_module_init` then `on_application_bootstrap` run over every instance in dependency
order (a provider after what it injects; a module after its providers). On stop,
`on_module_destroy` then `on_application_shutdown` run in reverse order. Hooks may be sync or async.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Literal

import structlog

from framework.di.providers import short_name

log = structlog.get_logger("nestq.di")

LifecycleHook = Literal[
    "on_module_init", "on_application_bootstrap", "on_module_destroy", "on_application_shutdown"
]


async def run_start_hook(hook: LifecycleHook, instances: Iterable[object]) -> None:
    """Call `hook` on each instance that defines it, in order; the first error propagates."""
    for instance in _unique(instances):
        method = _hook_method(instance, hook)
        if method is None:
            continue
        try:
            result = method()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            exc.add_note(f"in {short_name(type(instance))}.{hook}()")
            raise


async def run_stop_hook(hook: LifecycleHook, instances: Iterable[object], signal: str | None = None) -> None:
    """Call `hook` on each instance that defines it, in order; errors are logged so every hook runs.

    `on_application_shutdown` receives the signal name ("SIGTERM") when it accepts an argument.
    """
    for instance in _unique(instances):
        method = _hook_method(instance, hook)
        if method is None:
            continue
        try:
            result = method(signal) if _accepts_argument(method) else method()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("lifecycle hook failed", hook=hook, instance=short_name(type(instance)))


def _hook_method(instance: object, hook: LifecycleHook) -> Callable[..., object] | None:
    # Only look at the class, so a value provider (a dict, a Mock used as a fake) is never mistaken
    # for something with hooks through instance attributes or __getattr__.
    if inspect.isclass(instance) or inspect.ismodule(instance):
        return None
    if inspect.getattr_static(type(instance), hook, None) is None:
        return None
    method = getattr(instance, hook, None)
    return method if callable(method) else None


def _accepts_argument(method: Callable[..., object]) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def _unique(instances: Iterable[object]) -> list[object]:
    seen: set[int] = set()
    result: list[object] = []
    for instance in instances:
        if id(instance) not in seen:
            seen.add(id(instance))
            result.append(instance)
    return result
