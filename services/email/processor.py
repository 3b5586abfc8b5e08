"""`EmailProcessor`: renders a `send` job's template and hands the message to the `Mailer`."""

from __future__ import annotations

import re
from typing import Any

import structlog

from framework import Job, UnrecoverableError, on_failed, process, processor
from services.email.mailer import DeliveryError, Mailer, build_message, domain_of
from services.email.schemas import SendEmail, SentEmail
from services.email.service import QUEUE, SEND
from services.email.settings import EmailSettings
from services.email.templates import TemplateError, TemplateRenderer

log = structlog.get_logger("services.email")


@processor(QUEUE, concurrency=10)
class EmailProcessor:
    def __init__(self, mailer: Mailer, renderer: TemplateRenderer, settings: EmailSettings) -> None:
        self._mailer = mailer
        self._renderer = renderer
        self._sender = settings.mail_from

    @process(SEND)
    async def send(self, job: Job[SendEmail]) -> dict[str, Any]:
        email = job.data
        try:
            rendered = self._renderer.render(email.template, email.data)
        except TemplateError as exc:
            raise UnrecoverableError(str(exc)) from exc
        # One Message-ID for every attempt of this job: if a retry delivers twice, receivers can tell.
        message_id = f"<{_atom(job.id)}.{job.timestamp}@{domain_of(self._sender)}>"
        message = build_message(
            sender=self._sender,
            to=email.to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
        )
        try:
            await self._mailer.send(message)
        except DeliveryError as exc:
            if exc.permanent:
                raise UnrecoverableError(str(exc)) from exc
            raise
        sent = SentEmail(
            message_id=message_id, to=email.to, template=email.template, subject=rendered.subject
        )
        return sent.model_dump()

    @on_failed
    def failed(self, job: Job[Any], error: BaseException) -> None:
        log.warning(
            "email not sent",
            job_id=job.id,
            attempt=job.attempts_made,
            of=job.attempts,
            error=str(error),
        )


def _atom(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)
