"""Flows under kill -9: child workers killed over and over while 1,000 children of 40 parents finish.

On one server a child's completion and its parent's update are one script (moveToFinished with the
flowParent include), so no kill can fall between them; this test checks what that buys end to end: every
parent runs exactly once, after all of its children, and sees each child's value exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework import FlowJob, FlowProducer, JobState

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
PARENTS, CHILDREN = 40, 25


class Proc:
    def __init__(self, tmp: Path, env: dict[str, str], queue: str, role: str) -> None:
        self._log = (tmp / f"{queue}-{time.monotonic_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "flow_worker.py"), "--queue", queue, "--role", role,
             "--runs-file", str(tmp / "runs.txt")],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._log.close()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


async def test_kill_9_child_workers_loses_and_double_counts_nothing(
    redis_url: str, prefix: str, tmp_path: Path, procs: list[Proc]
) -> None:
    """Kill -9 the child workers 8 times while they finish 1,000 children: every parent completes once,
    with exactly its 25 children's values."""
    env = dict(os.environ, NESTQ_REDIS_URL=redis_url, NESTQ_PREFIX=prefix, NESTQ_LOG_FORMAT="json")
    async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
        nodes = await flow.add_bulk(
            [FlowJob("sum", "crash-parents", p, children=[FlowJob("n", "crash-kids", {"n": p * 100 + c})
                                                           for c in range(CHILDREN)]) for p in range(PARENTS)]
        )  # fmt: skip
        parents = flow.queue("crash-parents")

        def spawn_kids() -> Proc:
            proc = Proc(tmp_path, env, "crash-kids", "child")
            procs.append(proc)
            return proc

        procs.append(Proc(tmp_path, env, "crash-parents", "parent"))
        kids = [spawn_kids(), spawn_kids()]
        rng = random.Random(18)
        runs_file = tmp_path / "runs.txt"

        def started() -> int:
            return len(runs_file.read_text().splitlines()) if runs_file.exists() else 0

        for _ in range(8):
            # Kill only once the workers are busy: 40 more children started since the last kill.
            mark, limit = started(), time.monotonic() + 30
            while started() < mark + 40:
                assert time.monotonic() < limit, "the child workers made no progress"
                await asyncio.sleep(0.02)
            victim = kids.pop(rng.randrange(len(kids)))
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            kids.append(spawn_kids())

        deadline = time.monotonic() + 90
        while (await parents.get_job_counts("completed"))["completed"] < PARENTS:
            assert time.monotonic() < deadline, await parents.get_job_counts()
            await asyncio.sleep(0.2)

        for node in nodes:
            job = await parents.get_job(node.job.id)
            assert job is not None and await job.get_state() == JobState.COMPLETED
            p = job.data
            expected = sum(p * 100 + c for c in range(CHILDREN))
            assert job.return_value == {"count": CHILDREN, "sum": expected}, job.id
            deps = await job.get_dependencies()
            assert deps.unprocessed == [] and len(deps.processed) == CHILDREN

    starts = collections.Counter(
        line.split(" ", 1)[1] for line in (tmp_path / "runs.txt").read_text().splitlines()
    )
    parent_runs = {k: n for k, n in starts.items() if k.startswith("crash-parents:")}
    assert len(parent_runs) == PARENTS and set(parent_runs.values()) == {1}, "a parent ran twice or never"
    kid_runs = [n for k, n in starts.items() if k.startswith("crash-kids:")]
    assert len(kid_runs) == PARENTS * CHILDREN
    print(f"\nflow kill -9: {sum(n > 1 for n in kid_runs)} children ran twice (killed mid-run); none lost")
