"""Notifications on a real server: the welcome email and broadcasts, queued on the email queue."""

from __future__ import annotations

import pytest

from framework import Application, Backoff
from services.notifications import NotificationService, NotificationsModule
from services.testing import FakeMailer, MakeApp
from services.users import NewUser, User, UserStore


@pytest.fixture
async def app(make_app: MakeApp, email_overrides: dict[object, object]) -> Application:
    return await make_app(NotificationsModule, overrides=email_overrides)


async def sign_up(app: Application, *names: str) -> list[User]:
    store = app.get(UserStore)
    return [await store.create(NewUser(email=f"{n.lower()}@example.com", name=n)) for n in names]


class TestWelcome:
    async def test_send_welcome_queues_the_seed_email(self, app: Application) -> None:
        """send_welcome(user) adds `send` {to, template: welcome, data: {name}}, 5 attempts, backoff 5 s."""
        [ada] = await sign_up(app, "Ada")
        queued = await app.get(NotificationService).send_welcome(ada)
        job = await app.queue("email").get_job(queued.id)
        assert job is not None
        assert (job.name, job.data) == (
            "send",
            {"to": "ada@example.com", "template": "welcome", "data": {"name": "Ada"}},
        )
        assert job.opts.attempts == 5 and job.opts.backoff == Backoff.exponential(5.0)

    async def test_welcome_is_queued_once_per_user(self, app: Application, mailer: FakeMailer) -> None:
        """Calling send_welcome twice for one user (a retried request) sends one email."""
        [ada] = await sign_up(app, "Ada")
        service = app.get(NotificationService)
        first, second = await service.send_welcome(ada), await service.send_welcome(ada)
        assert first.id == second.id
        await app.run_until_drained("email")
        assert [m["Subject"] for m in mailer.to("ada@example.com")] == ["Welcome to nestq, Ada!"]


class TestBroadcast:
    async def test_broadcast_emails_every_user_once(self, app: Application, mailer: FakeMailer) -> None:
        """A broadcast job queues one email per user; running it again (a retry) queues none twice."""
        users = await sign_up(app, "Ada", "Grace", "Linus")
        job = await app.get(NotificationService).broadcast(
            "announcement", {"subject": "News", "message": "Hi!"}
        )
        await app.run_until_drained("notifications")
        assert await job.wait_until_finished(timeout=5) == {"emails": 3}
        assert await app.queue("email").count() == 3
        await job.retry("completed")
        await app.run_until_drained("notifications")
        assert await app.queue("email").count() == 3
        await app.run_until_drained("email")
        assert sorted(m["To"] for m in mailer.sent) == sorted(u.email for u in users)
        assert {m["Subject"] for m in mailer.sent} == {"News"}
        assert "Hello Grace," in mailer.to("grace@example.com")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
