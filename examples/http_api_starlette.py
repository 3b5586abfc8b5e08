"""The HTTP API of `examples/http_api.py`, in plain Starlette (no FastAPI): reports only.

    uvicorn examples.http_api_starlette:app

`framework.http.lifespan` runs the application; `resolve(request, token)` gets a provider.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from container import AppModule
from framework.http import dashboard_app, lifespan, resolve
from services.reports import ReportRequest, ReportsService


async def request_report(request: Request) -> JSONResponse:
    try:
        body = ReportRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        return JSONResponse({"detail": errors}, 422)
    accepted = await resolve(request, ReportsService).request_report(body)
    return JSONResponse(accepted.model_dump(), 202)


async def report_status(request: Request) -> JSONResponse:
    status = await resolve(request, ReportsService).get_status(request.path_params["job_id"])
    if status is None:
        return JSONResponse({"detail": "no report request with this job id"}, 404)
    return JSONResponse(status.model_dump(mode="json"))


app = Starlette(
    routes=[
        Route("/reports", request_report, methods=["POST"]),
        Route("/reports/{job_id}", report_status),
        Mount("/admin/queues", dashboard_app()),
    ],
    lifespan=lifespan(AppModule),
)
