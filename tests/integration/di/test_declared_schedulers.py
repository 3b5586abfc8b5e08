"""Schedulers declared in code follow the code: one deleted from the code is removed at the next start,
while schedulers created at run time are left alone. Run as a user would: `nestq worker` restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from framework.queue import Queue, Repeat

APP_V1 = textwrap.dedent(
    """
    from framework import Module, QueueModule, cron, every, processor


    @processor("ticks")
    class Ticks:
        @every(3600, id="tick")
        async def tick(self, job):
            return "tick"

        @cron("0 3 * * *", id="nightly")
        async def nightly(self, job):
            return "nightly"


    class AppModule(Module):
        imports = [QueueModule.for_root(), QueueModule.register_queue("ticks")]
        processors = [Ticks]
    """
)

# Version 2: `tick` deleted from the code, `nightly` kept.
APP_V2 = textwrap.dedent(
    """
    from framework import Module, QueueModule, cron, processor


    @processor("ticks")
    class Ticks:
        @cron("0 3 * * *", id="nightly")
        async def nightly(self, job):
            return "nightly"


    class AppModule(Module):
        imports = [QueueModule.for_root(), QueueModule.register_queue("ticks")]
        processors = [Ticks]
    """
)


async def _start_and_stop(folder: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Start `nestq worker`, wait until the application has started, SIGTERM it; its JSON log lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework",
        "worker",
        "ticks_app:AppModule",
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while not any(line.get("event") == "application started" for line in lines):
                raw = await proc.stderr.readline()
                assert raw, f"the worker exited early: {lines}"
                if raw.startswith(b"{"):
                    lines.append(json.loads(raw))
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, rest.decode()
    lines += [json.loads(x) for x in rest.decode().splitlines() if x.startswith("{")]
    return lines


def _removals(lines: list[dict[str, Any]]) -> list[str]:
    return [
        x["scheduler"] for x in lines if x.get("event") == "job scheduler removed: no longer declared in code"
    ]


@pytest.fixture
async def ticks(redis_url: str, prefix: str) -> Any:
    async with Queue("ticks", connection=redis_url, prefix=prefix) as queue:
        yield queue
        await queue.obliterate(force=True)


async def test_a_scheduler_deleted_from_the_code_is_removed_at_the_next_start(
    tmp_path: Path, redis_url: str, prefix: str, ticks: Queue
) -> None:
    """Across restarts: v1 declares tick and nightly; v2 drops tick, which is removed (one log line), its
    pending job too; nightly and a scheduler created at run time stay; a further restart removes nothing."""
    env = {**os.environ, "NESTQ_REDIS_URL": redis_url, "NESTQ_PREFIX": prefix, "NESTQ_LOG_FORMAT": "json"}
    app_file = tmp_path / "ticks_app.py"
    app_file.write_text(APP_V1)
    first = await _start_and_stop(tmp_path, env)
    assert _removals(first) == []
    assert {s.id for s in await ticks.get_job_schedulers()} == {"tick", "nightly"}
    tick = await ticks.get_job_scheduler("tick")
    assert tick is not None and tick.next_run_ms is not None
    tick_job = f"repeat:tick:{tick.next_run_ms}"
    assert await ticks.get_job(tick_job) is not None
    await ticks.upsert_job_scheduler("made-at-run-time", Repeat(every=600), name="tick")

    app_file.write_text(APP_V2)
    second = await _start_and_stop(tmp_path, env)
    assert _removals(second) == ["tick"]
    assert {s.id for s in await ticks.get_job_schedulers()} == {"nightly", "made-at-run-time"}
    assert await ticks.get_job(tick_job) is None, "the removed scheduler's pending job is gone too"

    third = await _start_and_stop(tmp_path, env)
    assert _removals(third) == []
    assert {s.id for s in await ticks.get_job_schedulers()} == {"nightly", "made-at-run-time"}


async def test_removing_every_declared_scheduler_of_a_processor(
    tmp_path: Path, redis_url: str, prefix: str, ticks: Queue
) -> None:
    """A processor that no longer declares any scheduler still has its old ones removed."""
    env = {**os.environ, "NESTQ_REDIS_URL": redis_url, "NESTQ_PREFIX": prefix, "NESTQ_LOG_FORMAT": "json"}
    app_file = tmp_path / "ticks_app.py"
    app_file.write_text(APP_V1)
    await _start_and_stop(tmp_path, env)
    app_file.write_text(
        APP_V1.replace('@every(3600, id="tick")', '@process("tick")')
        .replace('@cron("0 3 * * *", id="nightly")', '@process("nightly")')
        .replace("cron, every, processor", "process, processor")
    )
    lines = await _start_and_stop(tmp_path, env)
    assert sorted(_removals(lines)) == ["nightly", "tick"]
    assert await ticks.get_job_schedulers() == []
