"""The ops commands of `nestq` (queues, jobs, job, retry, promote, clean, pause, resume) in process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

import framework.logging
from framework.cli import main
from framework.queue import Job, Queue, Worker

APP = "tests.integration.dashboard.cli_app:AppModule"
ESC = "\x1b[31m"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main()` configures logging for the process; put the test session's logging back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    installed = framework.logging._handler
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    framework.logging._handler = installed
    structlog.reset_defaults()


@pytest.fixture
def seeded_cli(env: None, redis_url: str, prefix: str) -> Iterator[None]:
    """`email`: 2 completed, 1 failed, 1 delayed; `reports`: 1 waiting, paused. Keys removed after."""

    async def handler(job: Job[Any]) -> Any:
        if job.name == "boom":
            raise ValueError(f"broken {ESC}[bold]markup[/bold]")
        return {"ok": job.id}

    async def seed() -> None:
        email = Queue("email", connection=redis_url, prefix=prefix)
        reports = Queue("reports", connection=redis_url, prefix=prefix)
        await email.add("send", {"to": "a@example.com"})
        await email.add("send", {"to": "b@example.com"})
        await email.add("boom", {"evil": ESC})
        worker = Worker("email", handler, connection=redis_url, prefix=prefix)
        await worker.run_until_drained()
        await worker.close()
        await email.add("later", {}, delay=3600)
        await reports.add("generate", {})
        await reports.pause()
        await email.close()
        await reports.close()

    async def cleanup() -> None:
        for name in ("email", "reports"):
            queue = Queue(name, connection=redis_url, prefix=prefix)
            await queue.obliterate(force=True)
            await queue.close()

    asyncio.run(seed())
    yield
    asyncio.run(cleanup())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


class TestReading:
    def test_queues_json(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq queues --json` gives counts per state and the paused flag of every discovered queue."""
        queues = {q["name"]: q for q in run_json(capsys, "queues")}
        assert set(queues) == {"email", "reports"}
        assert queues["email"]["counts"] == {
            "active": 0,
            "waiting": 0,
            "waiting-children": 0,
            "prioritized": 0,
            "delayed": 1,
            "paused": 0,
            "completed": 2,
            "failed": 1,
        }
        assert queues["reports"]["paused"] is True and queues["reports"]["counts"]["paused"] == 1

    def test_queues_table(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq queues` prints a table with a row per queue."""
        code, out, _ = run(capsys, "queues")
        assert code == 0
        assert "Completed" in out and "Failed" in out
        lines = [line for line in out.splitlines() if line.startswith("email")]
        assert lines and lines[0].split()[-1] == "4"
        assert "reports (paused)" in out

    def test_jobs_of_a_state(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq jobs QUEUE --state failed --limit N` lists that state's jobs."""
        listing = run_json(capsys, "jobs", "email", "--state", "failed", "--limit", "5")
        assert [j["name"] for j in listing["jobs"]] == ["boom"]
        assert listing["totals"] == {"failed": 1}
        every = run_json(capsys, "jobs", "email", "--limit", "2")
        assert len(every["jobs"]) == 2

    def test_job_detail(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq job QUEUE ID` shows the job; --json has every field."""
        job = run_json(capsys, "job", "email", "3")
        assert job["state"] == "failed" and job["failed_reason"].startswith("ValueError: broken")
        assert job["stacktrace"] and job["data"] == {"evil": ESC}
        code, out, _ = run(capsys, "job", "email", "1")
        assert code == 0 and "completed" in out and '"ok": "1"' in out

    def test_untrusted_values_cannot_drive_the_terminal(
        self, seeded_cli: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Escape sequences and rich markup in job values are printed as text."""
        for argv in (("job", "email", "3"), ("jobs", "email", "--state", "failed")):
            code, out, _ = run(capsys, *argv)
            assert code == 0
            assert "\x1b" not in out
            # The listing cuts long reasons to the terminal's width; the job page shows all of it.
            assert "\\x1b[31m[bold]markup" in out, out
        assert "\\x1b[31m[bold]markup[/bold]" in run(capsys, "job", "email", "3")[1]

    def test_with_an_application(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """--app lists the application's queues (registered ones even when empty)."""
        queues = {q["name"] for q in run_json(capsys, "queues", "--app", APP)}
        assert queues == {"email", "reports"}
        job = run_json(capsys, "job", "email", "1", "--app", APP)
        assert job["return_value"] == {"ok": "1"}

    def test_unknown_queue_or_job(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown queue or job exits 1 with a message naming what exists."""
        code, _, err = run(capsys, "jobs", "nope")
        assert code == 1 and "no queue 'nope' (queues: email, reports)" in err
        code, _, err = run(capsys, "job", "email", "999")
        assert code == 1 and "no job '999'" in err


class TestActions:
    def test_retry_one_and_all(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq retry QUEUE ID` and `--all` move failed jobs back to waiting."""
        code, out, _ = run(capsys, "retry", "email", "3")
        assert code == 0 and "Job 3 retried" in out
        assert run_json(capsys, "retry", "email", "--all")["count"] == 0
        completed = run_json(capsys, "retry", "email", "--all", "--state", "completed", "--yes")
        assert completed["count"] == 2

    def test_retry_needs_an_id_or_all(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """Neither or both of ID and --all is a usage error (exit 2)."""
        assert main(["retry", "email"]) == 2
        assert "give a job ID or --all" in capsys.readouterr().err

    def test_retry_a_waiting_job_is_refused(
        self, seeded_cli: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An action that does not apply exits 1 with the reason."""
        code, _, err = run(capsys, "promote", "email", "1")
        assert code == 1 and "only delayed jobs can be promoted" in err

    def test_promote(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq promote QUEUE --all` runs delayed jobs now."""
        assert run_json(capsys, "promote", "email", "--all")["count"] == 1

    def test_clean(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq clean QUEUE --state completed --grace N` removes only jobs older than N seconds."""
        assert run_json(capsys, "clean", "email", "--state", "completed", "--grace", "3600")["count"] == 0
        assert run_json(capsys, "clean", "email", "--state", "completed", "--grace", "0")["count"] == 2

    def test_pause_and_resume(self, seeded_cli: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq pause` and `nestq resume` flip the paused flag."""
        code, out, _ = run(capsys, "pause", "email")
        assert code == 0 and "Queue email paused" in out
        assert {q["name"]: q["paused"] for q in run_json(capsys, "queues")}["email"] is True
        assert run_json(capsys, "resume", "email") == {
            "ok": True,
            "message": "Queue email resumed",
            "paused": False,
        }


class TestDashboardCommand:
    def test_refuses_public_host_without_auth(self, env: None, capsys: pytest.CaptureFixture[str]) -> None:
        """`nestq dashboard --host 0.0.0.0` without auth exits 1 with the fix in the message."""
        code = main(["dashboard", "--host", "0.0.0.0", "--port", "1"])
        err = capsys.readouterr().err
        assert code == 1 and "without authentication" in err and "NESTQ_DASHBOARD__PASSWORD" in err

    def test_serves_until_sigterm(self, seeded_cli: None, redis_url: str, prefix: str) -> None:
        """`nestq dashboard --port N` serves the discovered queues and exits 0 on SIGTERM."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "NESTQ_REDIS_URL": redis_url, "NESTQ_PREFIX": prefix}
        proc = subprocess.Popen(
            [sys.executable, "-m", "framework", "dashboard", "--port", str(port), "--read-only"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/admin/queues/"
            deadline = time.monotonic() + 20
            while True:
                try:
                    response = httpx.get(url, timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                    assert time.monotonic() < deadline, "the dashboard did not come up"
                    time.sleep(0.1)
            assert response.status_code == 200
            assert 'data-queue="email"' in response.text and 'method="post"' not in response.text
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, output
        assert "dashboard listening" in output
