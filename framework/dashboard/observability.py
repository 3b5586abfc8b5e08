"""The dashboard's observability pages: activity (throughput and failure charts per queue over the last
hour or day, run / wait time percentiles, Redis server info) and live workers, with their JSON twins.

    {base}/activity?range=hour|day     {base}/api/activity?range=hour|day
    {base}/workers                     {base}/api/workers
                                       {base}/api/server

Read-only: the numbers come from `framework.observability.report`, as for `nestq metrics` / `nestq workers`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from framework.dashboard.charts import bar_chart, bin_series
from framework.dashboard.rendering import json_response
from framework.dashboard.views import ActivityView, WorkersView
from framework.observability.report import queue_metrics, redis_info, workers_of

if TYPE_CHECKING:
    from framework.dashboard.app import Dashboard

RANGES = {"hour": (60, 60, 1), "day": (1440, 96, 15)}  # minutes, bars, minutes per bar
COMPLETED_COLOR = "#16a34a"
FAILED_COLOR = "#dc2626"


def _range(request: Request) -> str:
    value = request.query_params.get("range", "hour")
    if value not in RANGES:
        raise ValueError(f"range must be 'hour' or 'day', got {value!r}")
    return value


async def _queues(dashboard: Dashboard) -> list[Any]:
    return [await dashboard.source.get(name) for name in await dashboard.source.names()]


async def _activity(dashboard: Dashboard, request: Request) -> dict[str, Any]:
    span = _range(request)
    minutes = RANGES[span][0]
    queues = await _queues(dashboard)
    reports = await asyncio.gather(*(queue_metrics(q, minutes) for q in queues))
    return {"range": span, "minutes": minutes, "queues": list(reports)}


async def _workers(dashboard: Dashboard) -> list[dict[str, Any]]:
    return await workers_of(await _queues(dashboard))


async def _server(dashboard: Dashboard) -> dict[str, Any] | None:
    queues = await _queues(dashboard)
    return await redis_info(queues[0].client) if queues else None


def _bar_times(minutes: int, per_bar: int) -> list[str]:
    now = time.time()
    bars = minutes // per_bar
    out = []
    for i in range(bars):
        ago = (bars - 1 - i) * per_bar
        start = time.strftime("%H:%M", time.localtime(now - (ago + per_bar - 1) * 60))
        end = time.strftime("%H:%M", time.localtime(now - ago * 60))
        out.append(start if per_bar == 1 else f"{start} to {end}")
    return out


def _charts(report: dict[str, Any], span: str) -> dict[str, Any]:
    minutes, bars, per_bar = RANGES[span]
    times = _bar_times(minutes, per_bar)
    start_label = "1 hour ago" if span == "hour" else "24 hours ago"
    charts = {}
    for kind, color in (("completed", COMPLETED_COLOR), ("failed", FAILED_COLOR)):
        series = bin_series(report[kind], bars)
        tips = [f"{t}: {v} {kind}" for t, v in zip(times, series, strict=False)]
        charts[kind] = bar_chart(
            series,
            color=color,
            label=f"{report['queue']}: jobs {kind} per {'minute' if per_bar == 1 else f'{per_bar} minutes'}",
            start_label=start_label,
            end_label="now",
            tooltips=tips,
        )
    return charts


class Observability:
    """The observability endpoints over one dashboard's queues."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard

    async def activity_page(self, request: Request) -> Response:
        """Charts per queue over `?range=hour|day`."""
        payload = await _activity(self._dashboard, request)
        span = payload["range"]
        queues = [{**report, "charts": _charts(report, span)} for report in payload["queues"]]
        view = ActivityView(queues, span, list(RANGES), await _server(self._dashboard))
        return self._dashboard.templates.render(request, view)

    async def workers_page(self, request: Request) -> Response:
        """Live workers."""
        workers = await _workers(self._dashboard)
        view = WorkersView(workers, await _server(self._dashboard))
        return self._dashboard.templates.render(request, view)

    async def activity(self, request: Request) -> Response:
        """Per-minute counts and timings of every queue over `?range=hour|day`."""
        return json_response(await _activity(self._dashboard, request))

    async def workers(self, request: Request) -> Response:
        """Live workers of every queue."""
        return json_response(await _workers(self._dashboard))

    async def server(self, request: Request) -> Response:
        """The Redis server's facts (null with no queue)."""
        return json_response(await _server(self._dashboard))
