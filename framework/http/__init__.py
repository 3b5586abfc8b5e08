"""HTTP on the same container: FastAPI or Starlette endpoints resolve providers from the nestq application.

    from fastapi import FastAPI
    from framework.http import Inject, dashboard_app, lifespan

    app = FastAPI(lifespan=lifespan(AppModule))          # the Application runs from startup to shutdown
    app.mount("/admin/queues", dashboard_app())          # mountable before startup

    @app.post("/reports", status_code=202)
    async def request_report(
        body: ReportRequest, reports: Annotated[ReportsService, Inject(ReportsService)]
    ) -> ReportAccepted:
        return await reports.request_report(body)

Tests: `async with framework.testing.http_client(app, overrides={Mailer: FakeMailer()}) as client: ...`.
"""

from framework.http.dashboard import dashboard_app
from framework.http.depends import Inject, resolve
from framework.http.lifespan import ApplicationNotRunningError, NestLifespan, get_application, lifespan

__all__ = [
    "ApplicationNotRunningError",
    "Inject",
    "NestLifespan",
    "dashboard_app",
    "get_application",
    "lifespan",
    "resolve",
]
