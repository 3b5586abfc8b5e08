"""OpenTelemetry spans for nestq (extra `nestq[otel]`): one PRODUCER span per add, one CONSUMER span per
processing attempt, the trace context carried in the job's options (`trace_context`, W3C traceparent).

A job's attempt span is a child of the span that added it (an HTTP request, say), and jobs added while a
job runs (flow children, next steps) are children of that attempt, so one trace follows the work through
every queue and process. Attributes follow the OpenTelemetry messaging semantic conventions
(`messaging.system`, `messaging.operation.type`, `messaging.destination.name`, `messaging.message.id`, ...).

Cost when unused: none. nestq never imports OpenTelemetry itself: tracing is on when the application has
imported `opentelemetry.trace` and set a tracer provider (or called `configure(tracer_provider=...)`).
Otherwise every hook is one dict lookup.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from framework.queue.job import Job
    from framework.queue.outcome import Outcome
    from framework.queue.queue import Queue

__all__ = ["TRACE_CONTEXT_OPTION", "configure", "is_active", "traced_add", "traced_attempt", "traced_flow"]

TRACE_CONTEXT_OPTION = "trace_context"
SYSTEM = "nestq"
_SCOPE = "nestq"
_provider: Any = None  # set by configure(); else the global provider, when one was set
T = TypeVar("T")


def configure(*, tracer_provider: Any = None) -> None:
    """Trace with this tracer provider instead of the global one (None: back to the global one)."""
    global _provider
    _provider = tracer_provider


def _trace_module() -> Any:
    return sys.modules.get("opentelemetry.trace")


def is_active() -> bool:
    """Whether spans are recorded: a provider configured here, or a real global one set by the app."""
    if _provider is not None:
        return True
    trace = _trace_module()
    if trace is None:
        return False
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer(_SCOPE, tracer_provider=_provider)


def _inject() -> dict[str, str]:
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _producer_span(queue: Queue, operation: str, count: int, name: str | None) -> AbstractContextManager[Any]:
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": operation,
        "messaging.destination.name": queue.name,
    }
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    if name is not None:
        attributes["nestq.job.name"] = name
    span: AbstractContextManager[Any] = _tracer().start_as_current_span(
        f"send {queue.name}", kind=SpanKind.PRODUCER, attributes=attributes
    )
    return span


async def traced_add(
    queue: Queue, items: list[dict[str, Any]], operation: str, add: Callable[[], Awaitable[T]]
) -> T:
    """Run `add()` inside a PRODUCER span; each item's opts get the span's context before it is added.

    `items` are add_bulk-shaped dicts ({"name", "data", "opts"}); their "opts" dicts are filled in place.
    """
    name = items[0]["name"] if len(items) == 1 else None
    with _producer_span(queue, operation, len(items), name) as span:
        carrier = _inject()
        for item in items:
            opts = item.setdefault("opts", {})
            if TRACE_CONTEXT_OPTION not in opts:
                opts[TRACE_CONTEXT_OPTION] = carrier
        result = await add()
        jobs: Iterable[Any] = result if isinstance(result, list) else [result]
        ids = [getattr(job, "id", None) for job in jobs]
        if len(ids) == 1 and ids[0] is not None:
            span.set_attribute("messaging.message.id", str(ids[0]))
        return result


async def traced_flow(trees: list[Any], write: Callable[[], Awaitable[T]]) -> T:
    """Run a flow's `write()` inside a PRODUCER span, with a span per job nested like the tree.

    Each node's span is a child of its parent node's span (the root's, of the flow's span), and its context
    goes into the node's options, so each job's attempts are children of its own add, and a flow's
    children sit under their parent in the trace. `trees` are flow.py's `_Tree`s (nodes parent first,
    `parent_index` 1-based, `entry[3]` the options JSON).
    """
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    from framework.queue import serialization

    tracer = _tracer()
    count = sum(len(tree.nodes) for tree in trees)
    root_queue = trees[0].nodes[0].queue.name if trees and trees[0].nodes else "?"
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "add_flow",
        "messaging.destination.name": root_queue,
        "messaging.batch.message_count": count,
    }
    with tracer.start_as_current_span(f"send {root_queue}", kind=SpanKind.PRODUCER, attributes=attributes):
        spans: list[Any] = []
        try:
            for tree in trees:
                contexts: list[Any] = []
                for node in tree.nodes:
                    parent = contexts[node.parent_index - 1] if node.parent_index else None
                    span = tracer.start_span(
                        f"send {node.queue.name}",
                        context=parent,
                        kind=SpanKind.PRODUCER,
                        attributes={
                            "messaging.system": SYSTEM,
                            "messaging.operation.type": "send",
                            "messaging.operation.name": "add",
                            "messaging.destination.name": node.queue.name,
                            "nestq.job.name": node.entry[1],
                        },
                    )
                    spans.append(span)
                    ctx = trace.set_span_in_context(span)
                    contexts.append(ctx)
                    carrier: dict[str, str] = {}
                    propagate.inject(carrier, context=ctx)
                    opts = serialization.loads(node.entry[3])
                    if isinstance(opts, dict) and TRACE_CONTEXT_OPTION not in opts:
                        opts[TRACE_CONTEXT_OPTION] = carrier
                        node.entry[3] = serialization.dumps(opts, what="opts")
            return await write()
        finally:
            for span in spans:
                span.end()


def attempt_context(job: Job[Any]) -> Any:
    """The OpenTelemetry context a job was added in (None: the current one)."""
    carrier = job.run_options.trace_context
    if carrier is None:
        return None
    from opentelemetry import propagate

    return propagate.extract({str(k): str(v) for k, v in carrier.items()})


async def traced_attempt(
    job: Job[Any], attempt: Callable[[Job[Any]], Awaitable[Outcome | None]]
) -> Outcome | None:
    """Run one processing attempt inside a CONSUMER span, child of the span that added the job."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    queue = job.queue.name if job.queue is not None else "?"
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": str(job.id),
        "nestq.job.name": job.name,
        "nestq.job.attempt": job.attempts_made + 1,
    }
    with _tracer().start_as_current_span(
        f"process {queue}",
        context=attempt_context(job),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        outcome = await attempt(job)
        if outcome is None:  # moved back to delayed / waiting (DelayedError, RateLimitError)
            span.set_attribute("nestq.job.outcome", "moved")
            return None
        span.set_attribute("nestq.job.outcome", outcome.kind)
        if outcome.kind != "completed":
            if outcome.error is not None:
                span.record_exception(outcome.error)
            span.set_status(Status(StatusCode.ERROR, outcome.value[:200]))
        return outcome
