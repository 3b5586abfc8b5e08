"""Worker-local hooks on a real server: right arguments, and a raising hook changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from framework.di import (
    Module,
    QueueModule,
    on_active,
    on_completed,
    on_drained,
    on_failed,
    on_progress,
    process,
    processor,
)
from framework.errors import JobFailedError
from framework.queue import Job
from framework.testing import capture_logs

from .support import Calls, MakeApp


@processor("hooks")
class HookedProcessor:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @process("double")
    async def double(self, job: Job[dict[str, int]]) -> dict[str, int]:
        await job.update_progress(42)
        return {"v": job.data["v"] * 2}

    @process("boom")
    async def boom(self, job: Job[Any]) -> None:
        raise ValueError("bad input")

    @on_active
    def active(self, job: Job[Any]) -> None:
        self.calls.add("active", job.id, job.name)

    @on_progress()
    async def progress(self, job: Job[Any], progress: Any) -> None:
        self.calls.add("progress", job.id, progress)

    @on_completed
    def completed(self, job: Job[Any], result: Any) -> None:
        self.calls.add("completed", job.id, result)

    @on_failed
    async def failed(self, job: Job[Any], error: BaseException) -> None:
        self.calls.add("failed", job.id, type(error).__name__, str(error))

    @on_drained
    def drained(self) -> None:
        self.calls.add("drained")


class HooksModule(Module):
    imports = [QueueModule.register_queue("hooks")]
    providers = [Calls]
    processors = [HookedProcessor]


@processor("fragile")
class FragileProcessor:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @process()
    async def handle(self, job: Job[Any]) -> str:
        if job.name == "fail":
            raise RuntimeError("handler failed")
        return "ok"

    @on_active
    def active(self, job: Job[Any]) -> None:
        self.calls.add("active", job.id)
        raise RuntimeError("active hook bug")

    @on_completed
    async def completed(self, job: Job[Any], result: Any) -> None:
        self.calls.add("completed", job.id)
        raise RuntimeError("completed hook bug")

    @on_failed
    def failed(self, job: Job[Any], error: BaseException) -> None:
        self.calls.add("failed", job.id)
        raise RuntimeError("failed hook bug")


class FragileModule(Module):
    imports = [QueueModule.register_queue("fragile")]
    providers = [Calls]
    processors = [FragileProcessor]


class TestHookArguments:
    async def test_hooks_get_job_progress_result_and_error(self, make_app: MakeApp) -> None:
        """active(job), progress(job, value), completed(job, result), failed(job, error), drained()."""
        app = await make_app(HooksModule)
        calls = app.get(Calls)
        await app.start()
        queue = app.queue("hooks")
        ok = await queue.add("double", {"v": 21})
        bad = await queue.add("boom", {}, attempts=1)
        await calls.wait_for(lambda items: ("completed", ok.id, {"v": 42}) in items)
        await calls.wait_for(lambda items: any(i[:2] == ("failed", bad.id) for i in items))
        await calls.wait_for(lambda items: items[-1] == ("drained",))

        assert ("active", ok.id, "double") in calls.items
        assert ("active", bad.id, "boom") in calls.items
        assert ("progress", ok.id, 42) in calls.items
        assert ("failed", bad.id, "ValueError", "bad input") in calls.items
        items = calls.items
        assert items.index(("active", ok.id, "double")) < items.index(("completed", ok.id, {"v": 42}))


class TestRaisingHooks:
    async def test_a_raising_hook_is_logged_and_changes_nothing(self, make_app: MakeApp) -> None:
        """Jobs keep their own outcome and the worker goes on when hooks raise."""
        app = await make_app(FragileModule)
        calls = app.get(Calls)
        with capture_logs() as logs:
            await app.start()
            queue = app.queue("fragile")
            first = await queue.add("work", {})
            assert await first.wait_until_finished(timeout=10) == "ok"
            failing = await queue.add("fail", {}, attempts=1)
            with pytest.raises(JobFailedError, match="RuntimeError: handler failed"):
                await failing.wait_until_finished(timeout=10)
            last = await queue.add("work", {})
            assert await last.wait_until_finished(timeout=10) == "ok"
            await calls.wait_for(lambda items: ("completed", last.id) in items)
            await calls.wait_for(lambda items: ("failed", failing.id) in items)

        assert app.workers["fragile"].is_running
        raised = [e for e in logs if e["event"] == "worker hook raised; ignored"]
        assert {e["hook"] for e in raised} == {"active", "completed", "failed"}
