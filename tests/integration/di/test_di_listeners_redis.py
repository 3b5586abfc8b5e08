"""Queue event listeners hear every worker's events, across applications (processes)."""

from __future__ import annotations

from typing import Any

from framework.di import Module, QueueModule, on_queue_event, process, processor, queue_events_listener
from framework.queue import Job, QueueEvent
from framework.testing import capture_logs

from .support import Calls, MakeApp


@queue_events_listener("events")
class EventsListener:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @on_queue_event("completed")
    def completed(self, event: QueueEvent) -> None:
        self.calls.add("completed", event.job_id, event.data.get("returnvalue"))

    @on_queue_event("failed")
    async def failed(self, event: QueueEvent) -> None:
        self.calls.add("failed", event.job_id)
        raise RuntimeError("listener bug")

    @on_queue_event("active")
    def active(self) -> None:
        self.calls.add("active")


class ListenerModule(Module):
    """The listening application: registers the queue, runs no worker."""

    imports = [QueueModule.register_queue("events")]
    providers = [Calls]
    processors = [EventsListener]


@processor("events")
class EventsProcessor:
    @process()
    async def handle(self, job: Job[Any]) -> Any:
        if job.name == "fail":
            raise RuntimeError("nope")
        return {"echo": job.data}


class WorkerModule(Module):
    """The working application: registers the queue and runs its processor."""

    imports = [QueueModule.register_queue("events")]
    processors = [EventsProcessor]


class TestAcrossApplications:
    async def test_listener_hears_jobs_completed_by_another_apps_workers(self, make_app: MakeApp) -> None:
        """Completed and failed events from app B's worker reach app A's listener; a raising listener
        is logged and the stream goes on."""
        listening = await make_app(ListenerModule)
        working = await make_app(WorkerModule)
        await listening.start(workers=False)
        await working.start(listeners=False)
        calls = listening.get(Calls)

        queue = listening.queue("events")
        with capture_logs() as logs:
            first = await queue.add("echo", {"n": 1})
            failing = await queue.add("fail", {}, attempts=1)
            last = await queue.add("echo", {"n": 2})
            await calls.wait_for(
                lambda items: (
                    ("completed", first.id, {"echo": {"n": 1}}) in items
                    and ("completed", last.id, {"echo": {"n": 2}}) in items
                    and ("failed", failing.id) in items
                )
            )
        assert calls.names().count("active") >= 3
        assert any(
            e["event"] == "queue event listener raised; ignored" and e["listener"] == "EventsListener.failed"
            for e in logs
        )

    async def test_listeners_can_be_left_off(self, make_app: MakeApp) -> None:
        """start(listeners=False) reads no event stream."""
        app = await make_app(ListenerModule)
        await app.start(workers=False, listeners=False)
        assert app._readers == []
