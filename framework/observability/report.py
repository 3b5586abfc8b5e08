"""Observability numbers shaped for people: the CLI (`nestq workers`, `nestq metrics`) and the dashboard's
pages and JSON API read them from here. Read-only: nothing here writes to Redis.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from framework.observability.metrics import Histogram, Totals, get_metrics, get_totals, percentile
from framework.observability.workers import get_workers
from framework.queue.queue import Queue
from framework.queue.serialization import as_text

SPARKS = "▁▂▃▄▅▆▇█"
QUANTILES = (0.5, 0.95, 0.99)


def sparkline(values: list[int]) -> str:
    """One character per value, scaled to the largest (blank-ish for zero)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(int(v / top * (len(SPARKS) - 1) + 0.5), len(SPARKS) - 1)] for v in values)


async def workers_of(queues: list[Queue]) -> list[dict[str, Any]]:
    """Every live worker of `queues`, as dicts (oldest first within a queue)."""
    lists = await asyncio.gather(*(get_workers(q) for q in queues))
    return [w.to_dict() for workers in lists for w in workers]


def _hist_summary(hists: dict[str, Histogram]) -> dict[str, Any]:
    merged: Histogram | None = None
    for hist in hists.values():
        if merged is None:
            merged = Histogram(buckets=list(hist.buckets), sum=hist.sum, count=hist.count)
        else:
            merged = Histogram(
                buckets=[a + b for a, b in zip(merged.buckets, hist.buckets, strict=True)],
                sum=merged.sum + hist.sum,
                count=merged.count + hist.count,
            )
    if merged is None or merged.count == 0:
        return {"count": 0, "mean": None, **{f"p{int(q * 100)}": None for q in QUANTILES}}
    return {
        "count": merged.count,
        "mean": merged.sum / merged.count,
        **{f"p{int(q * 100)}": percentile(merged, q) for q in QUANTILES},
    }


def _totals_summary(totals: Totals) -> dict[str, Any]:
    by_name: dict[str, dict[str, int]] = {}
    for (name, state), n in totals.jobs.items():
        by_name.setdefault(name, {"completed": 0, "failed": 0, "retried": 0})[state] = n
    return {
        "by_name": dict(sorted(by_name.items())),
        "run_time": _hist_summary(totals.duration),
        "wait_time": _hist_summary(totals.wait),
    }


async def queue_metrics(queue: Queue, minutes: int = 60) -> dict[str, Any]:
    """Per-minute completed / failed counts of the last `minutes` (oldest first), with totals and timing
    percentiles (seconds, estimated from the histogram buckets over the queue's whole history)."""
    if minutes < 1:
        raise ValueError(f"minutes must be >= 1, got {minutes}")
    completed, failed, totals = await asyncio.gather(
        get_metrics(queue, "completed", 0, minutes - 1),
        get_metrics(queue, "failed", 0, minutes - 1),
        get_totals(queue),
    )
    done = list(reversed(completed.data + [0] * (minutes - len(completed.data))))
    bad = list(reversed(failed.data + [0] * (minutes - len(failed.data))))
    return {
        "queue": queue.name,
        "minutes": minutes,
        "completed": done,
        "failed": bad,
        "completed_in_window": sum(done),
        "failed_in_window": sum(bad),
        "completed_total": completed.meta.count,
        "failed_total": failed.meta.count,
        **_totals_summary(totals),
    }


async def redis_info(client: Redis) -> dict[str, Any]:
    """The server's version, memory, clients and load (INFO), for the dashboard's server panel."""
    info: dict[str, Any] = await client.info()
    version = info.get("valkey_version") or info.get("redis_version")
    return {
        "server": "valkey" if info.get("valkey_version") or info.get("server_name") == "valkey" else "redis",
        "version": as_text(version) if version is not None else None,
        "mode": info.get("redis_mode"),
        "uptime_seconds": info.get("uptime_in_seconds"),
        "used_memory": info.get("used_memory"),
        "used_memory_peak": info.get("used_memory_peak"),
        "maxmemory": info.get("maxmemory"),
        "maxmemory_policy": info.get("maxmemory_policy"),
        "connected_clients": info.get("connected_clients"),
        "blocked_clients": info.get("blocked_clients"),
        "ops_per_sec": info.get("instantaneous_ops_per_sec"),
        "total_commands_processed": info.get("total_commands_processed"),
    }
