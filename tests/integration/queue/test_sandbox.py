"""Sandboxed handlers: the handler runs in a pool of processes; progress and logs reach the job; a timeout
kills the process; a killed process fails that attempt only and the job retries."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from framework import JobFailedError, SandboxedHandler, SandboxError

from . import sandbox_handlers as h
from .conftest import wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class TestRunsInAProcess:
    async def test_handler_runs_in_another_process_and_its_result_is_stored(
        self, make_queue, make_worker
    ) -> None:
        """A sandboxed handler runs outside the worker's process; its JSON result becomes the job's."""
        q = make_queue()
        job = await q.add("n", None)
        make_worker(h.pid, sandbox=True)
        child = await job.wait_until_finished(timeout=30)
        assert isinstance(child, int) and child != os.getpid()

    async def test_progress_and_logs_from_a_plain_def_reach_the_job(self, make_queue, make_worker) -> None:
        """update_progress and log called in the sandbox store on the job and fire the progress hook."""
        q = make_queue()
        job = await q.add("n", {"x": 1})
        hooked: list[Any] = []
        w = make_worker(h.report, sandbox=True)
        w.on("progress", lambda j, p: hooked.append((j.id, p)))
        result = await job.wait_until_finished(timeout=30)

        assert result["data"] == {"x": 1} and result["attempt"] == 0
        stored = await q.get_job(job.id)
        assert stored is not None and stored.progress == 50
        assert await stored.get_logs() == ["halfway"]
        assert hooked == [(job.id, 50)]

    async def test_async_handler_awaits_progress_and_log_in_the_sandbox(
        self, make_queue, make_worker
    ) -> None:
        """An async def sandboxed handler awaits update_progress / log; log returns the line count."""
        q = make_queue()
        job = await q.add("n", None)
        make_worker(SandboxedHandler(h.report_async))
        assert await job.wait_until_finished(timeout=30) == 1
        stored = await q.get_job(job.id)
        assert stored is not None and stored.progress == {"step": 1}

    async def test_a_method_of_a_module_level_class_can_be_sandboxed(self, make_queue, make_worker) -> None:
        """A plain method runs on a bare instance of its class in the sandbox."""
        q = make_queue()
        job = await q.add("n", "page")
        make_worker(h.Render().render, sandbox=True)
        assert (await job.wait_until_finished(timeout=30)).startswith("rendered page in ")


class TestFailures:
    async def test_a_killed_process_fails_that_attempt_only_and_the_job_retries(
        self, make_queue, make_worker
    ) -> None:
        """kill -9 of the sandbox process running a job: that attempt fails, the retry completes."""
        q = make_queue()
        job = await q.add("n", None, attempts=2)
        pids: list[int] = []
        failures: list[BaseException] = []
        w = make_worker(h.hang_first_attempt, sandbox=True)
        w.on("progress", lambda _j, p: pids.append(p["pid"]))
        w.on("failed", lambda _j, e: failures.append(e))
        await wait_for(lambda: pids, timeout=30)
        os.kill(pids[0], signal.SIGKILL)

        assert await job.wait_until_finished(timeout=30) == "attempt 2"
        [error] = failures
        assert type(error).__name__ == "SandboxCrashedError" and "killed by signal 9" in str(error)
        done = await q.get_job(job.id)
        assert done is not None and done.attempts_made == 2
        assert "SandboxCrashedError" in done.stacktrace[0]

    async def test_a_process_that_dies_on_every_attempt_fails_the_job_and_the_worker_goes_on(
        self, make_queue, make_worker
    ) -> None:
        """A handler that kills its process each time fails the job after its attempts; others still run."""
        q = make_queue()
        doomed = await q.add("die", None, attempts=2)
        make_worker(h.die, sandbox=True)
        with pytest.raises(JobFailedError, match="SandboxCrashedError: the sandbox process"):
            await doomed.wait_until_finished(timeout=30)
        stored = await q.get_job(doomed.id)
        assert stored is not None and stored.attempts_made == 2

    async def test_ctrl_c_or_sigterm_to_the_sandbox_process_does_not_stop_its_job(
        self, make_queue, make_worker
    ) -> None:
        """SIGINT/SIGTERM sent to the whole process group (Ctrl+C, systemctl stop) leave the job running."""
        q = make_queue()
        job = await q.add("n", None, attempts=1)
        pids: list[int] = []
        w = make_worker(h.slow_ok, sandbox=True)
        w.on("progress", lambda _j, p: pids.append(p["pid"]))
        await wait_for(lambda: pids, timeout=30)
        os.kill(pids[0], signal.SIGINT)
        os.kill(pids[0], signal.SIGTERM)
        assert await job.wait_until_finished(timeout=30) == "ok"

    async def test_timeout_kills_the_sandbox_process(self, make_queue, make_worker) -> None:
        """A sandboxed job past its timeout fails with JobTimeoutError and its process is killed."""
        q = make_queue()
        job = await q.add("n", None, timeout=1)
        pids: list[int] = []
        w = make_worker(h.hang_first_attempt, sandbox=True)
        w.on("progress", lambda _j, p: pids.append(p["pid"]))
        with pytest.raises(JobFailedError, match="JobTimeoutError"):
            await job.wait_until_finished(timeout=30)
        await wait_for(lambda: not _alive(pids[0]), timeout=10)

    async def test_handler_errors_keep_their_type_name_and_unrecoverable_is_not_retried(
        self, make_queue, make_worker
    ) -> None:
        """An exception in the sandbox reads "Type: message"; UnrecoverableError there fails at once."""
        q = make_queue()
        bad = await q.add("n", "x", attempts=1)
        fatal = await q.add("n", "fatal", attempts=3)
        make_worker(h.fail, sandbox=True)
        with pytest.raises(JobFailedError, match="ValueError: bad input 'x'"):
            await bad.wait_until_finished(timeout=30)
        with pytest.raises(JobFailedError, match="UnrecoverableError: no point retrying"):
            await fatal.wait_until_finished(timeout=30)
        stored = await q.get_job(fatal.id)
        assert stored is not None and stored.attempts_made == 1
        assert "Raised in the sandbox process" in stored.stacktrace[-1]

    async def test_a_result_json_cannot_carry_fails_without_retry(self, make_queue, make_worker) -> None:
        """A sandboxed handler returning a set fails the job at once, naming the problem."""
        q = make_queue()
        job = await q.add("n", None, attempts=3)
        make_worker(h.not_json, sandbox=True)
        with pytest.raises(JobFailedError, match="InvalidJobDataError: return value"):
            await job.wait_until_finished(timeout=30)
        stored = await q.get_job(job.id)
        assert stored is not None and stored.attempts_made == 1


class TestPool:
    async def test_max_jobs_per_child_replaces_the_process(self, make_queue, make_worker) -> None:
        """With max_jobs_per_child=2, every two jobs run in a fresh process."""
        q = make_queue()
        jobs = [await q.add("n", None) for _ in range(4)]
        make_worker(h.pid, sandbox=True, max_jobs_per_child=2)
        pids = [await j.wait_until_finished(timeout=30) for j in jobs]
        assert pids[0] == pids[1] and pids[2] == pids[3] and pids[0] != pids[2]

    async def test_pool_size_follows_concurrency(self, make_queue, make_worker) -> None:
        """concurrency=2 runs two sandbox processes at once; jobs spread over both."""
        q = make_queue()
        jobs = [await q.add("n", {"ms": 200}) for _ in range(4)]
        w = make_worker(h.cpu, sandbox=True, concurrency=2)
        pids = {await j.wait_until_finished(timeout=30) for j in jobs}
        assert len(pids) == 2
        assert w._sandbox is not None and len(w._sandbox.pids) == 2

    async def test_closing_the_worker_stops_its_processes(self, make_queue, make_worker) -> None:
        """After close(), no sandbox process of the worker is left running."""
        q = make_queue()
        job = await q.add("n", None)
        w = make_worker(h.pid, sandbox=True, concurrency=2)
        await job.wait_until_finished(timeout=30)
        assert w._sandbox is not None
        pids = w._sandbox.pids
        assert len(pids) == 2
        await w.close(timeout=5)
        assert not [p for p in pids if _alive(p)]


class TestReferences:
    @pytest.mark.parametrize(
        ("handler", "match"),
        [
            (lambda job: None, "lambda or defined inside a function"),
            ("no.such.module:handler", "cannot import sandboxed handler 'no.such.module:handler'"),
            ("tests.integration.queue.sandbox_handlers:missing", "has no 'missing'"),
            (print, "is not a function"),
        ],
    )
    def test_a_handler_that_cannot_be_imported_by_name_is_refused_at_once(
        self, handler: Any, match: str
    ) -> None:
        """Lambdas, nested functions, builtins and bad references are refused when the worker is built."""
        from framework.queue import Worker

        with pytest.raises(SandboxError, match=match):
            Worker("q", handler, sandbox=True)

    async def test_a_string_reference_runs(self, make_queue, make_worker) -> None:
        """SandboxedHandler("package.module:function") runs that function."""
        q = make_queue()
        job = await q.add("n", None)
        make_worker(SandboxedHandler("tests.integration.queue.sandbox_handlers:pid"))
        assert await job.wait_until_finished(timeout=30) != os.getpid()
