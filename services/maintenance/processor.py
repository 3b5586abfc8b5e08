"""`MaintenanceProcessor`: the scheduled jobs. `@cron` / `@every` keep one schedule per id in Redis, however
many workers run; every worker upserts them at start, and an unchanged schedule stays as it is.

`NESTQ_DIGEST_EVERY` (seconds) sets the digest interval, read here at import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from framework import Job, cron, every, process, processor
from framework.queue.scheduler import parse_scheduler_job_id
from services.maintenance.service import MaintenanceService
from services.maintenance.settings import load_maintenance_settings

QUEUE = "maintenance"
CLEANUP = "cleanup"
DIGEST = "digest"
CLEANUP_SCHEDULER = "daily-cleanup"
DIGEST_SCHEDULER = "hourly-digest"
DIGEST_EVERY = load_maintenance_settings().digest_every

log = structlog.get_logger("services.maintenance")


@processor(QUEUE)
class MaintenanceProcessor:
    def __init__(self, maintenance: MaintenanceService) -> None:
        self._maintenance = maintenance

    @cron("0 0 * * *", id=CLEANUP_SCHEDULER)
    @process(CLEANUP)
    async def cleanup(self, job: Job[Any]) -> dict[str, Any]:
        result = await self._maintenance.cleanup()
        log.info("cleanup done", job_id=job.id, **result.model_dump())
        return result.model_dump()

    @every(DIGEST_EVERY, id=DIGEST_SCHEDULER)
    @process(DIGEST)
    async def digest(self, job: Job[Any]) -> dict[str, Any]:
        # The period this run covers ends at its scheduled time (not when a busy worker got to it).
        parsed = parse_scheduler_job_id(job.id)
        ends = datetime.fromtimestamp(int(parsed[1]) / 1000, UTC) if parsed else datetime.now(UTC)
        result = await self._maintenance.send_digest(
            since=ends - self._maintenance.digest_period, run_id=job.id
        )
        log.info("digest queued", job_id=job.id, **result.model_dump())
        return result.model_dump()
