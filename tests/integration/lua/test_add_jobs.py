"""addJobs: many adds in one call, each exactly as addJob, with one wake-up at the end."""

from __future__ import annotations

from tests.integration.lua._support import PRIORITY_SHIFT, T0, LuaQueue


async def test_a_mixed_batch_places_each_job_as_add_job_would(q: LuaQueue) -> None:
    await q.add(job_id="exists", data='{"v": "old"}')
    await q.clear_events()
    await q.clear_marker()

    res = await q.add_jobs(
        [
            {"name": "a"},
            {"job_id": "custom", "name": "b", "data": '{"x": 1}', "opts": '{"attempts": 2}'},
            {"name": "c", "delay": 500},
            {"name": "d", "priority": 2},
            {"name": "e", "lifo": True},
            {"job_id": "exists", "name": "f", "data": '{"v": "new"}'},
            {"job_id": "custom", "name": "g"},  # a duplicate within the batch
        ],
        timestamp=T0 + 7,
    )

    assert res == [("1", 1), ("custom", 1), ("2", 1), ("3", 1), ("4", 1), ("exists", 0), ("custom", 0)]
    assert await q.r.get(q.k.id_counter) == b"4"
    assert await q.wait_list() == ["4", "exists", "1", "custom"]
    assert await q.zset(q.k.delayed) == [("2", T0 + 7 + 500)]
    assert await q.zset(q.k.prioritized) == [("3", 2 * PRIORITY_SHIFT + 1)]
    assert await q.job("custom") == {
        "name": "b",
        "data": '{"x": 1}',
        "opts": '{"attempts": 2}',
        "timestamp": str(T0 + 7),
        "delay": "0",
        "priority": "0",
        "attemptsMade": "0",
    }
    assert (await q.job("4"))["lifo"] == "1"
    assert (await q.job("2"))["delay"] == "500"
    assert (await q.job("exists"))["data"] == '{"v": "old"}'
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "added", "jobId": "1", "name": "a"},
        {"event": "waiting", "jobId": "1"},
        {"event": "added", "jobId": "custom", "name": "b"},
        {"event": "waiting", "jobId": "custom"},
        {"event": "added", "jobId": "2", "name": "c"},
        {"event": "delayed", "jobId": "2", "delay": str(T0 + 7 + 500)},
        {"event": "added", "jobId": "3", "name": "d"},
        {"event": "waiting", "jobId": "3"},
        {"event": "added", "jobId": "4", "name": "e"},
        {"event": "waiting", "jobId": "4"},
        {"event": "duplicated", "jobId": "exists"},
        {"event": "duplicated", "jobId": "custom"},
    ]


async def test_batch_gives_the_same_state_as_single_adds(q: LuaQueue) -> None:
    single = LuaQueue(q.r, q.prefix, "single")
    jobs = [
        {"job_id": "x", "name": "n1", "data": "[1]"},
        {"name": "n2", "delay": 100, "priority": 3},
        {"name": "n3", "priority": 3, "lifo": True},
        {"name": "n4", "lifo": True},
        {"job_id": "x", "name": "dup"},
    ]

    await q.add_jobs(jobs, timestamp=T0)
    for job in jobs:
        await single.add(**{**job, "timestamp": T0})

    batch, one_by_one = await q.snapshot(), await single.snapshot()
    assert [f for _id, f in batch.pop("events")[1]] == [f for _id, f in one_by_one.pop("events")[1]]
    assert batch == one_by_one


async def test_only_duplicates_write_no_marker(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.clear_marker()

    assert await q.add_jobs([{"job_id": "a"}, {"job_id": "a"}]) == [("a", 0), ("a", 0)]
    assert not await q.r.exists(q.k.marker)


async def test_paused_queue_gets_no_marker(q: LuaQueue) -> None:
    await q.pause()

    await q.add_jobs([{"name": "a"}, {"name": "b", "delay": 100}])

    assert await q.wait_list() == ["1"]
    assert await q.members(q.k.delayed) == ["2"]
    assert not await q.r.exists(q.k.marker)


async def test_empty_batch_writes_nothing(q: LuaQueue) -> None:
    assert await q.add_jobs([]) == []
    assert await q.key_names() == set()
