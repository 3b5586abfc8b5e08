"""Retention is each job's own (issue 13): a job kept forever is never trimmed by another job's rule."""

from __future__ import annotations

from framework.queue.options import RESERVED_JOB_IDS


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
    """remove_on_fail=False jobs are not removed by a later job's age limit."""
    q = make_queue()
    kept = await q.add_bulk([{"name": "keep", "opts": {"remove_on_fail": False}} for _ in range(20)])

    def boom(job) -> None:
        raise ValueError("no")

    await make_worker(boom, start=False).run_until_drained()
    await q.add("aged", None, remove_on_fail={"age": 0.001})
    await make_worker(boom, start=False).run_until_drained()
    failed = set(await q.get_job_ids("failed"))
    assert {j.id for j in kept} <= failed


async def test_a_job_kept_then_rerun_with_a_limit_is_trimmed_again(make_queue, make_worker) -> None:
    """A kept job that is finished again under a finite rule loses its exemption."""
    q = make_queue()
    job = await q.add("n", None, job_id="again", remove_on_complete=False)
    await make_worker(lambda j: None, start=False).run_until_drained()
    assert await q.client.zscore(q.keys.completed + ":kept", job.id) is not None
    await q.client.zadd(q.keys.completed, {job.id: 1})  # as if it finished again
    await q.client.zrem(q.keys.completed + ":kept", job.id)
    await q.add_bulk([{"name": "t", "opts": {"remove_on_complete": 1}} for _ in range(3)])
    await make_worker(lambda j: None, start=False).run_until_drained()
    assert job.id not in await q.get_job_ids("completed")


def test_kept_indexes_cannot_be_named_by_a_job_id() -> None:
    """completed:kept / failed:kept are reserved job ids (they are queue keys)."""
    assert {"completed:kept", "failed:kept"} <= RESERVED_JOB_IDS
