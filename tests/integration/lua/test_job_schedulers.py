"""upsertJobScheduler, scheduleNext, removeJobScheduler: a scheduler hash, its entry in the schedulers zset
and, at any time, at most one pending job per scheduler, with the id "repeat:<scheduler id>:<run at>"."""

from __future__ import annotations

from tests.integration.lua._support import PRIORITY_SHIFT, T0, Finish, LuaQueue, scheduler_fields

RUN1 = T0 + 1000
RUN2 = T0 + 2000
JOB1 = f"repeat:s1:{RUN1}"
JOB2 = f"repeat:s1:{RUN2}"
SCHED = "scheduler:s1"


# -- upsertJobScheduler ---------------------------------------------------------------------------------


async def test_create_adds_the_scheduler_and_the_delayed_job_of_its_first_run(q: LuaQueue) -> None:
    res = await q.upsert_scheduler("s1", "v1", RUN1)

    assert res == (JOB1, 1)
    assert await q.key_names() == {SCHED, "schedulers", JOB1, "delayed", "marker", "events"}
    assert await q.job(SCHED) == {
        **scheduler_fields(),
        "version": "v1",
        "ic": "1",
        "next": str(RUN1),
        "done": "0",
    }
    assert await q.zset(q.k.schedulers) == [("s1", RUN1)]
    assert await q.job(JOB1) == {
        "name": "tick",
        "data": '{"n": 1}',
        "opts": "{}",
        "timestamp": str(T0),
        "delay": "1000",
        "priority": "0",
        "attemptsMade": "0",
        "rjk": "s1",
    }
    assert await q.zset(q.k.delayed) == [(JOB1, RUN1)]
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "added", "jobId": JOB1, "name": "tick"},
        {"event": "delayed", "jobId": JOB1, "delay": str(RUN1)},
    ]


async def test_first_run_now_is_ready_at_once_with_the_templates_priority_or_lifo(q: LuaQueue) -> None:
    await q.add(job_id="w")
    assert await q.upsert_scheduler("s1", "v1", T0) == (f"repeat:s1:{T0}", 1)
    assert await q.upsert_scheduler("s2", "v1", T0 - 5, fields=scheduler_fields(lifo="1")) == (
        f"repeat:s2:{T0 - 5}",
        1,
    )
    assert await q.upsert_scheduler("s3", "v1", T0, fields=scheduler_fields(priority="6")) == (
        f"repeat:s3:{T0}",
        1,
    )

    assert await q.wait_list() == [f"repeat:s2:{T0 - 5}", "w", f"repeat:s1:{T0}"]
    assert await q.zset(q.k.prioritized) == [(f"repeat:s3:{T0}", 6 * PRIORITY_SHIFT + 1)]
    assert (await q.job(f"repeat:s2:{T0 - 5}"))["delay"] == "0"
    assert (await q.job(f"repeat:s2:{T0 - 5}"))["lifo"] == "1"
    assert not await q.r.exists(q.k.delayed)
    assert await q.event_names() == ["added", "waiting"] * 4


async def test_ready_first_run_on_a_paused_queue_does_not_set_the_marker(q: LuaQueue) -> None:
    await q.pause()

    await q.upsert_scheduler("s1", "v1", T0)

    assert await q.wait_list() == [f"repeat:s1:{T0}"]
    assert not await q.r.exists(q.k.marker)


async def test_same_definition_again_changes_nothing(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)
    before = await q.snapshot()

    # Another instance starts later: its computed first run differs, but the schedule must not shift.
    res = await q.upsert_scheduler("s1", "v1", RUN2, now=T0 + 500, fields=scheduler_fields(createdAt="x"))

    assert res == (JOB1, 0)
    assert await q.snapshot() == before


async def test_same_definition_while_the_pending_job_runs_changes_nothing(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", T0)
    await q.clear_marker()
    await q.move_to_active()
    before = await q.snapshot()

    assert await q.upsert_scheduler("s1", "v1", RUN2) == (f"repeat:s1:{T0}", 0)
    assert await q.snapshot() == before


async def test_changed_definition_replaces_the_pending_job_and_restarts_the_count(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1, fields=scheduler_fields(limit="5", extra="old"))
    await q.schedule_next("s1", "v1", RUN1, RUN2)  # ic 2, pending JOB2
    await q.r.delete(q.k.job(JOB1), q.k.delayed)  # run 1 is long done
    await q.r.zadd(q.k.delayed, {JOB2: RUN2})
    await q.clear_events()
    new_first = T0 + 60_000

    res = await q.upsert_scheduler("s1", "v2", new_first, fields=scheduler_fields(every="60000"))

    new_job = f"repeat:s1:{new_first}"
    assert res == (new_job, 2)
    assert not await q.r.exists(q.k.job(JOB2))
    assert await q.zset(q.k.delayed) == [(new_job, new_first)]
    assert await q.job(SCHED) == {
        **scheduler_fields(every="60000"),
        "version": "v2",
        "ic": "1",
        "next": str(new_first),
        "done": "0",
    }  # the old hash is replaced: "extra" and limit 5 are gone
    assert await q.zset(q.k.schedulers) == [("s1", new_first)]
    assert await q.events() == [
        {"event": "removed", "jobId": JOB2},
        {"event": "added", "jobId": new_job, "name": "tick"},
        {"event": "delayed", "jobId": new_job, "delay": str(new_first)},
    ]


async def test_changed_definition_leaves_an_active_pending_job_to_finish(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", T0)
    running = (await q.move_to_active()).jobs[0]

    res = await q.upsert_scheduler("s1", "v2", RUN1)

    assert res == (JOB1, 2)
    assert await q.members(q.k.active) == [running.id]
    assert await q.lock(running.id) == running.token
    assert await q.members(q.k.delayed) == [JOB1]
    # Its worker's scheduleNext, computed from v1, then adds nothing.
    before = await q.snapshot()
    assert await q.schedule_next("s1", "v1", T0, RUN2) == ("", -1)
    assert await q.snapshot() == before


async def test_same_definition_whose_pending_job_is_gone_restarts(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)
    await q.r.delete(q.k.job(JOB1), q.k.delayed)  # deleted by hand
    await q.clear_events()

    res = await q.upsert_scheduler("s1", "v1", RUN2)

    assert res == (JOB2, 3)
    assert await q.zset(q.k.delayed) == [(JOB2, RUN2)]
    sched = await q.job(SCHED)
    assert (sched["ic"], sched["next"], sched["done"], sched["version"]) == ("2", str(RUN2), "0", "v1")
    assert await q.zset(q.k.schedulers) == [("s1", RUN2)]
    assert await q.event_names() == ["added", "delayed"]


async def test_same_definition_whose_pending_job_finished_without_successor_restarts(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", T0)
    job = (await q.move_to_active()).jobs[0]
    await q.move_to_finished(
        [Finish(job.id, job.token, "failed", "x", "[]")]
    )  # no scheduleNext: Redis was lost

    res = await q.upsert_scheduler("s1", "v1", RUN1)

    assert res == (JOB1, 3)
    assert await q.members(q.k.failed) == [job.id]  # the finished run stays as it was
    assert await q.members(q.k.delayed) == [JOB1]


async def test_restart_past_the_limit_ends_the_schedule(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1, fields=scheduler_fields(limit="1"))
    await q.r.delete(q.k.job(JOB1), q.k.delayed)
    await q.clear_events()

    res = await q.upsert_scheduler("s1", "v1", RUN2, fields=scheduler_fields(limit="1"))

    assert res == (JOB1, 3)  # its last job, even though it is gone
    assert (await q.job(SCHED))["done"] == "1"
    assert await q.zset(q.k.schedulers) == [("s1", float("inf"))]
    assert not await q.r.exists(q.k.delayed)
    assert not await q.r.exists(q.k.events)


async def test_no_run_before_the_end_date_creates_an_ended_scheduler(q: LuaQueue) -> None:
    res = await q.upsert_scheduler("s1", "v1", None)

    assert res == ("", 1)
    assert await q.key_names() == {SCHED, "schedulers"}
    sched = await q.job(SCHED)
    assert (sched["done"], sched["ic"]) == ("1", "0")
    assert "next" not in sched
    assert await q.zset(q.k.schedulers) == [("s1", float("inf"))]


async def test_same_definition_of_an_ended_scheduler_changes_nothing(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1, fields=scheduler_fields(limit="1"))
    assert await q.schedule_next("s1", "v1", RUN1, RUN2) == ("", 2)
    before = await q.snapshot()

    assert await q.upsert_scheduler("s1", "v1", RUN2, fields=scheduler_fields(limit="1")) == (JOB1, 0)
    assert await q.snapshot() == before


# -- scheduleNext ---------------------------------------------------------------------------------------


async def test_schedule_next_adds_the_job_of_the_next_run(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)
    await q.clear_events()
    await q.clear_marker()

    res = await q.schedule_next("s1", "v1", RUN1, RUN2, now=RUN1 + 3)

    assert res == (JOB2, 1)
    sched = await q.job(SCHED)
    assert (sched["ic"], sched["next"], sched["done"]) == ("2", str(RUN2), "0")
    assert await q.zset(q.k.schedulers) == [("s1", RUN2)]
    h = await q.job(JOB2)
    assert (h["timestamp"], h["delay"], h["rjk"]) == (str(RUN1 + 3), str(RUN2 - RUN1 - 3), "s1")
    assert await q.zset(q.k.delayed) == [(JOB1, RUN1), (JOB2, RUN2)]
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "added", "jobId": JOB2, "name": "tick"},
        {"event": "delayed", "jobId": JOB2, "delay": str(RUN2)},
    ]


async def test_schedule_next_for_a_run_that_already_has_a_successor_does_nothing(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)
    await q.schedule_next("s1", "v1", RUN1, RUN2)
    before = await q.snapshot()

    assert await q.schedule_next("s1", "v1", RUN1, RUN2) == ("", 0)  # the same run taken again (retry)
    assert await q.schedule_next("s1", "v1", RUN1, RUN2 + 1) == ("", 0)  # a racing worker
    assert await q.snapshot() == before


async def test_schedule_next_for_a_changed_or_removed_scheduler_does_nothing(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v2", RUN1)
    before = await q.snapshot()

    assert await q.schedule_next("s1", "v1", RUN1, RUN2) == ("", -1)
    assert await q.schedule_next("gone", "v1", RUN1, RUN2) == ("", -1)
    assert await q.snapshot() == before


async def test_schedule_next_stops_at_the_limit(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1, fields=scheduler_fields(limit="2"))
    assert await q.schedule_next("s1", "v1", RUN1, RUN2) == (JOB2, 1)
    await q.clear_events()

    assert await q.schedule_next("s1", "v1", RUN2, RUN2 + 1000) == ("", 2)

    sched = await q.job(SCHED)
    assert (sched["ic"], sched["next"], sched["done"]) == ("2", str(RUN2), "1")
    assert await q.zset(q.k.schedulers) == [("s1", float("inf"))]
    assert await q.members(q.k.delayed) == [JOB1, JOB2]
    assert not await q.r.exists(q.k.events)
    assert await q.upsert_scheduler("s1", "v1", RUN1, fields=scheduler_fields(limit="2")) == (JOB2, 0)


async def test_schedule_next_without_a_next_run_ends_the_schedule(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)

    assert await q.schedule_next("s1", "v1", RUN1, None) == ("", 2)
    assert (await q.job(SCHED))["done"] == "1"
    assert await q.zset(q.k.schedulers) == [("s1", float("inf"))]
    before = await q.snapshot()
    assert await q.schedule_next("s1", "v1", RUN1, RUN2) == ("", 0)
    assert await q.snapshot() == before


# -- removeJobScheduler ---------------------------------------------------------------------------------


async def test_remove_deletes_the_scheduler_and_its_pending_job(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", RUN1)
    await q.upsert_scheduler("s2", "v1", RUN2)
    await q.clear_events()

    assert await q.remove_scheduler("s1") == 1

    assert await q.zset(q.k.schedulers) == [("s2", RUN2)]
    assert not await q.r.exists(q.k.scheduler("s1"), q.k.job(JOB1))
    assert await q.members(q.k.delayed) == [f"repeat:s2:{RUN2}"]
    assert await q.events() == [{"event": "removed", "jobId": JOB1}]


async def test_remove_with_a_waiting_or_prioritized_pending_job(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", T0)
    await q.upsert_scheduler("s2", "v1", T0, fields=scheduler_fields(priority="3"))

    assert await q.remove_scheduler("s1") == 1
    assert await q.remove_scheduler("s2") == 1

    assert not await q.r.exists(q.k.wait, q.k.prioritized, q.k.schedulers)
    assert not await q.r.exists(q.k.job(f"repeat:s1:{T0}"), q.k.job(f"repeat:s2:{T0}"))


async def test_remove_leaves_an_active_pending_job_to_finish(q: LuaQueue) -> None:
    await q.upsert_scheduler("s1", "v1", T0)
    job = (await q.move_to_active()).jobs[0]
    await q.clear_events()

    assert await q.remove_scheduler("s1") == 1

    assert await q.members(q.k.active) == [job.id]
    assert await q.lock(job.id) == job.token
    assert not await q.r.exists(q.k.scheduler("s1"), q.k.schedulers)
    assert not await q.r.exists(q.k.events)
    assert await q.schedule_next("s1", "v1", T0, RUN1) == ("", -1)


async def test_remove_unknown_scheduler_returns_zero_and_drops_a_stray_zset_entry(q: LuaQueue) -> None:
    await q.r.zadd(q.k.schedulers, {"stray": RUN1})

    assert await q.remove_scheduler("stray") == 0
    assert await q.remove_scheduler("nope") == 0
    assert await q.key_names() == set()
