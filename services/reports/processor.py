"""`ReportsProcessor`: builds a report in three steps, reporting progress 10, 50, 90 and 100, then emails
the requester that it is ready (an `email` job, queued once per report even if the job is retried).

A report requested with `sections` is a flow: `section` jobs (one per part, in parallel) under an
`assemble` job that gathers their results and then finishes like `generate`."""

from __future__ import annotations

from typing import Any

import structlog

from framework import Job, on_active, on_completed, on_failed, process, processor
from services.email import EmailService
from services.reports.schemas import ReportRequest
from services.reports.service import ASSEMBLE, GENERATE, QUEUE, SECTION, ReportBuilder

log = structlog.get_logger("services.reports")
READY_TEMPLATE = "report-ready"


@processor(QUEUE, concurrency=5)
class ReportsProcessor:
    def __init__(self, builder: ReportBuilder, email: EmailService) -> None:
        self._builder = builder
        self._email = email

    @process(GENERATE)
    async def generate(self, job: Job[ReportRequest]) -> dict[str, Any]:
        await job.update_progress(10)
        counts, users = await self._builder.fetch_data()
        return await self._finish(job, counts, users)

    @process(SECTION)
    async def section(self, job: Job[Any]) -> dict[str, Any]:
        return await self._builder.section(str(job.data))

    @process(ASSEMBLE)
    async def assemble(self, job: Job[ReportRequest]) -> dict[str, Any]:
        await job.update_progress(10)
        counts, users = self._builder.gather(await job.get_children_values())
        return await self._finish(job, counts, users)

    async def _finish(
        self, job: Job[ReportRequest], counts: dict[str, dict[str, int]], users: int
    ) -> dict[str, Any]:
        await job.update_progress(50)
        report = self._builder.process(job, counts, users)
        await job.update_progress(90)
        await self._builder.save(report)
        await job.update_progress(100)
        summary = report.model_dump(mode="json")
        # The job id makes it idempotent: a retry of this job (say the return value could not be stored)
        # finds the email already queued.
        await self._email.send(report.email, READY_TEMPLATE, summary, job_id=f"{READY_TEMPLATE}-{job.id}")
        return summary

    @on_active
    def active(self, job: Job[Any]) -> None:
        log.info("building report", job_id=job.id, priority=job.priority)

    @on_completed
    def completed(self, job: Job[Any], result: Any) -> None:
        log.info("report ready", job_id=job.id)

    @on_failed
    def failed(self, job: Job[Any], error: BaseException) -> None:
        log.error("report failed", job_id=job.id, attempt=job.attempts_made, error=str(error))
