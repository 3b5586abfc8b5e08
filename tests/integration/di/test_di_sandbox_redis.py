"""Sandboxed handlers in the module system: `@process(name, sandbox=True)`, `@processor(q, sandbox=True)`."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import BaseModel

from framework.di import Module, QueueModule, on_progress, process, processor
from framework.errors import ConfigurationError, JobFailedError
from framework.queue import Job

from .support import Calls, MakeApp


class Page(BaseModel):
    title: str


@processor("render")
class RenderProcessor:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @process("render", sandbox=True)
    def render(self, job: Job[Page]) -> dict[str, Any]:
        job.update_progress(100)
        return {"title": job.data.title.upper(), "pid": os.getpid()}

    @process("inline")
    async def inline(self, job: Job[Any]) -> int:
        return os.getpid()

    @on_progress
    def progress(self, job: Job[Any], value: Any) -> None:
        self.calls.add("progress", job.id, value)


class RenderModule(Module):
    imports = [QueueModule.register_queue("render")]
    providers = [Calls]
    processors = [RenderProcessor]


@processor("all-sandboxed", sandbox=True, max_jobs_per_child=1)
class AllSandboxed:
    @process()
    async def anything(self, job: Job[Any]) -> int:
        return os.getpid()


class AllSandboxedModule(Module):
    imports = [QueueModule.register_queue("all-sandboxed")]
    processors = [AllSandboxed]


async def test_a_sandboxed_process_method_runs_in_another_process(make_app: MakeApp) -> None:
    """@process("render", sandbox=True) runs there with Job[Model] data; other methods stay in-process."""
    app = await make_app(RenderModule)
    await app.start()
    queue = app.queue("render")
    rendered = await queue.add("render", {"title": "hello"})
    inline = await queue.add("inline", None)

    result = await rendered.wait_until_finished(timeout=30)
    assert result["title"] == "HELLO" and result["pid"] != os.getpid()
    assert await inline.wait_until_finished(timeout=30) == os.getpid()
    await app.get(Calls).wait_for(lambda items: ("progress", rendered.id, 100) in items)


async def test_invalid_data_for_a_sandboxed_method_fails_without_retry(make_app: MakeApp) -> None:
    """Job[Model] validation happens before the sandbox: invalid data fails at once, saying why."""
    app = await make_app(RenderModule)
    await app.start()
    job = await app.queue("render").add("render", {"nope": 1}, attempts=3)
    with pytest.raises(JobFailedError, match="invalid data"):
        await job.wait_until_finished(timeout=30)
    stored = await app.queue("render").get_job(job.id)
    assert stored is not None and stored.attempts_made == 1


async def test_processor_level_sandbox_runs_every_handler_there_and_recycles(make_app: MakeApp) -> None:
    """@processor(..., sandbox=True, max_jobs_per_child=1): each job in a fresh process."""
    app = await make_app(AllSandboxedModule)
    await app.start()
    queue = app.queue("all-sandboxed")
    jobs = [await queue.add("x", None) for _ in range(2)]
    pids = [await j.wait_until_finished(timeout=30) for j in jobs]
    assert os.getpid() not in pids and pids[0] != pids[1]


async def test_a_sandboxed_method_of_a_nested_class_is_refused_with_a_clear_error(make_app: MakeApp) -> None:
    """A processor class defined inside a function cannot be imported by name: said when workers start."""

    @processor("nested")
    class Nested:
        @process(sandbox=True)
        def handle(self, job: Job[Any]) -> None:
            return None

    class NestedModule(Module):
        imports = [QueueModule.register_queue("nested")]
        processors = [Nested]

    app = await make_app(NestedModule)
    with pytest.raises(
        ConfigurationError, match=r"Nested.handle\(\) is sandboxed: .*defined inside a function"
    ):
        await app.start()
