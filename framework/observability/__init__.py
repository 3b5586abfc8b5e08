"""Observability: the numbers of a queue and the traces of its jobs.

- `metrics.py`: per-minute completed / failed counts and per-name totals and histograms, all kept in Redis by
  the script that finishes jobs (so every worker process on every machine adds to the same numbers);
- `workers.py`: the heartbeat of live workers (`Queue.get_workers()`);
- `prometheus.py`: `metrics_app(queues)`, a Prometheus exposition built from those Redis numbers at scrape
  time (needs `prometheus-client`);
- `tracing.py`: OpenTelemetry spans for add and for each attempt (extra `nestq[otel]`; nothing is imported
  when it is not installed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.observability.metrics import Metrics, MetricsMeta, MetricsOptions
from framework.observability.workers import WorkerInfo

if TYPE_CHECKING:
    from framework.observability.prometheus import metrics_app

__all__ = ["Metrics", "MetricsMeta", "MetricsOptions", "WorkerInfo", "metrics_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the exposition pulls in prometheus_client and the dashboard's queue sources.
    if name == "metrics_app":
        from framework.observability.prometheus import metrics_app

        return metrics_app
    raise AttributeError(f"module 'framework.observability' has no attribute {name!r}")
