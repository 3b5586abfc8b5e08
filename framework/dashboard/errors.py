"""Errors to answers, in one place: which exception is which status, and how each kind of request hears it.

Registered as the dashboard's Starlette `exception_handlers`. A read answers an error page (or
`{"error": ...}` under `/api/`); a refused browser action goes back where it came from with the reason
shown, when it can.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from framework.dashboard.data import ActionError, error_text
from framework.dashboard.rendering import base_of, flash, json_response, route_of
from framework.dashboard.views import ErrorView
from framework.errors import CorruptJobError, JobNotFoundError, NestqError

if TYPE_CHECKING:
    from framework.dashboard.app import Dashboard

__all__ = ["HANDLED", "Refused", "UnknownAction", "handle_error", "is_action", "next_url", "status_of"]


class Refused(NestqError):
    """An action refused before it ran (read-only dashboard, missing CSRF token): 403."""


class UnknownAction(NestqError):
    """A POST to an action name the dashboard does not have: 404."""


# Most specific first. An action that does not apply (or meets a corrupt job) is a conflict with the
# job's state; the same ActionError from a read (an unknown state in the query string) is a bad request.
_READ_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (JobNotFoundError, 404),
    (ValueError, 400),
    (RedisError, 503),
)
_ACTION_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (Refused, 403),
    (UnknownAction, 404),
    (JobNotFoundError, 404),
    (ActionError, 409),
    (CorruptJobError, 409),
    (ValueError, 400),
    (RedisError, 503),
)
HANDLED: tuple[type[Exception], ...] = (
    Refused,
    UnknownAction,
    JobNotFoundError,
    CorruptJobError,
    ValueError,
    RedisError,
)
_TITLES = {404: "Not found", 400: "Bad request", 503: "Redis is unreachable"}
# A browser action refused for one of these goes back to its page with the reason; others show a page.
_BACK_WITH_REASON = (400, 404, 409)


def is_action(request: Request) -> bool:
    """Whether the request is one of the POST actions (marked by `ActionGuard`)."""
    return bool(request.scope.get("state", {}).get("nestq_action"))


def status_of(exc: BaseException, *, action: bool) -> int | None:
    """The status `exc` answers with, or None when it is not an expected failure (a 500)."""
    for kind, status in _ACTION_STATUS if action else _READ_STATUS:
        if isinstance(exc, kind):
            return status
    return None


async def handle_error(request: Request, exc: Exception) -> Response:
    """The answer to an expected failure (the Starlette exception handler of every `HANDLED` type)."""
    action = is_action(request)
    status = status_of(exc, action=action)
    if status is None:
        raise exc
    message = error_text(exc)
    api = route_of(request).startswith("/api/")
    if status == 503 and (api or action):
        message = f"Redis is unreachable: {message}"
    if api:
        return json_response({"error": message}, status)
    dashboard = cast("Dashboard", request.app)
    if not action:
        return dashboard.templates.render(request, ErrorView(_TITLES[status], message), status)
    params: Mapping[str, str] | None = request.scope["state"].get("nestq_params")
    if params is not None and status in _BACK_WITH_REASON:
        response: Response = RedirectResponse(next_url(request, params, base_of(request) + "/"), 303)
        flash(request, response, "error", message)
        return response
    return dashboard.templates.render(request, ErrorView("Action refused", message), status)


def next_url(request: Request, params: Mapping[str, str], default: str) -> str:
    """Where to go after an action: `next` when it is a path inside the dashboard, else `default`."""
    target = params.get("next", "")
    base = base_of(request)
    parts = urlsplit(target)
    if (
        target.startswith(base + "/")
        and not parts.scheme
        and not parts.netloc
        and "\\" not in target
        and "//" not in parts.path
    ):
        return target
    return default
