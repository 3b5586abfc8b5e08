"""A flow in the dashboard, in a real headless Chromium: the parent's page lists its children, a child links
back to its parent, and the parent's state follows live from waiting-children to waiting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from framework import FlowJob, FlowProducer
from framework.queue import Job, Worker
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, DashboardThread

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
    pytest.mark.timeout(180),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is a dev dependency")


@pytest.fixture
def dashboard(redis_url: str, prefix: str) -> Iterator[DashboardThread]:
    server = DashboardThread(redis_url, prefix)
    server.start()
    yield server
    server.stop()


async def test_flow_tree_on_the_job_pages(dashboard: DashboardThread, redis_url: str, prefix: str) -> None:
    """Parent page -> child link -> parent link; the children complete and the parent's badge turns
    from "Waiting children" to "Waiting" without a reload; no script error on any page."""
    async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
        node = await flow.add(
            FlowJob("assemble", "reports", {"month": "2026-11"}, children=[
                FlowJob("send", "email", {"to": "ada@example.com"}, opts={"job_id": "mail-ada"}),
                FlowJob("send", "email", {"to": "<b>bob</b>@example.com"}),
            ])
        )  # fmt: skip
        base = dashboard.url.rstrip("/")
        parent_url = f"{base}/queues/reports/jobs/{node.job.id}"
        errors: list[str] = []

        async def send(job: Job[Any]) -> str:
            return "sent"

        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                await page.goto(parent_url)
                badge = page.locator('[data-field="state"]')
                await playwright_api.expect(badge).to_have_text("Waiting children")
                rows = page.locator('[data-field="flow-children"] tbody tr')
                await playwright_api.expect(rows).to_have_count(2)

                await page.locator('[data-field="flow-children"] a', has_text="email:mail-ada").click()
                await page.wait_for_url("**/queues/email/jobs/mail-ada")
                await playwright_api.expect(page.locator('[data-field="flow-parent"]')).to_contain_text(
                    f"reports:{node.job.id}"
                )
                await page.locator('[data-field="flow-parent"] a').click()
                await page.wait_for_url(f"**/queues/reports/jobs/{node.job.id}")

                worker = Worker("email", send, connection=redis_url, prefix=prefix)
                await worker.run_until_drained()
                await worker.close()
                await playwright_api.expect(badge).to_have_text("Waiting", timeout=15000)

                await page.goto(f"{base}/queues/reports?state=waiting-children")
                await playwright_api.expect(page.locator(".tab.active")).to_contain_text("Waiting children")
                await playwright_api.expect(page.locator("#jobs-table")).to_contain_text(
                    "No waiting children jobs"
                )
            finally:
                await browser.close()
        assert errors == []
        for name in ("reports", "email"):
            await flow.queue(name).obliterate(force=True)
