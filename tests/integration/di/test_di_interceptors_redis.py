"""Interceptors on a real server: order, injection, short-cuts, result wrapping, failures, overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from framework import (
    Application,
    CallNext,
    ConfigurationError,
    Job,
    Module,
    Queue,
    QueueModule,
    Worker,
    process,
    processor,
    use_interceptors,
)
from framework.testing import Test


class Trace:
    """Shared by the interceptors and the handlers: what ran, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []


class TraceModule(Module):
    providers = [Trace]
    exports = [Trace]


class _Recording:
    label = ""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
        self.trace.steps.append(f"{self.label}>")
        try:
            return await call_next()
        finally:
            self.trace.steps.append(f"<{self.label}")


class GlobalA(_Recording):
    label = "global-a"


class GlobalB(_Recording):
    label = "global-b"


class ClassLevel(_Recording):
    label = "class"


class MethodOuter(_Recording):
    label = "method-1"


class MethodInner(_Recording):
    label = "method-2"


class Wrap:
    """Wraps the handler's result."""

    async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
        return {"wrapped": await call_next(), "job": job.name}


class Cache:
    """Short-cuts jobs whose data says so: the handler never runs."""

    async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
        if job.data.get("cached"):
            return "from cache"
        return await call_next()


class Guard:
    """Fails jobs of a forbidden tenant before the handler runs."""

    async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
        if job.data.get("tenant") == "blocked":
            raise PermissionError("tenant 'blocked' may not run jobs")
        return await call_next()


@use_interceptors(ClassLevel)
@processor("work")
class WorkProcessor:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    @use_interceptors(MethodOuter, MethodInner)
    @process("traced")
    async def traced(self, job: Job[Any]) -> str:
        self.trace.steps.append("handler")
        return "done"

    @use_interceptors(Wrap, Cache, Guard)
    @process("guarded")
    def guarded(self, job: Job[Any]) -> str:
        self.trace.steps.append("guarded handler")
        if job.data.get("boom"):
            raise RuntimeError("handler failed")
        return "computed"


class WorkModule(Module):
    imports = [TraceModule, QueueModule.register_queue("work")]
    processors = [WorkProcessor]


@pytest.fixture
async def app(redis_url: str, prefix: str, redis: aioredis.Redis) -> AsyncIterator[Application]:
    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix, interceptors=[GlobalA, GlobalB]),
            TraceModule,
            WorkModule,
        ]

    async with Application.create(AppModule) as application:
        yield application


async def test_interceptors_run_global_then_class_then_method_outermost_first(app: Application) -> None:
    """Global, class and method interceptors wrap the handler in that order, each list first-outermost."""
    job = await app.queue("work").add("traced", {})
    await app.run_until_drained("work")
    assert await job.get_state() == "completed"
    assert app.get(Trace).steps == [
        "global-a>",
        "global-b>",
        "class>",
        "method-1>",
        "method-2>",
        "handler",
        "<method-2",
        "<method-1",
        "<class",
        "<global-b",
        "<global-a",
    ]


async def test_interceptor_classes_are_injected_singletons_from_the_container(app: Application) -> None:
    """Interceptor classes no module lists are built by the container, with their constructor injected."""
    trace = app.get(Trace)
    assert app.get(ClassLevel).trace is trace  # created in WorkModule, which imports TraceModule
    assert app.get(GlobalA).trace is trace  # created in the root module


async def test_interceptor_wraps_the_result(app: Application) -> None:
    """What the outer interceptor returns becomes the job's result."""
    job = await app.queue("work").add("guarded", {})
    await app.run_until_drained("work")
    assert await job.wait_until_finished(timeout=5) == {"wrapped": "computed", "job": "guarded"}


async def test_interceptor_can_short_cut_the_handler(app: Application) -> None:
    """An interceptor that returns without calling call_next completes the job; the handler never runs."""
    job = await app.queue("work").add("guarded", {"cached": True})
    await app.run_until_drained("work")
    assert await job.wait_until_finished(timeout=5) == {"wrapped": "from cache", "job": "guarded"}
    assert "guarded handler" not in app.get(Trace).steps


async def test_interceptor_and_handler_errors_fail_the_job(app: Application) -> None:
    """An exception raised by an interceptor, or a handler's passing through one, is the job's failure."""
    queue: Queue = app.queue("work")
    blocked = await queue.add("guarded", {"tenant": "blocked"}, attempts=1)
    boom = await queue.add("guarded", {"boom": True}, attempts=1)
    await app.run_until_drained("work")
    blocked = await queue.get_job(blocked.id)
    boom = await queue.get_job(boom.id)
    assert blocked is not None and boom is not None
    assert await blocked.get_state() == "failed"
    assert "tenant 'blocked' may not run jobs" in (blocked.failed_reason or "")
    assert await boom.get_state() == "failed" and "handler failed" in (boom.failed_reason or "")
    assert app.get(Trace).steps.count("guarded handler") == 1  # the blocked job never reached it


async def test_interceptor_can_be_overridden_in_tests(redis_url: str, prefix: str) -> None:
    """`override_provider(Interceptor)` replaces an interceptor the application would have created."""

    class Skip:
        async def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
            return "skipped"

    root = QueueModule.for_root(redis_url, prefix=prefix)
    builder = Test.create_testing_module(imports=[root, WorkModule]).override_provider(ClassLevel)
    async with builder.use_value(Skip()).compile() as app:
        job = await app.queue("work").add("traced", {})
        await app.run_until_drained("work")
        assert await job.wait_until_finished(timeout=5) == "skipped"
        assert app.get(Trace).steps == []


async def test_low_level_worker_runs_interceptors(redis_url: str, prefix: str) -> None:
    """`Worker(..., interceptors=[...])` wraps a plain handler too (sync handlers stay in threads)."""
    trace = Trace()

    def handler(job: Job[Any]) -> int:
        trace.steps.append("handler")
        return int(job.data["n"]) * 2

    async with Queue("low", connection=redis_url, prefix=prefix) as queue:
        job = await queue.add("double", {"n": 21})
        worker = Worker(
            "low",
            handler,
            connection=redis_url,
            prefix=prefix,
            interceptors=[Wrap(), ClassLevel(trace)],
        )
        await worker.run_until_drained()
        assert await job.wait_until_finished(timeout=5) == {"wrapped": 42, "job": "double"}
        assert trace.steps == ["class>", "handler", "<class"]


def test_an_object_without_async_intercept_is_refused() -> None:
    """@use_interceptors, for_root(interceptors=) and Worker(interceptors=) name a non-interceptor."""

    class NotOne:
        def intercept(self, job: Job[Any], call_next: CallNext) -> Any:
            return None

    with pytest.raises(ConfigurationError, match=r"@use_interceptors: NotOne is not.*async def"):
        use_interceptors(NotOne)
    with pytest.raises(ConfigurationError, match=r"for_root\(interceptors=...\): NotOne is not"):
        QueueModule.for_root(interceptors=[NotOne])
    with pytest.raises(ConfigurationError, match="NotOne is not an interceptor"):
        Worker("q", lambda job: None, interceptors=[NotOne()])


async def test_processor_option_interceptors_points_to_use_interceptors(redis_url: str, prefix: str) -> None:
    """@processor(interceptors=...) is refused with a message naming @use_interceptors."""

    @processor("work", interceptors=[Wrap()])
    class Bad:
        @process()
        async def run(self, job: Job[Any]) -> None: ...

    class AppModule(Module):
        imports = [QueueModule.for_root(redis_url, prefix=prefix), QueueModule.register_queue("work")]
        processors = [Bad]

    with pytest.raises(ConfigurationError, match=r"cannot set interceptors.*@use_interceptors"):
        await Application.create(AppModule)
