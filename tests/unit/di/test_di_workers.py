"""create_worker builds a processor's Worker with its options and every worker-local hook."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from framework.di import (
    Module,
    QueueModule,
    on_active,
    on_completed,
    on_drained,
    on_error,
    on_failed,
    on_progress,
    on_stalled,
    process,
    processor,
)
from framework.di.explorer import explore
from framework.di.queue_module import QueueConfig, QueueRegistry, QueueSpec
from framework.di.scanner import scan
from framework.di.workers import create_worker
from framework.queue import Job, JobOptions, RateLimit


@processor("reports", concurrency=3, limiter=RateLimit(max=10, duration=1), lock_duration=5)
class AllHooks:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @process()
    async def handle(self, job: Job[Any]) -> None: ...

    @on_active
    def active(self, job: Any) -> None:
        self.calls.append(("active", job))

    @on_progress
    def progress(self, job: Any, value: Any) -> None:
        self.calls.append(("progress", job, value))

    @on_completed
    def completed(self, job: Any, result: Any) -> None:
        self.calls.append(("completed", job, result))

    @on_failed
    def failed(self, job: Any, error: BaseException) -> None:
        self.calls.append(("failed", job, error))

    @on_stalled
    def stalled(self, job: Any) -> None:
        self.calls.append(("stalled", job))

    @on_error
    def error(self, exc: BaseException) -> None:
        self.calls.append(("error", exc))

    @on_drained
    def drained(self) -> None:
        self.calls.append(("drained",))


class Root(Module):
    imports = [QueueModule.for_root("redis://127.0.0.1:1"), QueueModule.register_queue("reports")]
    processors = [AllHooks]


async def test_worker_gets_options_defaults_and_every_hook() -> None:
    """Options come from @processor (concurrency overridable), defaults from the registry, hooks via on()."""
    (definition,) = explore(scan(Root)).processors
    client = Redis.from_url("redis://127.0.0.1:1")
    registry = QueueRegistry(QueueConfig(prefix="p", default_job_options=JobOptions(attempts=4)), client)
    registry.register(QueueSpec("reports"))
    instance = AllHooks()
    worker = create_worker(definition, instance, registry, concurrency=7)
    assert (worker.name, worker.concurrency, worker.lock_ms) == ("reports", 7, 5000)
    assert worker.limiter == RateLimit(max=10, duration=1)

    error = RuntimeError("x")
    for event, args in [
        ("active", ("j",)),
        ("progress", ("j", 5)),
        ("completed", ("j", "r")),
        ("failed", ("j", error)),
        ("stalled", ("j",)),
        ("error", (error,)),
        ("drained", ()),
    ]:
        worker._emit(event, *args)
    assert instance.calls == [
        ("active", "j"),
        ("progress", "j", 5),
        ("completed", "j", "r"),
        ("failed", "j", error),
        ("stalled", "j"),
        ("error", error),
        ("drained",),
    ]
    await client.aclose()
