"""The email queue end to end in one process: `EmailService` queues, `EmailProcessor` renders and delivers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from framework import Application, Backoff
from services.email import DeliveryError, EmailModule, EmailService, TemplateError
from services.testing import FakeMailer, MakeApp


@pytest.fixture
async def app(make_app: MakeApp, email_overrides: dict[object, object]) -> Application:
    return await make_app(EmailModule, overrides=email_overrides)


class TestEmailQueue:
    async def test_send_is_queued_with_retries(self, app: Application) -> None:
        """A send job gets 5 attempts with exponential backoff from 5 s (the seed's options)."""
        job = await app.get(EmailService).send("ada@example.com", "welcome", {"name": "Ada"})
        assert job.name == "send"
        assert job.opts.attempts == 5
        assert job.opts.backoff == Backoff.exponential(5.0)
        assert await job.get_state() == "waiting"

    async def test_processed_job_delivers_the_rendered_email(
        self, app: Application, mailer: FakeMailer
    ) -> None:
        """The worker renders the template and hands one message to the mailer; the result names it."""
        job = await app.get(EmailService).send("ada@example.com", "welcome", {"name": "Ada"})
        await app.run_until_drained("email")
        [sent] = mailer.sent
        assert sent["To"] == "ada@example.com"
        assert sent["From"] == "Tests <tests@example.com>"
        assert sent["Subject"] == "Welcome to nestq, Ada!"
        assert "Hello Ada," in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        await job.refresh()
        assert job.return_value == {
            "message_id": sent["Message-ID"],
            "to": "ada@example.com",
            "template": "welcome",
            "subject": "Welcome to nestq, Ada!",
        }

    async def test_temporary_failure_is_retried(self, app: Application, mailer: FakeMailer) -> None:
        """A failed delivery waits for its backoff, then the next attempt delivers."""
        mailer.fail_next(DeliveryError("SMTP down"))
        job = await app.get(EmailService).send("ada@example.com", "welcome", {"name": "Ada"})
        await app.run_until_drained("email")
        await job.refresh()
        assert await job.get_state() == "delayed"
        assert job.attempts_made == 1 and "SMTP down" in (job.failed_reason or "")
        assert mailer.sent == []
        assert await job.promote()  # skip the 5 s backoff
        await app.run_until_drained("email")
        assert await job.get_state() == "completed"
        assert len(mailer.sent) == 1

    async def test_permanent_failure_is_not_retried(self, app: Application, mailer: FakeMailer) -> None:
        """A 5xx refusal fails the job at once, attempts left or not."""
        mailer.fail_next(DeliveryError("550 no such mailbox", permanent=True))
        job = await app.get(EmailService).send("gone@example.com", "welcome", {"name": "Ada"})
        await app.run_until_drained("email")
        await job.refresh()
        assert await job.get_state() == "failed"
        assert job.attempts_made == 1 and "550" in (job.failed_reason or "")

    async def test_bad_template_data_fails_without_retry(self, app: Application, mailer: FakeMailer) -> None:
        """Data the template cannot render fails the job for good, naming the missing variable."""
        job = await app.get(EmailService).send("ada@example.com", "welcome", {})
        await app.run_until_drained("email")
        await job.refresh()
        assert await job.get_state() == "failed"
        assert "name" in (job.failed_reason or "") and mailer.sent == []

    async def test_bad_input_queues_nothing(self, app: Application) -> None:
        """An unknown template or a bad address is refused at `send`, before anything is queued."""
        service = app.get(EmailService)
        with pytest.raises(TemplateError):
            await service.send("ada@example.com", "nope", {})
        with pytest.raises(ValidationError, match="to"):
            await service.send("not an address", "welcome", {"name": "Ada"})
        assert await service.queue.count() == 0

    async def test_job_id_makes_send_idempotent(self, app: Application, mailer: FakeMailer) -> None:
        """Two sends with one job id queue one email."""
        service = app.get(EmailService)
        first = await service.send("ada@example.com", "welcome", {"name": "Ada"}, job_id="welcome-ada")
        second = await service.send("ada@example.com", "welcome", {"name": "Ada"}, job_id="welcome-ada")
        assert first.id == second.id == "welcome-ada"
        await app.run_until_drained("email")
        assert len(mailer.sent) == 1
