"""An idle worker waits on the marker with moveToActive queued behind it (framework/queue/idle_fetch.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.exceptions import NoPermissionError

from framework.queue import Job, Queue, Worker
from framework.testing import capture_logs
from tests.integration.queue.conftest import wait_for
from tests.support.clients import raw_client


async def _worker_connection(q: Queue, worker: Worker, *, blocked: bool) -> int | None:
    """The server-side id of the worker's fetch connection: blocked in BZPOPMIN now, or idle after a fetch."""
    for client in await q.client.client_list():
        if client.get("name") != f"nestq-worker:{worker.id}":
            continue  # not this worker's blocking client (its cancel listener shares the name: ssubscribe)
        if blocked and "b" in client.get("flags", "") and client.get("cmd") == "bzpopmin":
            return int(client["id"])
        if not blocked and "b" not in client.get("flags", "") and client.get("cmd") == "evalsha":
            return int(client["id"])
    return None


async def _blocked(q: Queue, worker: Worker) -> bool:
    return await _worker_connection(q, worker, blocked=True) is not None


async def test_a_job_added_to_an_idle_worker_runs_with_the_clock_of_when_it_was_taken(
    make_queue: Any, make_worker: Any
) -> None:
    q = make_queue()
    seen: list[Job[Any]] = []
    started = asyncio.Event()

    async def handler(job: Job[Any]) -> None:
        seen.append(job)
        started.set()

    w = make_worker(handler, drain_delay=30)
    await wait_for(lambda: _blocked(q, w))
    # Let the worker sit blocked a while: moveToActive was sent when it blocked, but must read the clock
    # when it runs.
    await asyncio.sleep(0.3)
    added_at = int(time.time() * 1000)
    await q.add("x", {"n": 1})
    await asyncio.wait_for(started.wait(), 5)

    job = await q.get_job(seen[0].id)
    assert job is not None and job.processed_on is not None
    # Not the time it blocked (300 ms earlier); the server's clock, shifted to ours, is good to a few ms.
    assert job.processed_on >= added_at - 20
    assert job.processed_on >= job.timestamp - 20


async def test_close_while_blocked_hands_back_what_the_queued_fetch_took(
    make_queue: Any, make_worker: Any
) -> None:
    q = make_queue()
    ran: list[str] = []

    async def handler(job: Job[Any]) -> None:
        ran.append(job.id)

    w = make_worker(handler, drain_delay=30)
    await wait_for(lambda: _blocked(q, w))
    # A ready job that no marker announces (as if its marker were lost): the blocked worker does not wake
    # for it, but the moveToActive queued behind its BZPOPMIN takes it once close() ends the wait.
    job = await q.add("x", {"n": 1}, delay=3600)
    await wait_for(lambda: _no_marker(q))  # the worker woke for the delayed job, and waits again
    await q.client.zrem(q.keys.delayed, job.id)
    await q.client.lpush(q.keys.wait, job.id)
    await wait_for(lambda: _blocked(q, w))

    t0 = time.monotonic()
    with capture_logs() as logs:
        await w.close(timeout=5)
    assert time.monotonic() - t0 < 2  # not the 30 s drain_delay: the wait was ended, not sat out

    assert ran == []
    [handed] = [e for e in logs if e["event"] == "handed unfinished jobs back to waiting"]
    assert handed["jobs"] == [job.id]
    assert await q.get_job_state(job.id) == "waiting"
    assert await q.client.exists(f"{q.keys.base}{job.id}:lock") == 0
    assert await q.get_job_counts("active") == {"active": 0}


async def _no_marker(q: Queue) -> bool:
    return await q.client.zcard(q.keys.marker) == 0


async def test_a_connection_killed_while_idle_is_replaced_without_an_outage(
    make_queue: Any, make_worker: Any
) -> None:
    q = make_queue()
    errors: list[BaseException] = []
    release = asyncio.Event()
    done: list[str] = []

    async def handler(job: Job[Any]) -> None:
        if job.data["n"] == 1:
            await release.wait()
        done.append(job.id)

    w = make_worker(handler, concurrency=1, drain_delay=30)
    w.on("error", errors.append)
    await wait_for(lambda: _blocked(q, w))
    await q.add("x", {"n": 1})
    # Job 1 runs in the only slot, so the worker does not block again: its fetch connection sits idle.
    await wait_for(lambda: _worker_connection(q, w, blocked=False))
    idle = await _worker_connection(q, w, blocked=False)
    await q.client.execute_command("CLIENT", "KILL", "ID", idle)
    release.set()
    await wait_for(lambda: len(done) == 1)
    await wait_for(lambda: _blocked(q, w))  # on a new connection
    assert await _worker_connection(q, w, blocked=True) != idle
    second = await q.add("x", {"n": 2})
    await wait_for(lambda: second.id in done)
    assert errors == []


@pytest.mark.single_node(reason="ACL SETUSER reaches one node, and the URL is built as redis://")
async def test_close_while_blocked_without_client_unblock_rights_still_ends_the_wait(
    redis_url: str, prefix: str, redis: Any
) -> None:
    """A server whose ACL forbids CLIENT UNBLOCK: close() drops the blocked connection instead."""
    user, password = f"{prefix}-user", "pw-not-logged"
    await redis.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-client|unblock"
    )
    try:
        scheme, host_port = redis_url.split("://", 1)
        url = f"{scheme}://{user}:{password}@{host_port}"
        as_user = raw_client(url)
        with pytest.raises(NoPermissionError):
            await as_user.execute_command("CLIENT", "UNBLOCK", "1")
        await as_user.aclose()
        w = Worker("q", lambda job: None, connection=url, prefix=prefix, drain_delay=30)
        task = asyncio.create_task(w.run())
        q = Queue("q", connection=redis_url, prefix=prefix)
        try:
            await wait_for(lambda: _blocked(q, w))
            t0 = time.monotonic()
            await w.close(timeout=5)
            await asyncio.wait_for(task, 5)
            assert time.monotonic() - t0 < 2
            assert not await _blocked(q, w)
        finally:
            await q.close()
    finally:
        await redis.execute_command("ACL", "DELUSER", user)
