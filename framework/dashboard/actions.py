"""The dashboard's POST actions, dispatched by table: on a queue, on one job, on a scheduler.

Every action answers JSON under `/api/`, and a browser form with a redirect (to `next`, or the page the
action belongs to) and a flash message. `ActionGuard` has already parsed the parameters and checked
read-only and CSRF; failures are raised for the exception handlers (`errors.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from framework.dashboard import data, editing
from framework.dashboard.data import ActionError
from framework.dashboard.errors import UnknownAction, next_url
from framework.dashboard.rendering import base_of, flash, json_response, route_of, segment
from framework.queue import Queue

if TYPE_CHECKING:
    from framework.dashboard.app import Dashboard

__all__ = ["JOB_ACTIONS", "QUEUE_ACTIONS", "Actions"]

# The answer, and where a browser goes next.
Outcome = tuple[dict[str, Any], str]
# (queue, parameters, the queue page's URL)
QueueAction = Callable[[Queue, Mapping[str, str], str], Awaitable[Outcome]]
# (queue, job id, parameters, the queue page's URL)
JobAction = Callable[[Queue, str, Mapping[str, str], str], Awaitable[Outcome]]


def _number(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


# --- on a queue ---------------------------------------------------------------------------------------


async def _pause(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    return await data.pause_queue(queue), back


async def _resume(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    return await data.resume_queue(queue), back


async def _retry_all(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    state = params.get("state", "failed")
    return await data.retry_all(queue, state), f"{back}?state={state}"


async def _promote_all(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    return await data.promote_all(queue), f"{back}?state=delayed"


async def _clean(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    state = params.get("state", "completed")
    grace = _number(params.get("grace", "0"), "grace")
    limit = int(_number(params.get("limit", "1000"), "limit"))
    return await data.clean_queue(queue, state, grace, limit), f"{back}?state={state}"


async def _add(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    """A new job from the form: name, data (JSON), delay, priority, attempts."""
    name = params.get("name", "").strip()
    if not name:
        raise ActionError("give the job a name")
    opts: dict[str, Any] = {}
    for key in ("delay", "priority", "attempts"):
        raw = params.get(key, "").strip()
        if raw:
            value = _number(raw, key)
            opts[key] = value if key == "delay" else int(value)
    job_data = editing.parse_json_field(params.get("data"), "data")
    result = await data.add_job(queue, name, job_data, opts)
    return result, f"{back}/jobs/{segment(result['job_id'])}"


async def _bulk(queue: Queue, params: Mapping[str, str], back: str) -> Outcome:
    ids = editing.parse_ids(params.get("ids"))
    return await editing.bulk_action(queue, params.get("bulk", ""), ids), back


QUEUE_ACTIONS: dict[str, QueueAction] = {
    "pause": _pause,
    "resume": _resume,
    "retry": _retry_all,
    "promote": _promote_all,
    "clean": _clean,
    "add": _add,
    "bulk": _bulk,
}


# --- on one job ---------------------------------------------------------------------------------------


def _job_url(back: str, job_id: str) -> str:
    return f"{back}/jobs/{segment(job_id)}"


async def _retry(queue: Queue, job_id: str, params: Mapping[str, str], back: str) -> Outcome:
    return await data.retry_job(queue, job_id), _job_url(back, job_id)


async def _promote(queue: Queue, job_id: str, params: Mapping[str, str], back: str) -> Outcome:
    return await data.promote_job(queue, job_id), _job_url(back, job_id)


async def _remove(queue: Queue, job_id: str, params: Mapping[str, str], back: str) -> Outcome:
    return await data.remove_job(queue, job_id), back


async def _duplicate(queue: Queue, job_id: str, params: Mapping[str, str], back: str) -> Outcome:
    result = await editing.duplicate_job(queue, job_id)
    return result, _job_url(back, result["job_id"])


async def _edit(queue: Queue, job_id: str, params: Mapping[str, str], back: str) -> Outcome:
    new_data = editing.parse_json_field(params.get("data"), "data")
    return await editing.update_job_data(queue, job_id, new_data), _job_url(back, job_id)


JOB_ACTIONS: dict[str, JobAction] = {
    "retry": _retry,
    "promote": _promote,
    "remove": _remove,
    "duplicate": _duplicate,
    "edit": _edit,
}


class Actions:
    """The action endpoints over one dashboard's queues."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard

    async def queue(self, request: Request) -> Response:
        """`POST .../queues/{queue}/{action}`, an action of `QUEUE_ACTIONS`."""
        queue, back = await self._queue(request)
        action = request.path_params["action"]
        run = QUEUE_ACTIONS.get(action)
        if run is None:
            raise UnknownAction(f"no queue action {action!r} ({', '.join(QUEUE_ACTIONS)})")
        params = _params(request)
        return _answer(request, params, *await run(queue, params, back))

    async def job(self, request: Request) -> Response:
        """`POST .../queues/{queue}/jobs/{job_id}/{action}`, an action of `JOB_ACTIONS`."""
        queue, back = await self._queue(request)
        job_id, action = request.path_params["job_id"], request.path_params["action"]
        run = JOB_ACTIONS.get(action)
        if run is None:
            raise UnknownAction(f"no job action {action!r} ({', '.join(JOB_ACTIONS)})")
        params = _params(request)
        return _answer(request, params, *await run(queue, job_id, params, back))

    async def remove_scheduler(self, request: Request) -> Response:
        """`POST .../queues/{queue}/schedulers/{scheduler_id}/remove`."""
        queue, back = await self._queue(request)
        result = await data.remove_scheduler(queue, request.path_params["scheduler_id"])
        return _answer(request, _params(request), result, back)

    async def _queue(self, request: Request) -> tuple[Queue, str]:
        queue = await self._dashboard.source.get(request.path_params["queue"])
        return queue, f"{base_of(request)}/queues/{segment(queue.name)}"


def _params(request: Request) -> Mapping[str, str]:
    params: Mapping[str, str] = request.scope["state"]["nestq_params"]  # set by ActionGuard
    return params


def _answer(
    request: Request, params: Mapping[str, str], result: dict[str, Any], default_next: str
) -> Response:
    if route_of(request).startswith("/api/"):
        return json_response(result)
    response = RedirectResponse(next_url(request, params, default_next), status_code=303)
    flash(request, response, "success", str(result.get("message", "Done")))
    return response
