"""Actions, through the JSON API and through the pages' forms: retry, promote, remove, clean, pause,
resume, and removing a job scheduler."""

from __future__ import annotations

import re

import pytest

from framework.dashboard import create_dashboard
from framework.queue import JobState, Queue

from .conftest import BASE, MakeQueue, Seed, client, csrf_token


class TestJobActionsApi:
    async def test_retry_a_failed_job(self, seeded: Seed) -> None:
        """POST .../jobs/{id}/retry moves a failed job back to waiting."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.failed}/retry", headers={"X-CSRF-Token": token}
            )
        assert response.status_code == 200
        assert response.json() == {
            "ok": True,
            "message": f"Job {seeded.failed} retried",
            "job_id": seeded.failed,
        }
        assert await seeded.queue.get_job_state(seeded.failed) == JobState.WAITING

    async def test_promote_a_delayed_job(self, seeded: Seed) -> None:
        """POST .../jobs/{id}/promote runs a delayed job now."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.delayed}/promote", headers={"X-CSRF-Token": token}
            )
        assert response.status_code == 200
        assert await seeded.queue.get_job_state(seeded.delayed) == JobState.WAITING

    async def test_remove_a_job(self, seeded: Seed) -> None:
        """POST .../jobs/{id}/remove deletes the job."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.completed[0]}/remove", headers={"X-CSRF-Token": token}
            )
        assert response.status_code == 200
        assert await seeded.queue.get_job(seeded.completed[0]) is None

    async def test_an_action_that_does_not_apply_is_409(self, seeded: Seed) -> None:
        """Retrying a waiting job or promoting a failed one is refused with the reason."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            headers = {"X-CSRF-Token": token}
            retry = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.waiting[0]}/retry", headers=headers
            )
            promote = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.failed}/promote", headers=headers
            )
        assert retry.status_code == 409
        assert "only failed or completed jobs can be retried" in retry.json()["error"]
        assert promote.status_code == 409
        assert await seeded.queue.get_job_state(seeded.waiting[0]) == JobState.WAITING

    async def test_unknown_job_or_action_is_404(self, seeded: Seed) -> None:
        """A job that does not exist, or an action that does not, is a 404."""
        async with client(create_dashboard([seeded.queue])) as http:
            headers = {"X-CSRF-Token": await csrf_token(http)}
            missing = await http.post(f"{BASE}/api/queues/email/jobs/999/remove", headers=headers)
            bogus = await http.post(f"{BASE}/api/queues/email/jobs/{seeded.failed}/explode", headers=headers)
            no_queue = await http.post(f"{BASE}/api/queues/nope/pause", headers=headers)
        assert missing.status_code == 404 and bogus.status_code == 404 and no_queue.status_code == 404


class TestQueueActionsApi:
    async def test_retry_all_failed(self, seeded: Seed, make_queue: MakeQueue) -> None:
        """POST .../retry retries every failed job."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(f"{BASE}/api/queues/email/retry", headers={"X-CSRF-Token": token})
        assert response.json()["count"] == 1
        assert (await seeded.queue.get_job_counts("failed"))["failed"] == 0

    async def test_retry_all_completed_takes_a_state(self, seeded: Seed) -> None:
        """The state to retry can be given in a JSON body."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/api/queues/email/retry", json={"state": "completed"}, headers={"X-CSRF-Token": token}
            )
        assert response.json()["count"] == 3

    async def test_promote_all(self, seeded: Seed) -> None:
        """POST .../promote runs every delayed job now."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(f"{BASE}/api/queues/email/promote", headers={"X-CSRF-Token": token})
        assert response.json()["count"] == 1
        assert (await seeded.queue.get_job_counts("delayed"))["delayed"] == 0

    async def test_clean_with_grace(self, seeded: Seed) -> None:
        """POST .../clean removes a state's jobs older than the grace period, and only those."""
        async with client(create_dashboard([seeded.queue])) as http:
            headers = {"X-CSRF-Token": await csrf_token(http)}
            kept = await http.post(
                f"{BASE}/api/queues/email/clean",
                data={"state": "completed", "grace": "3600"},
                headers=headers,
            )
            removed = await http.post(
                f"{BASE}/api/queues/email/clean", data={"state": "completed", "grace": "0"}, headers=headers
            )
            active = await http.post(
                f"{BASE}/api/queues/email/clean", data={"state": "active"}, headers=headers
            )
        assert kept.json()["count"] == 0
        assert removed.json()["count"] == 3 and sorted(removed.json()["ids"]) == sorted(seeded.completed)
        assert active.status_code == 409 and "never active jobs" in active.json()["error"]

    async def test_pause_and_resume(self, seeded: Seed) -> None:
        """POST .../pause and .../resume flip the queue's paused flag."""
        async with client(create_dashboard([seeded.queue])) as http:
            headers = {"X-CSRF-Token": await csrf_token(http)}
            await http.post(f"{BASE}/api/queues/email/pause", headers=headers)
            assert await seeded.queue.is_paused()
            summary = (await http.get(f"{BASE}/api/queues/email")).json()
            assert summary["paused"] is True and summary["counts"]["paused"] == 2
            await http.post(f"{BASE}/api/queues/email/resume", headers=headers)
        assert not await seeded.queue.is_paused()

    async def test_bad_parameter_is_400(self, seeded: Seed) -> None:
        """A grace that is not a number is refused."""
        async with client(create_dashboard([seeded.queue])) as http:
            headers = {"X-CSRF-Token": await csrf_token(http)}
            response = await http.post(
                f"{BASE}/api/queues/email/clean",
                data={"state": "completed", "grace": "soon"},
                headers=headers,
            )
        assert response.status_code == 400 and "grace must be a number" in response.json()["error"]


class TestFormActions:
    async def test_form_post_redirects_with_a_message(self, seeded: Seed) -> None:
        """A form POST (hidden token field) redirects back and the next page shows what happened."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/queues/email/jobs/{seeded.failed}/retry", data={"csrf_token": token}
            )
            assert response.status_code == 303
            assert response.headers["location"] == f"{BASE}/queues/email/jobs/{seeded.failed}"
            page = await http.get(response.headers["location"])
            assert f"Job {seeded.failed} retried" in page.text
            again = await http.get(response.headers["location"])
        assert f"Job {seeded.failed} retried" not in again.text  # shown once

    async def test_next_stays_inside_the_dashboard(self, seeded: Seed) -> None:
        """`next` may point at a dashboard page, never at another site."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            inside = await http.post(
                f"{BASE}/queues/email/pause",
                data={"csrf_token": token, "next": f"{BASE}/queues/email?state=failed"},
            )
            outside = await http.post(
                f"{BASE}/queues/email/resume", data={"csrf_token": token, "next": "https://evil.example/"}
            )
            sneaky = await http.post(
                f"{BASE}/queues/email/pause", data={"csrf_token": token, "next": f"//evil.example{BASE}/"}
            )
        assert inside.headers["location"] == f"{BASE}/queues/email?state=failed"
        assert outside.headers["location"] == f"{BASE}/queues/email"
        assert sneaky.headers["location"] == f"{BASE}/queues/email"

    async def test_failed_form_action_shows_the_reason(self, seeded: Seed) -> None:
        """A refused action in the browser goes back with the reason as an error message."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            response = await http.post(
                f"{BASE}/queues/email/jobs/{seeded.waiting[0]}/retry",
                data={"csrf_token": token, "next": f"{BASE}/queues/email"},
            )
            page = await http.get(response.headers["location"])
        assert response.status_code == 303
        assert "flash-error" in page.text and "only failed or completed jobs can be retried" in page.text

    async def test_every_form_on_the_pages_posts_with_a_token(self, seeded: Seed) -> None:
        """Each POST form carries the CSRF token of the cookie."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            for path in (f"{BASE}/", f"{BASE}/queues/email", f"{BASE}/queues/email/jobs/{seeded.failed}"):
                html = (await http.get(path)).text
                forms = html.count('method="post"')
                assert forms > 0
                assert html.count(f'name="csrf_token" value="{token}"') == forms


@pytest.mark.skipif(not hasattr(Queue, "upsert_job_scheduler"), reason="job schedulers not in this build")
class TestSchedulers:
    async def test_listed_with_next_run_and_removed(self, make_queue: MakeQueue) -> None:
        """A scheduler is shown with its next run, listed by the API, and removed by its action."""
        from framework.queue import Repeat

        queue = make_queue("maintenance")
        await queue.upsert_job_scheduler("hourly-digest", Repeat(every=3600), name="digest", data={"k": 1})
        async with client(create_dashboard([queue])) as http:
            html = (await http.get(f"{BASE}/queues/maintenance")).text
            listed = (await http.get(f"{BASE}/api/queues/maintenance/schedulers")).json()
            token = await csrf_token(http)
            removed = await http.post(
                f"{BASE}/api/queues/maintenance/schedulers/hourly-digest/remove",
                headers={"X-CSRF-Token": token},
            )
            again = await http.post(
                f"{BASE}/api/queues/maintenance/schedulers/hourly-digest/remove",
                headers={"X-CSRF-Token": token},
            )
        assert 'data-scheduler-id="hourly-digest"' in html and re.search(r"every 1 h\s*<", html)
        [scheduler] = listed["schedulers"]
        assert scheduler["id"] == "hourly-digest" and scheduler["name"] == "digest"
        assert scheduler["next_run"] and scheduler["every_seconds"] == 3600
        assert removed.status_code == 200
        assert again.status_code == 404
        assert await queue.get_job_schedulers() == []
