"""`nestq worker` / `python -m framework run` as real processes: they serve jobs and exit 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from framework.queue import Queue

APP = textwrap.dedent(
    """
    from framework.di import Module, QueueModule, process, processor


    @processor("cli")
    class EchoProcessor:
        @process("echo")
        async def echo(self, job):
            return {"echo": job.data}


    class AppModule(Module):
        imports = [QueueModule.for_root(), QueueModule.register_queue("cli", "other")]
        processors = [EchoProcessor]
    """
)


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        raise
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "framework", "worker", "cli_app:AppModule", "--queue", "cli", "--concurrency", "2"],
        ["-m", "framework", "run", "cli_app:AppModule", "--shutdown-timeout", "5"],
    ],
    ids=["worker", "run"],
)
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_process_serves_jobs_and_exits_0_on_sigterm(
    command: list[str], loop: str, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    """The process resolves `module:Attr` from its folder, processes jobs, and shuts down cleanly, on
    either event loop (NESTQ_LOOP)."""
    (tmp_path / "cli_app.py").write_text(APP)
    env = {
        **os.environ,
        "NESTQ_REDIS_URL": redis_url,
        "NESTQ_PREFIX": prefix,
        "NESTQ_LOG_FORMAT": "json",
        "NESTQ_LOOP": loop,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with Queue("cli", connection=redis_url, prefix=prefix) as queue:
            job = await queue.add("echo", {"n": 1})
            assert await job.wait_until_finished(timeout=20) == {"echo": {"n": 1}}
            await queue.obliterate(force=True)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    code, stderr = await _stop(proc)
    assert code == 0, stderr
    assert "application closed" in stderr
    [started] = [json.loads(line) for line in stderr.splitlines() if '"application started"' in line]
    assert started["loop"] == loop


async def test_worker_for_a_queue_without_processor_fails_clearly(tmp_path: Path, redis_url: str) -> None:
    """`--queue other` (registered, but no processor) exits 1 with the configuration error."""
    (tmp_path / "cli_app.py").write_text(APP)
    env = {**os.environ, "NESTQ_REDIS_URL": redis_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework",
        "worker",
        "cli_app:AppModule",
        "--queue",
        "other",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert "no @processor for queue 'other'" in stderr.decode()
