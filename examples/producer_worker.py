"""The producer / worker split without HTTP: one process adds report requests, another builds them.

    python examples/producer_worker.py worker      # terminal 1: runs the reports worker until Ctrl+C
    python examples/producer_worker.py produce     # terminal 2: requests three reports, prints them

Both load the same `container:AppModule`; only the worker starts workers (here: the reports queue's).
Start as many workers as you like, on as many machines as share the Redis: each job runs once.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository folder: container, services

from container import AppModule
from framework import Application
from framework.logging import configure_logging
from services.reports import ReportRequest, ReportsService


async def produce() -> None:
    async with Application.create(AppModule) as app:
        await app.start(workers=False)
        reports = app.get(ReportsService)
        requests = [
            ReportRequest(email="ada@example.com"),
            ReportRequest(email="grace@example.com", urgent=True),  # priority 1: runs before the others
            ReportRequest(email="linus@example.com", scheduled_for=datetime.now(UTC) + timedelta(seconds=3)),
        ]
        accepted = [await reports.request_report(r) for r in requests]
        print("queued jobs", [a.job_id for a in accepted], "- waiting for a worker ...")
        for a in accepted:
            job = await app.queue("reports").get_job(a.job_id)
            assert job is not None
            result = await job.wait_until_finished(timeout=120)
            print(f"report {a.job_id} for {result['email']}: {result['totals']['jobs']} jobs in the queues")


async def work() -> None:
    app = await Application.create(AppModule)
    await app.serve(workers=["reports"])  # until SIGINT / SIGTERM, then a graceful shutdown


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("produce", "worker"):
        sys.exit("usage: python examples/producer_worker.py produce|worker")
    configure_logging()
    asyncio.run(produce() if mode == "produce" else work())
