"""The worker events are named once: the enum, the hook table, the decorators and `Worker.on` agree."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

from framework import on_active, on_completed, on_drained, on_error, on_failed, on_progress, on_stalled
from framework.di.metadata import WORKER_HOOK_ATTR
from framework.queue import Worker
from framework.queue.worker_events import HOOKS, WorkerEvent, WorkerEventName

DECORATORS = {
    WorkerEvent.ACTIVE: on_active,
    WorkerEvent.PROGRESS: on_progress,
    WorkerEvent.COMPLETED: on_completed,
    WorkerEvent.FAILED: on_failed,
    WorkerEvent.STALLED: on_stalled,
    WorkerEvent.ERROR: on_error,
    WorkerEvent.DRAINED: on_drained,
}


class TestWorkerEvent:
    def test_names_table_and_literal_agree(self) -> None:
        """Every event has a hook shape and a string name, and nothing else does."""
        assert set(HOOKS) == set(WorkerEvent) == set(get_args(WorkerEventName)) == set(DECORATORS)

    def test_signature_matches_arity(self) -> None:
        """Each documented signature takes `self` plus exactly the arguments the worker passes."""
        for event, shape in HOOKS.items():
            params = [p for p in shape.signature.strip("()").split(", ") if p]
            assert params[0] == "self" and len(params) - 1 == shape.arity, event

    @pytest.mark.parametrize("event", list(WorkerEvent))
    def test_decorator_records_its_event(self, event: WorkerEvent) -> None:
        """`@on_<event>` records the event (equal to its plain name) and documents the hook's signature."""

        def hook(self: object) -> None: ...

        decorated = DECORATORS[event](hook)
        assert getattr(decorated, WORKER_HOOK_ATTR) == (event.value,)
        assert HOOKS[event].signature in (inspect.getdoc(DECORATORS[event]) or "")


class TestWorkerOn:
    def test_accepts_member_and_name_refuses_unknown(self) -> None:
        """`Worker.on` takes the enum member or its name; an unknown name is a clear ValueError."""
        worker = Worker("events-unit", lambda job: None, connection="redis://127.0.0.1:1")
        worker.on(WorkerEvent.COMPLETED, lambda job, result: None)
        worker.on("completed", lambda job, result: None)
        with pytest.raises(ValueError, match="unknown worker event 'finished'; events are active, progress"):
            worker.on("finished", lambda: None)  # type: ignore[arg-type]
