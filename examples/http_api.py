"""An HTTP API (FastAPI) that only enqueues: requests return at once, workers do the work in another process.

    nestq worker container:AppModule          # terminal 1: the workers (and the schedulers)
    uvicorn examples.http_api:app             # terminal 2: this API, on http://127.0.0.1:8000

    POST /reports        {"email": "...", "urgent": false, "scheduled_for": null}  -> 202 {"job_id": ...}
    GET  /reports/{id}   -> {"state", "progress", "result"}  (404 for an unknown id)
    POST /users          {"email": "...", "name": "..."}  -> 201, the welcome email is queued
    /admin/queues        the dashboard
    /docs                the OpenAPI docs

Run both from the repository folder: with no NESTQ_REDIS_URL they share the embedded server in ./.nestq/.
The services come from the same container as the workers' (`framework.http.Inject`); the Starlette
version of this API is `examples/http_api_starlette.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, Response

from container import AppModule
from framework.http import Inject, dashboard_app, lifespan
from services.notifications import NotificationService
from services.reports import ReportAccepted, ReportRequest, ReportsService, ReportStatus
from services.users import NewUser, SessionStore, UserExistsError, UserStore

app = FastAPI(
    title="nestq example API",
    summary="Enqueues reports and welcome emails; `nestq worker container:AppModule` processes them.",
    lifespan=lifespan(AppModule),  # producer only: the workers run in `nestq worker`
)
app.mount("/admin/queues", dashboard_app(), name="dashboard")

Reports = Annotated[ReportsService, Inject(ReportsService)]


@app.get("/")
async def index(request: Request) -> dict[str, Any]:
    """The endpoints of this API and where the dashboard is."""
    return {
        "endpoints": ["POST /reports", "GET /reports/{job_id}", "POST /users"],
        "dashboard": str(request.url_for("dashboard", path="/")),
        "docs": str(request.url_for("swagger_ui_html")),
    }


@app.post("/reports", status_code=202)
async def request_report(
    body: ReportRequest, reports: Reports, request: Request, response: Response
) -> ReportAccepted:
    """Queue a report; `urgent` ones run first, `scheduled_for` delays it."""
    accepted = await reports.request_report(body)
    response.headers["Location"] = str(request.url_for("report_status", job_id=accepted.job_id))
    return accepted


@app.get("/reports/{job_id}", responses={404: {"description": "No report request with this job id"}})
async def report_status(job_id: str, reports: Reports) -> ReportStatus:
    """Where a report request stands: state, progress, and the report once built."""
    status = await reports.get_status(job_id)
    if status is None:
        raise HTTPException(404, detail=f"no report request with job id {job_id!r}")
    return status


@app.post("/users", status_code=201, responses={409: {"description": "The email is taken"}})
async def register_user(
    body: NewUser,
    users: Annotated[UserStore, Inject(UserStore)],
    sessions: Annotated[SessionStore, Inject(SessionStore)],
    notifications: Annotated[NotificationService, Inject(NotificationService)],
) -> dict[str, Any]:
    """Sign up a user: a session token at once, the welcome email queued."""
    try:
        user = await users.create(body)
    except UserExistsError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    token = await sessions.create(user.id)
    welcome = await notifications.send_welcome(user)
    return {"user": user.model_dump(mode="json"), "session_token": token, "welcome_job_id": welcome.id}
