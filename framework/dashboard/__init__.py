"""The nestq dashboard: queues, jobs and schedulers in the browser, a JSON API, and the ops CLI's data.

    from framework.dashboard import create_dashboard, BasicAuth

    dashboard = create_dashboard(app, auth=BasicAuth("admin", "s3cret"))   # an ASGI app
    starlette_app.mount("/admin/queues", dashboard)

or, in the process that runs the application, `server = await start_dashboard(app)` (host, port and
auth from `NESTQ_DASHBOARD__*`), and `nestq dashboard container:AppModule` on its own.
"""

from framework.dashboard.app import Dashboard, create_dashboard
from framework.dashboard.auth import BasicAuth, TokenAuth, auth_from_settings
from framework.dashboard.data import QueueSource
from framework.dashboard.server import (
    DashboardError,
    DashboardServer,
    check_bind,
    dashboard_server,
    serve_dashboard,
    start_dashboard,
)

__all__ = [
    "BasicAuth",
    "Dashboard",
    "DashboardError",
    "DashboardServer",
    "QueueSource",
    "TokenAuth",
    "auth_from_settings",
    "check_bind",
    "create_dashboard",
    "dashboard_server",
    "serve_dashboard",
    "start_dashboard",
]
