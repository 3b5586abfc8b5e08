"""Sandboxed handlers for the tests: module-level, so a sandbox process imports them by name."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from framework import UnrecoverableError


def spin(ms: float) -> None:
    """Burn CPU in pure Python for `ms` milliseconds."""
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1


def pid(job: Any) -> int:
    """The process the job ran in."""
    return os.getpid()


def cpu(job: Any) -> int:
    spin(job.data["ms"])
    return os.getpid()


def report(job: Any) -> dict[str, Any]:
    """Progress and log from a plain def (called, not awaited)."""
    job.update_progress(50)
    job.log("halfway")
    return {"pid": os.getpid(), "attempt": job.attempts_made, "data": job.data}


async def report_async(job: Any) -> int:
    """Progress and log from an async def (awaited)."""
    await job.update_progress({"step": 1})
    lines = await job.log("from async")
    await asyncio.sleep(0)
    return int(lines)


def hang_first_attempt(job: Any) -> str:
    """First attempt: says its pid through progress, then hangs (to be killed); later ones succeed."""
    if job.attempts_made == 0:
        job.update_progress({"pid": os.getpid()})
        time.sleep(60)
    return f"attempt {job.attempts_made + 1}"


def die(job: Any) -> None:
    """The process kills itself (a segfault, an OOM kill) on every attempt."""
    os.kill(os.getpid(), signal.SIGKILL)


def fail(job: Any) -> None:
    if job.data == "fatal":
        raise UnrecoverableError("no point retrying")
    raise ValueError(f"bad input {job.data!r}")


def not_json(job: Any) -> Any:
    return {1, 2}


class Render:
    """A class whose plain method is a sandboxed handler (called on a bare instance)."""

    def render(self, job: Any) -> str:
        return f"rendered {job.data} in {os.getpid()}"


def slow_ok(job: Any) -> str:
    """Says its pid through progress, works a while, then succeeds."""
    job.update_progress({"pid": os.getpid()})
    time.sleep(1.0)
    return "ok"
