"""The explorer finds processors and listeners and refuses mistakes at bootstrap."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from framework.di import (
    Application,
    Module,
    QueueModule,
    on_completed,
    on_drained,
    on_failed,
    on_progress,
    on_queue_event,
    process,
    processor,
    queue_events_listener,
)
from framework.di.explorer import explore
from framework.di.scanner import scan
from framework.errors import ConfigurationError
from framework.queue import Job, QueueEvent

URL = "redis://127.0.0.1:1/0"


def root_with(*classes: type, queues: tuple[str, ...] = ("reports",)) -> type[Module]:
    class Root(Module):
        imports = [QueueModule.for_root(URL), QueueModule.register_queue(*queues)]
        processors = list(classes)

    return Root


class Params(BaseModel):
    month: str


@processor("reports", concurrency=3)
class ReportsProcessor:
    @process("generate")
    async def generate(self, job: Job[Params]) -> str:
        return job.data.month

    @process("cleanup")
    def cleanup(self) -> None: ...

    @process()
    def other(self, job: Job[Any]) -> str:
        return job.name

    @on_completed
    def done(self, job: Job[Any], result: Any) -> None: ...

    @on_failed()
    async def failed(self, job: Job[Any], error: BaseException) -> None: ...

    @on_drained
    def drained(self) -> None: ...


@queue_events_listener("reports")
class ReportsListener:
    @on_queue_event("completed")
    def completed(self, event: QueueEvent) -> None: ...

    @on_queue_event("failed", "stalled")
    async def failed(self) -> None: ...


class TestDiscovery:
    def test_processor_handlers_hooks_and_options(self) -> None:
        """Handlers by name, the catch-all, hooks by event and worker options are all found."""
        (p,) = explore(scan(root_with(ReportsProcessor))).processors
        assert p.queue == "reports"
        assert dict(p.worker_options) == {"concurrency": 3}
        assert set(p.handlers) == {"generate", "cleanup"}
        assert p.handlers["generate"].is_async and p.handlers["generate"].data_type is Params
        assert not p.handlers["cleanup"].takes_job and not p.handlers["cleanup"].is_async
        assert p.catch_all is not None and p.catch_all.data_type is None
        assert sorted(p.hooks) == [("completed", "done"), ("drained", "drained"), ("failed", "failed")]

    def test_listener(self) -> None:
        """A listener's methods are found by event, with whether they take the event."""
        (listener,) = explore(scan(root_with(ReportsListener))).listeners
        assert listener.queue == "reports"
        assert sorted(listener.handlers) == [
            ("completed", "completed", True),
            ("failed", "failed", False),
            ("stalled", "failed", False),
        ]

    def test_processor_listed_in_providers_is_found(self) -> None:
        """A @processor class in `providers` (NestJS style) works like one in `processors`."""

        class Root(Module):
            imports = [QueueModule.for_root(URL), QueueModule.register_queue("reports")]
            providers = [ReportsProcessor]

        assert len(explore(scan(Root)).processors) == 1

    def test_queues_from_every_register_queue(self) -> None:
        """Every registered queue is known, whichever module registered it."""

        class Feature(Module):
            imports = [QueueModule.register_queue("email")]

        class Root(Module):
            imports = [QueueModule.for_root(URL), QueueModule.register_queue("reports"), Feature]

        assert set(explore(scan(Root)).queues) == {"reports", "email"}


@processor("reports")
class TwoHandlers:
    @process("generate")
    def a(self) -> None: ...

    @process("generate")
    def b(self) -> None: ...


@processor("reports")
class TwoCatchAlls:
    @process()
    def a(self) -> None: ...

    @process
    def b(self) -> None: ...


@processor("reports")
class NoHandlers:
    pass


@processor("reports")
class WrongArity:
    @process()
    def handle(self) -> None: ...

    @on_completed
    def done(self, job: Job[Any]) -> None: ...


@processor("reports")
class WrongProgressArity:
    @process()
    def handle(self) -> None: ...

    @on_progress
    def progress(self, job: Job[Any], value: Any, extra: Any) -> None: ...


@processor("reports")
class HandlerTakesTwo:
    @process("x")
    def handle(self, job: Job[Any], other: Any) -> None: ...


@processor("missing")
class UnknownQueue:
    @process()
    def handle(self) -> None: ...


@processor("reports", bogus=1)
class BadOption:
    @process()
    def handle(self) -> None: ...


@processor("reports", connection="redis://elsewhere")
class ReservedOption:
    @process()
    def handle(self) -> None: ...


class Undecorated:
    pass


@queue_events_listener("reports")
class EmptyListener:
    pass


class TestErrors:
    @pytest.mark.parametrize(
        ("cls", "pattern"),
        [
            (
                TwoHandlers,
                r"TwoHandlers \(module Root\) has two handlers for jobs named 'generate': a\(\) and b\(\)",
            ),
            (TwoCatchAlls, r"two handlers for every other job name"),
            (NoHandlers, r"NoHandlers .* without handlers"),
            (
                WrongArity,
                r"WrongArity \(module Root\)\.done\(\) is an @on_completed hook"
                r".*def done\(self, job, result\)",
            ),
            (WrongProgressArity, r"@on_progress hook, which is called with 2 arguments"),
            (HandlerTakesTwo, r"must take \(self, job\) or \(self\)"),
            (
                UnknownQueue,
                r"@processor for queue 'missing', which no module registers.*register_queue\('missing'\)",
            ),
            (BadOption, r"@processor got bogus, which Worker does not take"),
            (ReservedOption, r"@processor cannot set connection"),
            (Undecorated, r"Root\.processors lists Undecorated, which is neither"),
            (EmptyListener, r"without @on_queue_event"),
        ],
    )
    def test_mistakes_fail_with_a_clear_message(self, cls: type, pattern: str) -> None:
        """Each wiring mistake is a ConfigurationError naming the class and what to change."""
        with pytest.raises(ConfigurationError, match=pattern):
            explore(scan(root_with(cls)))

    def test_two_processors_for_one_queue(self) -> None:
        """One queue is served by one processor class."""

        @processor("reports")
        class Other:
            @process("x")
            def handle(self) -> None: ...

        with pytest.raises(ConfigurationError, match="queue 'reports' has two processors"):
            explore(scan(root_with(ReportsProcessor, Other)))

    async def test_errors_surface_from_application_create(self) -> None:
        """The same checks run in Application.create, before anything is instantiated."""
        with pytest.raises(ConfigurationError, match="has two handlers"):
            await Application.create(root_with(TwoHandlers))
