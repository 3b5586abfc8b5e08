"""Application: creation, access to providers and queues, overrides, and the testing helpers."""

from __future__ import annotations

from typing import Annotated

import pytest
from redis.asyncio import Redis

from framework.di import (
    Application,
    Module,
    QueueConfig,
    QueueModule,
    QueueRegistry,
    QueueSpec,
    inject_queue,
    process,
    processor,
    provide,
)
from framework.errors import ConfigurationError, MissingProviderError
from framework.queue import Backoff, JobOptions, Queue
from framework.testing import Test, create_testing_app

URL = "redis://127.0.0.1:1/0"


class Mailer:
    def send(self, to: str) -> str:
        return f"smtp {to}"


class FakeMailer(Mailer):
    def send(self, to: str) -> str:
        return f"fake {to}"


class Notifier:
    def __init__(self, mailer: Mailer, email: Annotated[Queue, inject_queue("email")]) -> None:
        self.mailer = mailer
        self.email = email


class EmailModule(Module):
    imports = [QueueModule.register_queue("email")]
    providers = [Mailer, Notifier]
    exports = [Notifier]


class ReportsModule(Module):
    imports = [QueueModule.register_queue({"name": "email", "default_job_options": None}, "reports")]


def app_module(*extra: type[Module], connection: str | None = URL) -> type[Module]:
    class AppModule(Module):
        imports = [
            QueueModule.for_root(connection, prefix="unit", default_job_options={"attempts": 3}),
            EmailModule,
            ReportsModule,
            *extra,
        ]

    return AppModule


class TestCreate:
    async def test_await_and_async_with(self) -> None:
        """create() is awaitable, and an async context manager that closes the app."""
        app = await Application.create(app_module())
        assert isinstance(app.get(Notifier), Notifier)
        await app.close()
        async with Application.create(app_module()) as app2:
            assert isinstance(app2.get(Notifier), Notifier)
        assert app2._closed

    async def test_get_module_instance_and_unknown_token(self) -> None:
        """get(ModuleClass) gives the module's instance; an unknown token is a clear error."""
        async with Application.create(app_module()) as app:
            assert isinstance(app.get(EmailModule), EmailModule)
            with pytest.raises(MissingProviderError, match="no module of AppModule provides FakeMailer"):
                app.get(FakeMailer)


class TestQueues:
    async def test_one_queue_per_name_with_merged_defaults(self) -> None:
        """A name registered by two modules is one Queue, on the shared client, with root defaults."""
        async with Application.create(app_module()) as app:
            email = app.queue("email")
            assert app.get(Notifier).email is email
            assert email.prefix == "unit"
            assert email.client is app.get(Redis)
            assert email.default_job_options == JobOptions(attempts=3)
            assert app.get(QueueConfig).prefix == "unit"
            assert set(app.get(QueueRegistry).names) == {"email", "reports"}

    async def test_per_queue_defaults_override_root_defaults(self) -> None:
        """QueueSpec defaults are merged over for_root's, field by field."""

        class Root(Module):
            imports = [
                QueueModule.for_root(URL, default_job_options=JobOptions(attempts=3, priority=5)),
                QueueModule.register_queue(
                    QueueSpec("slow", JobOptions(backoff=Backoff.fixed(2), attempts=9))
                ),
            ]

        async with Application.create(Root) as app:
            opts = app.queue("slow").default_job_options
            assert opts is not None
            assert (opts.attempts, opts.priority, opts.backoff) == (9, 5, Backoff.fixed(2))

    async def test_conflicting_registrations_are_refused(self) -> None:
        """The same queue registered with different defaults is a configuration error."""

        class Root(Module):
            imports = [
                QueueModule.for_root(URL),
                QueueModule.register_queue("a"),
                QueueModule.register_queue(QueueSpec("a", JobOptions(attempts=2))),
            ]

        with pytest.raises(ConfigurationError, match="registered twice with different default_job_options"):
            await Application.create(Root)

    async def test_unknown_queue(self) -> None:
        """app.queue() of an unregistered name lists the registered ones."""
        async with Application.create(app_module()) as app:
            with pytest.raises(
                ConfigurationError, match=r"queue 'nope' is not registered \(registered: 'email'"
            ):
                app.queue("nope")

    async def test_register_queue_without_for_root(self) -> None:
        """register_queue alone explains that for_root is needed in the root module."""

        class Root(Module):
            imports = [QueueModule.register_queue("email")]

        with pytest.raises(MissingProviderError, match=r"need QueueModule\.for_root\(\.\.\.\)"):
            await Application.create(Root)

    @pytest.mark.parametrize(
        ("call", "pattern"),
        [
            (lambda: QueueModule.register_queue(), "at least one queue"),
            (lambda: QueueModule.register_queue("a", "a"), "'a' twice"),
            (lambda: QueueModule.register_queue("a:b"), "without"),
            (lambda: QueueModule.register_queue({"nam": "x"}), "a dict with 'name'"),
            (lambda: QueueModule.for_root(default_job_options={"attempts": 0}), "attempts"),
            (lambda: QueueModule.for_root(connection=42), "redis:// URL"),  # type: ignore[arg-type]
        ],
    )
    def test_bad_arguments(self, call: object, pattern: str) -> None:
        """QueueModule factories check their arguments at once."""
        with pytest.raises(ConfigurationError, match=pattern):
            call()  # type: ignore[operator]


@processor("reports")
class ReportsProcessor:
    @process("generate")
    async def generate(self) -> None: ...


class ProcessorsModule(Module):
    imports = [QueueModule.register_queue("reports")]
    processors = [ReportsProcessor]


class TestStart:
    async def test_worker_for_queue_without_processor(self) -> None:
        """start(workers=[...]) with a queue no processor serves names the ones that exist."""
        async with Application.create(app_module(ProcessorsModule)) as app:
            with pytest.raises(
                ConfigurationError, match=r"no @processor for queue 'email'.*serve: 'reports'"
            ):
                await app.start(["email"])

    async def test_producer_only_start(self) -> None:
        """start(workers=False) runs nothing and needs no processor."""
        async with Application.create(app_module(ProcessorsModule)) as app:
            await app.start(False, listeners=False)
            assert app.workers == {}
            with pytest.raises(RuntimeError, match="already started"):
                await app.start(False)


class TestTesting:
    async def test_create_testing_app_overrides(self) -> None:
        """create_testing_app replaces a provider everywhere it is injected."""
        fake = FakeMailer()
        async with create_testing_app(app_module(), overrides={Mailer: fake}) as app:
            assert app.get(Notifier).mailer is fake

    async def test_nest_style_builder(self) -> None:
        """Test.create_testing_module(...).override_provider(X).use_class(Y).compile()."""
        builder = Test.create_testing_module(app_module()).override_provider(Mailer).use_class(FakeMailer)
        async with builder.compile() as app:
            assert app.get(Notifier).mailer.send("a") == "fake a"

    async def test_builder_from_parts(self) -> None:
        """A testing module can be assembled from imports and providers."""
        builder = Test.create_testing_module(
            imports=[QueueModule.for_root(URL), EmailModule],
            providers=[provide("x", use_value=1)],
        )
        app = await builder.override_provider(Mailer).use_value(FakeMailer()).compile()
        try:
            assert app.get("x") == 1
            assert isinstance(app.get(Notifier).mailer, FakeMailer)
        finally:
            await app.close()
