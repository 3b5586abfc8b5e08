"""`MaintenanceService`: the work behind the scheduled jobs (cleanup, digest)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from services.maintenance.schemas import CleanupResult, DigestResult
from services.maintenance.settings import MaintenanceSettings
from services.notifications import NotificationService
from services.reports import ReportStore, ReportSummary
from services.users import SessionStore, User, UserStore

_BATCH = 500


class MaintenanceService:
    def __init__(
        self,
        reports: ReportStore,
        sessions: SessionStore,
        users: UserStore,
        notifications: NotificationService,
        settings: MaintenanceSettings,
    ) -> None:
        self._reports = reports
        self._sessions = sessions
        self._users = users
        self._notifications = notifications
        self.settings = settings

    @property
    def digest_period(self) -> timedelta:
        return timedelta(seconds=self.settings.digest_every)

    async def cleanup(self, now: datetime | None = None) -> CleanupResult:
        """Delete reports past their retention and sessions past their expiry."""
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(days=self.settings.report_retention_days)
        return CleanupResult(
            reports_removed=await self._reports.delete_older_than(cutoff),
            sessions_removed=await self._sessions.purge_expired(now),
        )

    async def send_digest(self, *, since: datetime, run_id: str) -> DigestResult:
        """Queue one digest email per user who wants it, listing their reports generated since `since`."""
        by_email: dict[str, list[ReportSummary]] = defaultdict(list)
        for report in await self._reports.recent(since, limit=10_000):
            by_email[report.email.lower()].append(report)
        queued = 0
        batch: list[tuple[User, dict[str, Any]]] = []
        async for user in self._users.all():
            if not user.digest:
                continue
            reports = by_email.get(user.email.lower(), [])
            data = {
                "since": since.strftime("%Y-%m-%d %H:%M UTC"),
                "reports": [r.model_dump(mode="json") for r in reports],
            }
            batch.append((user, data))
            if len(batch) >= _BATCH:
                queued += len(await self._notifications.send_digest(batch, run_id=run_id))
                batch = []
        if batch:
            queued += len(await self._notifications.send_digest(batch, run_id=run_id))
        return DigestResult(emails=queued)
