"""The worker-local events, named once: what `Worker.on(...)` accepts, what the `@on_completed`-style
decorators record, and how many arguments each hook receives.

To add an event: a member here, its row in `HOOKS`, the name in `WorkerEventName`, a `_emit(...)` in
the worker, and a decorator in `framework.di.decorators`. The assertion below keeps the three in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal, get_args

__all__ = ["HOOKS", "HookShape", "WorkerEvent", "WorkerEventName"]


class WorkerEvent(StrEnum):
    """An event of one worker (not the queue-wide stream: see `QueueEvents`)."""

    ACTIVE = "active"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    STALLED = "stalled"
    ERROR = "error"
    DRAINED = "drained"


# The same names as plain strings, so that `worker.on("completed", ...)` type-checks.
WorkerEventName = Literal["active", "progress", "completed", "failed", "stalled", "error", "drained"]


@dataclass(frozen=True, slots=True)
class HookShape:
    """What a hook of one event receives."""

    arity: int  # positional arguments the worker passes
    signature: str  # as a processor method writes it (for error messages and docs)


HOOKS: Final[Mapping[WorkerEvent, HookShape]] = {
    WorkerEvent.ACTIVE: HookShape(1, "(self, job)"),
    WorkerEvent.PROGRESS: HookShape(2, "(self, job, progress)"),
    WorkerEvent.COMPLETED: HookShape(2, "(self, job, result)"),
    WorkerEvent.FAILED: HookShape(2, "(self, job, error)"),
    WorkerEvent.STALLED: HookShape(1, "(self, job)"),
    WorkerEvent.ERROR: HookShape(1, "(self, error)"),
    WorkerEvent.DRAINED: HookShape(0, "(self)"),
}

assert set(get_args(WorkerEventName)) == set(WorkerEvent) == set(HOOKS), "worker events out of step"
