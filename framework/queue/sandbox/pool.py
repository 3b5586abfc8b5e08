"""SandboxPool: the worker processes of one worker's sandboxed handlers, as many as its concurrency.

A job takes an idle process (or starts one), sends it the job and serves its progress/log requests until it
answers. The worker's timeout, a cancel request or a forced shutdown cancel that wait: the process is then
killed (SIGKILL), so a runaway handler really stops. A process that dies mid-job fails that attempt only
(`SandboxCrashedError`, retried per the job's attempts); the next job gets a fresh process. A process that
ran `max_jobs_per_child` jobs is retired and replaced (memory leaks in native code stay bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any

import structlog

from framework.errors import JobNotFoundError
from framework.queue import serialization
from framework.queue.job import Job
from framework.queue.sandbox import protocol
from framework.queue.sandbox.errors import SandboxCrashedError, SandboxError, remote_error
from framework.queue.sandbox.reference import HandlerReference

log = structlog.get_logger("nestq.sandbox")

_CHILD_MODULE = "framework.queue.sandbox.child"
_RETIRE_GRACE = 5.0  # seconds a retired process gets to exit on its own before it is killed


class _Child:
    __slots__ = ("jobs", "process")

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.jobs = 0

    @property
    def pid(self) -> int:
        return self.process.pid


class SandboxPool:
    """Runs sandboxed handlers in child processes.

    Args:
        size: processes kept alive between jobs (the worker keeps it equal to its concurrency).
        max_jobs_per_child: jobs a process runs before it is replaced (None: no limit).
    """

    def __init__(self, *, size: int = 1, max_jobs_per_child: int | None = None) -> None:
        if max_jobs_per_child is not None and max_jobs_per_child < 1:
            raise ValueError(f"max_jobs_per_child must be >= 1 or None, got {max_jobs_per_child!r}")
        self.size = size
        self.max_jobs_per_child = max_jobs_per_child
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self.preload: list[HandlerReference] = []  # imported by each process before it takes a job

    @property
    def pids(self) -> list[int]:
        """Process ids of the live children (idle and busy)."""
        return [c.pid for c in [*self._idle, *self._busy]]

    async def start(self, size: int | None = None) -> None:
        """Start processes up to `size` ahead of the first jobs, and wait until they have imported the
        handlers (their start-up is not paid by a job)."""
        if size is not None:
            self.size = size
        missing = self.size - len(self._idle) - len(self._busy)
        if missing > 0:
            self._idle += await asyncio.gather(*(self._spawn() for _ in range(missing)))

    def resize(self, size: int) -> None:
        """Keep `size` processes between jobs (extra idle ones are retired now, new ones start on demand)."""
        self.size = size
        while len(self._idle) + len(self._busy) > size and self._idle:
            self._retire(self._idle.pop())

    async def run(self, reference: HandlerReference, job: Job[Any], data: Any) -> Any:
        """Run the handler `reference` on `job` (with `data`, JSON) in a child process; its result.

        Raises:
            SandboxCrashedError: the process died during the job.
            Exception: a stand-in of the handler's exception (same class name and message).
        """
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")
        child = self._idle.pop() if self._idle else await self._spawn()
        self._busy.add(child)
        fields = {name: getattr(job, name) for name in protocol.JOB_FIELDS}
        fields["data"] = data
        fields["opts"] = job.raw_opts
        message = {"t": "run", "ref": reference.ref, "main": reference.main, "job": fields}
        healthy = False
        try:
            result = await self._exchange(child, job, message)
            healthy = True
            return result
        except asyncio.CancelledError:
            # Timeout, cancel request or forced shutdown: the handler must stop now, not when it returns.
            log.info("killing the sandbox process of a stopped job", job_id=job.id, pid=child.pid)
            raise
        finally:
            self._busy.discard(child)
            child.jobs += 1
            if not healthy:
                self._kill(child)
            elif self._closed or (self.max_jobs_per_child and child.jobs >= self.max_jobs_per_child):
                self._retire(child)
            elif len(self._idle) + len(self._busy) < self.size:
                self._idle.append(child)
            else:
                self._retire(child)

    async def _exchange(self, child: _Child, job: Job[Any], message: dict[str, Any]) -> Any:
        stdin, stdout = child.process.stdin, child.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(protocol.encode(message))
            await stdin.drain()
        except (ConnectionError, BrokenPipeError):
            raise await self._crashed(child, job) from None
        while True:
            line = await stdout.readline()
            if not line:
                raise await self._crashed(child, job)
            reply = protocol.decode(line)
            kind = reply.get("t")
            if kind == "done":
                return serialization.loads(reply["v"])
            if kind == "error":
                raise remote_error(reply.get("error") or {})
            answer: dict[str, Any] = {"t": "ack"}
            try:
                if kind == "progress":
                    await job.update_progress(reply.get("v"))
                elif kind == "log":
                    answer["v"] = await job.log(str(reply.get("v")))
            except (JobNotFoundError, ValueError, TypeError) as exc:
                answer["error"] = {"type": type(exc).__name__, "message": str(exc)}
            try:
                stdin.write(protocol.encode(answer))
                await stdin.drain()
            except (ConnectionError, BrokenPipeError):
                raise await self._crashed(child, job) from None

    async def _crashed(self, child: _Child, job: Job[Any]) -> SandboxCrashedError:
        try:
            async with asyncio.timeout(5):
                code = await child.process.wait()
        except TimeoutError:
            code = None
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        log.warning("sandbox process died during a job", job_id=job.id, pid=child.pid, exit=code)
        return SandboxCrashedError(
            f"the sandbox process (pid {child.pid}) running job {job.id} died ({how}); this attempt "
            "failed and the job is retried if it has attempts left"
        )

    async def _spawn(self) -> _Child:
        env = dict(os.environ)
        # The child imports handlers by module path: give it this process's import path.
        paths = [p or os.getcwd() for p in sys.path]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        preload = protocol.encode({"preload": [[r.ref, r.main] for r in self.preload]}).decode().strip()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            _CHILD_MODULE,
            preload,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=protocol.MAX_LINE,
        )
        child = _Child(process)
        assert process.stdout is not None
        try:
            ready = await process.stdout.readline()  # after its imports (see child.py)
        except BaseException:
            self._kill(child)
            raise
        if not ready:
            code = await process.wait()
            raise SandboxError(
                f"a sandbox process exited at start (exit code {code}); its error output is above"
            )
        return child

    def _kill(self, child: _Child) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.process.kill()
        self._track(self._reap(child, 0))

    def _retire(self, child: _Child) -> None:
        if child.process.stdin is not None:
            child.process.stdin.close()  # the child ends its loop on EOF
        self._track(self._reap(child, _RETIRE_GRACE))

    async def _reap(self, child: _Child, grace: float) -> None:
        try:
            async with asyncio.timeout(grace or None):
                await child.process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.process.wait()

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Retire the idle processes, kill any still busy, and wait for all of them to exit."""
        self._closed = True
        while self._idle:
            self._retire(self._idle.pop())
        for child in list(self._busy):
            self._kill(child)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
