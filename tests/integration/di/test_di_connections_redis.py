"""for_root_async / register_queue_async (configuration from injected providers) and named connections."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import redis.asyncio as aioredis

from framework import (
    Application,
    ConfigurationError,
    Job,
    JobOptions,
    Module,
    QueueConfig,
    QueueModule,
    QueueSpec,
    inject,
    process,
    processor,
    provide,
)
from framework.di import ConnectionToken
from tests.support.clients import other_db, raw_client


@dataclass(frozen=True)
class AppSettings:
    redis_url: str
    prefix: str
    attempts: int = 4


def settings_module(settings: AppSettings) -> type[Module]:
    class SettingsModule(Module):
        providers = [provide(AppSettings, use_value=settings)]
        exports = [AppSettings]

    return SettingsModule


@pytest.fixture
async def db1(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A raw client on database 1; deletes this test's keys there at teardown."""
    client = raw_client(other_db(redis_url))
    yield client
    keys = [k async for k in client.scan_iter(match=f"{{{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_for_root_async_builds_the_config_from_an_injected_provider(
    redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    """A sync factory with inject=[...] gets the settings provider; its QueueConfig is the app's."""
    settings = AppSettings(redis_url, prefix)
    seen: list[AppSettings] = []

    def make(s: AppSettings) -> QueueConfig:
        seen.append(s)
        return QueueConfig(connection=s.redis_url, prefix=s.prefix, default_job_options={"attempts": 2})

    class AppModule(Module):
        imports = [
            QueueModule.for_root_async(
                imports=[settings_module(settings)], inject=[AppSettings], use_factory=make
            ),
            QueueModule.register_queue("mail"),
        ]

    async with Application.create(AppModule) as app:
        assert seen == [settings]
        job = await app.queue("mail").add("send", {"to": "ada"})
        assert job.opts.attempts == 2
        assert await redis.exists(f"{{{prefix}:mail}}:{job.id}") == 1  # under the factory's prefix
        assert app.get(QueueConfig).prefix == prefix


async def test_for_root_async_awaits_an_async_factory_injected_by_type_hints(
    redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    """Without inject=, an async factory's parameters are injected from their type hints."""

    async def make(s: AppSettings) -> QueueConfig:
        return QueueConfig(connection=s.redis_url, prefix=s.prefix)

    class AppModule(Module):
        imports = [
            settings_module(AppSettings(redis_url, prefix)),
            QueueModule.for_root_async(use_factory=make, imports=[]),
            QueueModule.register_queue("mail"),
        ]

    # The factory's module sees only what it imports (and global modules): SettingsModule is neither.
    with pytest.raises(ConfigurationError, match=r"QueueModule.for_root_async.*AppSettings"):
        await Application.create(AppModule)

    class FixedModule(Module):
        imports = [
            QueueModule.for_root_async(
                use_factory=make, imports=[settings_module(AppSettings(redis_url, prefix))]
            ),
            QueueModule.register_queue("mail"),
        ]

    async with Application.create(FixedModule) as app:
        job = await app.queue("mail").add("send", {})
        assert await redis.exists(f"{{{prefix}:mail}}:{job.id}") == 1


async def test_for_root_async_factory_returning_something_else_is_a_clear_error(redis_url: str) -> None:
    """A factory that returns no QueueConfig fails bootstrap with a message naming for_root_async."""

    class AppModule(Module):
        imports = [QueueModule.for_root_async(use_factory=lambda: {"connection": redis_url})]

    with pytest.raises(
        ConfigurationError, match=r"for_root_async\(use_factory=...\) returned .* must return QueueConfig"
    ):
        await Application.create(AppModule)


async def test_register_queue_async_takes_default_job_options_from_a_factory(
    redis_url: str, prefix: str
) -> None:
    """register_queue_async's factory, injected with settings, sets the queue's default job options."""
    settings = AppSettings(redis_url, prefix, attempts=7)

    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix, default_job_options={"attempts": 2, "lifo": True}),
            QueueModule.register_queue_async(
                "reports",
                imports=[settings_module(settings)],
                inject=[AppSettings],
                use_factory=lambda s: JobOptions(attempts=s.attempts),
            ),
        ]

    async with Application.create(AppModule) as app:
        job = await app.queue("reports").add("build", {})
        assert job.opts.attempts == 7 and job.opts.lifo is True  # its own over the root defaults


@processor("events")
class EventsProcessor:
    @process()
    async def record(self, job: Job[Any]) -> str:
        return f"recorded {job.data['n']}"


@processor("mail")
class MailProcessor:
    @process()
    async def send(self, job: Job[Any]) -> str:
        return "sent"


@pytest.mark.single_node(reason="uses database 1 of the same server; a cluster has only database 0")
async def test_named_connection_holds_its_queues_and_runs_their_processors(
    redis_url: str, prefix: str, redis: aioredis.Redis, db1: aioredis.Redis
) -> None:
    """Queues registered with connection_name live on that connection; their processor runs there."""

    class Analytics:
        def __init__(self, client: Annotated[aioredis.Redis, inject(ConnectionToken("analytics", "redis"))]):
            self.client = client

    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix),
            QueueModule.for_root(other_db(redis_url), prefix=prefix, name="analytics"),
            QueueModule.register_queue("mail"),
            QueueModule.register_queue("events", connection_name="analytics"),
        ]
        providers = [Analytics]
        processors = [EventsProcessor, MailProcessor]

    async with Application.create(AppModule) as app:
        assert await app.get(Analytics).client.exists(f"{{{prefix}:events}}:id") == 0
        await app.get(Analytics).client.set(f"{{{prefix}}}:probe", "db1")
        assert await db1.get(f"{{{prefix}}}:probe") == b"db1"  # the named client is the second connection
        event = await app.queue("events").add("click", {"n": 1})
        mail = await app.queue("mail").add("send", {})
        assert await db1.exists(f"{{{prefix}:events}}:{event.id}") == 1
        assert await redis.exists(f"{{{prefix}:events}}:{event.id}") == 0
        assert await redis.exists(f"{{{prefix}:mail}}:{mail.id}") == 1
        await app.start()
        assert await event.wait_until_finished(timeout=10) == "recorded 1"
        assert await mail.wait_until_finished(timeout=10) == "sent"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _reachable("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379")
async def test_named_connection_on_a_second_server(redis_url: str, prefix: str) -> None:
    """One application, two servers: the test server and the machine's Redis on 6379 (database 2)."""
    second = "redis://127.0.0.1:6379/2"

    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix),
            QueueModule.for_root(second, prefix=prefix, name="analytics"),
            QueueModule.register_queue("events", connection_name="analytics"),
        ]
        processors = [EventsProcessor]

    client = aioredis.Redis.from_url(second)
    try:
        async with Application.create(AppModule) as app:
            event = await app.queue("events").add("click", {"n": 2})
            assert await client.exists(f"{{{prefix}:events}}:{event.id}") == 1
            await app.run_until_drained("events")
            assert await event.wait_until_finished(timeout=10) == "recorded 2"
    finally:
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_unknown_connection_name_names_the_module_and_the_fix(redis_url: str) -> None:
    """A queue on a connection no for_root declares fails at create, listing the known connections."""

    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url),
            QueueModule.register_queue("events", connection_name="analytcs"),
        ]

    with pytest.raises(ConfigurationError) as caught:
        await Application.create(AppModule)
    message = str(caught.value)
    assert "QueueModule.register_queue('events') registers queue 'events'" in message
    assert "QueueModule.for_root(..., name='analytcs')" in message and "(connections: default)" in message


async def test_connection_declared_twice_or_queue_on_two_connections_is_refused(redis_url: str) -> None:
    """Two for_root with one name, or one queue name on two connections, fail with both places named."""

    class Twice(Module):
        imports = [
            QueueModule.for_root(redis_url, name="a"),
            QueueModule.for_root(redis_url, name="a"),
        ]

    with pytest.raises(ConfigurationError, match=r"two modules declare the connection 'a'"):
        await Application.create(Twice)

    class Split(Module):
        imports = [
            QueueModule.for_root(redis_url),
            QueueModule.for_root(redis_url, name="a"),
            QueueModule.register_queue("events"),
            QueueModule.register_queue("events", connection_name="a"),
        ]

    with pytest.raises(ConfigurationError, match=r"queue 'events' is registered on two connections"):
        await Application.create(Split)


async def test_missing_factory_dependency_says_to_pass_imports(redis_url: str) -> None:
    """A factory parameter the async module cannot see points to its imports=[...] argument."""

    def make(s: AppSettings) -> QueueConfig:
        return QueueConfig(connection=redis_url)

    class AppModule(Module):
        imports = [settings_module(AppSettings(redis_url, "x")), QueueModule.for_root_async(use_factory=make)]

    with pytest.raises(ConfigurationError, match=r"pass the module that provides and exports AppSettings"):
        await Application.create(AppModule)


async def test_register_queue_async_accepts_a_spec_dict_or_none_and_refuses_the_rest(
    redis_url: str, prefix: str
) -> None:
    """The factory may return {"default_job_options": ...}, a QueueSpec, or None; anything else is named."""

    async def spec_dict() -> dict[str, Any]:
        return {"default_job_options": {"attempts": 3}}

    class AppModule(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix),
            QueueModule.register_queue_async("a", use_factory=spec_dict),
            QueueModule.register_queue_async("b", use_factory=lambda: QueueSpec("b", JobOptions(priority=4))),
            QueueModule.register_queue_async("c", use_factory=lambda: None),
        ]

    async with Application.create(AppModule) as app:
        assert (await app.queue("a").add("x", {})).opts.attempts == 3
        assert (await app.queue("b").add("x", {})).opts.priority == 4
        assert (await app.queue("c").add("x", {})).opts.attempts == 1

    class Bad(Module):
        imports = [
            QueueModule.for_root(redis_url, prefix=prefix),
            QueueModule.register_queue_async("d", use_factory=lambda: QueueSpec("other")),
        ]

    with pytest.raises(ConfigurationError, match=r"register_queue_async\('d'\).*not queue 'd'"):
        await Application.create(Bad)
