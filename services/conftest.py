"""Fixtures of the services' tests: the real server of `tests/conftest.py`, applications made of service
modules (closed at teardown), and the fake mailer of `services.testing`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from framework import Application, Module, QueueModule
from framework.testing import Test
from services.email import EmailSettings, Mailer
from services.maintenance import MaintenanceSettings
from services.testing import FakeMailer, MakeApp
from tests.conftest import prefix, redis, redis_url

__all__ = ["prefix", "redis", "redis_url"]  # the shared fixtures, re-exported for pytest


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def email_overrides(mailer: FakeMailer) -> dict[object, object]:
    """Overrides for an application with `EmailModule`: the fake mailer and fixed settings."""
    return {
        Mailer: mailer,
        EmailSettings: EmailSettings(mailer="console", mail_from="Tests <tests@example.com>"),
    }


@pytest.fixture
def maintenance_overrides(email_overrides: dict[object, object]) -> dict[object, object]:
    """Overrides for an application with `MaintenanceModule` (which brings `EmailModule`)."""
    settings = MaintenanceSettings(digest_every=3600, report_retention_days=30)
    return {**email_overrides, MaintenanceSettings: settings}


@pytest.fixture
async def make_app(redis_url: str, prefix: str, redis: object) -> AsyncIterator[MakeApp]:
    """`await make_app(ReportsModule, overrides={...})`: the modules over `QueueModule.for_root` on this
    test's server and prefix (via `framework.testing.Test`); every app is closed at teardown."""
    built: list[Application] = []

    async def factory(
        *imports: type[Module], overrides: Mapping[object, object] | None = None
    ) -> Application:
        builder = Test.create_testing_module(
            imports=[QueueModule.for_root(redis_url, prefix=prefix), *imports]
        )
        for token, value in (overrides or {}).items():
            builder.override_provider(token).use_value(value)
        app = await builder.compile()
        built.append(app)
        return app

    yield factory
    for app in built:
        await app.close(timeout=5)
