"""Maintenance on a real server: its schedulers, the cleanup and the digest."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from framework import Application
from services.maintenance import MaintenanceModule
from services.reports import ReportStore, ReportSummary
from services.testing import FakeMailer, MakeApp
from services.users import NewUser, SessionStore, UserStore

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def app(make_app: MakeApp, maintenance_overrides: dict[object, object]) -> Application:
    return await make_app(MaintenanceModule, overrides=maintenance_overrides)


def report(report_id: str, email: str, generated_at: datetime) -> ReportSummary:
    return ReportSummary(
        report_id=report_id,
        email=email,
        requested_at=generated_at,
        generated_at=generated_at,
        users=1,
        queues={},
        totals={"jobs": 4},
        busiest_queue=None,
    )


class TestSchedulers:
    async def test_start_upserts_both_schedulers_once(
        self, app: Application, make_app: MakeApp, maintenance_overrides: dict[object, object]
    ) -> None:
        """Starting the worker creates `daily-cleanup` (cron) and `hourly-digest` (every); a second
        instance leaves them as they are."""
        await app.start(workers=["maintenance"])
        queue = app.queue("maintenance")
        schedulers = {s.id: s for s in await queue.get_job_schedulers()}
        assert set(schedulers) == {"daily-cleanup", "hourly-digest"}
        assert (schedulers["daily-cleanup"].cron, schedulers["daily-cleanup"].name) == (
            "0 0 * * *",
            "cleanup",
        )
        assert (schedulers["hourly-digest"].every, schedulers["hourly-digest"].name) == (3600.0, "digest")

        other = await make_app(MaintenanceModule, overrides=maintenance_overrides)
        await other.start(workers=["maintenance"])
        again = {s.id: s for s in await queue.get_job_schedulers()}
        assert {k: v.next_run_ms for k, v in again.items()} == {
            k: v.next_run_ms for k, v in schedulers.items()
        }
        assert await queue.get_job_counts("delayed") == {"delayed": 2}

    def test_digest_interval_comes_from_the_environment(self) -> None:
        """NESTQ_DIGEST_EVERY sets the `hourly-digest` interval (read when the processor is imported)."""
        code = (
            "from framework.di.schedulers import scheduled_jobs\n"
            "from services.maintenance.processor import MaintenanceProcessor\n"
            "print({j.id: j.repeat.every for j in scheduled_jobs(MaintenanceProcessor)})\n"
        )
        env = {**os.environ, "NESTQ_DIGEST_EVERY": "2.5"}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "{'daily-cleanup': None, 'hourly-digest': 2.5}"


class TestCleanup:
    async def test_removes_old_reports_and_expired_sessions(self, app: Application) -> None:
        """A cleanup run deletes reports past retention (30 days) and expired sessions, and keeps the rest."""
        reports, sessions = app.get(ReportStore), app.get(SessionStore)
        now = datetime.now(UTC)
        await reports.save(report("old", "ada@example.com", now - timedelta(days=31)))
        await reports.save(report("new", "ada@example.com", now - timedelta(days=1)))
        await sessions.create("u1", ttl=timedelta(seconds=-10))
        live = await sessions.create("u2")

        job = await app.queue("maintenance").add("cleanup")
        await app.run_until_drained("maintenance")
        assert await job.wait_until_finished(timeout=5) == {"reports_removed": 1, "sessions_removed": 1}
        assert await reports.get("old") is None and await reports.get("new") is not None
        assert await sessions.get(live) is not None and await sessions.count() == 1


class TestDigest:
    async def test_one_email_per_subscribed_user(self, app: Application, mailer: FakeMailer) -> None:
        """A digest run emails each user who wants the digest, listing their reports of the period."""
        users = app.get(UserStore)
        ada = await users.create(NewUser(email="ada@example.com", name="Ada"))
        await users.create(NewUser(email="grace@example.com", name="Grace"))
        linus = await users.create(NewUser(email="linus@example.com", name="Linus"))
        await users.set_digest(linus.id, False)
        now = datetime.now(UTC)
        await app.get(ReportStore).save(report("r1", ada.email, now - timedelta(minutes=10)))
        await app.get(ReportStore).save(report("r0", ada.email, now - timedelta(hours=3)))  # an older period

        job = await app.queue("maintenance").add("digest")
        await app.run_until_drained("maintenance")
        assert await job.wait_until_finished(timeout=5) == {"emails": 2}
        await job.retry("completed")  # a run processed twice queues no email twice
        await app.run_until_drained("maintenance")
        await app.run_until_drained("email")

        assert sorted(m["To"] for m in mailer.sent) == ["ada@example.com", "grace@example.com"]
        [to_ada] = mailer.to("ada@example.com")
        assert to_ada["Subject"] == "Your digest: 1 new report"
        assert "report r1" in to_ada.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert mailer.to("grace@example.com")[0]["Subject"] == "Your digest: 0 new reports"
