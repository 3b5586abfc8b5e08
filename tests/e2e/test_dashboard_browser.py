"""The dashboard in a real headless Chromium: open the queues, click into a failed job, retry it, and
watch it complete through the live refresh (a worker in the test process runs it).

The dashboard is served by uvicorn on a free loopback port in a thread of its own (with its own event
loop and Redis clients). Screenshots are taken on every run; with NESTQ_UPDATE_SCREENSHOTS=1 they
replace docs/dashboard-queues.png and docs/dashboard-job.png (so a plain test run leaves the tree clean).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.dashboard import start_dashboard
from framework.queue import Job, Queue, Worker
from framework.settings import DashboardSettings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
QUEUES = ("email", "reports", "notifications", "maintenance")

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
    pytest.mark.timeout(180),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is a dev dependency")


class DashboardThread:
    """uvicorn serving the dashboard in another thread, on its own loop and its own Queue objects."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="dashboard", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        queues = [Queue(name, connection=self.redis_url, prefix=self.prefix) for name in QUEUES]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await start_dashboard(queues, DashboardSettings(), port=0)
        self.url = server.url
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            for queue in queues:
                await queue.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(30), "the dashboard did not start"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture
def dashboard(redis_url: str, prefix: str) -> Iterator[DashboardThread]:
    server = DashboardThread(redis_url, prefix)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def queues(redis_url: str, prefix: str) -> AsyncIterator[dict[str, Queue]]:
    made = {name: Queue(name, connection=redis_url, prefix=prefix) for name in QUEUES}
    yield made
    for queue in made.values():
        await queue.obliterate(force=True)
        await queue.close()


class Flaky:
    """A handler whose `send-receipt` jobs fail until `healed` (the outage is over: a retry succeeds)."""

    def __init__(self) -> None:
        self.healed = False

    async def __call__(self, job: Job[Any]) -> Any:
        await job.log(f"{job.name} started")
        await job.update_progress(50)
        if job.name == "send-receipt" and not self.healed:
            raise ConnectionError("SMTP server smtp.example.com refused the connection (421 try later)")
        await job.update_progress(100)
        return {"delivered": True, "to": job.data.get("to")}


async def _seed(queues: dict[str, Queue], redis_url: str, prefix: str, handler: Flaky) -> str:
    """Realistic content for the screenshots; returns the id of the failed job to retry."""
    email, reports, notifications, maintenance = (queues[n] for n in QUEUES)
    for i in range(14):
        await email.add("send-welcome", {"to": f"user{i}@example.com", "template": "welcome"})
    failed = await email.add(
        "send-receipt", {"to": "ada@example.com", "order": 1042, "note": "<script>alert(1)</script>"}
    )
    for i in range(6):
        await reports.add("generate", {"report": f"sales-2024-q{i % 4 + 1}", "format": "pdf"})
    for name in ("email", "reports"):
        worker = Worker(name, handler, connection=redis_url, prefix=prefix)
        await worker.run_until_drained()
        await worker.close()
    await email.add("send-digest", {"to": "ops@example.com"}, delay=3600)
    await reports.add("generate", {"report": "yearly", "format": "xlsx"}, delay=7200)
    for i in range(8):
        await notifications.add("push", {"user": i, "text": "Your order shipped"})
    await notifications.pause()
    await maintenance.add("cleanup", {"older_than_days": 30}, delay=600)
    if hasattr(maintenance, "upsert_job_scheduler"):
        from framework.queue import Repeat

        await maintenance.upsert_job_scheduler("nightly-cleanup", Repeat(cron="0 3 * * *"), name="cleanup")
    return failed.id


async def test_retry_a_failed_job_in_the_browser(
    dashboard: DashboardThread, queues: dict[str, Queue], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """Queue list -> queue -> failed job -> Retry -> the page shows it completed, without a reload."""
    handler = Flaky()
    failed_id = await _seed(queues, redis_url, prefix, handler)
    email = queues["email"]
    assert str(await email.get_job_state(failed_id)) == "failed"

    handler.healed = True
    worker = Worker("email", handler, connection=redis_url, prefix=prefix)
    worker_task = asyncio.create_task(worker.run())
    shots = DOCS if os.environ.get("NESTQ_UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(exist_ok=True)
    errors: list[str] = []
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1360, "height": 800})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.dismiss()))

                await page.goto(dashboard.url)
                await page.wait_for_selector("#live-dot")
                row = page.locator('tr[data-queue="email"]')
                await playwright_api.expect(row.locator('[data-count="failed"]')).to_have_text("1")
                await playwright_api.expect(page.locator("label.live")).to_have_class("live on")
                await page.screenshot(path=str(shots / "dashboard-queues.png"), full_page=True)

                await row.locator("a.queue-link").click()
                await page.wait_for_url("**/queues/email")
                await playwright_api.expect(page.locator(".tab.active")).to_contain_text("Failed")
                await page.locator(f'tr[data-job-id="{failed_id}"] a').first.click()
                await page.wait_for_url(f"**/queues/email/jobs/{failed_id}")

                badge = page.locator('[data-field="state"]')
                await playwright_api.expect(badge).to_have_text("Failed")
                await playwright_api.expect(page.locator('[data-field="failed_reason"]')).to_contain_text(
                    "refused the connection"
                )
                # The job's data is shown as text: the <script> in it is not a script.
                await playwright_api.expect(page.locator('[data-field="data"]')).to_contain_text(
                    "<script>alert(1)</script>"
                )
                assert await page.locator("main script").count() == 0
                await page.screenshot(path=str(shots / "dashboard-job.png"), full_page=True)

                await page.locator("#job-actions").get_by_role("button", name="Retry").click()
                await playwright_api.expect(page.locator(".flash-success")).to_contain_text(
                    f"Job {failed_id} retried"
                )
                # The worker runs it; the live refresh (JSON API every 2 s) updates the page in place.
                await page.evaluate("window.__nestq_marker = 'same page'")
                await playwright_api.expect(badge).to_have_text("Completed", timeout=15_000)
                assert await page.evaluate("window.__nestq_marker") == "same page"  # no full reload
                await playwright_api.expect(page.locator('[data-field="return_value"]')).to_contain_text(
                    '"delivered": true'
                )
                await playwright_api.expect(
                    page.locator("#job-actions form[data-states]").filter(has_text="Retry")
                ).to_be_visible()  # a completed job may be retried too
                await playwright_api.expect(
                    page.locator("#job-actions form[data-states]").filter(has_text="Promote")
                ).to_be_hidden()
            finally:
                await browser.close()
    finally:
        await worker.close(timeout=5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker_task, 10)
    assert str(await email.get_job_state(failed_id)) == "completed"
    assert errors == []
