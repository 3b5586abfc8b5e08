"""The dashboard's JSON API for reads: the same `data.py` results the pages and the ops CLI show.

Errors are raised, not answered here (see `errors.py`: `{"error": ...}` with the right status).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from framework.dashboard import data, editing
from framework.dashboard.control import queue_limits
from framework.dashboard.csrf import CSRF_COOKIE, csrf_token
from framework.dashboard.pages import PAGE_SIZE, query_int
from framework.dashboard.rendering import json_response

if TYPE_CHECKING:
    from framework.dashboard.app import Dashboard

__all__ = ["Api"]


class Api:
    """The JSON read endpoints over one dashboard's queues."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard

    async def queues(self, request: Request) -> Response:
        """Every queue's summary, and whether the dashboard is read-only."""
        queues = await data.list_queues(self._dashboard.source)
        return json_response({"queues": queues, "read_only": self._dashboard.read_only})

    async def queue(self, request: Request) -> Response:
        """One queue's summary with its schedulers and limits."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        summary = await data.queue_summary(queue)
        schedulers = (await data.list_schedulers(queue))["schedulers"]
        return json_response({**summary, "schedulers": schedulers, "limits": await queue_limits(queue)})

    async def jobs(self, request: Request) -> Response:
        """A page of one state's jobs (`?state=&limit=&page=` or `&start=`, `&name=`)."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        state = request.query_params.get("state", "failed")
        limit = query_int(request, "limit", PAGE_SIZE, lo=1, hi=1000)
        if "page" in request.query_params:
            start = (query_int(request, "page", 1, lo=1, hi=10**9) - 1) * limit
        else:
            start = query_int(request, "start", 0, lo=0, hi=10**12)
        name = request.query_params.get("name", "").strip() or None
        return json_response(await data.list_jobs(queue, state, start=start, limit=limit, name=name))

    async def job(self, request: Request) -> Response:
        """Everything about one job."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        return json_response(await data.job_detail(queue, request.path_params["job_id"]))

    async def schedulers(self, request: Request) -> Response:
        """The queue's job schedulers."""
        queue = await self._dashboard.source.get(request.path_params["queue"])
        return json_response(await data.list_schedulers(queue))

    async def search(self, request: Request) -> Response:
        """Jobs by id, id prefix or name (`?id=`, optionally `&queue=`)."""
        job_id = request.query_params.get("id", "").strip()
        if not job_id:
            raise ValueError("give the job id as ?id=...")
        queue = request.query_params.get("queue", "").strip() or None
        found = await editing.search_jobs(self._dashboard.source, job_id, queue)
        return json_response({"id": job_id, "found": found})

    async def csrf(self, request: Request) -> Response:
        """A CSRF token for scripts that use a cookie jar instead of a bearer token (the cookie comes
        with the answer, from `CsrfCookieMiddleware`)."""
        token = csrf_token(request, self._dashboard.csrf_key)
        return json_response({"token": token, "cookie": CSRF_COOKIE, "header": "X-CSRF-Token"})
