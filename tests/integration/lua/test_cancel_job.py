"""cancelJob: fail a job that is not running at once; flag a running one and tell its worker."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.lua._support import T0, LuaQueue

NOW = T0 + 700


async def _in_state(q: LuaQueue, state: str) -> str:
    if state == "waiting":
        return (await q.add(job_id="x"))[0]
    if state == "paused":
        await q.pause()
        return (await q.add(job_id="x"))[0]
    if state == "prioritized":
        return (await q.add(job_id="x", priority=2))[0]
    return (await q.add(job_id="x", delay=1000))[0]


@pytest.mark.parametrize("state", ["waiting", "paused", "prioritized", "delayed"])
async def test_job_not_running_fails_at_once_as_cancelled(q: LuaQueue, state: str) -> None:
    job_id = await _in_state(q, state)
    await q.add(job_id="bystander")
    await q.clear_events()

    assert await q.cancel(job_id, now=NOW) == 1

    assert await q.zset(q.k.failed) == [(job_id, NOW)]
    assert await q.wait_list() == ["bystander"]
    assert not await q.r.exists(q.k.prioritized)
    assert not await q.r.exists(q.k.delayed)
    h = await q.job(job_id)
    assert (h["failedReason"], h["finishedOn"], h["attemptsMade"]) == ("cancelled", str(NOW), "0")
    assert await q.events() == [
        {"event": "failed", "jobId": job_id, "failedReason": "cancelled", "attemptsMade": "0"},
    ]
    assert await q.get_state(job_id) == "failed"


async def test_keep_count_zero_removes_the_cancelled_job(q: LuaQueue) -> None:
    await q.add(job_id="x")
    await q.add_log("x", "line")

    assert await q.cancel("x", keep_count=0) == 1

    assert await q.key_names() == {"events", "marker"}
    assert await q.event_names() == ["added", "waiting", "failed"]


async def test_failed_retention_is_applied(q: LuaQueue) -> None:
    await q.finished_job("failed", now=T0 - 5, job_id="old")
    await q.add(job_id="x")

    assert await q.cancel("x", now=NOW, keep_count=1) == 1

    assert await q.members(q.k.failed) == ["x"]
    assert not await q.r.exists(q.k.job("old"))


@pytest.mark.single_node(
    reason="listens with the raw test client's pubsub; a worker's own sharded subscription on a cluster is "
    "covered by tests/integration/cluster"
)
async def test_active_job_is_flagged_and_its_worker_told(q: LuaQueue) -> None:
    job = await q.active_job()
    pubsub = q.r.pubsub()
    await pubsub.execute_command("SSUBSCRIBE", q.k.cancelled)
    try:
        assert await _next_message(pubsub) is not None  # the subscribe confirmation
        before = await q.snapshot()

        assert await q.cancel(job.id, now=NOW) == 2

        message = await _next_message(pubsub)
        assert message is not None
        assert message["data"] == job.id.encode()
    finally:
        await pubsub.aclose()
    after = await q.snapshot()
    assert after.pop(job.id)[1] == {**before.pop(job.id)[1], "cancel": "1"}
    assert after == before  # still active and locked; no event yet: the worker fails it
    assert await q.lock(job.id) == job.token


async def _next_message(pubsub: object, timeout: float = 5.0) -> dict[str, object] | None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(timeout=0.1)  # type: ignore[attr-defined]
        if message is not None:
            return message  # type: ignore[no-any-return]
    return None


@pytest.mark.parametrize("state", ["completed", "failed"])
async def test_finished_job_is_left_alone(q: LuaQueue, state: str) -> None:
    job_id = await q.finished_job(state)
    before = await q.snapshot()

    assert await q.cancel(job_id) == 0
    assert await q.snapshot() == before


async def test_unknown_job_or_one_in_no_state_is_left_alone(q: LuaQueue) -> None:
    await q.r.hset(q.k.job("loose"), "name", "job")
    before = await q.snapshot()

    assert await q.cancel("nope") == 0
    assert await q.cancel("loose") == 0
    assert await q.snapshot() == before
