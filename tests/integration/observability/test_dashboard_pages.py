"""The dashboard's observability pages and their JSON twins: activity, workers, Redis server info."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from framework.dashboard import create_dashboard
from framework.dashboard.auth import TokenAuth
from framework.queue import Queue, Worker

TOKEN = "observability-token"
EVIL = "<b>evil</b>"


@pytest.fixture
async def setup(redis_url, prefix):
    """Two queues (one with a name that is markup); 5 jobs completed and 2 failed on the first."""
    q = Queue("mail", connection=redis_url, prefix=prefix)
    evil = Queue(EVIL, connection=redis_url, prefix=prefix)
    await q.add_bulk([{"name": "send", "data": i} for i in range(7)])
    await evil.add("x", 1)

    def handler(job):
        if job.data >= 5:
            raise ValueError("no")

    await Worker("mail", handler, connection=redis_url, prefix=prefix).run_until_drained()
    await Worker(EVIL, handler, connection=redis_url, prefix=prefix).run_until_drained()
    app = create_dashboard([q, evil], auth=TokenAuth(TOKEN))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = "http://t/admin/queues"
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers) as http:
        yield http, q
    for queue in (q, evil):
        await queue.obliterate(force=True)
        await queue.close()


async def test_activity_api_counts_the_jobs_of_this_minute(setup) -> None:
    """/api/activity returns per-minute series ending with this minute's completed and failed jobs."""
    http, _ = setup
    day = (await http.get("/api/activity", params={"range": "day"})).json()
    assert day["minutes"] == 1440
    mail = next(r for r in day["queues"] if r["queue"] == "mail")
    assert len(mail["completed"]) == 1440 and mail["completed"][-1] == 5 and mail["failed"][-1] == 2
    assert (await http.get("/api/activity", params={"range": "week"})).status_code == 400


async def test_activity_page_draws_escaped_svg_charts(setup) -> None:
    """The page has two SVG charts per queue with one bar per minute; a queue name never becomes markup."""
    http, _ = setup
    page = await http.get("/activity")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 4 and page.text.count("<rect ") == 4 * 60
    assert EVIL not in page.text and "&lt;b&gt;evil&lt;/b&gt;" in page.text


async def test_workers_api_and_page_list_a_running_worker(setup, redis_url, prefix) -> None:
    """/api/workers and /workers show a worker while it runs; /api/server reports the server."""
    http, _ = setup
    worker = Worker("mail", lambda job: None, connection=redis_url, prefix=prefix, concurrency=3)
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(200):
            listed = (await http.get("/api/workers")).json()
            if listed:
                break
            await asyncio.sleep(0.02)
        assert [(w["id"], w["queue"], w["concurrency"]) for w in listed] == [(worker.id, "mail", 3)]
        page = await http.get("/workers")
        assert worker.id in page.text and "0/3" in page.text
    finally:
        await worker.close()
        await task
    server = (await http.get("/api/server")).json()
    assert server["version"] and server["connected_clients"] >= 1 and server["used_memory"] > 0
