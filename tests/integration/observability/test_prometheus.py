"""Prometheus exposition: totals read from Redis, so jobs drained by several processes are counted once."""

from __future__ import annotations

import asyncio
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from framework.dashboard.server import start_dashboard
from framework.observability import metrics_app
from framework.queue import Queue, Worker
from framework.settings import DashboardSettings

DRAIN = """
import asyncio, sys
from framework.connection import create_client
from framework import UnrecoverableError
from framework.queue import Worker

async def handler(job):
    await asyncio.sleep(0.005)
    if job.name == "bad":
        raise UnrecoverableError("bad job")
    return job.data

async def main():
    # Both processes start together (a barrier in Redis), so both take part in the drain.
    r, _ = create_client(sys.argv[1])  # a RedisCluster on a cluster URL
    await r.incr(sys.argv[3])
    while int(await r.get(sys.argv[3])) < 2:
        await asyncio.sleep(0.01)
    await r.aclose()
    w = Worker("q", handler, connection=sys.argv[1], prefix=sys.argv[2], concurrency=4)
    await w.run_until_drained()

asyncio.run(main())
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_after_a_drain_by_two_processes_count_every_job_once(redis_url, prefix) -> None:
    """Two worker processes drain one queue; /metrics (parsed) shows exactly the jobs finished."""
    q = Queue("q", connection=redis_url, prefix=prefix)
    try:
        await q.add_bulk([{"name": "ok", "data": i} for i in range(300)])
        await q.add_bulk([{"name": "bad", "data": i} for i in range(7)])
        args = ["-c", DRAIN, redis_url, prefix, f"{{{prefix}}}:barrier"]
        children = [await asyncio.create_subprocess_exec(sys.executable, *args) for _ in range(2)]
        codes = await asyncio.wait_for(asyncio.gather(*(c.wait() for c in children)), 90)
        assert codes == [0, 0]
        workers = {job.worker for job in await q.get_jobs(["completed"], 0, -1)}
        assert len(workers) == 2, "both processes should have run jobs"
        server = await start_dashboard([q], DashboardSettings(), port=0)
        try:
            async with httpx.AsyncClient() as http:
                response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
        finally:
            await server.stop()
        assert response.status_code == 200
        got = samples(response.text)
        assert got[("nestq_jobs_total", (("name", "ok"), ("queue", "q"), ("state", "completed")))] == 300
        assert got[("nestq_jobs_total", (("name", "bad"), ("queue", "q"), ("state", "failed")))] == 7
        assert got[("nestq_job_duration_seconds_count", (("name", "ok"), ("queue", "q")))] == 300
        inf = ("nestq_job_duration_seconds_bucket", (("le", "+Inf"), ("name", "ok"), ("queue", "q")))
        assert got[inf] == 300
        assert got[("nestq_job_wait_seconds_count", (("name", "ok"), ("queue", "q")))] == 300
        assert got[("nestq_queue_jobs", (("queue", "q"), ("state", "completed")))] == 300
        assert got[("nestq_queue_jobs", (("queue", "q"), ("state", "failed")))] == 7
        assert got[("nestq_queue_jobs", (("queue", "q"), ("state", "waiting")))] == 0
        assert got[("nestq_workers", (("queue", "q"),))] == 0  # both exited and said goodbye
    finally:
        await q.close()


async def test_metrics_app_counts_live_workers_and_buckets_are_cumulative(redis_url, prefix) -> None:
    """metrics_app (ASGI, mountable anywhere) shows a running worker and cumulative histogram buckets."""
    q = Queue("q", connection=redis_url, prefix=prefix)
    done = asyncio.Event()
    await q.add_bulk([{"name": "n", "data": i} for i in range(5)])

    async def handler(job):
        if job.data == 4:
            done.set()

    w = Worker("q", handler, connection=redis_url, prefix=prefix)
    task = asyncio.create_task(w.run())
    try:
        await asyncio.wait_for(done.wait(), 10)
        transport = httpx.ASGITransport(app=metrics_app([q]))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for _ in range(200):
                got = samples((await http.get("/")).text)
                key = ("nestq_jobs_total", (("name", "n"), ("queue", "q"), ("state", "completed")))
                if got.get(key) == 5 and got.get(("nestq_workers", (("queue", "q"),))) == 1:
                    break
                await asyncio.sleep(0.05)
            assert got[key] == 5 and got[("nestq_workers", (("queue", "q"),))] == 1
            buckets = [v for (name, labels), v in got.items() if name == "nestq_job_duration_seconds_bucket"]
            assert buckets == sorted(buckets) and buckets[-1] == 5
            assert (await http.post("/")).status_code == 405
    finally:
        await w.close()
        await task
        await q.close()
