"""Making and changing jobs from the dashboard's API: add, duplicate, edit data, bulk retry/remove, search
beyond an exact id, the Prioritized tab in run order; all behind CSRF and refused when read-only."""

from __future__ import annotations

import pytest

from framework.dashboard import create_dashboard
from framework.queue import Job, JobState

from .conftest import BASE, MakeQueue, Seed, client, csrf_token


async def test_add_a_job_with_options(seeded: Seed) -> None:
    """POST .../add adds a job with JSON data and options and answers its id."""
    async with client(create_dashboard([seeded.queue])) as http:
        token = await csrf_token(http)
        response = await http.post(
            f"{BASE}/api/queues/email/add",
            headers={"X-CSRF-Token": token},
            json={"name": "send", "data": {"to": "x@example.com"}, "delay": 60, "priority": 3},
        )
    assert response.status_code == 200, response.text
    job = await seeded.queue.get_job(response.json()["job_id"])
    assert job is not None and job.data == {"to": "x@example.com"} and job.priority == 3
    assert await seeded.queue.get_job_state(job.id) == JobState.DELAYED


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "send", "data": "{oops"}, "data is not valid JSON"),
        ({"name": "", "data": "{}"}, "give the job a name"),
        ({"name": "send", "delay": "soon"}, "delay must be a number"),
    ],
)
async def test_bad_input_adds_nothing(seeded: Seed, body: dict[str, str], error: str) -> None:
    """Bad JSON, no name or a bad number is refused with the reason, and nothing is written."""
    before = await seeded.queue.get_job_counts()
    async with client(create_dashboard([seeded.queue])) as http:
        token = await csrf_token(http)
        response = await http.post(f"{BASE}/api/queues/email/add", headers={"X-CSRF-Token": token}, json=body)
    assert response.status_code in (400, 409) and error in response.json()["error"]
    assert await seeded.queue.get_job_counts() == before


async def test_add_needs_csrf_and_is_refused_when_read_only(seeded: Seed) -> None:
    """Without the CSRF token, or on a read-only dashboard, adding is refused (403) and writes nothing."""
    before = await seeded.queue.get_job_counts()
    async with client(create_dashboard([seeded.queue])) as http:
        no_token = await http.post(f"{BASE}/api/queues/email/add", json={"name": "send"})
    async with client(create_dashboard([seeded.queue], read_only=True)) as http:
        page = await http.get(f"{BASE}/queues/email")
        read_only = await http.post(f"{BASE}/api/queues/email/add", json={"name": "send"})
    assert no_token.status_code == 403 and read_only.status_code == 403
    assert 'id="add-job"' not in page.text and 'id="bulk-form"' not in page.text
    assert await seeded.queue.get_job_counts() == before


async def test_duplicate_keeps_name_data_and_run_options(make_queue: MakeQueue) -> None:
    """POST .../jobs/{id}/duplicate adds a new job with the same name, data, priority and attempts."""
    queue = make_queue("email")
    original = await queue.add("send", {"to": "a@example.com"}, priority=4, attempts=3, job_id="custom-1")
    async with client(create_dashboard([queue])) as http:
        token = await csrf_token(http)
        response = await http.post(
            f"{BASE}/api/queues/email/jobs/{original.id}/duplicate", headers={"X-CSRF-Token": token}
        )
    assert response.status_code == 200, response.text
    copy = await queue.get_job(response.json()["job_id"])
    assert copy is not None and copy.id != original.id
    assert (copy.name, copy.data, copy.priority, copy.attempts) == ("send", {"to": "a@example.com"}, 4, 3)


@pytest.mark.skipif(not hasattr(Job, "update_data"), reason="needs Job.update_data in the core")
async def test_edit_data(seeded: Seed) -> None:
    """POST .../jobs/{id}/edit replaces a failed job's data; bad JSON changes nothing."""
    async with client(create_dashboard([seeded.queue])) as http:
        headers = {"X-CSRF-Token": await csrf_token(http)}
        url = f"{BASE}/api/queues/email/jobs/{seeded.failed}/edit"
        ok = await http.post(url, headers=headers, json={"data": {"html": "fixed"}})
        bad = await http.post(url, headers=headers, json={"data": "{nope"})
    assert ok.status_code == 200 and bad.status_code == 400
    job = await seeded.queue.get_job(seeded.failed)
    assert job is not None and job.data == {"html": "fixed"}


async def test_bulk_retry_and_remove_skip_what_does_not_apply(seeded: Seed) -> None:
    """Bulk retry retries the failed one and names the skipped waiting one; bulk remove removes both."""
    async with client(create_dashboard([seeded.queue])) as http:
        headers = {"X-CSRF-Token": await csrf_token(http)}
        retried = await http.post(
            f"{BASE}/api/queues/email/bulk",
            headers=headers,
            json={"bulk": "retry", "ids": [seeded.failed, seeded.waiting[0]]},
        )
        removed = await http.post(
            f"{BASE}/api/queues/email/bulk",
            headers=headers,
            json={"bulk": "remove", "ids": seeded.completed[:2]},
        )
    assert retried.status_code == 200 and retried.json()["ids"] == [seeded.failed]
    assert "skipped 1" in retried.json()["message"]
    assert await seeded.queue.get_job_state(seeded.failed) == JobState.WAITING
    assert removed.json()["count"] == 2
    assert await seeded.queue.get_job(seeded.completed[0]) is None


async def test_search_by_prefix_and_name(make_queue: MakeQueue) -> None:
    """The search finds the exact id first, then ids starting with the text, then names containing it."""
    queue = make_queue("email")
    for n in range(3):
        await queue.add("send", {}, job_id=f"order-{n}")
    await queue.add("order-summary", {}, job_id="weekly")
    async with client(create_dashboard([queue])) as http:
        found = (await http.get(f"{BASE}/api/search", params={"id": "order-1"})).json()["found"]
        prefix = (await http.get(f"{BASE}/api/search", params={"id": "order"})).json()["found"]
    assert [(h["id"], h["match"]) for h in found] == [("order-1", "id")]
    assert {h["id"]: h["match"] for h in prefix} == {
        "order-0": "prefix",
        "order-1": "prefix",
        "order-2": "prefix",
        "weekly": "name",
    }


async def test_prioritized_jobs_are_listed_in_run_order(make_queue: MakeQueue) -> None:
    """The Prioritized tab lists the job that runs next first (lowest priority number, then FIFO)."""
    queue = make_queue("email")
    for priority, name in ((5, "later"), (1, "first"), (3, "middle"), (1, "second")):
        await queue.add(name, {}, priority=priority)
    async with client(create_dashboard([queue])) as http:
        listing = (await http.get(f"{BASE}/api/queues/email/jobs", params={"state": "prioritized"})).json()
    assert [j["name"] for j in listing["jobs"]] == ["first", "second", "middle", "later"]
