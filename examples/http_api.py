"""An HTTP API that only enqueues: requests return at once, workers do the work in another process.

    nestq worker container:AppModule          # terminal 1: the workers (and the schedulers)
    uvicorn examples.http_api:app             # terminal 2: this API, on http://127.0.0.1:8000

    POST /reports        {"email": "...", "urgent": false, "scheduled_for": null}  -> 202 {"job_id": ...}
    GET  /reports/{id}   -> {"state", "progress", "result"}  (404 for an unknown id)
    POST /users          {"email": "...", "name": "..."}  -> 201, the welcome email is queued
    /admin/queues        the dashboard

Run both from the repository folder: with no NESTQ_REDIS_URL they share the embedded server in ./.nestq/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from container import AppModule
from framework import Application
from framework.dashboard import create_dashboard
from framework.logging import configure_logging
from services.notifications import NotificationService
from services.reports import ReportRequest, ReportsService
from services.users import NewUser, SessionStore, UserExistsError, UserStore

M = TypeVar("M", bound=BaseModel)


class _Dashboard:
    """The dashboard, mounted before the application exists and built once it does (in the lifespan)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            await JSONResponse({"detail": "starting"}, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


dashboard = _Dashboard()


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[Mapping[str, Any]]:
    configure_logging()
    async with Application.create(AppModule) as nest:
        await nest.start(workers=False)  # this process only produces; `nestq worker` consumes
        dashboard.app = create_dashboard(nest)
        try:
            yield {"nest": nest}
        finally:
            dashboard.app = None


async def _body(request: Request, model: type[M]) -> M | Response:
    """The request body validated into `model`, or a 422 response naming each bad field."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": errors, "message": f"invalid request: {summary}"}, status_code=422)


async def index(request: Request) -> Response:
    return JSONResponse(
        {
            "endpoints": ["POST /reports", "GET /reports/{job_id}", "POST /users"],
            "dashboard": str(request.url_for("dashboard", path="/")),
        }
    )


async def request_report(request: Request) -> Response:
    body = await _body(request, ReportRequest)
    if isinstance(body, Response):
        return body
    accepted = await request.state.nest.get(ReportsService).request_report(body)
    location = str(request.url_for("report_status", job_id=accepted.job_id))
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": location})


async def report_status(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    status = await request.state.nest.get(ReportsService).get_status(job_id)
    if status is None:
        return JSONResponse({"detail": f"no report request with job id {job_id!r}"}, status_code=404)
    return JSONResponse(status.model_dump(mode="json"))


async def register_user(request: Request) -> Response:
    body = await _body(request, NewUser)
    if isinstance(body, Response):
        return body
    nest: Application = request.state.nest
    try:
        user = await nest.get(UserStore).create(body)
    except UserExistsError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    token = await nest.get(SessionStore).create(user.id)
    welcome = await nest.get(NotificationService).send_welcome(user)
    return JSONResponse(
        {"user": user.model_dump(mode="json"), "session_token": token, "welcome_job_id": welcome.id},
        status_code=201,
    )


app = Starlette(
    routes=[
        Route("/", index),
        Route("/reports", request_report, methods=["POST"]),
        Route("/reports/{job_id}", report_status, methods=["GET"], name="report_status"),
        Route("/users", register_user, methods=["POST"]),
        Mount("/admin/queues", app=dashboard, name="dashboard"),
    ],
    lifespan=lifespan,
)
