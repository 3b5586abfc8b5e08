"""`ReportStore`: generated reports in the application's Redis, outliving their jobs' retention.

Keys (one hash tag, `{prefix:store.reports}`):
    :report:<id>  string  the report's JSON
    :by-time      zset    report ids scored by generation time (ms), for listings and the cleanup
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from services.reports.schemas import ReportSummary
from services.storage import StoreKeys, text


class ReportStore:
    def __init__(self, redis: Redis, keys: StoreKeys) -> None:
        self._redis = redis
        self._base = keys.area("reports")
        self._by_time = f"{self._base}:by-time"

    def _key(self, report_id: str) -> str:
        return f"{self._base}:report:{report_id}"

    async def save(self, report: ReportSummary) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(report.report_id), report.model_dump_json())
            pipe.zadd(self._by_time, {report.report_id: _ms(report.generated_at)})
            await pipe.execute()

    async def get(self, report_id: str) -> ReportSummary | None:
        raw = await self._redis.get(self._key(report_id))
        return None if raw is None else ReportSummary.model_validate_json(raw)

    async def count(self) -> int:
        return int(await self._redis.zcard(self._by_time))

    async def recent(
        self, since: datetime, *, email: str | None = None, limit: int = 100
    ) -> list[ReportSummary]:
        """Reports generated at or after `since`, oldest first (only `email`'s, when given)."""
        ids = await self._redis.zrangebyscore(self._by_time, _ms(since), "+inf")
        if not ids:
            return []
        raws = await self._redis.mget([self._key(text(i)) for i in ids])
        reports = [ReportSummary.model_validate_json(raw) for raw in raws if raw is not None]
        if email is not None:
            reports = [r for r in reports if r.email.lower() == email.lower()]
        return reports[:limit]

    async def delete_older_than(self, cutoff: datetime, *, batch: int = 1000) -> int:
        """Delete the reports generated before `cutoff`; returns how many."""
        removed = 0
        while True:
            ids = await self._redis.zrangebyscore(
                self._by_time, "-inf", f"({_ms(cutoff)}", start=0, num=batch
            )
            if not ids:
                return removed
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(self._key(text(i)) for i in ids))
                pipe.zrem(self._by_time, *ids)
                await pipe.execute()
            removed += len(ids)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
