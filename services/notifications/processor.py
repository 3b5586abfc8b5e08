"""`NotificationsProcessor`: fans a `broadcast` job out into one email job per user."""

from __future__ import annotations

from typing import Any

from framework import Job, process, processor
from services.notifications.schemas import Broadcast, BroadcastResult
from services.notifications.service import BROADCAST, QUEUE, NotificationService


@processor(QUEUE)
class NotificationsProcessor:
    def __init__(self, notifications: NotificationService) -> None:
        self._notifications = notifications

    @process(BROADCAST)
    async def broadcast(self, job: Job[Broadcast]) -> dict[str, Any]:
        emails = await self._notifications.deliver_broadcast(job.data, batch_id=job.id)
        return BroadcastResult(emails=emails).model_dump()
