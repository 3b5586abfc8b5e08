"""The example APIs (FastAPI and Starlette) in-process, through `framework.testing.http_client`, with the
connection and the mailer overridden: the walkthrough's requests answer as the README says."""

from __future__ import annotations

from typing import Any

import pytest

from framework import QueueConfig
from framework.testing import http_client
from services.email import EmailSettings, Mailer
from services.testing import FakeMailer


@pytest.fixture
def overrides(redis_url: str, prefix: str) -> dict[object, object]:
    """This test's server and prefix instead of the settings', and a mailer that keeps what it sends."""
    from container import DEFAULT_JOB_OPTIONS

    return {
        QueueConfig: QueueConfig(redis_url, prefix, DEFAULT_JOB_OPTIONS),
        Mailer: FakeMailer(),
        EmailSettings: EmailSettings(mailer="console", mail_from="Tests <tests@example.com>"),
    }


async def test_fastapi_example_reports_users_and_openapi(overrides: dict[object, Any]) -> None:
    """POST /reports is 202 with a Location, GET gives the state, bad input is a 422 naming the fields,
    POST /users queues a welcome email the worker sends, and /openapi.json documents the endpoints."""
    from examples.http_api import app

    async with http_client(app, overrides=overrides) as client:
        accepted = await client.post("/reports", json={"email": "ada@example.com", "urgent": True})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert accepted.json() == {"job_id": job_id}
        assert accepted.headers["location"] == f"http://testserver/reports/{job_id}"
        assert (await client.get(f"/reports/{job_id}")).json()["state"] == "prioritized"
        await client.nest.run_until_drained("reports")
        done = (await client.get(f"/reports/{job_id}")).json()
        assert done["state"] == "completed" and done["progress"] == 100
        assert done["result"]["report_id"] == job_id

        bad = await client.post("/reports", json={"email": "not-an-address", "urgent": "maybe"})
        assert bad.status_code == 422
        assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "email"), ("body", "urgent")}
        missing = await client.get("/reports/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]

        created = await client.post("/users", json={"email": "grace@example.com", "name": "Grace"})
        assert created.status_code == 201, created.text
        again = await client.post("/users", json={"email": "grace@example.com", "name": "G"})
        assert again.status_code == 409
        await client.nest.run_until_drained("notifications", "email")
        mailer: FakeMailer = overrides[Mailer]
        assert [m["Subject"] for m in mailer.to("grace@example.com")] == ["Welcome to nestq, Grace!"]

        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/reports", "/reports/{job_id}", "/users"} <= set(paths)
        assert (await client.get("/docs")).status_code == 200
        index = (await client.get("/")).json()
        assert index["dashboard"] == "http://testserver/admin/queues/"
        assert (await client.get("/admin/queues/")).status_code == 200


async def test_starlette_example_reports(overrides: dict[object, Any]) -> None:
    """The Starlette variant queues a report and reports its state from the same container."""
    from examples.http_api_starlette import app

    async with http_client(app, overrides=overrides) as client:
        accepted = await client.post("/reports", json={"email": "ada@example.com"})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert (await client.get(f"/reports/{job_id}")).json()["state"] == "prioritized"
        assert (await client.post("/reports", json={"email": "x"})).status_code == 422
        assert (await client.get("/reports/nope")).status_code == 404
