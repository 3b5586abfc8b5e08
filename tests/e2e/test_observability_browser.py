"""The observability pages in a real headless Chromium: activity charts per queue (last hour, last day),
timing percentiles, Redis server info, and the live workers page.

The last hour's history of each queue is seeded into its metrics keys (as the finishing script writes them,
one count per past minute) so the charts have a shape; the current minute comes from a real drain. With
NESTQ_UPDATE_SCREENSHOTS=1 the screenshots replace docs/dashboard-activity.png and docs/dashboard-workers.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from framework import UnrecoverableError
from framework.queue import Job, Queue, Worker
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, DOCS, DashboardThread

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
    pytest.mark.timeout(180),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is a dev dependency")
expect = playwright_api.expect


@pytest.fixture
async def queues(redis_url: str, prefix: str) -> AsyncIterator[dict[str, Queue]]:
    made = {name: Queue(name, connection=redis_url, prefix=prefix) for name in ("email", "reports")}
    yield made
    for queue in made.values():
        await queue.obliterate(force=True)
        await queue.close()


async def seed_history(queue: Queue, completed: list[int], failed: list[int]) -> None:
    """Past minutes (newest first) as moveToFinished keeps them: a list per kind and its meta hash."""
    secs, micros = await queue.client.time()
    now = secs * 1000 + micros // 1000
    for kind, points in (("completed", completed), ("failed", failed)):
        await queue.client.rpush(queue.keys.metrics_data(kind), *points)
        total = sum(points)
        await queue.client.hset(
            queue.keys.metrics(kind),
            mapping={"count": total, "prevTS": now, "prevCount": total, "maxDataPoints": 1440},
        )


async def handler(job: Job[Any]) -> Any:
    await asyncio.sleep(0.002 * (job.data % 5))
    if job.name == "charge" and job.data % 7 == 0:
        raise UnrecoverableError("card declined")
    return job.data


async def test_activity_charts_and_workers_page(
    queues: dict[str, Queue], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """Charts show each queue's jobs per minute, the percentiles and Redis info; Workers lists live ones."""
    email, reports = queues["email"], queues["reports"]
    wave = [int(30 + 25 * math.sin(i / 6)) for i in range(59)]
    await seed_history(email, wave, [(i % 9 == 0 and 3) or 0 for i in range(59)])
    await seed_history(
        reports, [w // 4 for w in reversed(wave)], [1 if i % 17 == 0 else 0 for i in range(59)]
    )
    await email.add_bulk([{"name": "send", "data": i} for i in range(40)])
    await reports.add_bulk([{"name": "charge", "data": i} for i in range(21)])
    for name in ("email", "reports"):
        await Worker(name, handler, connection=redis_url, prefix=prefix).run_until_drained()
    expected_email = sum(wave) + 40

    workers = [
        Worker("email", handler, connection=redis_url, prefix=prefix, concurrency=4),
        Worker("reports", handler, connection=redis_url, prefix=prefix, concurrency=2),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    shots = DOCS if os.environ.get("NESTQ_UPDATE_SCREENSHOTS") == "1" else tmp_path
    dashboard = DashboardThread(redis_url, prefix)
    dashboard.start()
    errors: list[str] = []
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1360, "height": 900})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

                await page.goto(dashboard.url)
                await page.get_by_role("link", name="Activity").click()
                await page.wait_for_url("**/activity")
                card = page.locator('section.obs-queue[data-queue="email"]')
                await expect(card.locator('[data-window="completed"]')).to_have_text(str(expected_email))
                await expect(
                    page.locator('section.obs-queue[data-queue="reports"] [data-window="failed"]')
                ).to_have_text(str(4 + 3))
                assert await card.locator("svg.chart").count() == 2
                assert await card.locator("svg.chart").first.locator("rect").count() == 60
                await expect(card.locator("table.obs-timing")).to_contain_text("ms")
                await expect(page.locator("#redis-server")).to_contain_text("Clients")
                await page.screenshot(path=str(shots / "dashboard-activity.png"), full_page=True)

                await page.get_by_role("link", name="Last day").click()
                await page.wait_for_url("**/activity?range=day")
                assert await card.locator("svg.chart").first.locator("rect").count() == 96
                await expect(card.locator('[data-window="completed"]')).to_have_text(str(expected_email))

                await page.locator("nav.topnav").get_by_role("link", name="Workers").click()
                await page.wait_for_url("**/workers")
                rows = page.locator("#workers-table tbody tr[data-worker]")
                await expect(rows).to_have_count(2)
                await expect(page.locator(f'tr[data-worker="{workers[0].id}"]')).to_contain_text("0/4")
                await page.screenshot(path=str(shots / "dashboard-workers.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        dashboard.stop()
        for w in workers:
            await w.close(timeout=5)
        for t in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 10)
    assert errors == []
