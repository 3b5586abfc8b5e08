"""Limits held across worker PROCESSES (not only inside one worker): global concurrency, group concurrency,
global rate limit. Each test runs two worker processes (limits_worker.py) against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from framework.queue import Queue

from .conftest import wait_for

WORKER = str(Path(__file__).with_name("limits_worker.py"))


@contextlib.asynccontextmanager
async def worker_processes(
    redis_url: str, prefix: str, n: int = 2, *, concurrency: int = 5, group_concurrency: int = 0
) -> AsyncIterator[None]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, WORKER, redis_url, prefix, "q", str(concurrency), str(group_concurrency)
        )
        for _ in range(n)
    ]
    try:
        yield
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 20)
            except TimeoutError:
                p.kill()
                await p.wait()


async def runs(q: Queue, prefix: str) -> list[tuple[float, float, str]]:
    out = []
    for raw in await q.client.lrange(f"{prefix}-runs", 0, -1):
        start, end, group = raw.decode().split()
        out.append((float(start), float(end), group))
    return out


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at once (an end at the same instant as a start closes first)."""
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1])
    )
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.fixture
async def cleanup_runs(redis, prefix):  # type: ignore[no-untyped-def]
    yield
    await redis.delete(f"{prefix}-runs")


async def test_global_concurrency_3_is_never_exceeded_by_two_processes(
    make_queue, redis_url, prefix, cleanup_runs
) -> None:
    """Two processes of concurrency 5 with set_global_concurrency(3): at most 3 jobs active (sampled) and
    at most 3 handlers running at once (from their recorded start/end times)."""
    q = make_queue()
    await q.set_global_concurrency(3)
    n = 40
    await q.add_bulk([{"name": "n", "data": {"sleep": 0.04}} for _ in range(n)])
    samples: list[int] = []
    async with worker_processes(redis_url, prefix):

        async def sampled_done() -> bool:
            samples.append(int(await q.client.zcard(q.keys.active)))
            return await q.client.llen(f"{prefix}-runs") == n

        await wait_for(sampled_done, timeout=60, interval=0.005)
    recorded = await runs(q, prefix)
    assert len(recorded) == n
    assert max(samples) <= 3
    assert peak_overlap([(s, e) for s, e, _ in recorded]) <= 3
    assert peak_overlap([(s, e) for s, e, _ in recorded]) >= 2  # the limit, not a lack of workers, held it


async def test_group_concurrency_1_is_never_exceeded_per_group_by_two_processes(
    make_queue, redis_url, prefix, cleanup_runs
) -> None:
    """Two processes with group_concurrency=1: never two jobs of one group at once, while groups run in
    parallel."""
    q = make_queue()
    groups, per_group = 4, 6
    await q.add_bulk(
        [
            {"name": "n", "data": {"sleep": 0.03}, "opts": {"group_id": f"g{g}"}}
            for _ in range(per_group)
            for g in range(groups)
        ]
    )
    async with worker_processes(redis_url, prefix, group_concurrency=1):
        await wait_for(lambda: _llen_is(q, f"{prefix}-runs", groups * per_group), timeout=60, interval=0.02)
    recorded = await runs(q, prefix)
    for g in range(groups):
        mine = [(s, e) for s, e, group in recorded if group == f"g{g}"]
        assert len(mine) == per_group
        assert peak_overlap(mine) == 1, f"group g{g} ran two jobs at once"
    assert peak_overlap([(s, e) for s, e, _ in recorded]) >= 2


@pytest.mark.single_node(
    reason="open defect on a cluster: 11 starts were seen within ~600-750 ms (two runs); not yet explained"
)
async def test_global_rate_limit_10_per_second_is_held_by_two_processes(
    make_queue, redis_url, prefix, cleanup_runs
) -> None:
    """set_global_rate_limit(10, 1 s) with two processes of concurrency 5: any 11 consecutive starts span
    about a second or more (no more than 10 jobs start within one window)."""
    q = make_queue()
    await q.set_global_rate_limit(10, 1)
    n = 30
    await q.add_bulk([{"name": "n", "data": {"sleep": 0.001}} for _ in range(n)])
    async with worker_processes(redis_url, prefix):
        await wait_for(lambda: _llen_is(q, f"{prefix}-runs", n), timeout=60, interval=0.02)
    starts = sorted(s for s, _, _ in await runs(q, prefix))
    spans = [starts[i + 10] - starts[i] for i in range(len(starts) - 10)]
    assert min(spans) >= 900, spans  # ms; the window is 1000 ms, starts are read in two processes


async def _llen_is(q: Queue, key: str, n: int) -> bool:
    return bool(await q.client.llen(key) == n)
