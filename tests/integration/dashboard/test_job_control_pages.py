"""The dashboard shows job control: queue-wide limits and fair groups on the queue page, a job's group and
deduplication id on its page (escaped), and the same in the JSON API."""

from __future__ import annotations

from framework import Deduplication
from framework.dashboard import create_dashboard

from .conftest import BASE, XSS, MakeQueue, client


async def test_queue_page_shows_limits_and_groups(make_queue: MakeQueue) -> None:
    """Global concurrency, global rate limit and each group's counts appear on the queue page and API."""
    q = make_queue("email")
    await q.set_global_concurrency(3)
    await q.set_global_rate_limit(10, 1)
    await q.add("send", 1, group_id="tenant-1")
    await q.add("send", 2, group_id="tenant-1")
    await q.pause_group("tenant-2")
    await q.add("send", 3, group_id="tenant-2")
    async with client(create_dashboard([q])) as http:
        html = (await http.get(f"{BASE}/queues/email")).text
        api = (await http.get(f"{BASE}/api/queues/email")).json()
    section = html[html.index('data-section="limits"') :]
    assert 'data-field="global-concurrency">3<' in section
    assert "10 jobs per" in section
    row = section[section.index('<tr data-group="tenant-1">') :]
    assert "<td>2</td>" in row[: row.index("</tr>")]
    assert '<tr data-group="tenant-2">' in section
    limits = api["limits"]
    assert limits["global_concurrency"] == 3
    assert limits["global_rate_limit"] == {"max": 10, "duration": 1.0}
    assert {"id": "tenant-1", "waiting": 2, "paused": 0, "active": 0} in limits["groups"]
    assert {"id": "tenant-2", "waiting": 0, "paused": 1, "active": 0} in limits["groups"]


async def test_job_page_shows_group_and_deduplication_id_escaped(make_queue: MakeQueue) -> None:
    """A job's group and deduplication id are on its page, HTML-escaped, and in its JSON."""
    q = make_queue("email")
    job = await q.add("send", 1, group_id="g<b>", deduplication=Deduplication(XSS))
    async with client(create_dashboard([q])) as http:
        html = (await http.get(f"{BASE}/queues/email/jobs/{job.id}")).text
        api = (await http.get(f"{BASE}/api/queues/email/jobs/{job.id}")).json()
    assert 'data-field="group">g&lt;b&gt;<' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and XSS not in html
    assert api["group_id"] == "g<b>" and api["deduplication_id"] == XSS
