"""`NotificationService`: what emails users get, queued on the email queue (welcome, digest, broadcasts)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from framework import Job, Queue, inject_queue
from services.email import EmailService, SendEmail
from services.notifications.schemas import Broadcast
from services.users import User, UserStore

QUEUE = "notifications"
BROADCAST = "broadcast"
_BATCH = 500


class NotificationService:
    def __init__(
        self,
        email: EmailService,
        users: UserStore,
        queue: Annotated[Queue, inject_queue(QUEUE)],
    ) -> None:
        self._email = email
        self._users = users
        self.queue = queue

    async def send_welcome(self, user: User) -> Job[Any]:
        """Queue the welcome email (once per user: a repeated call queues nothing new)."""
        return await self._email.send(user.email, "welcome", {"name": user.name}, job_id=f"welcome-{user.id}")

    async def send_digest(
        self, entries: Sequence[tuple[User, Mapping[str, Any]]], *, run_id: str
    ) -> list[Job[Any]]:
        """Queue one digest email per (user, digest data); with `run_id`, a retried run adds none twice."""
        return await self.email_users("digest", entries, batch_id=run_id)

    async def broadcast(self, template: str, data: Mapping[str, Any] | None = None) -> Job[Any]:
        """Queue a `broadcast` job: the processor emails every user in the background."""
        return await self.queue.add(BROADCAST, Broadcast(template=template, data=dict(data or {})))

    async def deliver_broadcast(self, broadcast: Broadcast, *, batch_id: str) -> int:
        """Queue `broadcast`'s email for every user, in batches; returns how many were queued."""
        sent = 0
        batch: list[tuple[User, Mapping[str, Any]]] = []
        async for user in self._users.all():
            batch.append((user, broadcast.data))
            if len(batch) >= _BATCH:
                sent += len(await self.email_users(broadcast.template, batch, batch_id=batch_id))
                batch = []
        if batch:
            sent += len(await self.email_users(broadcast.template, batch, batch_id=batch_id))
        return sent

    async def email_users(
        self, template: str, entries: Sequence[tuple[User, Mapping[str, Any]]], *, batch_id: str
    ) -> list[Job[Any]]:
        """Queue `template` for each user (with their `name` added to the data), in one round trip.

        Each email's job id is made of the template, `batch_id` and the user id, so queueing the same
        batch again (a retried job) adds nothing.
        """
        batch = re.sub(r"[^A-Za-z0-9_.-]+", "-", batch_id)
        emails = [
            (
                SendEmail(to=user.email, template=template, data={"name": user.name, **data}),
                f"{template}-{batch}-{user.id}",
            )
            for user, data in entries
        ]
        return await self._email.send_many(emails) if emails else []
