"""addJob: what one add leaves in Redis, for each way a job can enter the queue."""

from __future__ import annotations

from framework.queue.options import MAX_PRIORITY
from tests.integration.lua._support import PRIORITY_SHIFT, T0, LuaQueue


async def test_generated_id_goes_to_wait_with_hash_marker_and_events(q: LuaQueue) -> None:
    res = await q.add("send", '{"to": "a@b.c"}', opts='{"attempts": 3}')

    assert res == ("1", 1)
    assert await q.key_names() == {"id", "1", "wait", "marker", "events"}
    assert await q.r.get(q.k.id_counter) == b"1"
    assert await q.job("1") == {
        "name": "send",
        "data": '{"to": "a@b.c"}',
        "opts": '{"attempts": 3}',
        "timestamp": str(T0),
        "delay": "0",
        "priority": "0",
        "attemptsMade": "0",
    }
    assert await q.wait_list() == ["1"]
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "added", "jobId": "1", "name": "send"},
        {"event": "waiting", "jobId": "1"},
    ]
    assert await q.r.pttl(q.k.job("1")) == -1  # a job hash never expires by itself


async def test_generated_ids_count_up_and_wait_is_fifo(q: LuaQueue) -> None:
    assert [await q.add() for _ in range(3)] == [("1", 1), ("2", 1), ("3", 1)]

    assert await q.r.get(q.k.id_counter) == b"3"
    assert await q.r.lrange(q.k.wait, 0, -1) == [b"3", b"2", b"1"]  # LPUSH ...
    assert await q.wait_list() == ["1", "2", "3"]  # ... so RPOP serves the oldest first


async def test_custom_id_is_used_and_leaves_the_id_counter_alone(q: LuaQueue) -> None:
    assert await q.add(job_id="order-7") == ("order-7", 1)

    assert await q.key_names() == {"order-7", "wait", "marker", "events"}
    assert await q.wait_list() == ["order-7"]


async def test_second_add_with_same_custom_id_writes_nothing_but_a_duplicated_event(q: LuaQueue) -> None:
    await q.add("first", '{"v": 1}', job_id="order-7")
    await q.clear_marker()
    before = await q.snapshot()

    res = await q.add("second", '{"v": 2}', job_id="order-7", delay=5000, priority=3)

    assert res == ("order-7", 0)
    after = await q.snapshot()
    before_events, after_events = before.pop("events"), after.pop("events")
    assert after == before  # hash, wait list, marker (still absent), counters: untouched
    assert after_events[1][: len(before_events[1])] == before_events[1]
    assert [fields for _id, fields in after_events[1][len(before_events[1]) :]] == [
        {"event": "duplicated", "jobId": "order-7"}
    ]
    assert (await q.job("order-7"))["data"] == '{"v": 1}'


async def test_priority_goes_to_the_prioritized_zset_fifo_within_a_priority(q: LuaQueue) -> None:
    await q.add(job_id="p5-a", priority=5)
    await q.add(job_id="p1-a", priority=1)
    await q.add(job_id="p5-b", priority=5)
    await q.add(job_id="p1-b", priority=1)

    assert await q.zset(q.k.prioritized) == [
        ("p1-a", 1 * PRIORITY_SHIFT + 2),
        ("p1-b", 1 * PRIORITY_SHIFT + 4),
        ("p5-a", 5 * PRIORITY_SHIFT + 1),
        ("p5-b", 5 * PRIORITY_SHIFT + 3),
    ]
    assert await q.r.get(q.k.priority_counter) == b"4"
    assert not await q.r.exists(q.k.wait)
    assert (await q.job("p1-a"))["priority"] == "1"
    assert await q.marker() == [("0", 0.0)]
    assert await q.event_names() == ["added", "waiting"] * 4


async def test_priority_jobs_are_fetched_after_unprioritized_ones_then_by_priority_then_fifo(
    q: LuaQueue,
) -> None:
    await q.add(job_id="p5-a", priority=5)
    await q.add(job_id="p1-a", priority=1)
    await q.add(job_id="p0-a")
    await q.add(job_id="p5-b", priority=5)
    await q.add(job_id="p1-b", priority=1)
    await q.add(job_id="p0-b")

    taken = await q.move_to_active(count=10)

    assert [j.id for j in taken.jobs] == ["p0-a", "p0-b", "p1-a", "p1-b", "p5-a", "p5-b"]


async def test_lifo_job_is_pushed_to_the_pop_end_and_flagged(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.add(job_id="b")
    await q.add(job_id="c", lifo=True)
    await q.add(job_id="d", lifo=True)

    assert await q.wait_list() == ["d", "c", "a", "b"]
    assert (await q.job("c"))["lifo"] == "1"
    assert "lifo" not in await q.job("a")
    assert [j.id for j in (await q.move_to_active(count=4)).jobs] == ["d", "c", "a", "b"]


async def test_priority_wins_over_lifo(q: LuaQueue) -> None:
    await q.add(job_id="a", priority=2, lifo=True)

    assert await q.members(q.k.prioritized) == ["a"]
    assert not await q.r.exists(q.k.wait)
    assert (await q.job("a"))["lifo"] == "1"


async def test_delayed_job_goes_to_the_delayed_zset_scored_by_due_time(q: LuaQueue) -> None:
    res = await q.add("later", job_id="d1", delay=5000, priority=2)

    assert res == ("d1", 1)
    assert await q.key_names() == {"d1", "delayed", "marker", "events"}
    assert await q.zset(q.k.delayed) == [("d1", T0 + 5000)]
    job = await q.job("d1")
    assert (job["delay"], job["priority"], job["timestamp"]) == ("5000", "2", str(T0))
    # The marker wakes a blocked worker so it can shorten its wait to the new due time.
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "added", "jobId": "d1", "name": "later"},
        {"event": "delayed", "jobId": "d1", "delay": str(T0 + 5000)},
    ]


async def test_add_to_a_paused_queue_waits_without_setting_the_marker(q: LuaQueue) -> None:
    assert await q.pause() == 1
    await q.clear_events()

    await q.add(job_id="a")
    await q.add(job_id="b", priority=1)

    assert await q.wait_list() == ["a"]
    assert await q.members(q.k.prioritized) == ["b"]
    assert not await q.r.exists(q.k.marker)
    assert await q.event_names() == ["added", "waiting", "added", "waiting"]
    assert await q.get_state("a") == "paused"


async def test_delayed_add_to_a_paused_queue_does_not_set_the_marker_either(q: LuaQueue) -> None:
    await q.pause()

    await q.add(job_id="d", delay=1000)

    assert await q.members(q.k.delayed) == ["d"]
    assert not await q.r.exists(q.k.marker)


async def test_events_stream_is_capped_approximately_at_max_events(q: LuaQueue) -> None:
    for _ in range(600):
        await q.add(max_events=10)

    # MAXLEN ~ trims whole stream nodes only: the stream stays within the cap plus one node (<= 100 entries
    # by default), far below the 1200 events written.
    length = await q.r.xlen(q.k.events)
    assert 10 <= length <= 10 + 100 + 1
    assert await q.r.llen(q.k.wait) == 600


async def test_fifo_holds_at_the_highest_allowed_priority(q: LuaQueue) -> None:
    ids = ["m1", "m2", "z3", "a4"]
    for job_id in ids:
        await q.add(job_id=job_id, priority=MAX_PRIORITY)

    assert len({score for _m, score in await q.zset(q.k.prioritized)}) == 4
    assert [j.id for j in (await q.move_to_active(count=4)).jobs] == ids
