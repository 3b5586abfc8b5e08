"""The dispatcher routes jobs by name, validates Job[Model] data, and fails unknown names clearly."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import BaseModel

from framework.di import Module, QueueModule, process, processor
from framework.di.dispatcher import JobDispatcher
from framework.di.explorer import explore
from framework.di.scanner import scan
from framework.errors import UnrecoverableError
from framework.queue import Job


class Params(BaseModel):
    month: str
    urgent: bool = False


@processor("reports")
class Reports:
    def __init__(self) -> None:
        self.threads: list[str] = []

    @process("generate")
    async def generate(self, job: Job[Params]) -> dict[str, Any]:
        assert isinstance(job.data, Params)
        return {"month": job.data.month, "urgent": job.data.urgent}

    @process("sync")
    def sync(self, job: Job[Any]) -> str:
        self.threads.append(threading.current_thread().name)
        return f"sync {job.data}"

    @process("ping")
    async def ping(self) -> str:
        return "pong"


@processor("reports")
class WithCatchAll:
    @process("a")
    async def a(self, job: Job[Any]) -> str:
        return "a"

    @process()
    async def rest(self, job: Job[Any]) -> str:
        return f"rest {job.name}"


def dispatcher_for(cls: type) -> tuple[JobDispatcher, Any]:
    class Root(Module):
        imports = [QueueModule.for_root("redis://127.0.0.1:1"), QueueModule.register_queue("reports")]
        processors = [cls]

    (definition,) = explore(scan(Root)).processors
    instance = cls()
    return JobDispatcher(instance, definition), instance


def job(name: str, data: Any) -> Job[Any]:
    return Job(None, "1", name, data)


class TestRouting:
    async def test_routes_by_name_and_validates_model(self) -> None:
        """Job[Params] handlers get validated models; the result is the method's return value."""
        dispatch, _ = dispatcher_for(Reports)
        assert await dispatch(job("generate", {"month": "2024-05"})) == {"month": "2024-05", "urgent": False}

    async def test_handler_without_job_parameter(self) -> None:
        """A handler may take no job at all."""
        dispatch, _ = dispatcher_for(Reports)
        assert await dispatch(job("ping", None)) == "pong"

    async def test_sync_handler_runs_in_a_thread(self) -> None:
        """A plain def handler runs off the event loop's thread."""
        dispatch, instance = dispatcher_for(Reports)
        assert await dispatch(job("sync", 7)) == "sync 7"
        assert instance.threads and instance.threads[0] != threading.current_thread().name

    async def test_catch_all_gets_other_names(self) -> None:
        """@process() handles every name without a handler of its own."""
        dispatch, _ = dispatcher_for(WithCatchAll)
        assert await dispatch(job("a", None)) == "a"
        assert await dispatch(job("zzz", None)) == "rest zzz"


class TestFailures:
    async def test_unknown_name_is_unrecoverable_and_names_known_ones(self) -> None:
        """A job name without a handler fails without retry, listing the names that are handled."""
        dispatch, _ = dispatcher_for(Reports)
        with pytest.raises(UnrecoverableError) as info:
            await dispatch(job("nope", None))
        message = str(info.value)
        assert "no handler for job name 'nope' on queue 'reports'" in message
        assert "'generate', 'sync', 'ping'" in message

    async def test_invalid_data_is_unrecoverable_with_validation_error(self) -> None:
        """Data that does not fit Job[Model] fails without retry, with pydantic's explanation."""
        dispatch, _ = dispatcher_for(Reports)
        with pytest.raises(UnrecoverableError) as info:
            await dispatch(job("generate", {"urgent": "maybe"}))
        message = str(info.value)
        assert "invalid data for job 'generate'" in message and "expected Params" in message
        assert "month" in message and "Field required" in message
