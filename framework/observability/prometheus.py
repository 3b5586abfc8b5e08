"""Prometheus exposition of a set of queues, built from Redis at scrape time.

Every number comes from Redis (the totals hash kept by moveToFinished, job counts, the workers' heartbeats),
not from counters in this process. So any number of worker processes on any number of machines add to the
same counters, none is counted twice, none is lost when a process dies or restarts, and any process (the
dashboard, a web app, `nestq run`) can serve `/metrics` for all of them. Nothing is kept in memory between
scrapes, and prometheus_client's process-global registry is not touched.

    app = metrics_app([queue])            # or an Application
    starlette_app.mount("/metrics", app)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from framework.connection import CONNECTION_ERRORS
from framework.observability.metrics import BUCKETS, Histogram, Totals, get_totals
from framework.observability.workers import get_workers
from framework.queue.queue import ALL_STATES, Queue

__all__ = ["MetricsApp", "collect_families", "metrics_app", "render_metrics"]

_UNREACHABLE: tuple[type[BaseException], ...] = (RedisError, *CONNECTION_ERRORS)


def metrics_app(queues: Any) -> MetricsApp:
    """An ASGI app answering GET with the Prometheus text exposition of `queues`.

    Args:
        queues: an `Application` (its registered queues), a list of `Queue`, or a dashboard `QueueSource`.

    Metrics:
        `nestq_jobs_total{queue,name,state}` (state: completed, failed, retried),
        `nestq_job_duration_seconds{queue,name}` and `nestq_job_wait_seconds{queue,name}` (histograms),
        `nestq_queue_jobs{queue,state}`, `nestq_workers{queue}`.
    """
    from framework.dashboard.data import source_of

    return MetricsApp(source_of(queues))


class _Families(Collector):
    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        yield from self._families


def _histogram(name: str, doc: str) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=["queue", "name"])


def _add_histogram(family: HistogramMetricFamily, queue: str, name: str, hist: Histogram) -> None:
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, n in zip([*BUCKETS, float("inf")], hist.buckets, strict=True):
        cumulative += n
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    family.add_metric([queue, name], buckets, hist.sum)


async def _queue_numbers(queue: Queue) -> tuple[Totals, dict[str, int], int]:
    totals, counts, workers = await asyncio.gather(
        get_totals(queue), queue.get_job_counts(*ALL_STATES), get_workers(queue)
    )
    return totals, counts, len(workers)


async def collect_families(queues: Iterable[Queue]) -> list[Any]:
    """The metric families of `queues`, read from Redis now."""
    doc = "Jobs finished, by queue, job name and state (completed, failed for good, retried)"
    jobs = CounterMetricFamily("nestq_jobs", doc, labels=["queue", "name", "state"])
    duration = _histogram("nestq_job_duration_seconds", "Run time of each attempt, by queue and job name")
    wait = _histogram("nestq_job_wait_seconds", "Time from ready (added, or delay over) to first start")
    states = GaugeMetricFamily("nestq_queue_jobs", "Jobs in each state now", labels=["queue", "state"])
    workers = GaugeMetricFamily("nestq_workers", "Live workers (heartbeat not lapsed)", labels=["queue"])
    queues = list(queues)
    results = await asyncio.gather(*(_queue_numbers(q) for q in queues))
    for queue, (totals, counts, n_workers) in zip(queues, results, strict=True):
        for (name, state), n in sorted(totals.jobs.items()):
            jobs.add_metric([queue.name, name, state], float(n))
        for name, hist in sorted(totals.duration.items()):
            _add_histogram(duration, queue.name, name, hist)
        for name, hist in sorted(totals.wait.items()):
            _add_histogram(wait, queue.name, name, hist)
        for state, n in counts.items():
            states.add_metric([queue.name, state], float(n))
        workers.add_metric([queue.name], float(n_workers))
    return [jobs, duration, wait, states, workers]


async def render_metrics(queues: Iterable[Queue]) -> bytes:
    """The Prometheus text exposition of `queues`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(await collect_families(queues)))
    return generate_latest(registry)


class MetricsApp:
    """ASGI app serving the exposition (build it with `metrics_app`)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed: use GET\n", "text/plain; charset=utf-8")
            return
        try:
            names = await self.source.names()
            body = await render_metrics([await self.source.get(name) for name in names])
        except _UNREACHABLE as exc:
            text = f"Redis is unreachable: {type(exc).__name__}\n".encode()
            await _respond(send, 503, text, "text/plain; charset=utf-8")
            return
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body, CONTENT_TYPE_LATEST)


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
