"""Lifecycle with running workers: graceful close lets jobs finish before destroy hooks run."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from framework.di import Module, QueueModule, process, processor
from framework.queue import Job, JobState, Queue
from framework.testing import capture_logs
from tests.integration.queue.conftest import wait_for

from .support import Calls, MakeApp


class Gate:
    def __init__(self) -> None:
        self.release = asyncio.Event()


class Store:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def on_module_init(self) -> None:
        self.calls.add("init Store")

    def on_application_bootstrap(self) -> None:
        self.calls.add("bootstrap Store")

    def on_module_destroy(self) -> None:
        self.calls.add("destroy Store")

    async def on_application_shutdown(self, signal: str | None) -> None:
        self.calls.add("shutdown Store", signal)


@processor("slow")
class SlowProcessor:
    def __init__(self, store: Store, calls: Calls, gate: Gate) -> None:
        self.calls = calls
        self.gate = gate

    def on_module_init(self) -> None:
        self.calls.add("init SlowProcessor")

    async def on_module_destroy(self) -> None:
        self.calls.add("destroy SlowProcessor")

    def on_application_shutdown(self) -> None:
        self.calls.add("shutdown SlowProcessor")

    @process("slow")
    async def slow(self, job: Job[Any]) -> str:
        self.calls.add("job started", job.id)
        await self.gate.release.wait()
        self.calls.add("job finished", job.id)
        return "done"

    @process("quick")
    async def quick(self) -> str:
        return "quick"


class SlowModule(Module):
    imports = [QueueModule.register_queue("slow")]
    providers = [Calls, Gate, Store]
    processors = [SlowProcessor]

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def on_module_init(self) -> None:
        self.calls.add("init SlowModule")

    def on_module_destroy(self) -> None:
        self.calls.add("destroy SlowModule")


class TestGracefulClose:
    async def test_active_job_finishes_before_destroy_hooks(
        self, make_app: MakeApp, redis_url: str, prefix: str
    ) -> None:
        """close() waits for the running job, then runs destroy/shutdown hooks in reverse order."""
        app = await make_app(SlowModule)
        calls = app.get(Calls)
        assert calls.names() == [
            "init Store",
            "init SlowProcessor",
            "init SlowModule",
            "bootstrap Store",
        ]
        await app.start()
        job = await app.queue("slow").add("slow", {})
        await calls.wait_for(lambda items: ("job started", job.id) in items)

        closing = asyncio.create_task(app.close(timeout=10))
        for _ in range(50):  # let close() run as far as it can: it must wait for the job
            await asyncio.sleep(0)
        assert not closing.done()
        app.get(Gate).release.set()
        await asyncio.wait_for(closing, 10)

        names = calls.names()
        stop = names[names.index("job finished") :]
        assert stop == [
            "job finished",
            "destroy SlowModule",
            "destroy SlowProcessor",
            "destroy Store",
            "shutdown SlowProcessor",
            "shutdown Store",
        ]
        async with Queue("slow", connection=redis_url, prefix=prefix) as queue:
            assert await queue.get_job_state(job.id) == JobState.COMPLETED


class TestServe:
    async def test_sigterm_shuts_down_gracefully(self, make_app: MakeApp) -> None:
        """serve() runs until SIGTERM, then closes; shutdown hooks receive the signal's name."""
        app = await make_app(SlowModule)
        calls = app.get(Calls)
        serving = asyncio.create_task(app.serve(shutdown_timeout=5))
        job = await app.queue("slow").add("quick", {})
        assert await job.wait_until_finished(timeout=10) == "quick"  # workers are up: serve() has started
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)
        assert ("shutdown Store", "SIGTERM") in calls.items
        assert signal.getsignal(signal.SIGTERM) is not None

    async def test_a_second_sigterm_stops_at_once_and_hands_the_job_back(
        self, make_app: MakeApp, redis_url: str, prefix: str
    ) -> None:
        """With a job still running in a long grace period, a second SIGTERM ends serve() at once; the
        unfinished job goes back to waiting."""
        app = await make_app(SlowModule)
        calls = app.get(Calls)
        serving = asyncio.create_task(app.serve(shutdown_timeout=60))
        job = await app.queue("slow").add("slow", {})
        await calls.wait_for(lambda items: ("job started", job.id) in items)
        with capture_logs() as logs:
            os.kill(os.getpid(), signal.SIGTERM)
            await wait_for(lambda: any(e["event"].startswith("signal received") for e in logs), 10)
        assert not serving.done()  # in its grace period, waiting for the job
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)  # not the 60 s grace period
        assert ("job finished", job.id) not in calls.items
        async with Queue("slow", connection=redis_url, prefix=prefix) as queue:
            assert await queue.get_job_state(job.id) == JobState.WAITING
