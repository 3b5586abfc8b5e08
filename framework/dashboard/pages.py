"""The dashboard's HTML pages: each reads through `data.py`, builds its typed view, and renders it.

Errors are raised, not answered here: the dashboard's exception handlers (`errors.py`) turn them into
error pages with the right status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from framework.dashboard import data, editing
from framework.dashboard.control import queue_limits
from framework.dashboard.rendering import base_of, segment
from framework.dashboard.views import JobView, QueuesView, QueueView, SearchView

if TYPE_CHECKING:
    from framework.dashboard.app import Dashboard

__all__ = ["PAGE_SIZE", "Pages", "query_int"]

PAGE_SIZE = 25
# The tab a queue page opens on when none is asked for: failures first, then what is running or waiting.
_INTERESTING_STATES = ("failed", "active", "waiting", "paused", "delayed")


def query_int(request: Request, name: str, default: int, *, lo: int, hi: int) -> int:
    """A whole number from the query string, clamped to [lo, hi].

    Raises:
        ValueError: the parameter is not a whole number (a 400 answer).
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    return min(max(value, lo), hi)


class Pages:
    """The page endpoints over one dashboard's queues."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard

    async def queues(self, request: Request) -> Response:
        """Every queue with its counts."""
        queues = await data.list_queues(self._dashboard.source)
        totals = {state: sum(q["counts"][state] for q in queues) for state in data.STATES}
        return self._dashboard.templates.render(request, QueuesView(queues, totals))

    async def queue(self, request: Request) -> Response:
        """One queue: a page of one state's jobs (filtered by name), its schedulers and limits."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        state = request.query_params.get("state") or ""
        if state not in data.STATES:
            counts = (await data.queue_summary(queue))["counts"]
            state = next((s for s in _INTERESTING_STATES if counts[s]), "completed")
        limit = query_int(request, "limit", PAGE_SIZE, lo=1, hi=200)
        page_number = query_int(request, "page", 1, lo=1, hi=10**9)
        name = request.query_params.get("name", "").strip() or None
        listing = await data.list_jobs(queue, state, start=(page_number - 1) * limit, limit=limit, name=name)
        view = QueueView(
            queue=queue,
            listing=listing,
            state=state,
            name_filter=name or "",
            page_number=page_number,
            pages=max((listing["total"] + limit - 1) // limit, 1),
            limit=limit,
            schedulers=await data.list_schedulers(queue),
            limits=await queue_limits(queue),
            cleanable=state in data.CLEANABLE_STATES,
            action_states=data.ACTION_STATES,
        )
        return self._dashboard.templates.render(request, view)

    async def job(self, request: Request) -> Response:
        """One job: fields, logs, flow, and the actions that apply."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        job = await data.job_detail(queue, request.path_params["job_id"])
        return self._dashboard.templates.render(request, JobView(queue, job, data.ACTION_STATES))

    async def search(self, request: Request) -> Response:
        """Jobs by id, id prefix or name; straight to the job when exactly one matches."""
        job_id = request.query_params.get("id", "").strip()
        queue = request.query_params.get("queue", "").strip() or None
        found = await editing.search_jobs(self._dashboard.source, job_id, queue) if job_id else []
        if len(found) == 1:
            hit = found[0]
            return RedirectResponse(
                f"{base_of(request)}/queues/{segment(hit['queue'])}/jobs/{segment(hit['id'])}",
                status_code=303,
            )
        return self._dashboard.templates.render(request, SearchView(job_id, found))
