"""Decorators only record metadata."""

from __future__ import annotations

from typing import Any

import pytest

from framework.di import (
    inject,
    inject_queue,
    on_completed,
    on_drained,
    on_queue_event,
    process,
    processor,
    queue_events_listener,
)
from framework.di.metadata import (
    PROCESS_ATTR,
    QUEUE_EVENT_ATTR,
    WORKER_HOOK_ATTR,
    Inject,
    QueueToken,
    decorated_methods,
    listener_metadata,
    processor_metadata,
)
from framework.errors import ConfigurationError
from framework.queue import RateLimit


class TestProcessor:
    def test_records_queue_and_given_options_only(self) -> None:
        """@processor keeps the queue and only the worker options that were given."""
        limiter = RateLimit(max=5, duration=1)

        @processor("reports", concurrency=4, limiter=limiter, drain_delay=1.0)
        class P:
            pass

        meta = processor_metadata(P)
        assert meta is not None
        assert meta.queue == "reports"
        assert dict(meta.worker_options) == {"concurrency": 4, "limiter": limiter, "drain_delay": 1.0}

    def test_returns_the_class_unchanged(self) -> None:
        """The decorator returns the very class it was given, usable as before."""

        class P:
            def __init__(self, x: int) -> None:
                self.x = x

        assert processor("q")(P) is P
        assert P(3).x == 3

    @pytest.mark.parametrize("bad", ["", None, 3])
    def test_rejects_bad_queue_names(self, bad: Any) -> None:
        """A missing or non-string queue name is refused at once."""
        with pytest.raises(ConfigurationError, match="queue name"):
            processor(bad)


class TestProcess:
    def test_named_and_catch_all(self) -> None:
        """@process("x") records the name; @process() and bare @process record the catch-all."""

        class P:
            @process("generate")
            def a(self) -> None: ...

            @process()
            def b(self) -> None: ...

            @process
            def c(self) -> None: ...

        assert getattr(P.a, PROCESS_ATTR).names == ("generate",)
        assert getattr(P.b, PROCESS_ATTR).names == (None,)
        assert getattr(P.c, PROCESS_ATTR).names == (None,)

    def test_stacking_adds_names(self) -> None:
        """Stacked @process decorators handle several names with one method."""

        @process("a")
        @process("b")
        def handler(self: object) -> None: ...

        assert set(getattr(handler, PROCESS_ATTR).names) == {"a", "b"}

    def test_rejects_empty_name(self) -> None:
        """An empty job name is a mistake, not a catch-all."""
        with pytest.raises(ConfigurationError):
            process("")


class TestWorkerHooks:
    def test_bare_and_called_forms_record_the_event(self) -> None:
        """@on_completed and @on_completed() mark the method the same way."""

        class P:
            @on_completed
            def a(self, job: object, result: object) -> None: ...

            @on_completed()
            def b(self, job: object, result: object) -> None: ...

            @on_drained
            def c(self) -> None: ...

        assert getattr(P.a, WORKER_HOOK_ATTR) == ("completed",)
        assert getattr(P.b, WORKER_HOOK_ATTR) == ("completed",)
        assert getattr(P.c, WORKER_HOOK_ATTR) == ("drained",)

    def test_the_function_is_unchanged(self) -> None:
        """A hook decorator returns the function itself, so it stays callable directly."""

        def f(self: object, job: object, result: object) -> str:
            return "ok"

        assert on_completed(f) is f
        assert f(None, None, None) == "ok"


class TestListeners:
    def test_listener_and_events(self) -> None:
        """@queue_events_listener records the queue; @on_queue_event the event names."""

        @queue_events_listener("reports")
        class L:
            @on_queue_event("completed", "failed")
            def done(self, event: object) -> None: ...

        meta = listener_metadata(L)
        assert meta is not None and meta.queue == "reports"
        assert getattr(L.done, QUEUE_EVENT_ATTR) == ("completed", "failed")

    def test_on_queue_event_needs_names(self) -> None:
        """@on_queue_event() without an event name is refused."""
        with pytest.raises(ConfigurationError, match="event names"):
            on_queue_event()


class TestMarkers:
    def test_inject_and_inject_queue(self) -> None:
        """inject(token) and inject_queue(name) build the markers the builder reads."""
        assert inject("cfg") == Inject("cfg")
        assert inject_queue("reports") == Inject(QueueToken("reports"))

    def test_decorated_methods_prefers_subclass_override(self) -> None:
        """A subclass method hides the base method of the same name, decorated or not."""

        class Base:
            @process("a")
            def handle(self) -> None: ...

            @process("b")
            def other(self) -> None: ...

        class Child(Base):
            def handle(self) -> None: ...

        names = [name for name, _, _ in decorated_methods(Child, PROCESS_ATTR)]
        assert names == ["other"]
