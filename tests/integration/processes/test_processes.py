"""`nestq worker/run --processes N` as real processes: every child takes jobs, a child killed with SIGKILL is
restarted and its jobs come back through the stall check, SIGTERM drains all and exits 0, `/metrics` of
`nestq run --processes 2` counts every job once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from framework.queue import Queue
from tests.integration.queue.conftest import wait_for

APP = textwrap.dedent(
    """
    import asyncio, os

    from framework.di import Module, QueueModule, process, processor


    @processor("procs", concurrency=2, lock_duration=2, stalled_interval=1)
    class Work:
        @process()
        async def run(self, job):
            await asyncio.sleep(job.data.get("sleep", 0.01))
            return os.getpid()


    class AppModule(Module):
        imports = [QueueModule.for_root(), QueueModule.register_queue("procs")]
        processors = [Work]
    """
)


@pytest.fixture
async def supervisor(tmp_path: Path, redis_url: str, prefix: str) -> AsyncIterator[Callable[..., Any]]:
    """`await supervisor(*nestq_args)`: `nestq ... procs_app:AppModule ...` in tmp_path; killed at teardown
    (its children get SIGTERM when it dies, PR_SET_PDEATHSIG)."""
    (tmp_path / "procs_app.py").write_text(APP)
    env = {**os.environ, "NESTQ_REDIS_URL": redis_url, "NESTQ_PREFIX": prefix, "NESTQ_LOG_FORMAT": "json"}
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "framework", *args, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _pids(queue: Queue) -> set[int]:
    return {w.pid for w in await queue.get_workers()}


async def _results(queue: Queue) -> list[Any]:
    return [j.return_value for j in await queue.get_jobs(["completed"], 0, -1)]


async def _stop(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    assert proc.stderr is not None
    err = await asyncio.wait_for(proc.stderr.read(), timeout)
    code = await asyncio.wait_for(proc.wait(), timeout)
    return code, err.decode(errors="replace")


async def test_every_child_takes_jobs_and_sigterm_drains_all(supervisor, redis_url: str, prefix: str) -> None:
    async with Queue("procs", connection=redis_url, prefix=prefix) as queue:
        proc = await supervisor(
            "worker", "procs_app:AppModule", "--processes", "3", "--shutdown-timeout", "20"
        )
        await wait_for(lambda: _pids(queue), 60, interval=0.1)
        await wait_for(lambda: asyncio.ensure_future(_count_is(queue, 3)), 60, interval=0.1)
        children = await _pids(queue)
        assert proc.pid not in children
        await queue.add_bulk([{"name": "w", "data": {"sleep": 0.2}} for _ in range(30)])
        await wait_for(lambda: _done(queue, 30), 120, interval=0.1)
        assert set(await _results(queue)) == children  # each of the 3 children ran jobs

        # SIGTERM while jobs run: the supervisor drains every child and exits 0; no job is lost.
        await queue.add_bulk([{"name": "w", "data": {"sleep": 0.5}} for _ in range(20)])
        await wait_for(lambda: _active_at_least(queue, 3), 60, interval=0.05)
        code, err = await _stop(proc)
        assert code == 0, err[-3000:]
        counts = await queue.get_job_counts("active", "failed", "completed", "waiting")
        assert counts["active"] == 0 and counts["failed"] == 0
        assert counts["completed"] + counts["waiting"] == 50
        assert "stopping worker processes" in err and "supervisor stopped" in err


async def _count_is(queue: Queue, n: int) -> bool:
    return len(await _pids(queue)) == n


async def _done(queue: Queue, n: int) -> bool:
    return (await queue.get_job_counts("completed"))["completed"] >= n


async def _active_at_least(queue: Queue, n: int) -> bool:
    return (await queue.get_job_counts("active"))["active"] >= n


async def test_a_killed_child_is_restarted_and_its_jobs_recovered(
    supervisor, redis_url: str, prefix: str
) -> None:
    async with Queue("procs", connection=redis_url, prefix=prefix) as queue:
        proc = await supervisor(
            "worker", "procs_app:AppModule", "--processes", "2", "--shutdown-timeout", "10"
        )
        await wait_for(lambda: asyncio.ensure_future(_count_is(queue, 2)), 60, interval=0.1)
        first = await _pids(queue)
        await queue.add_bulk([{"name": "w", "data": {"sleep": 1.0}} for _ in range(12)])
        # A child with jobs in hand dies without a word.
        victim: int | None = None

        async def someone_busy() -> bool:
            nonlocal victim
            busy = [j.worker for j in await queue.get_jobs(["active"], 0, -1) if j.worker]
            pids = [int(w.split(":")[1]) for w in busy]
            victim = next((p for p in pids if p in first), None)
            return victim is not None

        await wait_for(someone_busy, 60, interval=0.05)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        # Restarted: a new child pid shows up beside the survivor.
        await wait_for(lambda: asyncio.ensure_future(_new_pid(queue, first)), 60, interval=0.1)
        # Its jobs came back through the stall check and were done by someone.
        await wait_for(lambda: _done(queue, 12), 120, interval=0.1)
        assert (await queue.get_job_counts("failed"))["failed"] == 0
        code, err = await _stop(proc)
        assert code == 0, err[-3000:]
        assert "killed by SIGKILL" in err and "restarting it" in err


async def _new_pid(queue: Queue, old: set[int]) -> bool:
    return bool(await _pids(queue) - old)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_processes_metrics_count_each_job_once(supervisor, redis_url: str, prefix: str) -> None:
    """`nestq run --processes 2`: the first child serves the dashboard and /metrics for both; after a drain
    across both, the parsed totals equal the jobs finished (none counted twice or lost)."""
    port = _free_port()
    async with Queue("procs", connection=redis_url, prefix=prefix) as queue:
        proc = await supervisor("run", "procs_app:AppModule", "--processes", "2", "--port", str(port))
        await wait_for(lambda: asyncio.ensure_future(_count_is(queue, 2)), 60, interval=0.1)
        await queue.add_bulk([{"name": "w", "data": {"sleep": 0.05}} for _ in range(40)])
        await wait_for(lambda: _done(queue, 40), 120, interval=0.1)
        assert len(set(await _results(queue))) == 2  # both processes finished jobs

        async def scrape() -> str | None:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"http://127.0.0.1:{port}/metrics")
                    return response.text if response.status_code == 200 else None
            return None

        text: str | None = None

        async def scraped() -> bool:
            nonlocal text
            text = await scrape()
            return text is not None

        await wait_for(scraped, 60, interval=0.2)
        assert text is not None
        got = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert got[("nestq_jobs_total", (("name", "w"), ("queue", "procs"), ("state", "completed")))] == 40
        assert got[("nestq_job_duration_seconds_count", (("name", "w"), ("queue", "procs")))] == 40
        assert got[("nestq_workers", (("queue", "procs"),))] == 2
        code, err = await _stop(proc)
        assert code == 0, err[-3000:]


async def test_a_usage_error_in_the_children_stops_the_supervisor(supervisor) -> None:
    proc = await supervisor("worker", "procs_app:Missing", "--processes", "2")
    code = await asyncio.wait_for(proc.wait(), 60)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert code == 2
    assert "has no attribute 'Missing'" in err
