"""The framework-neutral data layer shared by the pages, the JSON API and the CLI."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from framework.dashboard import create_dashboard, data
from framework.queue import Queue

from .conftest import BASE, MakeQueue, Seed, client


class TestDiscovery:
    async def test_finds_queues_by_their_keys(
        self, make_queue: MakeQueue, redis: aioredis.Redis, prefix: str, redis_url: str
    ) -> None:
        """Queues with jobs, or only a meta key (paused, empty), are found; other prefixes are not."""
        await make_queue("email").add("x", {})
        await make_queue("idle").pause()
        stranger = Queue("elsewhere", connection=redis_url, prefix=prefix + "x")
        try:
            await stranger.add("x", {})
            assert await data.discover_queue_names(redis, prefix) == ["email", "idle"]
        finally:
            await stranger.obliterate(force=True)
            await stranger.close()

    async def test_discovered_source(self, make_queue: MakeQueue, redis: aioredis.Redis, prefix: str) -> None:
        """DiscoveredQueues serves found queues and sees a new one at once when asked for it by name."""
        await make_queue("email").add("x", {})
        source = data.DiscoveredQueues(redis, prefix, ttl=60)
        try:
            assert await source.names() == ["email"]
            await make_queue("late").add("x", {})
            assert (await source.get("late")).name == "late"
            with pytest.raises(data.NotFoundError, match="no queue 'nope'"):
                await source.get("nope")
        finally:
            await source.close()

    async def test_combined_source(self, make_queue: MakeQueue) -> None:
        """CombinedQueues merges names and finds each queue in the source that has it."""
        a, b = make_queue("a"), make_queue("b")
        source = data.CombinedQueues(data.StaticQueues([a]), data.StaticQueues([b, a]))
        assert await source.names() == ["a", "b"]
        assert await source.get("b") is b
        with pytest.raises(data.NotFoundError):
            await source.get("c")

    def test_source_of_rejects_other_things(self) -> None:
        """Only an Application, Queues or a QueueSource make a source."""
        with pytest.raises(TypeError, match="Application or a list of Queue"):
            data.source_of("email")


class TestListJobs:
    async def test_finished_states_newest_first(self, seeded: Seed) -> None:
        """Completed jobs come last finished first, with summaries of data and result."""
        listing = await data.list_jobs(seeded.queue, "completed", limit=2)
        assert listing["total"] == 3 and len(listing["jobs"]) == 2
        assert [j["id"] for j in listing["jobs"]] == list(reversed(seeded.completed))[:2]
        first = listing["jobs"][0]
        assert first["result_preview"] == '{"delivered":true,"to":"user2@example.com"}'
        assert first["attempts_made"] == 1 and first["worker"]

    async def test_name_filter_counts_matches(self, make_queue: MakeQueue) -> None:
        """With a name filter the total is the number of matches, and pages slice them."""
        queue = make_queue("mixed")
        await queue.add_bulk([{"name": "a" if i % 3 else "b-match", "data": {}} for i in range(30)])
        listing = await data.list_jobs(queue, "waiting", name="MATCH", start=5, limit=3)
        assert listing["total"] == 10 and len(listing["jobs"]) == 3 and listing["complete"]
        assert all(j["name"] == "b-match" for j in listing["jobs"])

    async def test_unknown_state(self, seeded: Seed) -> None:
        """An unknown state is an ActionError naming the states."""
        with pytest.raises(data.ActionError, match="unknown state 'done'"):
            await data.list_jobs(seeded.queue, "done")

    async def test_corrupt_job_does_not_break_the_list(self, seeded: Seed, redis: aioredis.Redis) -> None:
        """A job hash edited by hand shows as an error row, the others still list."""
        await redis.hset(seeded.queue.keys.job(seeded.completed[0]), "data", "{not json")
        listing = await data.list_jobs(seeded.queue, "completed")
        corrupt = [j for j in listing["jobs"] if j.get("corrupt")]
        assert len(listing["jobs"]) == 3 and len(corrupt) == 1
        assert "field 'data'" in corrupt[0]["corrupt"]
        detail = await data.job_detail(seeded.queue, seeded.completed[0])
        assert detail["corrupt"] and detail["state"] == "completed"


class TestJobDetail:
    async def test_actions_follow_the_state(self, seeded: Seed) -> None:
        """The detail lists the actions that apply to the job's state."""
        assert (await data.job_detail(seeded.queue, seeded.failed))["actions"] == ["retry", "remove"]
        assert (await data.job_detail(seeded.queue, seeded.delayed))["actions"] == ["promote", "remove"]
        assert (await data.job_detail(seeded.queue, seeded.waiting[0]))["actions"] == ["remove"]

    async def test_find_job_in_every_queue(self, seeded: Seed, make_queue: MakeQueue) -> None:
        """find_job looks the id up in each queue."""
        other = make_queue("other")
        await other.add("x", {})
        source = data.StaticQueues([seeded.queue, other])
        found = await data.find_job(source, "1")
        assert {(f["queue"], f["state"]) for f in found} == {("email", "completed"), ("other", "waiting")}
        assert await data.find_job(source, "1", "other") == [
            {"queue": "other", "id": "1", "name": "x", "state": "waiting"}
        ]

    async def test_corrupt_job_pages_render(self, seeded: Seed, redis: aioredis.Redis) -> None:
        """The queue page and the job page show a corrupt job's error instead of failing."""
        await redis.hset(seeded.queue.keys.job(seeded.completed[0]), "data", "{not json")
        async with client(create_dashboard([seeded.queue])) as http:
            listing = await http.get(f"{BASE}/queues/email", params={"state": "completed"})
            page = await http.get(f"{BASE}/queues/email/jobs/{seeded.completed[0]}")
        assert listing.status_code == 200 and "field &#39;data&#39; is not valid" in listing.text
        assert page.status_code == 200 and "field &#39;data&#39; is not valid" in page.text
