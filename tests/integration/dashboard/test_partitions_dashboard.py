"""A partitioned queue is one queue on the dashboard, in the ops CLI and in the Prometheus totals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from framework.cli import main
from framework.dashboard import create_dashboard, data
from framework.observability.metrics import get_totals
from framework.queue import Job, Queue, Worker

from .conftest import BASE, client

K = 3


async def _seed(redis_url: str, prefix: str) -> list[str]:
    """`hot` in 3 partitions: 6 completed, 1 failed, 2 waiting."""
    q = Queue("hot", connection=redis_url, prefix=prefix, partitions=K)

    async def handler(job: Job[Any]) -> Any:
        if job.name == "boom":
            raise ValueError("boom")
        return {"ok": job.id}

    jobs = await q.add_bulk([{"name": "send", "data": i} for i in range(6)])
    await q.add("boom", None, attempts=1, job_id="boom-1")
    w = Worker("hot", handler, connection=redis_url, prefix=prefix, partitions=K)
    await w.run_until_drained()
    await w.close()
    await q.add_bulk([{"name": "later", "data": i} for i in range(2)])
    await q.close()
    return [j.id for j in jobs]


async def test_discovered_once_with_summed_counts_and_job_pages(
    redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    ids = await _seed(redis_url, prefix)
    source = data.DiscoveredQueues(redis, prefix)
    try:
        assert await source.names() == ["hot"]
        [row] = await data.list_queues(source)
        assert (row["counts"]["completed"], row["counts"]["failed"], row["counts"]["waiting"]) == (6, 1, 2)
        async with client(create_dashboard(source)) as http:
            page = await http.get(f"{BASE}/queues/hot?state=completed")
            job = await http.get(f"{BASE}/queues/hot/jobs/{ids[0]}")
            failed = await http.get(f"{BASE}/queues/hot/jobs/boom-1")
        assert page.status_code == 200 and all(job_id in page.text for job_id in ids)
        assert job.status_code == 200 and f"&#34;ok&#34;: &#34;{ids[0]}&#34;" in job.text
        assert failed.status_code == 200 and "boom" in failed.text
        totals = await get_totals(await source.get("hot"))
        assert totals.jobs[("send", "completed")] == 6
    finally:
        await source.close()


def test_cli_shows_one_queue(
    env: None, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(redis_url, prefix))
    capsys.readouterr()
    assert main(["queues", "--json"]) == 0
    queues = {q["name"]: q for q in json.loads(capsys.readouterr().out)}
    assert set(queues) == {"hot"}
    assert queues["hot"]["counts"]["completed"] == 6
    assert main(["job", "hot", ids[1], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == ids[1]
    assert main(["retry", "hot", "--all"]) == 0
    capsys.readouterr()
    assert main(["jobs", "hot", "--state", "waiting", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert len(listing["jobs"]) == 3  # the 2 waiting and the retried one
