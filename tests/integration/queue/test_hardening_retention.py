"""Retention is each job's own (issue 13): another job's rule never removes a job nor counts it."""

from __future__ import annotations

from framework import KeepJobs


async def test_jobs_kept_forever_survive_other_jobs_default_retention(make_queue, make_worker) -> None:
    """1000 jobs with remove_on_complete=False stay when later jobs (keep 5) are trimmed."""
    q = make_queue()
    kept = await q.add_bulk([{"name": "keep", "opts": {"remove_on_complete": False}} for _ in range(1000)])
    await make_worker(lambda job: None, start=False, concurrency=20).run_until_drained()
    trimmed = await q.add_bulk([{"name": "trim", "opts": {"remove_on_complete": 5}} for _ in range(50)])
    await make_worker(lambda job: None, start=False, concurrency=20).run_until_drained()
    completed = set(await q.get_job_ids("completed"))
    assert {j.id for j in kept} <= completed
    assert len(completed & {j.id for j in trimmed}) == 5
    assert await q.client.zcard(q.keys.completed) == 1005
    assert await q.client.exists(*[q.keys.job(j.id) for j in kept]) == 1000


async def test_kept_failed_jobs_survive_an_age_rule(make_queue, make_worker) -> None:
    """remove_on_fail=False jobs, and jobs with only a count, are not removed by a later job's age limit."""
    q = make_queue()
    kept = await q.add_bulk([{"name": "keep", "opts": {"remove_on_fail": False}} for _ in range(20)])
    counted = await q.add("counted", None, remove_on_fail=100)

    def boom(job) -> None:
        raise ValueError("no")

    await make_worker(boom, start=False).run_until_drained()
    await q.add("aged", None, remove_on_fail=KeepJobs(age=0.001))
    await make_worker(boom, start=False).run_until_drained()
    failed = set(await q.get_job_ids("failed"))
    assert {j.id for j in kept} | {counted.id} <= failed


async def test_a_kept_job_finished_again_under_a_count_is_counted_again(make_queue, make_worker) -> None:
    """A job kept forever, retried and failed again with a count: that count now applies to it."""
    q = make_queue()

    def boom(job) -> None:
        raise ValueError("no")

    job = await q.add("n", None, job_id="again", remove_on_fail=False)
    await make_worker(boom, start=False).run_until_drained()
    await q.client.hset(q.keys.job(job.id), "opts", '{"remove_on_fail": 1}')  # as if re-added with a limit
    await q.retry_jobs("failed")
    await make_worker(boom, start=False).run_until_drained()
    await q.add_bulk([{"name": "t", "opts": {"remove_on_fail": 1}} for _ in range(3)])
    await make_worker(boom, start=False).run_until_drained()
    assert job.id not in await q.get_job_ids("failed")
    assert await q.client.zcard(q.keys.failed) == 1
