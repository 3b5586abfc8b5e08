"""The seed's scenarios with real processes: the FastAPI example API (uvicorn) and a worker
(`python -m framework worker container:AppModule`) on one Redis, emails delivered to an SMTP server this
test runs.

The API only produces; everything is processed in the worker process. The test polls with timeouts and
always stops both processes with SIGTERM, and both must shut down cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework import Queue, QueueEvents
from services.testing import SmtpSink, free_port

ROOT = Path(__file__).resolve().parents[2]
DIGEST_EVERY = 1.0  # seconds: the `hourly-digest` scheduler, shortened through NESTQ_DIGEST_EVERY


class Process:
    """A child process started from the repository folder; its output goes to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0, *procs: Process) -> Any:
    """Poll `check()` (sync or async) until it returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            proc.check_running()
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def env(redis_url: str, prefix: str, smtp: SmtpSink) -> dict[str, str]:
    return {
        **os.environ,
        "NESTQ_REDIS_URL": redis_url,
        "NESTQ_PREFIX": prefix,
        "NESTQ_LOG_FORMAT": "json",
        "NESTQ_MAILER": "smtp",
        "NESTQ_MAIL_FROM": "nestq e2e <e2e@example.com>",
        "NESTQ_SMTP__HOST": "127.0.0.1",
        "NESTQ_SMTP__PORT": str(smtp.port),
        "NESTQ_DIGEST_EVERY": str(DIGEST_EVERY),
    }


@pytest.fixture
async def processes(env: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[Process, Process, str]]:
    """(worker, api, api base URL); both stopped at teardown, and both must shut down cleanly."""
    port = free_port()
    worker = Process(
        "worker",
        [sys.executable, "-m", "framework", "worker", "container:AppModule", "--shutdown-timeout", "10"],
        env,
        tmp_path,
    )
    api = Process(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.http_api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        tmp_path,
    )
    try:
        yield worker, api, f"http://127.0.0.1:{port}"
    finally:
        codes = {p.name: p.stop() for p in (api, worker)}
    logs = f"{worker.output()[-3000:]}\n{api.output()[-3000:]}"
    assert codes["worker"] == 0, logs
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so it "dies" of SIGTERM.
    assert codes["api"] in (0, -signal.SIGTERM), logs
    assert "Application shutdown complete" in api.output() and "application closed" in api.output()


async def test_reports_users_emails_and_schedulers(
    processes: tuple[Process, Process, str], smtp: SmtpSink, redis_url: str, prefix: str
) -> None:
    """A report is built in the worker with rising progress, a sign-up's welcome email reaches the SMTP
    server, and the scheduled digest runs and emails the new user."""
    worker, api, base = processes
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:

        async def api_up() -> bool:
            try:
                return (await http.get("/")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(api_up, "the API answers", 30, api)
        await wait_for(lambda: "application started" in worker.output(), "the worker starts", 30, worker)

        # POST /reports answers at once; the worker builds the report.
        accepted = await http.post("/reports", json={"email": "ada@example.com", "urgent": True})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert accepted.headers["location"].endswith(f"/reports/{job_id}")

        seen: list[Any] = []

        async def report_done() -> dict[str, Any] | None:
            status = (await http.get(f"/reports/{job_id}")).json()
            if status["progress"] is not None:
                seen.append(status["progress"])
            return status if status["state"] in ("completed", "failed") else None

        status = await wait_for(report_done, "the report completes", 30, worker)
        assert status["state"] == "completed", status
        assert status["result"]["report_id"] == job_id and status["result"]["email"] == "ada@example.com"
        assert seen == sorted(seen) and seen[-1] == 100  # as polled: never going back
        events = QueueEvents("reports", connection=redis_url, prefix=prefix, last_id="0")
        try:
            progress = [
                e.data["data"] for e in await events.read() if e.event == "progress" and e.job_id == job_id
            ]
        finally:
            await events.close()
        assert progress == [10, 50, 90, 100]  # every step, as the worker reported it

        # Bad input names the field; an unknown id is 404.
        bad = await http.post("/reports", json={"email": "not-an-address", "urgent": "maybe"})
        assert bad.status_code == 422
        assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "email"), ("body", "urgent")}
        assert (await http.get("/reports/does-not-exist")).status_code == 404

        # POST /users queues the welcome email; the worker delivers it over SMTP.
        created = await http.post("/users", json={"email": "grace@example.com", "name": "Grace"})
        assert created.status_code == 201, created.text
        assert created.json()["welcome_job_id"].startswith("welcome-")
        assert (
            await http.post("/users", json={"email": "grace@example.com", "name": "G"})
        ).status_code == 409

        def welcome() -> list[Any]:
            return [m for m in smtp.to("grace@example.com") if m["Subject"] == "Welcome to nestq, Grace!"]

        [message] = await wait_for(welcome, "the welcome email arrives", 30, worker)
        assert message["From"] == "nestq e2e <e2e@example.com>"
        assert "Hello Grace," in message.get_body(("plain",)).get_content()

        # The digest scheduler (every DIGEST_EVERY s here) runs in the worker and emails the user.
        def digest() -> list[Any]:
            return [m for m in smtp.to("grace@example.com") if m["Subject"].startswith("Your digest")]

        await wait_for(digest, "a digest email arrives", 30, worker)
        async with Queue("maintenance", connection=redis_url, prefix=prefix) as maintenance:
            schedulers = {s.id: s for s in await maintenance.get_job_schedulers()}
            assert schedulers["hourly-digest"].every == DIGEST_EVERY
            assert schedulers["daily-cleanup"].cron == "0 0 * * *"
            runs = [j for j in await maintenance.get_jobs("completed") if j.name == "digest"]
            # Later runs (every second here) find the digest already sent: some run, not the newest, emailed.
            assert any(run.return_value["emails"] >= 1 for run in runs), [r.return_value for r in runs]

        # FastAPI documents the endpoints.
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {"/reports", "/reports/{job_id}", "/users"} <= set(paths)

        # The dashboard is served by the API process.
        page = await http.get("/admin/queues/")
        assert page.status_code == 200 and "reports" in page.text
