"""`worker.concurrency` changed on a running processor built by the module system."""

from __future__ import annotations

import threading
from typing import Any

from framework.di import Module, QueueModule, process, processor
from framework.queue import Job

from .support import Calls, MakeApp

RELEASE = threading.Event()


@processor("live", concurrency=1)
class SlowProcessor:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @process()
    def handle(self, job: Job[Any]) -> None:  # a plain def: runs in the worker's threads
        self.calls.add("started", job.data)
        RELEASE.wait(10)


class LiveModule(Module):
    imports = [QueueModule.register_queue("live")]
    providers = [Calls]
    processors = [SlowProcessor]


async def test_raising_a_processors_concurrency_while_it_runs_fills_the_new_slots(make_app: MakeApp) -> None:
    """`app.workers[q].concurrency = 8` on a running processor with a plain def handler runs 8 at once."""
    RELEASE.clear()
    app = await make_app(LiveModule)
    calls = app.get(Calls)
    await app.start()
    await app.queue("live").add_bulk([{"name": "n", "data": i} for i in range(10)])
    try:
        await calls.wait_for(lambda items: len(items) == 1)
        app.workers["live"].concurrency = 8
        await calls.wait_for(lambda items: len(items) == 8)
    finally:
        RELEASE.set()
    await calls.wait_for(lambda items: len(items) == 10)
