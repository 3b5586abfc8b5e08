"""Scripts that meet hand-edited data (issue 13): they check a job before its first write, fail (or repair)
that job cleanly and leave every other job alone; nothing is left in no state."""

from __future__ import annotations

import asyncio

from framework.queue import Queue

from .conftest import take_job, wait_for


async def _states(q: Queue, *ids: str) -> list[str]:
    return [(await q.get_job_state(i)).value for i in ids]


async def _nothing_active_or_locked(q: Queue) -> bool:
    active = await q.client.zcard(q.keys.active)
    locks = [k async for k in q.client.scan_iter(match=q.base.replace("{", "[{]") + "*:lock")]
    return active == 0 and not locks


async def test_non_integer_attempts_made_fails_that_job_only(make_queue, make_worker) -> None:
    """moveToFinished: a job whose attemptsMade was edited to text ends failed, naming it; its batch-mate
    completes; nothing stays active or locked."""
    q = make_queue()
    bad = await q.add("n", "bad")
    good = await q.add("n", "good")
    both_running = asyncio.Event()
    running: set[str] = set()

    async def handler(job):
        running.add(job.id)
        if len(running) == 2:
            both_running.set()
        await asyncio.wait_for(both_running.wait(), 5)
        if job.id == bad.id:
            await q.client.hset(q.keys.job(bad.id), "attemptsMade", "lots")
        return job.data

    make_worker(handler, concurrency=2)
    await wait_for(lambda: _done(q, bad.id, good.id), timeout=15)
    assert await _states(q, bad.id, good.id) == ["failed", "completed"]
    stored = await q.get_job(bad.id)
    assert stored is not None and stored.failed_reason.startswith("corrupt job: its attemptsMade")
    assert stored.attempts_made == 1
    assert await _nothing_active_or_locked(q)


async def _done(q: Queue, *ids: str) -> bool:
    return all(s in ("completed", "failed") for s in await _states(q, *ids))


async def test_job_key_of_another_type_is_dropped_not_half_finished(make_queue, make_worker) -> None:
    """moveToFinished: a job whose hash was replaced by a string is dropped from active; others finish."""
    q = make_queue()
    bad = await q.add("n", "bad")
    good = await q.add("n", "good")

    async def handler(job):
        if job.id == bad.id:
            await q.client.delete(q.keys.job(bad.id))
            await q.client.set(q.keys.job(bad.id), "not a hash")
        return job.data

    make_worker(handler, concurrency=2)
    await wait_for(lambda: _done(q, good.id), timeout=15)
    await wait_for(lambda: _nothing_active_or_locked(q), timeout=15)
    assert await q.client.get(q.keys.job(bad.id)) == b"not a hash"  # left as it was


async def test_non_integer_start_count_is_restarted_when_fetched(make_queue, make_worker) -> None:
    """fetchJobs: a job whose `ats` was edited to text still runs (the count restarts), nothing is lost."""
    q = make_queue()
    job = await q.add("n", 1)
    await q.client.hset(q.keys.job(job.id), "ats", "many")
    done = asyncio.Event()
    make_worker(lambda j: done.set())
    await asyncio.wait_for(done.wait(), 10)
    await wait_for(lambda: _done(q, job.id), timeout=10)
    assert await _states(q, job.id) == ["completed"]


async def test_stalled_job_with_corrupt_counters_is_recovered(make_queue, make_worker) -> None:
    """moveStalledJobsToWait: a stalled job with text in its stall count goes back to waiting and runs."""
    q = make_queue()
    job = await q.add("n", 1)
    await take_job(q, lock_ms=50)
    await q.client.hset(q.keys.job(job.id), mapping={"stc": "x"})
    done = asyncio.Event()
    make_worker(lambda j: done.set(), stalled_interval=0.2, max_stalled_count=5)
    await asyncio.wait_for(done.wait(), 15)
    await wait_for(lambda: _done(q, job.id), timeout=10)
    assert await _states(q, job.id) == ["completed"]


async def test_stall_check_survives_a_job_it_cannot_read(make_queue, make_worker) -> None:
    """A recovered stalled job whose hash is corrupt does not crash the stall-check loop; the job fails."""
    q = make_queue()
    job = await q.add("n", 1)
    await take_job(q, lock_ms=50)
    await q.client.hset(q.keys.job(job.id), "attemptsMade", "y")
    w = make_worker(lambda j: None, stalled_interval=0.2)
    await wait_for(lambda: _done(q, job.id), timeout=15)
    assert await _states(q, job.id) == ["failed"]
    stalls = [t for t in w._loops if t.get_name().startswith("nestq-stalls")]
    assert stalls and not stalls[0].done()
