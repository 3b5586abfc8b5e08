"""A partitioned queue in the module system: QueueSpec(partitions=K) reaches the queue, its processor and
its listeners."""

from __future__ import annotations

from typing import Any

from framework.di import (
    Module,
    QueueModule,
    QueueSpec,
    on_queue_event,
    process,
    processor,
    queue_events_listener,
)
from framework.queue import Job, QueueEvent
from framework.queue.partitioned import PartitionedQueue

from .support import Calls, MakeApp


@processor("hot")
class HotProcessor:
    @process()
    async def handle(self, job: Job[Any]) -> Any:
        return {"partition": job.queue.name if job.queue else None, "n": job.data}


@queue_events_listener("hot")
class HotListener:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @on_queue_event("completed")
    def completed(self, event: QueueEvent) -> None:
        self.calls.add("completed", event.job_id)


class HotModule(Module):
    imports = [QueueModule.register_queue(QueueSpec("hot", partitions=3))]
    providers = [Calls]
    processors = [HotProcessor, HotListener]


async def test_processor_and_listener_on_a_partitioned_queue(make_app: MakeApp) -> None:
    app = await make_app(HotModule)
    await app.start()
    queue = app.queue("hot")
    assert isinstance(queue, PartitionedQueue) and queue.partitions == 3
    jobs = await queue.add_bulk([{"name": "n", "data": i} for i in range(12)])
    calls = app.get(Calls)
    await calls.wait_for(lambda items: {("completed", j.id) for j in jobs} <= set(items))
    results = [await queue.get_job(j.id) for j in jobs]
    assert {r.return_value["partition"] for r in results if r} == {"hot#0", "hot#1", "hot#2"}
    assert (await queue.get_job_counts("completed"))["completed"] == 12
