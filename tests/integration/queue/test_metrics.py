"""Metrics kept in Redis by the finishing script: per-minute counts (get_metrics) and per-name totals."""

from __future__ import annotations

import pytest

from framework import UnrecoverableError
from framework.observability.metrics import MetricsOptions, build_metrics, get_totals


async def test_completed_and_failed_counts_equal_the_jobs_finished(make_queue, make_worker) -> None:
    """After a run, get_metrics counts every completed and every failed-for-good job (retries not)."""
    q = make_queue()
    await q.add_bulk([{"name": "ok", "data": i} for i in range(25)])
    await q.add_bulk([{"name": "bad", "data": i, "opts": {"attempts": 2}} for i in range(4)])

    def handler(job):
        if job.name == "bad":
            raise ValueError("boom")
        return job.data

    await make_worker(handler, start=False, concurrency=4).run_until_drained()
    completed = await q.get_metrics("completed")
    failed = await q.get_metrics("failed")
    assert completed.meta.count == completed.meta["count"] == 25
    assert sum(completed.data) == 25 and completed.data[0] >= 1
    assert failed.meta.count == 4 and sum(failed.data) == 4
    assert completed.count == len(completed.data) >= 1


async def test_totals_count_by_name_and_state_with_histograms(make_queue, make_worker) -> None:
    """The totals hash counts jobs by name and state (retried attempts apart) and observes run/wait times."""
    q = make_queue()
    await q.add_bulk([{"name": "a", "data": i} for i in range(6)])
    await q.add("b", 1, attempts=3)

    async def handler(job):
        if job.name == "b":
            raise UnrecoverableError("no") if job.attempts_made == 1 else ValueError("again")

    await make_worker(handler, start=False).run_until_drained()
    totals = await get_totals(q)
    assert totals.jobs == {("a", "completed"): 6, ("b", "retried"): 1, ("b", "failed"): 1}
    assert totals.duration["a"].count == 6 and sum(totals.duration["a"].buckets) == 6
    assert totals.duration["b"].count == 2
    assert totals.wait["a"].count == 6 and totals.wait["b"].count == 1  # wait: first attempt only


async def test_metrics_off_writes_nothing(make_queue, make_worker, redis) -> None:
    """Worker(metrics=False) keeps no metrics keys at all."""
    q = make_queue()
    await q.add_bulk([{"name": "a", "data": i} for i in range(3)])
    await make_worker(lambda job: None, start=False, metrics=False).run_until_drained()
    assert (await q.get_metrics("completed")).meta.count == 0
    assert not await redis.exists(q.keys.metrics_totals, q.keys.metrics("completed"))


async def test_removed_on_complete_jobs_are_counted(make_queue, make_worker) -> None:
    """A job removed at completion (remove_on_complete=True) still counts."""
    q = make_queue()
    await q.add_bulk([{"name": "a", "data": i, "opts": {"remove_on_complete": True}} for i in range(5)])
    await make_worker(lambda job: None, start=False).run_until_drained()
    assert (await q.get_metrics("completed")).meta.count == 5
    assert (await get_totals(q)).jobs[("a", "completed")] == 5


def test_minutes_are_anchored_to_the_server_clock() -> None:
    """Stored minutes shift by the minutes passed since the last write; start/end slice like LRANGE."""
    minute = 60_000
    prev = 100 * minute + 5
    # 7 jobs ever, 4 of them in prevTS's minute; stored minutes before it: 2, 1.
    m = build_metrics([b"7", str(prev).encode(), b"3", b"1440"], [b"2", b"1"], prev + 2 * minute, 0, -1)
    assert m.data == [0, 0, 4, 2, 1] and m.count == 5 and m.meta.prev_count == 3
    assert build_metrics([b"7", str(prev).encode(), b"3", b"1440"], [b"2", b"1"], prev, 1, 2).data == [2, 1]
    assert build_metrics([None, None, None, None], [], prev, 0, -1).data == []


async def test_bad_kind_and_options_are_refused(make_queue) -> None:
    """An unknown kind or a window below one minute is refused with a clear error."""
    q = make_queue()
    with pytest.raises(ValueError, match="'completed' or 'failed'"):
        await q.get_metrics("done")
    with pytest.raises(ValueError, match="max_data_points"):
        MetricsOptions(max_data_points=0)


async def test_wait_time_of_a_promoted_delayed_job_does_not_count_its_delay(make_queue, make_worker) -> None:
    """A job delayed by an hour and promoted now waited seconds, not an hour (wait runs from ready)."""
    q = make_queue()
    await q.add("late", 1, delay=3600)
    await q.add("due", 2, delay=0.05)
    assert await q.promote_jobs() >= 1
    await make_worker(lambda job: None, start=False).run_until_drained(include_delayed=True)
    wait = (await get_totals(q)).wait
    assert wait["late"].count == 1 and wait["late"].sum < 60
    assert wait["due"].count == 1 and wait["due"].sum < 60
