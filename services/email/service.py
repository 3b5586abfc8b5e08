"""`EmailService`: queue an email. The `send` job retries delivery (5 attempts, exponential from 5 s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

from framework import Backoff, Job, Queue, inject_queue
from services.email.schemas import SendEmail
from services.email.templates import TemplateRenderer

QUEUE = "email"
SEND = "send"
SEND_ATTEMPTS = 5
SEND_BACKOFF = Backoff.exponential(5.0)  # 5 s, 10 s, 20 s, 40 s between the five attempts


class EmailService:
    """Puts emails on the `email` queue; the `EmailProcessor` renders and delivers them."""

    def __init__(self, queue: Annotated[Queue, inject_queue(QUEUE)], renderer: TemplateRenderer) -> None:
        self.queue = queue
        self._renderer = renderer

    async def send(
        self,
        to: str,
        template: str,
        data: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        delay: float | timedelta | None = None,
    ) -> Job[Any]:
        """Queue `template` rendered with `data` for `to`; returns the `send` job at once.

        Args:
            job_id: makes the call idempotent: a second call with the same id queues nothing.
            delay: send no earlier than this many seconds from now.

        Raises:
            pydantic.ValidationError: `to` is not an email address.
            TemplateError: no such template.
        """
        email = SendEmail(to=to, template=template, data=dict(data or {}))
        self._renderer.check(template)
        return await self.queue.add(SEND, email, **_options(job_id, delay))

    async def send_many(self, emails: Sequence[tuple[SendEmail, str | None]]) -> list[Job[Any]]:
        """Queue many emails in one round trip; each item is (email, job id or None)."""
        for email, _ in emails:
            self._renderer.check(email.template)
        return await self.queue.add_bulk(
            [{"name": SEND, "data": email, "opts": _options(job_id, None)} for email, job_id in emails]
        )


def _options(job_id: str | None, delay: float | timedelta | None) -> dict[str, Any]:
    options: dict[str, Any] = {"attempts": SEND_ATTEMPTS, "backoff": SEND_BACKOFF}
    if job_id is not None:
        options["job_id"] = job_id
    if delay is not None:
        options["delay"] = delay
    return options
