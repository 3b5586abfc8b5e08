"""Reports on a real server: requests become prioritized or delayed jobs, built with progress and kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from framework import Application, QueueEvents, QueueRegistry
from services.email import Mailer
from services.reports import (
    ReportRequest,
    ReportsModule,
    ReportsService,
    ReportStore,
    ReportSummary,
)
from services.testing import FakeMailer, MakeApp
from services.users import NewUser, UserStore


@pytest.fixture
async def app(make_app: MakeApp) -> Application:
    return await make_app(ReportsModule)


def summary(report_id: str, email: str, generated_at: datetime) -> ReportSummary:
    return ReportSummary(
        report_id=report_id,
        email=email,
        requested_at=generated_at,
        generated_at=generated_at,
        users=0,
        queues={},
        totals={"jobs": 0},
        busiest_queue=None,
    )


class TestRequest:
    async def test_priority_follows_urgency(self, app: Application) -> None:
        """Urgent requests get priority 1, the others 10 (lower runs first)."""
        service = app.get(ReportsService)
        urgent = await service.request_report(ReportRequest(email="ada@example.com", urgent=True))
        normal = await service.request_report(ReportRequest(email="ada@example.com"))
        queue = app.queue("reports")
        assert (await queue.get_job(urgent.job_id)).priority == 1  # type: ignore[union-attr]
        assert (await queue.get_job(normal.job_id)).priority == 10  # type: ignore[union-attr]
        assert await queue.get_job_ids("prioritized") == [urgent.job_id, normal.job_id]

    async def test_scheduled_for_delays_the_job(self, app: Application) -> None:
        """A future `scheduled_for` delays the job until then; a naive time is UTC; the past means now."""
        service = app.get(ReportsService)
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)  # naive: taken as UTC
        scheduled = await service.request_report(ReportRequest(email="ada@example.com", scheduled_for=later))
        job = await app.queue("reports").get_job(scheduled.job_id)
        assert job is not None and await job.get_state() == "delayed"
        assert 3_590_000 <= job.delay <= 3_600_000
        past = datetime.now(UTC) - timedelta(minutes=5)
        now = await service.request_report(ReportRequest(email="ada@example.com", scheduled_for=past))
        assert await (await app.queue("reports").get_job(now.job_id)).get_state() == "prioritized"  # type: ignore[union-attr]


class TestGenerate:
    async def test_progress_result_and_store(self, app: Application, redis_url: str, prefix: str) -> None:
        """The job reports 10, 50, 90, 100; its result is the summary, also kept in the ReportStore."""
        await app.get(UserStore).create(NewUser(email="ada@example.com", name="Ada"))
        service = app.get(ReportsService)
        accepted = await service.request_report(ReportRequest(email="ada@example.com", urgent=True))
        await app.run_until_drained("reports")

        status = await service.get_status(accepted.job_id)
        assert status is not None
        assert (status.state, status.progress) == ("completed", 100)
        assert status.result is not None
        assert status.result["report_id"] == accepted.job_id and status.result["email"] == "ada@example.com"
        assert status.result["users"] == 1
        assert status.result["queues"]["reports"]["counts"]["active"] == 1  # itself, while it ran
        stored = await app.get(ReportStore).get(accepted.job_id)
        assert stored is not None and stored.model_dump(mode="json") == status.result

        events = QueueEvents("reports", connection=redis_url, prefix=prefix, last_id="0")
        try:
            progress = [e.data["data"] for e in await events.read() if e.event == "progress"]
        finally:
            await events.close()
        assert progress == [10, 50, 90, 100]

    async def test_the_requester_is_emailed_once_when_the_report_is_ready(self, make_app: MakeApp) -> None:
        """A built report queues one `report-ready` email to its requester (idempotent by job id: a second
        run of the same report job queues nothing), and the email worker delivers it."""
        mailer = FakeMailer()
        app = await make_app(ReportsModule, overrides={Mailer: mailer})
        service = app.get(ReportsService)
        accepted = await service.request_report(ReportRequest(email="ada@example.com"))
        await app.run_until_drained("reports")

        email_queue = app.queue("email")
        [sent] = await email_queue.get_jobs(["waiting"])
        assert sent.id == f"report-ready-{accepted.job_id}"
        assert sent.data["to"] == "ada@example.com" and sent.data["template"] == "report-ready"
        assert sent.data["data"]["report_id"] == accepted.job_id

        # The same report job run again (as after a lost result) does not email twice.
        job = await app.queue("reports").get_job(accepted.job_id)
        assert job is not None
        await job.retry()
        await app.run_until_drained("reports")
        assert await email_queue.get_job_counts("waiting") == {"waiting": 1}

        await app.run_until_drained("email")
        [message] = mailer.to("ada@example.com")
        assert message["Subject"] == f"Your report {accepted.job_id} is ready"
        assert f"GET /reports/{accepted.job_id}" in message.get_body(("plain",)).get_content()

    async def test_invalid_job_data_fails_without_retry(self, app: Application) -> None:
        """A `generate` job whose data is not a ReportRequest fails at once, naming the field."""
        job = await app.queue("reports").add("generate", {"email": "nope"}, attempts=3)
        await app.run_until_drained("reports")
        await job.refresh()
        assert await job.get_state() == "failed"
        assert job.attempts_made == 1 and "email" in (job.failed_reason or "")


class TestStatus:
    async def test_unknown_ids(self, app: Application) -> None:
        """Unknown ids, and names of the queue's own keys, have no status."""
        service = app.get(ReportsService)
        for job_id in ("404", "wait", "meta", "1:logs", ""):
            assert await service.get_status(job_id) is None

    async def test_waiting_request(self, app: Application) -> None:
        """A request not yet taken reports its state and no result."""
        service = app.get(ReportsService)
        accepted = await service.request_report(ReportRequest(email="ada@example.com"))
        status = await service.get_status(accepted.job_id)
        assert status is not None
        assert (status.state, status.progress, status.result) == ("prioritized", None, None)

    async def test_saved_report_outlives_its_job(self, app: Application) -> None:
        """Once retention removed the job, the stored report still answers as completed."""
        service = app.get(ReportsService)
        accepted = await service.request_report(ReportRequest(email="ada@example.com"))
        await app.run_until_drained("reports")
        assert await app.queue("reports").remove(accepted.job_id)
        status = await service.get_status(accepted.job_id)
        assert status is not None and (status.state, status.progress) == ("completed", 100)
        assert status.result is not None and status.result["report_id"] == accepted.job_id


class TestReportStore:
    async def test_recent_and_cleanup(self, app: Application) -> None:
        """`recent` lists reports since a time (optionally one email's); old ones are deleted by age."""
        store = app.get(ReportStore)
        now = datetime.now(UTC)
        await store.save(summary("old", "ada@example.com", now - timedelta(days=40)))
        await store.save(summary("ada", "ada@example.com", now - timedelta(minutes=5)))
        await store.save(summary("grace", "grace@example.com", now - timedelta(minutes=1)))
        hour_ago = now - timedelta(hours=1)
        assert [r.report_id for r in await store.recent(hour_ago)] == ["ada", "grace"]
        assert [r.report_id for r in await store.recent(hour_ago, email="ADA@example.com")] == ["ada"]
        assert await store.delete_older_than(now - timedelta(days=30)) == 1
        assert await store.get("old") is None and await store.count() == 2


class TestSections:
    async def test_sections_run_as_children_then_the_report_is_assembled(self, app: Application) -> None:
        """With `sections`, the request is a flow: the report waits for one section per queue and one for the
        users, built in parallel, then is assembled, stored and answered like any report."""
        await app.get(UserStore).create(NewUser(email="ada@example.com", name="Ada"))
        service = app.get(ReportsService)
        accepted = await service.request_report(ReportRequest(email="ada@example.com", sections=True))
        status = await service.get_status(accepted.job_id)
        assert status is not None and status.state == "waiting-children"
        parent = await app.queue("reports").get_job(accepted.job_id)
        assert parent is not None
        names = app.get(QueueRegistry).names
        assert len((await parent.get_dependencies()).unprocessed) == len(names) + 1

        for _ in range(5):  # sections first; the assemble job is released by the last one
            await app.run_until_drained("reports")
            status = await service.get_status(accepted.job_id)
            if status is not None and status.state == "completed":
                break
        assert status is not None and (status.state, status.progress) == ("completed", 100)
        assert status.result is not None and status.result["users"] == 1
        assert set(status.result["queues"]) == set(names)
        stored = await app.get(ReportStore).get(accepted.job_id)
        assert stored is not None and stored.model_dump(mode="json") == status.result
