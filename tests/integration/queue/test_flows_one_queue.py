"""A flow inside one queue (one hash slot): works on any server, a Redis Cluster included."""

from __future__ import annotations

from typing import Any

from framework import FlowJob, FlowProducer, JobState, WaitingChildrenError, chain, signature


async def test_parent_and_children_in_one_queue(redis_url: str, prefix: str, make_worker) -> None:
    """Parent and children share a queue: the parent runs after them with their values."""
    async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
        node = await flow.add(FlowJob("sum", "work", children=[FlowJob("n", "work", i) for i in range(5)]))
        assert await node.job.get_state() == JobState.WAITING_CHILDREN

        async def run(job: Any) -> int:
            if job.name == "n":
                return int(job.data)
            return sum((await job.get_children_values()).values())

        make_worker(run, name="work", concurrency=5)
        assert await node.job.wait_until_finished(timeout=10) == 10


async def test_chain_and_dynamic_children_in_one_queue(redis_url: str, prefix: str, make_worker) -> None:
    """A chain and a job adding its own children, all in one queue."""
    async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
        node = await flow.add(chain(signature("work", "start", 2), signature("work", "fan-out")))

        async def run(job: Any) -> int:
            if job.name == "start":
                return int(job.data)
            if job.name == "leaf":
                return 1
            values = await job.get_children_values()
            if len(values) == 1:  # only the chain's previous step: add as many leaves as it said
                [n] = values.values()
                for _ in range(n):
                    await job.add_child("work", "leaf")
                raise WaitingChildrenError()
            return sum(values.values())

        make_worker(run, name="work", concurrency=5)
        assert await node.job.wait_until_finished(timeout=10) == 2 + 1 + 1
