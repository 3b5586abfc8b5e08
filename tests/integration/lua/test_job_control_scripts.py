"""The job-control scripts, called directly: addControlledJob, moveActiveJob, updateJobData, changePriority,
changeDelay, clearLogs, setQueueLimits, pauseGroup; and the limits and groups moveToActive applies."""

from __future__ import annotations

from typing import Any

from framework.queue.scripts import script
from tests.integration.lua._support import MAX_EVENTS, T0, LuaQueue, text


async def add_controlled(
    q: LuaQueue,
    *,
    dedup: str = "",
    ttl: int = 0,
    extend: bool = False,
    replace: bool = False,
    gid: str = "",
    data: str = "{}",
    delay: int = 0,
    timestamp: int = T0,
    job_id: str = "",
    lifo: bool = False,
) -> list[Any]:
    k = q.k
    keys = [
        *k.add_keys(),
        k.deduplication(dedup) if dedup else k.meta,
        k.group(gid) if gid else k.meta,
        k.groups,
        k.groups_paused,
    ]
    args = [q.base, job_id, "job", data, "{}", timestamp, delay, 0, "1" if lifo else "0", MAX_EVENTS]
    args += [dedup, ttl, "1" if extend else "0", "1" if replace else "0", gid]
    return text(await script("addControlledJob")(q.r, keys, args))


async def limits(q: LuaQueue, *args: Any) -> None:
    await script("setQueueLimits")(q.r, [q.k.meta, q.k.marker], list(args))


async def group_action(q: LuaQueue, gid: str, action: str) -> int:
    k = q.k
    return await script("pauseGroup")(
        q.r, [k.groups_paused, k.groups, k.group(gid), k.marker, k.meta], [gid, action]
    )


async def take(q: LuaQueue, count: int = 1, *, gc: int = 0, gmax: int = 0, gdur: int = 0, worker: str = "w1",
               now: int = T0) -> list[str]:  # fmt: skip
    args: list[Any] = [q.base, worker, 30_000, now, count, MAX_EVENTS, 0, 0, 0, gc, gmax, gdur]
    jobs, _due, limited = await script("moveToActive")(q.r, q._fetch_keys(), args)
    return [text(j[0]) for j in jobs] + ([f"limited:{limited}"] if limited else [])


class TestAddControlledJob:
    async def test_deduplicated_add_writes_nothing_and_emits(self, q: LuaQueue) -> None:
        assert await add_controlled(q, dedup="d") == ["1", 1, 0]
        assert await add_controlled(q, dedup="d", data='{"x": 2}') == ["1", 0, 1]
        assert await q.wait_list() == ["1"]
        assert text(await q.r.get(q.k.deduplication("d"))) == "1"
        assert (await q.job("1"))["deid"] == "d"
        assert (await q.events())[-1] == {
            "event": "deduplicated",
            "jobId": "1",
            "deduplicationId": "d",
            "deduplicatedJobId": "",
        }

    async def test_a_finished_job_frees_an_id_without_ttl(self, q: LuaQueue) -> None:
        await add_controlled(q, dedup="d")
        await q.r.hset(q.k.job("1"), "finishedOn", T0)
        assert await add_controlled(q, dedup="d") == ["2", 1, 0]

    async def test_ttl_holds_the_id_even_when_the_job_is_gone(self, q: LuaQueue) -> None:
        await add_controlled(q, dedup="d", ttl=10_000)
        await q.r.delete(q.k.job("1"))
        assert await add_controlled(q, dedup="d", ttl=10_000) == ["1", 0, 1]
        assert 0 < await q.r.pttl(q.k.deduplication("d")) <= 10_000

    async def test_replace_and_extend_on_a_delayed_job(self, q: LuaQueue) -> None:
        await add_controlled(q, dedup="d", ttl=1000, delay=500, data='"a"')
        await q.r.pexpire(q.k.deduplication("d"), 100)
        res = await add_controlled(q, dedup="d", ttl=1000, extend=True, replace=True, delay=500, data='"b"',
                                   timestamp=T0 + 300)  # fmt: skip
        assert res == ["1", 0, 1]
        assert (await q.job("1"))["data"] == '"b"'
        assert await q.zset(q.k.delayed) == [("1", T0 + 800)]
        assert await q.r.pttl(q.k.deduplication("d")) > 100

    async def test_grouped_job_waits_in_its_group_and_joins_the_ring_once(self, q: LuaQueue) -> None:
        await add_controlled(q, gid="a")
        await add_controlled(q, gid="a")
        await add_controlled(q, gid="b")
        assert await q.wait_list() == []
        assert text(await q.r.lrange(q.k.group("a"), 0, -1)) == ["2", "1"]
        assert text(await q.r.lrange(q.k.groups, 0, -1)) == ["b", "a"]
        assert (await q.job("1"))["gid"] == "a"
        assert await q.marker() == [("0", 0.0)]

    async def test_a_paused_group_does_not_join_the_ring(self, q: LuaQueue) -> None:
        assert await group_action(q, "a", "pause") == 1
        await add_controlled(q, gid="a")
        assert await q.r.llen(q.k.groups) == 0
        assert await group_action(q, "a", "resume") == 1
        assert text(await q.r.lrange(q.k.groups, 0, -1)) == ["a"]
        assert await group_action(q, "a", "resume") == 0


class TestFetchWithGroups:
    async def test_round_robin_between_groups(self, q: LuaQueue) -> None:
        for _ in range(3):
            await add_controlled(q, gid="a")
        await add_controlled(q, gid="b")  # job 4
        assert await take(q, 4) == ["1", "4", "2", "3"]
        assert await q.r.llen(q.k.groups) == 0
        assert not await q.r.exists(q.k.group("a"))

    async def test_plain_and_grouped_jobs_alternate(self, q: LuaQueue) -> None:
        await q.add()  # 1
        await q.add()  # 2
        await add_controlled(q, gid="a")  # 3
        await add_controlled(q, gid="a")  # 4
        assert await take(q, 4) == ["3", "1", "4", "2"]

    async def test_group_concurrency_skips_a_full_group(self, q: LuaQueue) -> None:
        await add_controlled(q, gid="a")
        await add_controlled(q, gid="a")
        await add_controlled(q, gid="b")
        assert await take(q, 3, gc=1) == ["1", "3"]
        await q.r.zrem(q.k.active, "1")  # job 1 finished
        assert await take(q, 3, gc=1) == ["2"]

    async def test_group_rate_limit_says_how_long_to_wait(self, q: LuaQueue) -> None:
        for _ in range(3):
            await add_controlled(q, gid="a")
        assert await take(q, 3, gmax=2, gdur=1000) == ["1", "2"]
        [limited] = await take(q, 3, gmax=2, gdur=1000)
        assert limited.startswith("limited:") and 0 < int(limited.split(":")[1]) <= 1000

    async def test_a_grouped_job_back_in_the_wait_list_is_moved_to_its_group(self, q: LuaQueue) -> None:
        await add_controlled(q, gid="a")
        await add_controlled(q, gid="b")
        await q.r.lpush(q.k.wait, "1")  # as a retry or a promoted delayed job would
        await q.r.lrem(q.k.group("a"), 0, "1")
        await q.r.lrem(q.k.groups, 0, "a")
        assert await take(q, 2, gc=1) == ["2", "1"]
        assert await q.wait_list() == []


class TestQueueLimits:
    async def test_global_concurrency_counts_every_workers_active_jobs(self, q: LuaQueue) -> None:
        for _ in range(5):
            await q.add()
        await limits(q, "concurrency", 3)
        assert await take(q, 2, worker="w1") == ["1", "2"]
        await q.clear_marker()
        assert await take(q, 5, worker="w2") == ["3"]
        assert await q.marker() == []  # maxed: idle workers are not woken to spin
        await limits(q, "no-concurrency")
        assert await take(q, 5, worker="w2") == ["4", "5"]

    async def test_global_rate_limit_replaces_the_workers(self, q: LuaQueue) -> None:
        for _ in range(3):
            await q.add()
        await limits(q, "rate", 2, 1000)
        assert await take(q, 3) == ["1", "2"]
        [limited] = await take(q, 3)
        assert limited.startswith("limited:")
        await limits(q, "no-rate")
        assert text(await q.r.hgetall(q.k.meta)) in ({}, [])

    async def test_a_manual_rate_limit_stops_workers_without_a_limiter(self, q: LuaQueue) -> None:
        await q.add()
        await q.r.set(q.k.limiter, 2**53 - 1, px=5000)
        [limited] = await take(q)
        assert limited.startswith("limited:")
        await q.r.delete(q.k.limiter)
        assert await take(q) == ["1"]


class TestMoveActiveJob:
    async def _active(self, q: LuaQueue) -> tuple[str, str]:
        await q.add(timestamp=T0)
        [job] = (await q.move_to_active("w1", now=T0 + 10)).jobs
        return job.id, job.token

    async def _move(self, q: LuaQueue, job_id: str, token: str, target: str, due: int = 0) -> int:
        k = q.k
        return await script("moveActiveJob")(
            q.r,
            [k.active, k.wait, k.delayed, k.job(job_id), k.lock(job_id), k.events, k.marker],
            [job_id, token, target, due, MAX_EVENTS],
        )

    async def test_to_delayed_keeps_attempts(self, q: LuaQueue) -> None:
        job_id, token = await self._active(q)
        assert await self._move(q, job_id, token, "delayed", T0 + 5000) == 1
        assert await q.zset(q.k.delayed) == [(job_id, T0 + 5000)]
        assert await q.members(q.k.active) == []
        assert not await q.r.exists(q.k.lock(job_id))
        fields = await q.job(job_id)
        assert fields["attemptsMade"] == "0" and fields["delay"] == "5000"
        assert await self._move(q, job_id, token, "delayed", T0) == 0  # moved already

    async def test_to_wait_goes_to_the_front(self, q: LuaQueue) -> None:
        job_id, token = await self._active(q)
        await q.add()
        assert await self._move(q, job_id, token, "wait") == 1
        assert await q.wait_list() == ["1", "2"]  # next to run first

    async def test_refuses_another_token_and_a_gone_job(self, q: LuaQueue) -> None:
        job_id, _ = await self._active(q)
        assert await self._move(q, job_id, "w2:1", "wait") == 0
        assert await self._move(q, "nope", "w1:1", "wait") == -1


class TestMutationScripts:
    async def test_update_data(self, q: LuaQueue) -> None:
        await q.add()
        res = await script("updateJobData")(q.r, [q.k.job("1"), q.k.events], ["1", '{"a": 1}', MAX_EVENTS])
        assert res == 1 and (await q.job("1"))["data"] == '{"a": 1}'
        assert await script("updateJobData")(q.r, [q.k.job("9"), q.k.events], ["9", "1", MAX_EVENTS]) == -1

    async def test_change_priority_moves_a_waiting_job(self, q: LuaQueue) -> None:
        await q.add()
        k = q.k
        keys = [k.job("1"), k.wait, k.prioritized, k.priority_counter, k.marker, k.meta, k.events]
        assert await script("changePriority")(q.r, keys, ["1", 4, MAX_EVENTS]) == 1
        assert await q.wait_list() == []
        assert [m for m, _ in await q.zset(k.prioritized)] == ["1"]
        assert (await q.job("1"))["priority"] == "4"
        await add_controlled(q, gid="g")  # job 2
        keys[0] = k.job("2")
        assert await script("changePriority")(q.r, keys, ["2", 4, MAX_EVENTS]) == -2

    async def test_change_delay(self, q: LuaQueue) -> None:
        await q.add(delay=1000)
        await q.add()
        k = q.k
        res = await script("changeDelay")(
            q.r, [k.job("1"), k.delayed, k.events, k.marker], ["1", 50, T0 + 10, 1]
        )
        assert res == 1 and await q.zset(k.delayed) == [("1", T0 + 60)]
        assert (
            await script("changeDelay")(q.r, [k.job("2"), k.delayed, k.events, k.marker], ["2", 5, T0, 1])
            == 0
        )

    async def test_clear_logs(self, q: LuaQueue) -> None:
        await q.add()
        for i in range(3):
            await q.add_log("1", f"l{i}")
        assert await script("clearLogs")(q.r, [q.k.job("1"), q.k.logs("1")], [1]) == 1
        assert text(await q.r.lrange(q.k.logs("1"), 0, -1)) == ["l2"]
        assert await script("clearLogs")(q.r, [q.k.job("9"), q.k.logs("9")], [0]) == -1
