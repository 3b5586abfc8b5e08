"""`nestq workers` and `nestq metrics QUEUE`, as a user runs them (in process, on the test's server)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import framework.logging
from framework.cli import main
from framework.queue import Queue, Worker
from framework.settings import get_settings

WORKER = """
import asyncio, signal, sys
from framework.queue import Worker

async def main():
    w = Worker("email", lambda job: None, connection=sys.argv[1], prefix=sys.argv[2], concurrency=5)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(w.close()))
    await w.run()

asyncio.run(main())
"""


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str) -> Iterator[None]:
    """Settings point at the test server and prefix; logging is put back after `main()` configured it."""
    monkeypatch.setenv("NESTQ_REDIS_URL", redis_url)
    monkeypatch.setenv("NESTQ_PREFIX", prefix)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    installed = framework.logging._handler
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    framework.logging._handler = installed
    structlog.reset_defaults()
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


def drain(redis_url: str, prefix: str, ok: int, bad: int) -> None:
    async def go() -> None:
        q = Queue("email", connection=redis_url, prefix=prefix)
        await q.add_bulk([{"name": "send", "data": i} for i in range(ok)])
        await q.add_bulk([{"name": "boom", "data": i} for i in range(bad)])

        def handler(job: Any) -> None:
            if job.name == "boom":
                raise ValueError("boom")

        await Worker("email", handler, connection=redis_url, prefix=prefix).run_until_drained()
        await q.close()

    asyncio.run(go())


def test_metrics_shows_per_minute_counts_and_percentiles(redis_url, prefix, capsys) -> None:
    """`nestq metrics QUEUE --json` counts the jobs just finished; the table shows sparklines."""
    drain(redis_url, prefix, ok=12, bad=3)
    capsys.readouterr()  # the worker's logs
    _, out = run(capsys, "metrics", "email", "--minutes", "5", "--json")
    report = json.loads(out)
    assert report["minutes"] == 5 and len(report["completed"]) == 5
    assert report["completed"][-1] == 12 and report["completed_in_window"] == 12
    assert report["failed_in_window"] == 3 and report["failed_total"] == 3
    assert report["by_name"]["send"]["completed"] == 12 and report["by_name"]["boom"]["failed"] == 3
    assert report["run_time"]["count"] == 15 and report["run_time"]["p50"] is not None
    _, out = run(capsys, "metrics", "email", "--minutes", "5")
    assert "completed" in out and "█" in out and "p95" in out


def test_workers_lists_a_running_worker_process(redis_url, prefix, capsys) -> None:
    """`nestq workers --json` lists a worker running in another process, with its pid and concurrency."""
    child = subprocess.Popen([sys.executable, "-c", WORKER, redis_url, prefix])
    try:
        deadline = time.monotonic() + 30
        workers: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            _, out = run(capsys, "workers", "--json")
            workers = json.loads(out)
            if workers:
                break
            time.sleep(0.1)
        assert [(w["queue"], w["pid"], w["concurrency"]) for w in workers] == [("email", child.pid, 5)]
        _, out = run(capsys, "workers")
        assert str(child.pid) in out and "0/5" in out
    finally:
        child.terminate()
        child.wait(10)
    _, out = run(capsys, "workers", "--json")
    assert json.loads(out) == []  # SIGTERM: a graceful close removes the worker at once
