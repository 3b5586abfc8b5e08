"""The dashboard as an ASGI app: server-rendered pages, a JSON API, and POST actions.

    app = create_dashboard(application)                 # or a list of Queue
    starlette_app.mount("/admin/queues", app)           # mounted: links follow the mount path
    uvicorn.run(app)                                    # standalone: served under base_path

Every page and every action has a JSON twin under `{base}/api/...`; both go through the same
functions of `framework.dashboard.data`. Actions are POSTs guarded against cross-site requests by a
double-submit token (`csrf.py`); a request authenticated with a bearer token needs none.

This file owns the assembly only: one route table, the middleware stack, the exception handlers.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from framework.dashboard import data
from framework.dashboard.actions import Actions
from framework.dashboard.api import Api
from framework.dashboard.auth import Auth, auth_from_settings
from framework.dashboard.csrf import csrf_key
from framework.dashboard.data import QueueSource
from framework.dashboard.errors import HANDLED, handle_error
from framework.dashboard.middleware import (
    ActionGuard,
    AuthMiddleware,
    BasePathMiddleware,
    CsrfCookieMiddleware,
    SecurityHeadersMiddleware,
)
from framework.dashboard.observability import Observability
from framework.dashboard.pages import Pages
from framework.dashboard.rendering import STATIC, Templates

__all__ = ["Dashboard", "create_dashboard"]


def create_dashboard(
    queues: Any,
    *,
    base_path: str = "/admin/queues",
    read_only: bool = False,
    auth: Auth | None = None,
) -> Dashboard:
    """The dashboard over some queues, as an ASGI app.

    Args:
        queues: an `Application` (its registered queues), a list of `Queue`, or a `QueueSource`.
        base_path: where the dashboard lives when served standalone. Mounted in another ASGI app
            (`Mount("/ops", app)`), it follows the mount path instead.
        read_only: hide every action and refuse them with 403.
        auth: `BasicAuth(user, password)`, `TokenAuth(token)`, a callable `(request) -> bool` (may be
            async), or a list of these (any one passing is enough). None uses the settings'
            `NESTQ_DASHBOARD__USERNAME`/`__PASSWORD`/`__TOKEN`; with none configured, only clients on
            this machine (loopback) are answered.

    Returns:
        The `Dashboard` ASGI app.
    """
    if auth is None:
        from framework.settings import get_settings

        auth = auth_from_settings(get_settings().dashboard)
    return Dashboard(data.source_of(queues), base_path=base_path, read_only=read_only, auth=auth)


def _normalize_base(path: str) -> str:
    path = path.strip()
    if path and not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/")


class Dashboard(Starlette):
    """The dashboard ASGI app (build it with `create_dashboard`)."""

    def __init__(self, source: QueueSource, *, base_path: str, read_only: bool, auth: Auth | None) -> None:
        self.source = source
        self.base_path = _normalize_base(base_path)
        self.read_only = read_only
        self.auth = auth
        self.csrf_key = csrf_key(auth)
        self.templates = Templates(read_only=read_only, csrf_key=self.csrf_key)
        super().__init__(
            routes=self._routes(),
            middleware=[
                Middleware(BasePathMiddleware, base_path=self.base_path, auth=auth),
                Middleware(AuthMiddleware, auth=auth),
                Middleware(CsrfCookieMiddleware, key=self.csrf_key),
            ],
            exception_handlers=dict.fromkeys(HANDLED, handle_error),
        )

    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's own error middleware, so that a 500 carries the security headers too.
        return SecurityHeadersMiddleware(super().build_middleware_stack())

    def _routes(self) -> list[BaseRoute]:
        """The one route table: each page and read once, each action once for both its form and its JSON
        path."""
        pages, api, obs, actions = Pages(self), Api(self), Observability(self), Actions(self)
        reads = [
            Route("/", pages.queues),
            Route("/search", pages.search),
            Route("/queues/{queue}", pages.queue),
            Route("/queues/{queue}/jobs/{job_id:path}", pages.job),
            Route("/activity", obs.activity_page),
            Route("/workers", obs.workers_page),
            Route("/api/queues", api.queues),
            Route("/api/csrf", api.csrf),
            Route("/api/search", api.search),
            Route("/api/queues/{queue}", api.queue),
            Route("/api/queues/{queue}/jobs", api.jobs),
            Route("/api/queues/{queue}/schedulers", api.schedulers),
            Route("/api/queues/{queue}/jobs/{job_id:path}", api.job),
            Route("/api/activity", obs.activity),
            Route("/api/workers", obs.workers),
            Route("/api/server", obs.server),
        ]
        writes = [
            ("/queues/{queue}/jobs/{job_id:path}/{action}", actions.job),
            ("/queues/{queue}/schedulers/{scheduler_id:path}/remove", actions.remove_scheduler),
            ("/queues/{queue}/{action}", actions.queue),
        ]
        guard = [Middleware(ActionGuard, read_only=self.read_only, csrf_key=self.csrf_key)]
        posts = [
            Route(prefix + path, endpoint, methods=["POST"], middleware=guard)
            for path, endpoint in writes
            for prefix in ("", "/api")
        ]
        return [*posts, *reads, Mount("/static", StaticFiles(directory=STATIC))]
