"""`dashboard_app()`: the nestq dashboard, mountable before the application exists.

    app.mount("/admin/queues", dashboard_app())

It answers 503 until the lifespan has started the application, then serves `create_dashboard(app)`,
built once per application (a new lifespan, as in tests, gets a new one).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from framework.dashboard import create_dashboard
from framework.di.application import Application
from framework.http.lifespan import ApplicationNotRunningError, get_application


class DeferredDashboard:
    """An ASGI app building the dashboard of the running application on first use."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._built: tuple[Application, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        try:
            application = get_application(scope)
        except ApplicationNotRunningError:
            response = JSONResponse({"detail": "starting: the nestq application is not running yet"}, 503)
            await response(scope, receive, send)
            return
        if self._built is None or self._built[0] is not application:
            self._built = (application, create_dashboard(application, **self._options))
        await self._built[1](scope, receive, send)


def dashboard_app(*, read_only: bool = False, auth: Any = None) -> DeferredDashboard:
    """The dashboard of the application `framework.http.lifespan` runs, to mount before startup.

    Args:
        read_only: hide every action and refuse them with 403.
        auth: as for `framework.dashboard.create_dashboard` (None: the `NESTQ_DASHBOARD__*` settings).
    """
    return DeferredDashboard(read_only=read_only, auth=auth)
