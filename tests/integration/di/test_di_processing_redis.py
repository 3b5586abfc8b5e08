"""Processors on a real server: injection across modules, Job[Model] validation, unknown names."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from pydantic import BaseModel

from framework.di import Module, QueueModule, inject_queue, process, processor
from framework.queue import Job, JobState, Queue

from .support import MakeApp


class ReportParams(BaseModel):
    month: str
    urgent: bool = False


class Store:
    """Lives in StorageModule; the reports processor gets it through StorageModule's exports."""

    def __init__(self) -> None:
        self.saved: list[str] = []
        self.threads: list[str] = []


class StorageModule(Module):
    providers = [Store]
    exports = [Store]


class ReportsService:
    """A producer: enqueues through the injected queue."""

    def __init__(self, reports: Annotated[Queue, inject_queue("reports")]) -> None:
        self.reports = reports

    async def request(self, month: str, *, urgent: bool = False) -> Job[Any]:
        return await self.reports.add(
            "generate", {"month": month, "urgent": urgent}, priority=1 if urgent else 10
        )


@processor("reports", concurrency=2)
class ReportsProcessor:
    def __init__(self, store: Store) -> None:
        self.store = store

    @process("generate")
    async def generate(self, job: Job[ReportParams]) -> dict[str, Any]:
        await job.update_progress(50)
        self.store.saved.append(job.data.month)
        return {"month": job.data.month, "urgent": job.data.urgent}

    @process("sum")
    def sum(self, job: Job[list[int]]) -> int:
        self.store.threads.append(threading.current_thread().name)
        return sum(job.data)


class ReportsModule(Module):
    imports = [StorageModule, QueueModule.register_queue("reports")]
    providers = [ReportsService]
    processors = [ReportsProcessor]
    exports = [ReportsService]


class ApiModule(Module):
    """Uses ReportsService through ReportsModule's exports only."""

    imports = [ReportsModule]


class TestInjectionAndProcessing:
    async def test_service_enqueues_processor_uses_exported_provider(self, make_app: MakeApp) -> None:
        """A job added by an injected service is handled by a processor injected across modules."""
        app = await make_app(ApiModule)
        job = await app.get(ReportsService).request("2024-05", urgent=True)
        await app.run_until_drained("reports")
        stored = await app.queue("reports").get_job(job.id)
        assert stored is not None
        assert await stored.get_state() == JobState.COMPLETED
        assert stored.return_value == {"month": "2024-05", "urgent": True}
        assert stored.progress == 50
        assert app.get(Store).saved == ["2024-05"]

    async def test_started_workers_and_sync_handler(self, make_app: MakeApp) -> None:
        """app.start() runs the processor's worker; plain def handlers run in a worker thread."""
        app = await make_app(ReportsModule)
        await app.start()
        assert app.workers["reports"].concurrency == 2
        job = await app.queue("reports").add("sum", [1, 2, 3])
        assert await job.wait_until_finished(timeout=10) == 6
        assert app.get(Store).threads and app.get(Store).threads[0] != threading.current_thread().name

    async def test_concurrency_override(self, make_app: MakeApp) -> None:
        """start(concurrency=N) overrides the processor's own concurrency."""
        app = await make_app(ReportsModule)
        await app.start(["reports"], concurrency=5)
        assert app.workers["reports"].concurrency == 5


class TestFailures:
    async def test_invalid_data_fails_without_retry(self, make_app: MakeApp) -> None:
        """Data that does not fit Job[Model] fails at once (no retry), with the validation error."""
        app = await make_app(ReportsModule, default_job_options={"attempts": 3})
        job = await app.queue("reports").add("generate", {"urgent": "maybe"})
        await app.run_until_drained("reports", include_delayed=True)
        stored = await app.queue("reports").get_job(job.id)
        assert stored is not None
        assert await stored.get_state() == JobState.FAILED
        assert stored.attempts_made == 1
        assert stored.failed_reason is not None
        assert "UnrecoverableError" in stored.failed_reason
        assert "month" in stored.failed_reason and "Field required" in stored.failed_reason

    async def test_unknown_job_name_fails_clearly_without_retry(self, make_app: MakeApp) -> None:
        """A job name no method handles fails once, naming the handled names."""
        app = await make_app(ReportsModule, default_job_options={"attempts": 3})
        job = await app.queue("reports").add("publish", {})
        await app.run_until_drained("reports", include_delayed=True)
        stored = await app.queue("reports").get_job(job.id)
        assert stored is not None
        assert await stored.get_state() == JobState.FAILED
        assert stored.attempts_made == 1
        assert "no handler for job name 'publish'" in (stored.failed_reason or "")
        assert "'generate', 'sum'" in (stored.failed_reason or "")
