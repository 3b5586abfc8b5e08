"""`ReportsService` (request a report, look up its status) and `ReportBuilder` (the three build steps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from framework import FlowJob, FlowProducer, Job, Queue, QueueRegistry, inject_flow_producer, inject_queue
from framework.queue.options import RESERVED_JOB_IDS
from services.reports.schemas import QueueStats, ReportAccepted, ReportRequest, ReportStatus, ReportSummary
from services.reports.store import ReportStore
from services.users import UserStore

QUEUE = "reports"
GENERATE = "generate"
SECTION = "section"  # one part of a report built as a flow (see request_report)
ASSEMBLE = "assemble"  # the flow's parent: puts the sections together
USERS_SECTION = "users"
URGENT_PRIORITY = 1
NORMAL_PRIORITY = 10


class ReportsService:
    """The producer side: requests return at once with a job id; the `ReportsProcessor` does the work."""

    def __init__(
        self,
        queue: Annotated[Queue, inject_queue(QUEUE)],
        store: ReportStore,
        flow: Annotated[FlowProducer, inject_flow_producer(QUEUE)],
        registry: QueueRegistry,
    ) -> None:
        self.queue = queue
        self._store = store
        self._flow = flow
        self._registry = registry

    async def request_report(self, request: ReportRequest) -> ReportAccepted:
        """Queue a `generate` job: priority 1 when urgent, else 10; delayed until `scheduled_for`.

        With `request.sections`, a flow instead: a `section` job per registered queue and one for the users,
        run in parallel, under an `assemble` job that runs once they are done (same priority and delay).
        """
        options: dict[str, Any] = {"priority": URGENT_PRIORITY if request.urgent else NORMAL_PRIORITY}
        if request.scheduled_for is not None:
            options["delay"] = max(0.0, (request.scheduled_for - datetime.now(UTC)).total_seconds())
        if request.sections:
            parts = [*self._registry.names, USERS_SECTION]
            sections = [FlowJob(SECTION, QUEUE, part, {"priority": options["priority"]}) for part in parts]
            node = await self._flow.add(FlowJob(ASSEMBLE, QUEUE, request, options, children=sections))
            return ReportAccepted(job_id=node.job.id)
        job = await self.queue.add(GENERATE, request, **options)
        return ReportAccepted(job_id=job.id)

    async def get_status(self, job_id: str) -> ReportStatus | None:
        """State, progress and result of a request; None when the id is unknown.

        Once retention has removed the job, a report that was saved still answers as completed.
        """
        if not job_id or ":" in job_id or job_id in RESERVED_JOB_IDS:
            return None  # not a job id (and would name one of the queue's own keys)
        job = await self.queue.get_job(job_id)
        if job is None:
            report = await self._store.get(job_id)
            if report is None:
                return None
            return ReportStatus(
                job_id=job_id, state="completed", progress=100, result=report.model_dump(mode="json")
            )
        state = await job.get_state()
        return ReportStatus(
            job_id=job.id,
            state=state.value,
            progress=job.progress,
            result=job.return_value,
            failed_reason=job.failed_reason,
        )


class ReportBuilder:
    """Builds a report of the application: jobs per state in each queue, and the number of users."""

    def __init__(self, registry: QueueRegistry, users: UserStore, store: ReportStore) -> None:
        self._registry = registry
        self._users = users
        self._store = store

    async def fetch_data(self) -> tuple[dict[str, dict[str, int]], int]:
        """Step 1: jobs per state of every registered queue, and the user count."""
        counts = {name: await self._registry.queue(name).get_job_counts() for name in self._registry.names}
        return counts, await self._users.count()

    async def section(self, part: str) -> dict[str, Any]:
        """One part of a report built as a flow: a queue's jobs per state, or the user count."""
        if part == USERS_SECTION:
            return {"users": await self._users.count()}
        return {"queue": part, "counts": await self._registry.queue(part).get_job_counts()}

    @staticmethod
    def gather(sections: dict[str, Any]) -> tuple[dict[str, dict[str, int]], int]:
        """The `section` results of a flow's children, as `fetch_data` returns them."""
        counts = {s["queue"]: s["counts"] for s in sections.values() if "queue" in s}
        users = sum(int(s["users"]) for s in sections.values() if "users" in s)
        return counts, users

    def process(
        self, job: Job[ReportRequest], counts: dict[str, dict[str, int]], users: int
    ) -> ReportSummary:
        """Step 2: totals, failure rates and the busiest queue."""
        queues: dict[str, QueueStats] = {}
        totals: dict[str, int] = {}
        for name, by_state in sorted(counts.items()):
            finished = by_state.get("completed", 0) + by_state.get("failed", 0)
            rate = round(by_state.get("failed", 0) / finished, 4) if finished else None
            queues[name] = QueueStats(counts=by_state, total=sum(by_state.values()), failure_rate=rate)
            for state, n in by_state.items():
                totals[state] = totals.get(state, 0) + n
        totals["jobs"] = sum(q.total for q in queues.values())
        busiest = max(queues, key=lambda n: queues[n].total, default=None)
        return ReportSummary(
            report_id=job.id,
            email=job.data.email,
            requested_at=datetime.fromtimestamp(job.timestamp / 1000, UTC),
            generated_at=datetime.now(UTC),
            users=users,
            queues=queues,
            totals=totals,
            busiest_queue=busiest if busiest is not None and queues[busiest].total else None,
        )

    async def save(self, report: ReportSummary) -> None:
        """Step 3: keep the report (it outlives the job's retention)."""
        await self._store.save(report)
