"""The dashboard as a new user meets it, in a real headless Chromium: every tab fits the window at 1280,
1920 and 390 px (no sideways scrolling), dark mode, the JSON viewer, adding / duplicating / editing a job
from the page, bulk retry, the Prioritized tab in run order, search by id prefix and by name, the live
toggle's wording, and the due time of a job waiting out a retry backoff.

With NESTQ_UPDATE_SCREENSHOTS=1 the screenshots replace the ones in docs/ (a plain run writes them to a
temporary folder, leaving the tree clean).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.dashboard import start_dashboard
from framework.queue import Backoff, Job, Queue, Worker
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
QUEUES = ("billing", "email", "reports")
STATES = ("active", "waiting", "prioritized", "delayed", "paused", "completed", "failed")
WIDTHS = (1280, 1920, 390)

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
    pytest.mark.timeout(240),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is a dev dependency")
expect = playwright_api.expect


class DashboardThread:
    """uvicorn serving the dashboard in another thread, on its own loop and its own Queue objects."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url, self.prefix, self.url = redis_url, prefix, ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="dashboard", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        queues = [Queue(name, connection=self.redis_url, prefix=self.prefix) for name in QUEUES]
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
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


async def _handler(job: Job[Any]) -> Any:
    await job.log(f"charging {job.data.get('customer')}")
    if job.name == "charge-card" and job.data.get("amount", 0) > 500:
        raise ConnectionError(
            "payment gateway gw-eu-3.payments.example.com timed out after 30 s while authorizing the "
            "charge; the card was not charged and the attempt will be retried with the next backoff"
        )
    return {"charged": job.data.get("amount"), "receipt": f"R-{job.id}", "lines": [{"sku": "A-1", "qty": 2}]}


async def _seed(queues: dict[str, Queue], redis_url: str, prefix: str) -> dict[str, str]:
    """Realistic content: invoices paid and failed (long ids and reasons), a retry waiting out its
    backoff, prioritized jobs, waiting ones. Returns some ids."""
    billing = queues["billing"]
    ids: dict[str, str] = {}
    for n in range(5):
        job = await billing.add(
            "charge-card",
            {
                "customer": f"cus_{n:04d}",
                "amount": 120 + n,
                "currency": "EUR",
                "meta": {"plan": "pro", "seats": n},
            },
            job_id=f"invoice-2026-12-01-cus-{n:04d}-paid",
        )
        ids.setdefault("completed", job.id)
    for n in range(4):
        job = await billing.add(
            "charge-card",
            {"customer": f"cus_{n + 10:04d}", "amount": 900 + n, "currency": "EUR"},
            job_id=f"invoice-2026-12-01-cus-{n + 10:04d}-declined",
        )
        ids.setdefault("failed", job.id)
    backoff = await billing.add(
        "charge-card",
        {"customer": "cus_0099", "amount": 999, "currency": "EUR"},
        job_id="invoice-2026-12-01-cus-0099-retrying",
        attempts=5,
        backoff=Backoff.fixed(3600),
    )
    ids["backoff"] = backoff.id
    worker = Worker("billing", _handler, connection=redis_url, prefix=prefix)
    await worker.run_until_drained()
    await worker.close()
    for priority, name in ((3, "refund-low"), (1, "refund-urgent"), (2, "refund-normal")):
        await billing.add(name, {"refund": name}, priority=priority)
    for n in range(3):
        await billing.add("send-statement", {"customer": f"cus_{n:04d}", "month": "2026-11"})
    await queues["email"].add("send-welcome", {"to": "ada@example.com"})
    await queues["reports"].add("monthly-revenue", {"month": "2026-11"}, delay=3600)
    return ids


WIDTHS_JS = """() => ({
    page: document.documentElement.scrollWidth, window: window.innerWidth,
    wraps: [...document.querySelectorAll('.table-wrap, .card')].map(e => e.scrollWidth - e.clientWidth),
})"""
# What sticks out (for the failure message): past the window, or past its card.
CULPRITS_JS = """() => [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect(), box = e.closest('.table-wrap, .card');
    const right = box ? box.getBoundingClientRect().right : window.innerWidth;
    return r.right > right + 1;
}).slice(0, 6).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def _no_sideways_scroll(page: Any) -> None:
    widths = await page.evaluate(WIDTHS_JS)
    if widths["page"] > widths["window"] or max(widths["wraps"] or [0]) > 1:
        raise AssertionError(f"{page.url}: {widths} {await page.evaluate(CULPRITS_JS)}")


def _shots(tmp_path: Path) -> Path:
    shots = DOCS if os.environ.get("NESTQ_UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(exist_ok=True)
    return shots


async def test_every_tab_fits_the_window_at_three_widths(
    dashboard: DashboardThread, queues: dict[str, Queue], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """At 1280, 1920 and 390 px no page scrolls sideways (nor any card); on a phone the search box sits
    below the breadcrumb instead of over it; the failed tab shows each row's reason and buttons."""
    ids = await _seed(queues, redis_url, prefix)
    shots = _shots(tmp_path)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                page = await browser.new_page(viewport={"width": width, "height": 900})
                for state in STATES:
                    await page.goto(f"{dashboard.url}queues/billing?state={state}")
                    await _no_sideways_scroll(page)
                await page.goto(f"{dashboard.url}queues/billing?state=failed")
                row = page.locator(f'tr[data-job-id="{ids["failed"]}"]')
                for part in (row.locator(".error-text"), row.get_by_role("button", name="Retry")):
                    box = await part.bounding_box()
                    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (
                        width,
                        box,
                    )
                if width == 390:
                    crumbs = await page.locator(".crumbs").bounding_box()
                    search = await page.locator(".search input").bounding_box()
                    assert crumbs and search and search["y"] >= crumbs["y"] + crumbs["height"] - 1
                await page.screenshot(
                    path=str(shots / f"dashboard-failed-{width}.png"), full_page=width != 1920
                )
                for url in ("", f"queues/billing/jobs/{ids['failed']}", "search?id=invoice"):
                    await page.goto(dashboard.url + url)
                    await _no_sideways_scroll(page)
                await page.close()
        finally:
            await browser.close()


async def test_dark_mode_json_viewer_and_details(
    dashboard: DashboardThread, queues: dict[str, Queue], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """The system's dark preference darkens the page and the toggle switches it; the JSON viewer
    highlights, collapses and copies; prioritized jobs are listed in run order; the live toggle says
    "Live off"; a job waiting out its backoff shows when it is due; search finds by prefix and name."""
    ids = await _seed(queues, redis_url, prefix)
    shots = _shots(tmp_path)
    errors: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900},
                color_scheme="dark",
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{dashboard.url}queues/billing/jobs/{ids['completed']}")
            background = "getComputedStyle(document.documentElement).backgroundColor"
            dark = await page.evaluate(background)
            assert _luminance(dark) < 0.2, dark
            viewer = page.locator('[data-section="result"] .json-view')
            await expect(viewer).to_be_visible()
            await expect(viewer.locator(".j-key").first).to_have_text('"charged"')
            await expect(viewer.locator(".j-num").first).to_have_text("120")
            await page.screenshot(path=str(shots / "dashboard-dark.png"), full_page=True)

            nested = viewer.locator("details").nth(1)  # the "lines" array
            await expect(nested).to_have_attribute("open", "")
            await page.locator('[data-section="result"] .json-collapse').click()
            await expect(nested).not_to_have_attribute("open", "")
            await page.locator('[data-section="result"] .json-copy').click()
            await expect(page.locator('[data-section="result"] .json-copy')).to_have_text("Copied")
            copied = await page.evaluate("navigator.clipboard.readText()")
            assert '"receipt": "R-' in copied

            await page.locator("#theme-toggle").click()
            assert _luminance(await page.evaluate(background)) > 0.8
            await page.reload()  # the choice is remembered
            assert _luminance(await page.evaluate(background)) > 0.8

            await page.goto(f"{dashboard.url}queues/billing?state=prioritized")
            names = await page.locator("#jobs-body td.name").all_text_contents()
            assert names == ["refund-urgent", "refund-normal", "refund-low"]
            await page.locator("label.live").click()
            await expect(page.locator("#live-label")).to_have_text("Live off")
            await page.locator("label.live").click()
            await expect(page.locator("#live-label")).to_have_text("Live")

            await page.goto(f"{dashboard.url}queues/billing/jobs/{ids['backoff']}")
            await expect(page.locator('[data-field="state"]')).to_have_text("Delayed")
            await expect(page.locator("dt", has_text="Due")).to_be_visible()
            await page.goto(f"{dashboard.url}queues/billing?state=delayed")
            due = page.locator(f'tr[data-job-id="{ids["backoff"]}"] td.nowrap').nth(1)
            await expect(due).to_contain_text("in ")

            await page.goto(f"{dashboard.url}search?id=invoice-2026-12-01-cus-001")
            hits = await page.locator("tbody td.mono").all_text_contents()
            assert len(hits) == 4 and all(h.startswith("invoice-2026-12-01-cus-001") for h in hits)
            await page.goto(f"{dashboard.url}search?id=refund")
            assert len(await page.locator("tbody td.mono").all_text_contents()) == 3
        finally:
            await browser.close()
    assert errors == []


async def test_add_duplicate_edit_and_bulk_retry_from_the_page(
    dashboard: DashboardThread, queues: dict[str, Queue], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """Add a job with the form, duplicate it, edit its data, and retry two selected failed jobs."""
    await _seed(queues, redis_url, prefix)
    billing = queues["billing"]
    shots = _shots(tmp_path)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.goto(f"{dashboard.url}queues/billing?state=waiting")
            await page.locator("#add-job summary").click()
            form = page.locator("#add-job-form")
            await form.locator('input[name="name"]').fill("send-statement")
            await form.locator('textarea[name="data"]').fill('{"customer": "cus_0042", "month": "2026-11"}')
            await form.locator('input[name="priority"]').fill("2")
            await page.screenshot(path=str(shots / "dashboard-add-job.png"))
            await form.get_by_role("button", name="Add to billing").click()
            await expect(page.locator(".flash-success")).to_contain_text("added to billing")
            added_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            added = await billing.get_job(added_id)
            assert added is not None and added.data == {"customer": "cus_0042", "month": "2026-11"}
            assert added.priority == 2

            await page.locator("#job-actions").get_by_role("button", name="Duplicate").click()
            await expect(page.locator(".flash-success")).to_contain_text(f"Job {added_id} duplicated")
            copy_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            assert copy_id != added_id
            copy = await billing.get_job(copy_id)
            assert copy is not None and copy.data == added.data and copy.name == "send-statement"

            if hasattr(Job, "update_data"):
                await page.locator("#edit-data summary").click()
                await page.locator('#edit-data-form textarea[name="data"]').fill('{"customer": "cus_0043"}')
                await page.locator("#edit-data-form").get_by_role("button", name="Save data").click()
                await expect(page.locator(".flash-success")).to_contain_text(f"Data of job {copy_id} saved")
                edited = await billing.get_job(copy_id)
                assert edited is not None and edited.data == {"customer": "cus_0043"}
                await page.locator("#edit-data summary").click()
                await page.locator('#edit-data-form textarea[name="data"]').fill("{not json")
                await page.locator("#edit-data-form").get_by_role("button", name="Save data").click()
                await expect(page.locator(".flash-error")).to_contain_text("data is not valid JSON")

            await page.goto(f"{dashboard.url}queues/billing?state=failed")
            await expect(page.get_by_role("button", name="Retry selected")).to_be_disabled()
            boxes = page.locator("#jobs-body .row-select")
            await boxes.nth(0).check()
            await boxes.nth(1).check()
            await expect(page.locator("#bulk-count")).to_have_text("2 selected")
            await page.get_by_role("button", name="Retry selected").click()
            await expect(page.locator(".flash-success")).to_contain_text("Retried 2 jobs")
            assert (await billing.get_job_counts("failed"))["failed"] == 2
        finally:
            await browser.close()


def _luminance(css_color: str) -> float:
    """0 (black) to 1 (white) from "rgb(r, g, b)"."""
    r, g, b = (int(x) for x in css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
