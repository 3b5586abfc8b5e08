"""moveToFinished: complete / fail / retry a batch of a worker's jobs, then fetch the next ones."""

from __future__ import annotations

from tests.integration.lua._support import PRIORITY_SHIFT, T0, Finish, LuaQueue, wait_until_gone

NOW = T0 + 1000


async def test_completed_job_moves_to_completed_with_its_return_value(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.add_log(job.id, "working")
    await q.clear_events()

    res = await q.move_to_finished([Finish(job.id, job.token, "completed", '{"sum": 3}')], now=NOW)

    assert (res.results, res.jobs, res.next_due, res.limited_ms) == ([1], [], -1, 0)
    assert await q.key_names() == {"id", "1", "1:logs", "completed", "events"}
    assert await q.zset(q.k.completed) == [("1", NOW)]
    h = await q.job("1")
    assert (h["returnvalue"], h["finishedOn"], h["attemptsMade"]) == ('{"sum": 3}', str(NOW), "1")
    assert "failedReason" not in h
    assert await q.events() == [
        {"event": "completed", "jobId": "1", "returnvalue": '{"sum": 3}'},
        {"event": "drained"},
    ]


async def test_finishing_and_fetching_the_next_job_is_one_call(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.add(job_id="next")
    await q.clear_events()

    res = await q.move_to_finished([Finish(job.id, job.token)], "w1", now=NOW, count=1)

    assert res.results == [1]
    assert [(j.id, j.token, j.hash["processedOn"]) for j in res.jobs] == [("next", "w1:1", str(NOW))]
    assert await q.zset(q.k.active) == [("next", NOW)]
    assert await q.lock("next") == "w1:1"
    assert await q.members(q.k.completed) == ["1"]
    assert await q.event_names() == ["completed", "active"]  # no "drained": a job is running


async def test_failed_job_moves_to_failed_with_reason_and_stacktrace(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.clear_events()

    res = await q.move_to_finished(
        [Finish(job.id, job.token, "failed", "boom", '["Traceback ..."]')], now=NOW
    )

    assert res.results == [1]
    assert await q.key_names() == {"id", "1", "failed", "events"}
    assert await q.zset(q.k.failed) == [("1", NOW)]
    h = await q.job("1")
    assert (h["failedReason"], h["stacktrace"], h["finishedOn"], h["attemptsMade"]) == (
        "boom",
        '["Traceback ..."]',
        str(NOW),
        "1",
    )
    assert await q.events() == [
        {"event": "failed", "jobId": "1", "failedReason": "boom", "attemptsMade": "1"},
        {"event": "drained"},
    ]


async def test_retry_without_delay_goes_back_to_wait_and_wakes_workers(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.add(job_id="other")
    await q.clear_events()
    await q.clear_marker()

    res = await q.move_to_finished([Finish(job.id, job.token, "retry", "flaky", '["tb"]')], now=NOW)

    assert res.results == [1]
    assert await q.wait_list() == ["other", "1"]  # back of the line
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.lock("1"))
    h = await q.job("1")
    assert (h["failedReason"], h["stacktrace"], h["attemptsMade"]) == ("flaky", '["tb"]', "1")
    assert "finishedOn" not in h
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "retried", "jobId": "1", "failedReason": "flaky", "attemptsMade": "1", "delay": "0"},
        {"event": "waiting", "jobId": "1", "prev": "failed"},
    ]


async def test_retry_of_a_prioritized_job_goes_back_to_its_priority(q: LuaQueue) -> None:
    job = await q.active_job(priority=3)
    await q.add(job_id="p3", priority=3)

    await q.move_to_finished([Finish(job.id, job.token, "retry", "flaky")], now=NOW)

    assert await q.zset(q.k.prioritized) == [("p3", 3 * PRIORITY_SHIFT + 2), ("1", 3 * PRIORITY_SHIFT + 3)]
    assert not await q.r.exists(q.k.wait)


async def test_retry_with_backoff_goes_to_delayed_and_reports_next_due(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.clear_events()
    await q.clear_marker()

    res = await q.move_to_finished(
        [Finish(job.id, job.token, "retry", "flaky", retry_delay_ms=2000)], now=NOW
    )

    assert (res.results, res.next_due) == ([1], NOW + 2000)
    assert await q.zset(q.k.delayed) == [("1", NOW + 2000)]
    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.active)
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "retried", "jobId": "1", "failedReason": "flaky", "attemptsMade": "1", "delay": "2000"},
        {"event": "delayed", "jobId": "1", "delay": str(NOW + 2000)},
        {"event": "drained"},
    ]
    # At the due time the next fetch promotes and takes it again, with a new token.
    again = await q.move_to_finished([], now=NOW + 2000, count=1)
    assert [(j.id, j.token) for j in again.jobs] == [("1", "w1:2")]


async def test_keep_count_zero_removes_the_job_at_once(q: LuaQueue) -> None:
    done = await q.active_job(job_id="done")
    bad = await q.active_job(job_id="bad")
    await q.add_log("done", "line")
    await q.clear_events()

    res = await q.move_to_finished(
        [
            Finish(done.id, done.token, "completed", '"r"', keep_count=0),
            Finish(bad.id, bad.token, "failed", "boom", "[]", keep_count=0),
        ],
        now=NOW,
    )

    assert res.results == [1, 1]
    assert await q.key_names() == {"events"}
    assert await q.events() == [
        {"event": "completed", "jobId": "done", "returnvalue": '"r"'},
        {"event": "failed", "jobId": "bad", "failedReason": "boom", "attemptsMade": "1"},
        {"event": "drained"},
    ]


async def test_keep_count_trims_the_oldest_finished_jobs(q: LuaQueue) -> None:
    for i in range(3):
        await q.finished_job(now=T0 + i, job_id=f"old{i}")
    await q.add_log("old0", "line")
    job = await q.active_job(job_id="new")

    await q.move_to_finished([Finish(job.id, job.token, keep_count=2)], now=NOW)

    assert await q.zset(q.k.completed) == [("old2", T0 + 2), ("new", NOW)]
    assert not await q.r.exists(q.k.job("old0"), q.k.logs("old0"), q.k.job("old1"))
    assert await q.r.exists(q.k.job("old2"), q.k.job("new")) == 2


async def test_keep_age_trims_finished_jobs_older_than_it(q: LuaQueue) -> None:
    await q.finished_job("failed", now=NOW - 10_000, job_id="ancient", keep_age_ms=5000)
    await q.finished_job("failed", now=NOW - 5000, job_id="edge", keep_age_ms=5000)
    await q.finished_job("failed", now=NOW - 4999, job_id="recent", keep_age_ms=5000)
    job = await q.active_job(job_id="new")

    await q.move_to_finished([Finish(job.id, job.token, "failed", "x", "[]", keep_age_ms=5000)], now=NOW)

    assert await q.zset(q.k.failed) == [("recent", NOW - 4999), ("new", NOW)]
    assert not await q.r.exists(q.k.job("ancient"), q.k.job("edge"))


async def test_each_job_keeps_its_own_age_limit(q: LuaQueue) -> None:
    """A job finished without an age limit is not removed by another job's; one with a limit goes at its
    own time, whichever job's call comes next."""
    await q.finished_job(now=NOW - 10_000, job_id="no-age")
    await q.finished_job(now=NOW - 10_000, job_id="short", keep_age_ms=2000)
    await q.finished_job(now=NOW - 10_000, job_id="long", keep_age_ms=60_000)
    job = await q.active_job(job_id="new")

    await q.move_to_finished([Finish(job.id, job.token, keep_age_ms=5000)], now=NOW)

    assert await q.members(q.k.completed) == ["no-age", "long", "new"]
    assert not await q.r.exists(q.k.job("short"))
    other = await q.active_job(job_id="other")
    await q.move_to_finished([Finish(other.id, other.token)], now=NOW + 60_000)  # no age limit of its own
    assert await q.members(q.k.completed) == ["no-age", "other"]


async def test_jobs_kept_forever_are_never_trimmed_nor_counted(q: LuaQueue) -> None:
    """keep_count -1 (remove_on_complete=False): later jobs' count rules neither remove nor count them."""
    for i in range(3):
        await q.finished_job(now=T0 + i, job_id=f"keep{i}", keep_count=-1)
    for i in range(3):
        await q.finished_job(now=T0 + 10 + i, job_id=f"c{i}", keep_count=2)

    assert await q.members(q.k.completed) == ["keep0", "keep1", "keep2", "c1", "c2"]
    assert await q.r.exists(q.k.job("keep0"), q.k.job("keep1"), q.k.job("keep2")) == 3
    assert not await q.r.exists(q.k.job("c0"))


async def test_counts_before_the_first_kept_job_still_apply_after_it(q: LuaQueue) -> None:
    """Jobs finished with a count before any job was kept forever are still counted and trimmed after."""
    await q.finished_job(now=T0, job_id="c0", keep_count=2)
    await q.finished_job(now=T0 + 1, job_id="c1", keep_count=2)
    await q.finished_job(now=T0 + 2, job_id="keep", keep_count=-1)
    await q.finished_job(now=T0 + 3, job_id="c2", keep_count=2)

    assert await q.members(q.k.completed) == ["c1", "keep", "c2"]


async def test_kept_jobs_removed_by_hand_are_forgotten(q: LuaQueue) -> None:
    """A kept job removed (or retried) leaves the retention indexes; counting goes on right; once no kept
    job is left, the extra index goes."""
    await q.finished_job(now=T0, job_id="keep", keep_count=-1)
    await q.remove("keep")
    for i in range(3):
        await q.finished_job(now=T0 + 10 + i, job_id=f"c{i}", keep_count=1)

    assert await q.members(q.k.completed) == ["c2"]
    assert not await q.r.exists(*q.k.retention_keys(q.k.completed))


async def test_an_age_only_rule_is_not_counted(q: LuaQueue) -> None:
    """KeepJobs(age=...) without a count: exempt from count rules, removed at its own age."""
    await q.finished_job(now=NOW - 500, job_id="aged", keep_count=-1, keep_age_ms=1000)
    await q.finished_job(now=NOW - 400, job_id="c0", keep_count=1)
    await q.finished_job(now=NOW - 300, job_id="c1", keep_count=1)
    assert await q.members(q.k.completed) == ["aged", "c1"]

    await q.finished_job(now=NOW + 600, job_id="c2", keep_count=1)
    assert await q.members(q.k.completed) == ["c2"]
    assert not await q.r.exists(q.k.job("aged"))


async def test_keep_count_and_age_together(q: LuaQueue) -> None:
    for i in range(3):
        await q.finished_job(now=NOW - 100 + i, job_id=f"c{i}")
    await q.finished_job(now=NOW - 10_000, job_id="ancient")  # oldest by far
    job = await q.active_job(job_id="new")

    await q.move_to_finished([Finish(job.id, job.token, keep_count=3, keep_age_ms=1000)], now=NOW)

    assert await q.members(q.k.completed) == ["c1", "c2", "new"]
    assert not await q.r.exists(q.k.job("ancient"), q.k.job("c0"))


async def test_token_mismatch_changes_nothing(q: LuaQueue) -> None:
    job = await q.active_job("w2")  # w2 holds it with token w2:1
    before = await q.snapshot()

    res = await q.move_to_finished([Finish(job.id, "w1:1", "completed", '"stolen"')], "w1", now=NOW)

    assert res.results == [0]
    assert await q.snapshot() == before


async def test_stale_token_after_a_takeover_changes_nothing(q: LuaQueue) -> None:
    old = await q.active_job("w1")
    assert await q.stall(old.id, now=T0 + 1) == [[old.id], []]  # back to wait
    new = (await q.move_to_active("w2")).jobs[0]
    assert new.token == "w2:2"
    before = await q.snapshot()

    res = await q.move_to_finished([Finish(old.id, old.token)], "w1", now=NOW)

    assert res.results == [0]
    assert await q.snapshot() == before


async def test_stale_token_is_refused_even_when_the_new_owner_lost_its_lock_too(q: LuaQueue) -> None:
    old = await q.active_job("w1")
    await q.stall(old.id, now=T0 + 1)
    await q.move_to_active("w2")
    await q.expire_lock(old.id)  # w2's lock lapsed as well; the job is still active under attempt 2
    before = await q.snapshot()

    res = await q.move_to_finished([Finish(old.id, old.token)], "w1", now=NOW)

    assert res.results == [0]
    assert await q.snapshot() == before


async def test_job_moved_back_to_wait_by_the_stall_check_is_not_finished(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.stall(job.id, now=T0 + 1)
    before = await q.snapshot()

    res = await q.move_to_finished([Finish(job.id, job.token)], now=NOW)

    assert res.results == [0]
    assert await q.snapshot() == before
    assert await q.wait_list() == ["1"]


async def test_expired_but_untaken_lock_is_still_ours(q: LuaQueue) -> None:
    await q.add()
    job = (await q.move_to_active(lock_ms=30)).jobs[0]
    await wait_until_gone(q.r, q.k.lock(job.id))  # the 30 ms lock really expires

    res = await q.move_to_finished([Finish(job.id, job.token, "completed", '"late"')], now=NOW)

    assert res.results == [1]
    assert await q.members(q.k.completed) == ["1"]
    assert not await q.r.exists(q.k.active)
    assert (await q.job("1"))["returnvalue"] == '"late"'


async def test_job_whose_hash_is_gone_reports_minus_one_and_leaves_active(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.r.delete(q.k.job(job.id))
    await q.clear_events()

    res = await q.move_to_finished([Finish(job.id, job.token)], now=NOW)

    assert res.results == [-1]
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.completed)
    assert await q.event_names() == ["drained"]


async def test_a_batch_finishes_each_job_on_its_own_merits(q: LuaQueue) -> None:
    a = await q.active_job(job_id="a")
    b = await q.active_job("w2", job_id="b")
    c = await q.active_job(job_id="c")
    await q.clear_events()

    res = await q.move_to_finished(
        [
            Finish(a.id, a.token, "completed", "1"),
            Finish(b.id, "w1:1", "completed", "2"),  # not ours
            Finish(c.id, c.token, "failed", "no", "[]"),
            Finish("ghost", "w1:1", "completed", "3"),
        ],
        now=NOW,
    )

    assert res.results == [1, 0, 1, -1]
    assert await q.members(q.k.completed) == ["a"]
    assert await q.members(q.k.failed) == ["c"]
    assert await q.members(q.k.active) == ["b"]
    assert await q.lock("b") == b.token
    assert await q.event_names() == ["completed", "failed"]  # b still runs: no "drained"


async def test_finishing_on_a_paused_queue_fetches_nothing(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.add(job_id="next")
    await q.pause()

    res = await q.move_to_finished([Finish(job.id, job.token)], now=NOW, count=5)

    assert (res.results, res.jobs) == ([1], [])
    assert await q.wait_list() == ["next"]
    assert not await q.r.exists(q.k.active)


async def test_rate_limited_fetch_reports_the_wait(q: LuaQueue) -> None:
    for _ in range(3):
        await q.add()
    first = await q.move_to_active(count=1, limit_max=1, limit_ms=60_000)
    job = first.jobs[0]

    res = await q.move_to_finished(
        [Finish(job.id, job.token)], now=NOW, count=2, limit_max=1, limit_ms=60_000
    )

    assert res.results == [1]
    assert res.jobs == []
    assert 0 < res.limited_ms <= 60_000
    assert await q.wait_list() == ["2", "3"]


async def test_fetch_promotes_due_delayed_jobs(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.add(job_id="d", delay=500)

    res = await q.move_to_finished([Finish(job.id, job.token)], now=T0 + 500, count=1)

    assert [j.id for j in res.jobs] == ["d"]
    assert not await q.r.exists(q.k.delayed)
    assert res.next_due == -1


async def test_drained_is_announced_only_when_nothing_is_ready_or_running(q: LuaQueue) -> None:
    a = await q.active_job(job_id="a")
    await q.add(job_id="b")
    await q.clear_events()

    await q.move_to_finished([Finish(a.id, a.token)], now=NOW)
    assert await q.event_names() == ["completed"]  # b waits

    b = (await q.move_to_active()).jobs[0]
    await q.add(job_id="later", delay=60_000)  # delayed jobs do not count
    await q.clear_events()
    await q.move_to_finished([Finish(b.id, b.token)], now=NOW)
    assert await q.event_names() == ["completed", "drained"]


async def test_repeated_call_after_a_lost_reply_reports_done_and_changes_nothing(q: LuaQueue) -> None:
    job = await q.active_job()
    first = await q.move_to_finished([Finish(job.id, job.token, "completed", '"r"')], now=NOW)
    assert first.results == [1]
    assert (await q.job(job.id))["ftk"] == job.token
    before = await q.snapshot()

    again = await q.move_to_finished([Finish(job.id, job.token, "completed", '"r"')], now=NOW + 5)

    assert again.results == [1]
    after = await q.snapshot()
    before_events, after_events = before.pop("events"), after.pop("events")
    assert after == before
    # The queue is still empty, so only another "drained" may be announced.
    assert [f["event"] for _i, f in after_events[1][len(before_events[1]) :]] == ["drained"]


async def test_repeated_call_with_another_token_is_not_ours(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.move_to_finished([Finish(job.id, job.token)], now=NOW)

    res = await q.move_to_finished([Finish(job.id, "w9:1")], "w9", now=NOW)

    assert res.results == [0]


async def test_cancel_requested_turns_a_retry_into_a_failure(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.cancel(job.id) == 2
    await q.clear_events()

    res = await q.move_to_finished(
        [Finish(job.id, job.token, "retry", "flaky", "[]", retry_delay_ms=1000)], now=NOW
    )

    assert res.results == [1]
    assert await q.zset(q.k.failed) == [(job.id, NOW)]
    assert not await q.r.exists(q.k.delayed)
    assert not await q.r.exists(q.k.wait)
    h = await q.job(job.id)
    assert (h["failedReason"], h["attemptsMade"]) == ("cancelled", "1")
    assert "cancel" not in h
    assert await q.events() == [
        {"event": "failed", "jobId": job.id, "failedReason": "cancelled", "attemptsMade": "1"},
        {"event": "drained"},
    ]


async def test_cancel_requested_does_not_change_a_completion(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.cancel(job.id) == 2

    res = await q.move_to_finished([Finish(job.id, job.token, "completed", '"done anyway"')], now=NOW)

    assert res.results == [1]
    assert await q.members(q.k.completed) == [job.id]
    h = await q.job(job.id)
    assert h["returnvalue"] == '"done anyway"'
    assert "cancel" not in h


async def test_metrics_window_counts_by_minute_and_name(q: LuaQueue) -> None:
    """With a metrics window, finished jobs are counted per minute and per name, with run/wait buckets."""
    job = await q.active_job()
    await q.move_to_finished([Finish(job.id, job.token)], now=NOW, metrics_window=3)
    meta = await q.r.hgetall(q.k.metrics("completed"))
    assert meta == {b"count": b"1", b"prevTS": str(NOW).encode(), b"prevCount": b"0", b"maxDataPoints": b"3"}
    totals = {k.decode(): int(v) for k, v in (await q.r.hgetall(q.k.metrics_totals)).items()}
    assert totals["c|completed|job"] == 1 and totals["dn|job"] == 1 and totals["wn|job"] == 1
    # Two minutes later: the first minute (1 job) and one empty minute are pushed, newest first.
    job = await q.active_job(now=NOW + 2 * 60_000)
    await q.move_to_finished([Finish(job.id, job.token)], now=NOW + 2 * 60_000, metrics_window=3)
    assert await q.r.lrange(q.k.metrics_data("completed"), 0, -1) == [b"0", b"1"]
    assert await q.r.hget(q.k.metrics("completed"), "count") == b"2"
    # Ten minutes later: everything known is older than the window of 3 minutes: only zeros are kept.
    job = await q.active_job(now=NOW + 12 * 60_000)
    await q.move_to_finished([Finish(job.id, job.token)], now=NOW + 12 * 60_000, metrics_window=3)
    assert await q.r.lrange(q.k.metrics_data("completed"), 0, -1) == [b"0", b"0", b"0"]


async def test_no_metrics_window_writes_no_metrics(q: LuaQueue) -> None:
    """Window 0: no metrics keys are written."""
    job = await q.active_job()
    await q.move_to_finished([Finish(job.id, job.token)], now=NOW)
    assert not await q.r.exists(q.k.metrics("completed"), q.k.metrics_totals)
