"""Fixtures of the module-system integration tests: applications on a real server, closed at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis

from framework.di import Application, Module, QueueModule

from .support import MakeApp


@pytest.fixture
async def make_app(redis_url: str, prefix: str, redis: aioredis.Redis) -> AsyncIterator[MakeApp]:
    """`await make_app(FeatureModule, ..., processors=[...], providers=[...])`: an Application whose root
    imports `QueueModule.for_root(redis_url, prefix=prefix)` and the given modules; closed at teardown."""
    built: list[Application] = []

    async def factory(
        *imports: type[Module],
        providers: Sequence[Any] = (),
        processors: Sequence[type] = (),
        default_job_options: dict[str, Any] | None = None,
    ) -> Application:
        class AppModule(Module):
            pass

        AppModule.imports = [
            QueueModule.for_root(redis_url, prefix=prefix, default_job_options=default_job_options),
            *imports,
        ]
        AppModule.providers = list(providers)
        AppModule.processors = list(processors)
        app = await Application.create(AppModule)
        built.append(app)
        return app

    yield factory
    for app in built:
        await app.close(timeout=5)
