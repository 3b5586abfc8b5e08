"""OpenTelemetry: spans for add and each attempt form one trace (captured by the SDK in-memory exporter)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from framework.observability import tracing
from framework.queue import Queue, Worker


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """nestq traces to a private SDK provider for the test (the global provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(tracer_provider=provider)
    yield exporter
    tracing.configure(tracer_provider=None)
    provider.shutdown()


async def test_one_trace_from_a_request_through_the_job_and_the_jobs_it_adds(
    exporter, redis_url, prefix
) -> None:
    """An HTTP span's add, the job's attempts, and a child job added by the job share one trace, nested."""
    reports = Queue("reports", connection=redis_url, prefix=prefix)
    email = Queue("email", connection=redis_url, prefix=prefix)
    web = tracing._provider.get_tracer("web")  # the request's span, from the same provider as nestq's

    async def build(job):
        if job.attempts_made == 0:
            raise ValueError("first attempt fails")
        await email.add("notify", {"report": job.id})  # a child: added while the job runs
        return "ok"

    try:
        with web.start_as_current_span("GET /reports", kind=SpanKind.SERVER) as request:
            job = await reports.add("build", {"n": 1}, attempts=2)
        assert job.opts.trace_context and "traceparent" in job.opts.trace_context
        await Worker("reports", build, connection=redis_url, prefix=prefix).run_until_drained()
        await Worker("email", lambda job: None, connection=redis_url, prefix=prefix).run_until_drained()
    finally:
        await reports.close()
        await email.close()

    spans = exporter.get_finished_spans()
    by_name: dict[str, list] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert {s.context.trace_id for s in spans} == {request.get_span_context().trace_id}
    (add,) = by_name["send reports"]
    attempts = sorted(by_name["process reports"], key=lambda s: s.attributes["nestq.job.attempt"])
    (child_add,) = by_name["send email"]
    (child,) = by_name["process email"]
    assert add.kind == SpanKind.PRODUCER and add.parent.span_id == request.get_span_context().span_id
    assert add.attributes["messaging.system"] == "nestq"
    assert add.attributes["messaging.destination.name"] == "reports"
    assert add.attributes["messaging.message.id"] == job.id
    assert [a.kind for a in attempts] == [SpanKind.CONSUMER, SpanKind.CONSUMER]
    assert all(a.parent.span_id == add.context.span_id for a in attempts)
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert attempts[0].events[0].name == "exception"
    assert attempts[0].events[0].attributes["exception.message"] == "first attempt fails"
    assert attempts[1].attributes["messaging.operation.type"] == "process"
    assert attempts[1].attributes["nestq.job.outcome"] == "completed"
    assert child_add.parent.span_id == attempts[1].context.span_id
    assert child.parent.span_id == child_add.context.span_id


async def test_add_bulk_is_one_producer_span_and_every_job_carries_it(exporter, redis_url, prefix) -> None:
    """add_bulk makes one PRODUCER span with the batch size; each job's context points at it."""
    q = Queue("q", connection=redis_url, prefix=prefix)
    try:
        jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(3)])
    finally:
        await q.close()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["messaging.batch.message_count"] == 3
    span_hex = f"{span.context.span_id:016x}"
    assert all(span_hex in job.opts.trace_context["traceparent"] for job in jobs)


NO_OTEL = """
import asyncio, importlib.abc, json, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())  # as if the extra nestq[otel] were not installed
from framework.queue import Queue, Worker

async def main():
    q = Queue("q", connection=sys.argv[1], prefix=sys.argv[2])
    job = await q.add("n", 1)
    await Worker("q", lambda job: None, connection=sys.argv[1], prefix=sys.argv[2]).run_until_drained()
    await q.close()
    done = await q.get_job(job.id)
    print(json.dumps({"opts": job.opts.model_dump(exclude_defaults=True), "state": await done.get_state()}))

asyncio.run(main())
"""


async def test_without_the_otel_extra_jobs_run_and_carry_no_trace_context(redis_url, prefix) -> None:
    """With OpenTelemetry not importable, add and process work as ever and store no trace context."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", NO_OTEL, redis_url, prefix, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(child.communicate(), 60)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report == {"opts": {}, "state": "completed"}


async def test_tracing_is_off_until_a_provider_is_set(redis_url, prefix) -> None:
    """OpenTelemetry importable but no provider set (the API's proxy): no span, no trace context."""
    assert not tracing.is_active()
    q = Queue("q", connection=redis_url, prefix=prefix)
    try:
        job = await q.add("n", 1)
    finally:
        await q.close()
    assert job.opts.trace_context is None


@pytest.mark.single_node(reason="a flow across two queues (two hash slots), refused on a cluster")
async def test_flow_children_are_traced_under_their_parent(exporter, redis_url, prefix) -> None:
    """A flow added in a request: each child's add and run sit under the parent's add, all one trace."""
    from framework import FlowJob, FlowProducer

    web = tracing._provider.get_tracer("web")
    flow = FlowProducer(connection=redis_url, prefix=prefix)
    try:
        with web.start_as_current_span("POST /reports", kind=SpanKind.SERVER) as request:
            node = await flow.add(
                FlowJob(
                    "assemble", "reports", children=[FlowJob("part", "parts", {"i": i}) for i in range(2)]
                )
            )
        await Worker(
            "parts", lambda job: job.data["i"], connection=redis_url, prefix=prefix
        ).run_until_drained()
        await Worker("reports", lambda job: "done", connection=redis_url, prefix=prefix).run_until_drained()
    finally:
        await flow.close()

    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {request.get_span_context().trace_id}
    by_id = {s.context.span_id: s for s in spans}
    parent_add = next(s for s in spans if s.name == "send reports" and s.attributes.get("nestq.job.name"))
    child_adds = [s for s in spans if s.name == "send parts"]
    assert len(child_adds) == 2 and all(s.parent.span_id == parent_add.context.span_id for s in child_adds)
    assert by_id[parent_add.parent.span_id].attributes["messaging.operation.name"] == "add_flow"
    runs = [s for s in spans if s.name.startswith("process")]
    assert sorted(s.name for s in runs) == ["process parts", "process parts", "process reports"]
    for run in runs:
        assert by_id[run.parent.span_id].name == f"send {run.attributes['messaging.destination.name']}"
    (parent_run,) = (s for s in runs if s.name == "process reports")
    assert parent_run.parent.span_id == parent_add.context.span_id
    assert node.job.opts.trace_context is not None
