"""Flow producers in the module system: register_flow_producer / inject_flow_producer, and processors that
run a flow (children in one queue, the parent in another)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest

from framework import (
    ConfigurationError,
    FlowJob,
    FlowProducer,
    Job,
    Module,
    QueueModule,
    QueueSpec,
    inject_flow_producer,
    process,
    processor,
)

from .support import MakeApp

pytestmark = pytest.mark.single_node(
    "flows across queues (hash slots) are single-server for now, see docs/flows.md"
)


class ReportFlows:
    def __init__(self, flow: Annotated[FlowProducer, inject_flow_producer("reports")]) -> None:
        self.flow = flow

    async def build(self, sections: int) -> Job[Any]:
        node = await self.flow.add(
            FlowJob(
                "assemble", "reports", children=[FlowJob("section", "sections", i) for i in range(sections)]
            )
        )
        return node.job


@processor("sections", concurrency=4)
class SectionProcessor:
    @process("section")
    async def section(self, job: Job[Any]) -> str:
        return f"section {job.data}"


@processor("reports")
class ReportProcessor:
    @process("assemble")
    async def assemble(self, job: Job[Any]) -> list[str]:
        return sorted((await job.get_children_values()).values())


class FlowFeature(Module):
    imports = [
        QueueModule.register_queue("reports", "sections"),
        QueueModule.register_flow_producer("reports"),
    ]
    providers = [ReportFlows]
    processors = [SectionProcessor, ReportProcessor]
    exports = [ReportFlows]


async def test_injected_flow_producer_runs_a_flow_through_processors(make_app: MakeApp) -> None:
    """A provider gets the FlowProducer by name; the parent's processor assembles its children's results."""
    app = await make_app(FlowFeature)
    await app.start(workers=True)
    job = await app.get(ReportFlows).build(3)
    result = await asyncio.wait_for(job.wait_until_finished(), 10)
    assert result == ["section 0", "section 1", "section 2"]


async def test_flow_producer_uses_the_application_prefix(make_app: MakeApp, prefix: str) -> None:
    """The injected producer writes under the application's key prefix, on its shared client."""
    app = await make_app(FlowFeature)
    flows = app.get(ReportFlows)
    assert flows.flow.queue("reports").prefix == prefix


def test_register_flow_producer_needs_a_name() -> None:
    """register_flow_producer() without a name is a clear configuration error."""
    with pytest.raises(ConfigurationError, match="at least one name"):
        QueueModule.register_flow_producer()


async def test_flow_jobs_get_their_registered_queue_defaults(make_app: MakeApp) -> None:
    """A flow job in a queue registered with default job options gets them (here attempts=3)."""

    class Feature(Module):
        imports = [
            QueueModule.register_queue("reports", QueueSpec("sections", default_job_options={"attempts": 3})),
            QueueModule.register_flow_producer("reports"),
        ]
        providers = [ReportFlows]
        exports = [ReportFlows]

    app = await make_app(Feature)
    job = await app.get(ReportFlows).build(1)
    [section] = await app.queue("sections").get_jobs("waiting")
    assert section.attempts == 3 and job.attempts == 1
