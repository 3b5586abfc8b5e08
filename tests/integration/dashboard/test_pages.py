"""The dashboard's pages: queues, one queue's jobs per state, a job, search; mounting; escaping; secrets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from framework.dashboard import create_dashboard
from framework.di import Application, Module, QueueModule

from .conftest import BASE, XSS, MakeQueue, Seed, client


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]+)"', html)


class TestQueuesPage:
    async def test_lists_every_queue_with_counts_and_paused_flag(
        self, seeded: Seed, make_queue: MakeQueue
    ) -> None:
        """Each queue is a row with its counts per state, its total and whether it is paused."""
        reports = make_queue("reports")
        await reports.add("generate", {"id": 1})
        await reports.pause()
        async with client(create_dashboard([seeded.queue, reports])) as http:
            response = await http.get(f"{BASE}/")
        assert response.status_code == 200
        html = response.text
        email_row = html[html.index('<tr data-queue="email">') : html.index('<tr data-queue="reports">')]
        assert re.search(r'data-count="completed"[^>]*>3<', email_row)
        assert re.search(r'data-count="failed"[^>]*>1<', email_row)
        assert re.search(r'data-count="delayed"[^>]*>1<', email_row)
        assert re.search(r'data-count="waiting"[^>]*>2<', email_row)
        assert re.search(r"data-total>7<", email_row)
        reports_row = html[html.index('<tr data-queue="reports">') :]
        assert re.search(r'data-count="paused"[^>]*>1<', reports_row)
        assert 'data-when="paused">Paused' in reports_row

    async def test_links_to_each_queue_and_state(self, seeded: Seed) -> None:
        """Queue names and counts link to the queue page (and the state's tab)."""
        async with client(create_dashboard([seeded.queue])) as http:
            html = (await http.get(f"{BASE}/")).text
        assert f"{BASE}/queues/email" in _links(html)
        assert f"{BASE}/queues/email?state=failed" in _links(html)

    async def test_standalone_root_redirects_to_the_base_path(self, seeded: Seed) -> None:
        """`/` of a standalone dashboard leads to `base_path/`; other paths outside it are 404."""
        async with client(create_dashboard([seeded.queue])) as http:
            root = await http.get("/")
            other = await http.get("/elsewhere")
            bare = await http.get(BASE)
        assert root.status_code == 307 and root.headers["location"] == f"{BASE}/"
        assert other.status_code == 404
        assert bare.status_code == 200 and "email" in bare.text

    async def test_no_queues(self) -> None:
        """An empty list of queues renders a friendly empty state."""
        async with client(create_dashboard([])) as http:
            response = await http.get(f"{BASE}/")
        assert response.status_code == 200
        assert "No queues yet" in response.text

    async def test_application_queues(self, redis_url: str, prefix: str) -> None:
        """An Application gives the dashboard the queues its modules register."""

        class AppModule(Module):
            imports = [QueueModule.for_root(redis_url, prefix=prefix), QueueModule.register_queue("a", "b")]

        async with Application.create(AppModule) as app:
            await app.queue("b").add("x", {})
            async with client(create_dashboard(app)) as http:
                html = (await http.get(f"{BASE}/")).text
                queue_page = await http.get(f"{BASE}/queues/b?state=waiting")
        assert '<tr data-queue="a">' in html and '<tr data-queue="b">' in html
        assert queue_page.status_code == 200 and 'data-job-id="1"' in queue_page.text


class TestQueuePage:
    async def test_opens_on_failed_when_there_are_failures(self, seeded: Seed) -> None:
        """Without ?state the page shows the failed jobs first."""
        async with client(create_dashboard([seeded.queue])) as http:
            html = (await http.get(f"{BASE}/queues/email")).text
        assert 'data-state="failed"' in html
        assert f'data-job-id="{seeded.failed}"' in html
        assert "ValueError: cannot boom" in html

    async def test_each_state_lists_its_jobs(self, seeded: Seed) -> None:
        """Every state tab lists exactly the jobs in that state."""
        expected = {
            "completed": seeded.completed,
            "failed": [seeded.failed],
            "delayed": [seeded.delayed],
            "waiting": seeded.waiting,
            "active": [],
            "prioritized": [],
            "paused": [],
        }
        async with client(create_dashboard([seeded.queue])) as http:
            for state, ids in expected.items():
                html = (await http.get(f"{BASE}/queues/email", params={"state": state})).text
                assert sorted(re.findall(r'data-job-id="([^"]+)"', html)) == sorted(ids), state

    async def test_paginates_newest_first(self, make_queue: MakeQueue) -> None:
        """Waiting jobs are listed newest first, 25 a page, with links to older pages."""
        queue = make_queue("bulk")
        jobs = await queue.add_bulk([{"name": "n", "data": {"i": i}} for i in range(30)])
        ids = [j.id for j in jobs]
        async with client(create_dashboard([queue])) as http:
            first = (await http.get(f"{BASE}/queues/bulk", params={"state": "waiting"})).text
            second = (await http.get(f"{BASE}/queues/bulk", params={"state": "waiting", "page": 2})).text
        assert re.findall(r'data-job-id="([^"]+)"', first) == list(reversed(ids))[:25]
        assert re.findall(r'data-job-id="([^"]+)"', second) == list(reversed(ids))[25:]
        assert "1\u201325 of 30" in first and "Page 1 of 2" in first
        assert f"{BASE}/queues/bulk?state=waiting&amp;page=2" in first
        assert "26\u201330 of 30" in second

    async def test_filters_by_job_name(self, seeded: Seed) -> None:
        """?name= keeps the jobs whose name contains the text (case-insensitive)."""
        queue = seeded.queue
        await queue.add("send-digest", {})
        async with client(create_dashboard([queue])) as http:
            html = (
                await http.get(f"{BASE}/queues/email", params={"state": "waiting", "name": "DIGEST"})
            ).text
        assert len(re.findall(r'data-job-id="', html)) == 1
        assert "send-digest" in html

    async def test_unknown_queue_is_404(self, seeded: Seed) -> None:
        """A queue that is not served is a 404 page naming the known queues."""
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/queues/nope")
        assert response.status_code == 404
        assert "no queue &#39;nope&#39; (queues: email)" in response.text


class TestJobPage:
    async def test_completed_job_details(self, seeded: Seed) -> None:
        """Data, options, progress, attempts, return value, logs, timestamps and the worker are shown."""
        job_id = seeded.completed[0]
        job = await seeded.queue.get_job(job_id)
        assert job is not None and job.worker
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/queues/email/jobs/{job_id}")
        html = response.text
        assert response.status_code == 200
        assert "user0@example.com" in html  # data
        assert "&#34;delivered&#34;: true" in html  # return value, pretty JSON
        assert "sending to user0@example.com" in html  # logs
        assert 'value="100"' in html  # progress meter
        assert "1 of 1" in html  # attempts
        assert job.worker in html
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", html)  # timestamps
        assert 'data-field="state">Completed' in html

    async def test_failed_job_shows_reason_and_stack_trace(self, seeded: Seed) -> None:
        """A failed job shows its reason and the stack trace of the attempt."""
        async with client(create_dashboard([seeded.queue])) as http:
            html = (await http.get(f"{BASE}/queues/email/jobs/{seeded.failed}")).text
        assert "ValueError: cannot boom" in html
        assert "Traceback (most recent call last)" in html
        assert f'action="{BASE}/queues/email/jobs/{seeded.failed}/retry"' in html

    async def test_job_options_are_shown(self, make_queue: MakeQueue) -> None:
        """Options the job was added with are on its page."""
        queue = make_queue("opts")
        job = await queue.add("x", {}, attempts=4, priority=7)
        async with client(create_dashboard([queue])) as http:
            html = (await http.get(f"{BASE}/queues/opts/jobs/{job.id}")).text
        assert "&#34;attempts&#34;: 4" in html
        assert "0 of 4" in html

    async def test_unknown_job_is_404(self, seeded: Seed) -> None:
        """A job that does not exist is a 404 page."""
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/queues/email/jobs/999")
        assert response.status_code == 404
        assert "no job" in response.text

    async def test_custom_ids_with_slashes(self, make_queue: MakeQueue) -> None:
        """A job id with a slash or spaces is linked and found."""
        queue = make_queue("odd")
        await queue.add("x", {}, job_id="order/42 a")
        async with client(create_dashboard([queue])) as http:
            listing = (await http.get(f"{BASE}/queues/odd", params={"state": "waiting"})).text
            assert f"{BASE}/queues/odd/jobs/order%2F42%20a" in listing
            page = await http.get(f"{BASE}/queues/odd/jobs/order%2F42%20a")
        assert page.status_code == 200 and "#order/42 a" in page.text


class TestSearch:
    async def test_one_hit_redirects_to_the_job(self, seeded: Seed) -> None:
        """Searching an id that exists in one queue opens that job."""
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/search", params={"id": seeded.failed})
        assert response.status_code == 303
        assert response.headers["location"] == f"{BASE}/queues/email/jobs/{seeded.failed}"

    async def test_several_hits_are_listed(self, seeded: Seed, make_queue: MakeQueue) -> None:
        """An id present in two queues lists both."""
        other = make_queue("other")
        await other.add("x", {})
        async with client(create_dashboard([seeded.queue, other])) as http:
            response = await http.get(f"{BASE}/search", params={"id": "1"})
        assert response.status_code == 200
        assert f"{BASE}/queues/email/jobs/1" in response.text
        assert f"{BASE}/queues/other/jobs/1" in response.text

    async def test_no_hit(self, seeded: Seed) -> None:
        """An unknown id says so."""
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/search", params={"id": "nope"})
        assert response.status_code == 200
        assert "No job with this id" in response.text


class TestEscaping:
    async def test_job_values_are_text_not_html(
        self, make_queue: MakeQueue, drain: Callable[..., Any]
    ) -> None:
        """`<script>` in a job's name, data, result, reason, stack trace and logs is shown escaped."""
        queue = make_queue("xss")
        ok = await queue.add(XSS, {"html": XSS})
        bad = await queue.add("fail", {"html": XSS})

        async def run(job: Any) -> Any:
            await job.log(XSS)
            if job.name == "fail":
                raise RuntimeError(XSS)
            return XSS

        await drain(queue, run)
        async with client(create_dashboard([queue])) as http:
            pages = [
                await http.get(f"{BASE}/"),
                await http.get(f"{BASE}/queues/xss", params={"state": "completed"}),
                await http.get(f"{BASE}/queues/xss", params={"state": "failed"}),
                await http.get(f"{BASE}/queues/xss/jobs/{ok.id}"),
                await http.get(f"{BASE}/queues/xss/jobs/{bad.id}"),
                await http.get(f"{BASE}/search", params={"id": XSS}),
            ]
        for page in pages:
            assert "<script>alert" not in page.text, page.url
        detail = pages[3].text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[4].text
        assert "default-src 'none'; script-src 'self'" in pages[3].headers["content-security-policy"]


class TestMounting:
    async def test_mounted_links_follow_the_mount_path(self, seeded: Seed) -> None:
        """Mounted at /ops in another app, every link, form and asset starts with /ops/."""
        host = Starlette(routes=[Mount("/ops", app=create_dashboard([seeded.queue]))])
        async with client(host) as http:
            pages = [
                (await http.get("/ops/")).text,
                (await http.get("/ops/queues/email")).text,
                (await http.get(f"/ops/queues/email/jobs/{seeded.failed}")).text,
            ]
            api = await http.get("/ops/api/queues")
            css = await http.get("/ops/static/dashboard.css")
        for html in pages:
            links = [link for link in _links(html) if link.startswith("/")]
            assert links and all(link.startswith("/ops/") for link in links), links
        assert api.status_code == 200 and api.json()["queues"][0]["name"] == "email"
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]

    async def test_mounted_at_the_base_path(self, seeded: Seed) -> None:
        """Mounted at /admin/queues (Bull Board's place), links do not repeat the base path."""
        host = Starlette(routes=[Mount(BASE, app=create_dashboard([seeded.queue]))])
        async with client(host) as http:
            html = (await http.get(f"{BASE}/")).text
        assert f'href="{BASE}/queues/email"' in html

    async def test_root_path_of_a_proxy(self, seeded: Seed) -> None:
        """Behind a proxy prefix (ASGI root_path), links carry the prefix too."""
        app = create_dashboard([seeded.queue], base_path="/dash")
        transport = httpx.ASGITransport(app=app, root_path="/proxy", client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            html = (await http.get("/proxy/dash/")).text
        assert 'href="/proxy/dash/queues/email"' in html


class TestSecrets:
    async def test_redis_password_never_shown(self, redis_url: str, make_queue: MakeQueue) -> None:
        """A password in the connection URL appears in no page and no API answer."""
        with_password = redis_url.replace("redis://", "redis://default:hunter2secret@", 1)
        queue = make_queue("secret", connection=with_password)
        await queue.add("x", {})
        async with client(create_dashboard([queue])) as http:
            bodies = [
                (await http.get(path)).text
                for path in (
                    f"{BASE}/",
                    f"{BASE}/queues/secret",
                    f"{BASE}/queues/secret/jobs/1",
                    f"{BASE}/api/queues",
                    f"{BASE}/api/queues/secret/jobs/1",
                )
            ]
        assert all("hunter2secret" not in body for body in bodies)

    async def test_unreachable_redis_is_a_503_without_secrets(self, make_queue: MakeQueue) -> None:
        """When Redis cannot be reached the page says so, with no password in the message."""
        queue = make_queue("down", connection="redis://default:hunter2secret@127.0.0.1:1/0")
        async with client(create_dashboard([queue])) as http:
            page = await http.get(f"{BASE}/")
            api = await http.get(f"{BASE}/api/queues")
        assert page.status_code == 503 and "Redis is unreachable" in page.text
        assert api.status_code == 503
        assert "hunter2secret" not in page.text + api.text
