"""Job schedulers on a real server: several instances, restarts, replacement, limit, removal, missed ticks.

Each "instance" is a Queue and a Worker with clients of their own, as separate application processes
would have. Tests wait on conditions (with timeouts), never for a fixed time, except where the point is
to let the clock pass while no worker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from framework import Application, Job, Module, QueueModule, Repeat, cron, every, process, processor
from framework.queue import Queue, Worker
from framework.queue.scheduler import parse_scheduler_job_id, schedule_next

QUEUE = "sched"


def run_at(job_id: str) -> int:
    """The run time (ms) in a scheduler job's id."""
    parsed = parse_scheduler_job_id(job_id)
    assert parsed is not None, job_id
    return int(parsed[1])


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Run:
    instance: int
    job_id: str
    name: str
    data: Any
    taken_at: int


@dataclass
class Runs:
    """Jobs run by the handlers; tests wait on it instead of sleeping."""

    items: list[Run] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, instance: int = 0) -> Callable[[Job[Any]], Any]:
        async def handle(job: Job[Any]) -> str:
            self.items.append(Run(instance, job.id, job.name, job.data, now_ms()))
            self.changed.set()
            return job.id

        return handle

    @property
    def ids(self) -> list[str]:
        return [r.job_id for r in self.items]

    async def wait_for(self, predicate: Callable[[list[Run]], bool], timeout: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self.items):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout} s; runs: {self.ids}") from None


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll an async condition until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Instance:
    """One application instance: a queue and (once started) a worker, each with its own connection."""

    def __init__(self, index: int, redis_url: str, prefix: str) -> None:
        self.index = index
        self.redis_url = redis_url
        self.prefix = prefix
        self.queue = Queue(QUEUE, connection=redis_url, prefix=prefix)
        self.worker: Worker | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, handler: Callable[[Job[Any]], Any]) -> Worker:
        self.worker = Worker(QUEUE, handler, connection=self.redis_url, prefix=self.prefix)
        self.task = asyncio.create_task(self.worker.run())
        return self.worker

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.close(timeout=5)
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        self.worker, self.task = None, None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
        await self.queue.close()


@pytest.fixture
async def instances(
    redis_url: str, prefix: str, redis: aioredis.Redis
) -> AsyncIterator[Callable[[], Instance]]:
    """`instances()` builds one more Instance; all are closed at teardown (`redis` cleans the keys)."""
    built: list[Instance] = []

    def factory() -> Instance:
        inst = Instance(len(built), redis_url, prefix)
        built.append(inst)
        return inst

    yield factory
    for inst in built:
        await inst.close()


async def pending(queue: Queue) -> int:
    counts = await queue.get_job_counts("waiting", "delayed", "prioritized", "paused")
    return sum(counts.values())


def assert_one_run_per_tick(ids: list[str], every_ms: int, origin: int | None = None) -> None:
    """No tick twice, every run on the grid, and at most one tick skipped overall."""
    assert len(ids) == len(set(ids)), f"a tick ran twice: {ids}"
    ticks = sorted(run_at(i) for i in ids)
    origin = ticks[0] if origin is None else origin
    assert all((t - origin) % every_ms == 0 for t in ticks), ticks
    expected = (ticks[-1] - ticks[0]) // every_ms + 1
    assert expected - 1 <= len(ticks) <= expected, (len(ticks), expected, ticks)


class TestManyInstances:
    async def test_three_instances_run_each_tick_once(self, instances: Callable[[], Instance]) -> None:
        """Three instances upserting and working one every=0.2 scheduler run each tick exactly once."""
        group = [instances() for _ in range(3)]
        jobs = await asyncio.gather(
            *(i.queue.upsert_job_scheduler("tick", Repeat(every=0.2), name="tick") for i in group)
        )
        assert len({j.id for j in jobs if j is not None}) == 1, "the three upserts made more than one job"
        assert await pending(group[0].queue) == 1
        runs = Runs()
        for inst in group:
            inst.start(runs.handler(inst.index))
        await runs.wait_for(lambda items: len(items) >= 15, timeout=15)  # ~3 s
        stopped_at = now_ms()
        await asyncio.gather(*(inst.stop() for inst in group))
        assert_one_run_per_tick(runs.ids, 200)
        # As many runs as ticks fell due between the first run and the stop (within one).
        ticks_due = (stopped_at - run_at(runs.ids[0])) // 200 + 1
        assert abs(len(runs.items) - ticks_due) <= 1, (len(runs.items), ticks_due)
        info = await group[0].queue.get_job_scheduler("tick")
        assert info is not None and info.iteration_count == len(runs.items) + 1  # +1: the pending run
        assert await pending(group[0].queue) == 1

    async def test_restart_keeps_the_schedule(self, instances: Callable[[], Instance]) -> None:
        """Closing every worker and starting new instances (which upsert again) keeps the same schedule."""
        runs = Runs()
        first = [instances() for _ in range(3)]
        await first[0].queue.upsert_job_scheduler("tick", Repeat(every=0.2), name="tick")
        for inst in first:
            inst.start(runs.handler(inst.index))
        await runs.wait_for(lambda items: len(items) >= 3)
        for inst in first:
            await inst.stop()
        before = await first[0].queue.get_job_scheduler("tick")
        assert before is not None and before.next_run_ms is not None
        origin = run_at(runs.ids[0])

        second = [instances() for _ in range(3)]
        jobs = await asyncio.gather(
            *(i.queue.upsert_job_scheduler("tick", Repeat(every=0.2), name="tick") for i in second)
        )
        after = await second[0].queue.get_job_scheduler("tick")
        assert after == before, "an unchanged upsert moved the schedule"
        assert {j.id for j in jobs if j is not None} == {f"repeat:tick:{before.next_run_ms}"}
        assert await pending(second[0].queue) == 1
        count = len(runs.items)
        for inst in second:
            inst.start(runs.handler(inst.index))
        await runs.wait_for(lambda items: len(items) >= count + 3)
        for inst in second:
            await inst.stop()
        ids = runs.ids
        assert len(ids) == len(set(ids))
        assert all((run_at(i) - origin) % 200 == 0 for i in ids), "the restart shifted the grid"


class TestUpsert:
    async def test_same_definition_changes_nothing(self, instances: Callable[[], Instance]) -> None:
        """Upserting the same definition again adds no job and keeps the next run."""
        q = instances().queue
        repeat = Repeat(cron="0 0 * * *", tz="Europe/Berlin")
        job = await q.upsert_job_scheduler("nightly", repeat, name="clean", data={"days": 7})
        info = await q.get_job_scheduler("nightly")
        again = await q.upsert_job_scheduler("nightly", repeat, name="clean", data={"days": 7})
        assert job is not None and again is not None and again.id == job.id
        assert await q.get_job_scheduler("nightly") == info
        assert await pending(q) == 1

    async def test_changed_pattern_replaces_the_old(self, instances: Callable[[], Instance]) -> None:
        """A new pattern replaces the schedule and its pending job; runs follow the new interval."""
        inst = instances()
        q = inst.queue
        old = await q.upsert_job_scheduler("tick", Repeat(every=60), name="tick")
        new = await q.upsert_job_scheduler("tick", Repeat(every=0.3), name="tick")
        assert old is not None and new is not None and new.id != old.id
        assert await q.get_job(old.id) is None, "the old pending job is still there"
        assert await pending(q) == 1
        info = await q.get_job_scheduler("tick")
        assert info is not None and info.every == 0.3 and info.iteration_count == 1
        runs = Runs()
        inst.start(runs.handler())
        await runs.wait_for(lambda items: len(items) >= 3)
        await inst.stop()
        assert runs.ids[0] == new.id
        assert_one_run_per_tick(runs.ids, 300)

    async def test_changed_data_replaces_the_pending_job(self, instances: Callable[[], Instance]) -> None:
        """Same pattern, new data: the pending job is replaced by one carrying the new data."""
        q = instances().queue
        repeat = Repeat(every=60)
        await q.upsert_job_scheduler("s", repeat, name="n", data={"v": 1})
        job = await q.upsert_job_scheduler("s", repeat, name="n", data={"v": 2}, opts={"attempts": 3})
        assert job is not None and job.data == {"v": 2} and job.opts.attempts == 3
        assert await pending(q) == 1

    async def test_limit_is_honoured(self, instances: Callable[[], Instance]) -> None:
        """A scheduler with limit=3 runs three times, then ends (no next run, nothing pending)."""
        inst = instances()
        q = inst.queue
        await q.upsert_job_scheduler("thrice", Repeat(every=0.05, limit=3), name="n")
        runs = Runs()
        inst.start(runs.handler())
        await runs.wait_for(lambda items: len(items) >= 3)

        async def ended() -> bool:
            info = await q.get_job_scheduler("thrice")
            counts = await q.get_job_counts("active")
            return info is not None and info.next_run is None and counts["active"] == 0

        await eventually(ended)
        assert await pending(q) == 0
        await inst.stop()
        assert len(runs.items) == 3
        info = await q.get_job_scheduler("thrice")
        assert info is not None and info.iteration_count == 3
        # Still listed (ended last), and an unchanged upsert does not start it over.
        assert [s.id for s in await q.get_job_schedulers()] == ["thrice"]
        again = await q.upsert_job_scheduler("thrice", Repeat(every=0.05, limit=3), name="n")
        assert again is None or again.id in runs.ids
        assert await pending(q) == 0

    async def test_remove_stops_it(self, instances: Callable[[], Instance]) -> None:
        """remove_job_scheduler deletes the scheduler and its pending job; a running job adds no successor."""
        inst = instances()
        q = inst.queue
        await q.upsert_job_scheduler("tick", Repeat(every=0.1), name="tick")
        release = asyncio.Event()
        started = asyncio.Event()
        runs = Runs()
        record = runs.handler()

        async def handler(job: Job[Any]) -> Any:
            started.set()
            await release.wait()
            return await record(job)

        inst.start(handler)
        await asyncio.wait_for(started.wait(), 10)
        assert await pending(q) == 1  # the next run was queued when this one was taken
        assert await q.remove_job_scheduler("tick") is True
        assert await q.get_job_scheduler("tick") is None
        assert await q.get_job_schedulers() == []
        assert await pending(q) == 0
        release.set()
        await runs.wait_for(lambda items: len(items) == 1)
        await inst.stop()
        assert await pending(q) == 0
        assert len(runs.items) == 1
        assert await q.remove_job_scheduler("tick") is False

    async def test_get_job_schedulers_shows_next_run(self, instances: Callable[[], Instance]) -> None:
        """get_job_schedulers lists id, name, pattern, tz, next run (ms and datetime), count, data, opts."""
        q = instances().queue
        before = now_ms()
        await q.upsert_job_scheduler("hourly", Repeat(every=3600, limit=5), name="digest", data={"to": "ops"})
        await q.upsert_job_scheduler(
            "nightly",
            Repeat(cron="30 2 * * *", tz="Europe/Berlin"),
            name="clean",
            opts={"attempts": 2, "priority": 3},
        )
        listed = await q.get_job_schedulers()
        assert {s.id for s in listed} == {"hourly", "nightly"}
        assert [s.next_run_ms for s in listed] == sorted(s.next_run_ms or 0 for s in listed)
        hourly = next(s for s in listed if s.id == "hourly")
        assert hourly.name == "digest" and hourly.every == 3600 and hourly.cron is None
        assert hourly.limit == 5 and hourly.iteration_count == 1 and hourly.data == {"to": "ops"}
        assert (
            hourly.next_run_ms is not None
            and before + 3_600_000 <= hourly.next_run_ms <= now_ms() + 3_600_000
        )
        assert hourly.next_run is not None and int(hourly.next_run.timestamp() * 1000) == hourly.next_run_ms
        nightly = next(s for s in listed if s.id == "nightly")
        assert nightly.cron == nightly.pattern == "30 2 * * *" and nightly.tz == "Europe/Berlin"
        assert nightly.opts == {"attempts": 2, "priority": 3}
        assert nightly.next_run is not None
        local = nightly.next_run.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) in ((2, 30), (3, 0))  # 03:00 only on a spring-forward night
        job = await q.get_job(f"repeat:nightly:{nightly.next_run_ms}")
        assert job is not None and job.priority == 3 and job.name == "clean"
        assert nightly.to_dict()["next_run_ms"] == nightly.next_run_ms
        assert nightly.repeat == Repeat(cron="30 2 * * *", tz="Europe/Berlin")

    async def test_restart_after_the_pending_job_was_deleted(self, instances: Callable[[], Instance]) -> None:
        """A scheduler whose pending job was deleted is restarted by an upsert of the same definition."""
        q = instances().queue
        job = await q.upsert_job_scheduler("s", Repeat(every=60), name="n")
        assert job is not None and await q.remove(job.id)
        again = await q.upsert_job_scheduler("s", Repeat(every=60), name="n")
        assert again is not None and again.id != job.id
        assert await pending(q) == 1


class TestMissedTicks:
    async def test_missed_ticks_run_once(self, instances: Callable[[], Instance]) -> None:
        """After ten ticks with no worker, the overdue job runs once and the schedule goes on from now."""
        inst = instances()
        q = inst.queue
        first = await q.upsert_job_scheduler("tick", Repeat(every=0.1), name="tick")
        assert first is not None
        # The point of this test is time passing while no worker runs: wait for the clock, not a worker.
        await asyncio.sleep(max(0.0, (run_at(first.id) + 1000 - now_ms()) / 1000))
        runs = Runs()
        inst.start(runs.handler())
        await runs.wait_for(lambda items: len(items) >= 1)
        taken = runs.items[0]
        assert taken.job_id == first.id
        info = await q.get_job_scheduler("tick")
        assert info is not None and info.next_run_ms is not None
        # The next run was computed from the take: in the future of it, on the same grid.
        assert info.next_run_ms > taken.taken_at - 50
        assert (info.next_run_ms - run_at(first.id)) % 100 == 0
        await runs.wait_for(lambda items: len(items) >= 3)
        await inst.stop()
        later = [run_at(i) for i in runs.ids[1:]]
        assert all(t >= info.next_run_ms for t in later), "a missed tick ran after the recovery"
        assert info.iteration_count == 2  # the overdue run and the next one: not one job per missed tick


class TestRaces:
    async def test_racing_schedule_next_adds_one_job(self, instances: Callable[[], Instance]) -> None:
        """Three processes scheduling the successor of the same run add exactly one job."""
        group = [instances() for _ in range(3)]
        job = await group[0].queue.upsert_job_scheduler("s", Repeat(every=60), name="n")
        assert job is not None
        await asyncio.gather(*(schedule_next(i.queue, job) for i in group))
        info = await group[0].queue.get_job_scheduler("s")
        assert info is not None and info.iteration_count == 2
        assert info.next_run_ms == run_at(job.id) + 60_000
        # The first run's job is still delayed (nobody took it here): two jobs, one per run.
        assert await pending(group[0].queue) == 2
        await schedule_next(group[1].queue, job)  # taken again (retry, stall): nothing more
        assert await pending(group[0].queue) == 2

    async def test_stale_run_of_a_replaced_scheduler_adds_nothing(
        self, instances: Callable[[], Instance]
    ) -> None:
        """A job of the old definition, taken after a replacement, does not schedule anything."""
        q = instances().queue
        old = await q.upsert_job_scheduler("s", Repeat(every=60), name="n")
        new = await q.upsert_job_scheduler("s", Repeat(every=120), name="n")
        assert old is not None and new is not None
        await schedule_next(q, old)
        assert await pending(q) == 1
        info = await q.get_job_scheduler("s")
        assert info is not None and info.next_run_ms == run_at(new.id) and info.iteration_count == 1


class TestCron:
    async def test_cron_with_seconds_runs_on_whole_seconds(self, instances: Callable[[], Instance]) -> None:
        """A six-field pattern (seconds first) in a time zone runs once per second, on the second."""
        inst = instances()
        await inst.queue.upsert_job_scheduler("sec", Repeat(cron="* * * * * *", tz="Europe/Berlin"), name="s")
        runs = Runs()
        inst.start(runs.handler())
        await runs.wait_for(lambda items: len(items) >= 2)
        await inst.stop()
        assert all(run_at(i) % 1000 == 0 for i in runs.ids)
        assert_one_run_per_tick(runs.ids, 1000)


class TestAddShorthand:
    async def test_add_with_repeat_and_job_id(self, instances: Callable[[], Instance]) -> None:
        """add(name, data, repeat=..., job_id=...) upserts the scheduler `job_id` and returns its next job."""
        q = instances().queue
        job = await q.add("report", {"m": 1}, repeat=Repeat(every=60), job_id="reports", attempts=2)
        assert job.id.startswith("repeat:reports:") and job.data == {"m": 1} and job.opts.attempts == 2
        assert [s.id for s in await q.get_job_schedulers()] == ["reports"]
        again = await q.add("report", {"m": 1}, repeat=Repeat(every=60), job_id="reports", attempts=2)
        assert again.id == job.id

    async def test_add_with_repeat_derives_a_stable_id(self, instances: Callable[[], Instance]) -> None:
        """Without job_id the scheduler id comes from the name and the pattern: the same add is a no-op."""
        q = instances().queue
        a = await q.add("report", None, repeat=Repeat(cron="0 * * * *"))
        b = await q.add("report", None, repeat=Repeat(cron="0 * * * *"))
        c = await q.add("report", None, repeat=Repeat(cron="30 * * * *"))
        assert a.id == b.id and c.id != a.id
        assert len(await q.get_job_schedulers()) == 2
        assert await pending(q) == 2


class TestBadInput:
    @pytest.mark.parametrize(
        ("repeat", "field"),
        [
            ({"cron": "not a cron"}, "repeat.cron"),
            ({"cron": "61 * * * *"}, "repeat.cron"),
            ({"cron": "0 0 30 2 *"}, "repeat.cron"),
            ({"cron": "0 0 * * *", "tz": "Mars/Olympus"}, "repeat.tz"),
            ({"every": 0}, "every"),
            ({"every": -5}, "every"),
            ({"every": 0.0001}, "repeat.every"),
            ({"cron": "0 0 * * *", "every": 60}, "cron= or every="),
            ({}, "cron= or every="),
            (
                {"every": 60, "start_date": "2030-01-02T00:00:00Z", "end_date": "2030-01-01T00:00:00Z"},
                "end_date",
            ),
        ],
    )
    async def test_invalid_repeat_writes_nothing(
        self, instances: Callable[[], Instance], redis: aioredis.Redis, prefix: str, repeat: Any, field: str
    ) -> None:
        """Invalid schedules raise ValueError naming the field, and nothing is written."""
        q = instances().queue
        with pytest.raises(ValueError, match=field.replace(".", r"\.")):
            await q.upsert_job_scheduler("bad", repeat, name="n")
        assert [k async for k in redis.scan_iter(match=f"{{{prefix}:*")] == []

    async def test_invalid_time_zone_from_a_repeat_object(self, instances: Callable[[], Instance]) -> None:
        """A Repeat with an unknown time zone is refused at upsert."""
        q = instances().queue
        with pytest.raises(ValueError, match=r"repeat\.tz"):
            await q.upsert_job_scheduler("bad", Repeat(cron="0 0 * * *", tz="Nowhere/Town"))
        assert await q.get_job_schedulers() == []

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"scheduler_id": "a:b"}, "':'"),
            ({"scheduler_id": ""}, "non-empty"),
            ({"opts": {"job_id": "x"}}, r"opts\.job_id"),
            ({"opts": {"delay": 5}}, r"opts\.delay"),
            ({"opts": {"attempts": 0}}, "attempts"),
            ({"data": {1, 2}}, "data"),
        ],
    )
    async def test_invalid_arguments_write_nothing(
        self, instances: Callable[[], Instance], redis: aioredis.Redis, prefix: str, kwargs: Any, field: str
    ) -> None:
        """A bad id, job option or payload is refused before anything is written."""
        q = instances().queue
        args: dict[str, Any] = {"scheduler_id": "ok", "repeat": Repeat(every=60), "name": "n"} | kwargs
        with pytest.raises((ValueError, TypeError), match=field):
            await q.upsert_job_scheduler(**args)
        assert [k async for k in redis.scan_iter(match=f"{{{prefix}:*")] == []


# -- the decorator form, through the module system ----------------------------------------------------


class Beats:
    """Shared by the processor and the test: what ran."""

    def __init__(self) -> None:
        self.runs = Runs()


@processor("maint")
class MaintenanceProcessor:
    def __init__(self, beats: Beats) -> None:
        self.beats = beats

    @every(0.1, id="beat", data={"kind": "beat"})
    async def heartbeat(self, job: Job[Any]) -> None:
        await self.beats.runs.handler()(job)

    @cron("0 3 * * *", id="nightly", tz="Europe/Berlin")
    @process("cleanup")
    async def clean(self, job: Job[Any]) -> None:
        await self.beats.runs.handler()(job)


class TestDecorators:
    async def test_processor_schedulers_are_upserted_at_start(
        self, redis_url: str, prefix: str, redis: aioredis.Redis
    ) -> None:
        """@every / @cron methods are upserted at start, run by the method, and survive a restart."""

        def root() -> type[Module]:
            class AppModule(Module):
                imports = [
                    QueueModule.for_root(redis_url, prefix=prefix),
                    QueueModule.register_queue("maint"),
                ]
                providers = [Beats]
                processors = [MaintenanceProcessor]

            return AppModule

        app = await Application.create(root())
        try:
            beats = app.get(Beats)
            await app.start()
            await beats.runs.wait_for(lambda items: len(items) >= 2)
            queue = app.queue("maint")
            listed = {s.id: s for s in await queue.get_job_schedulers()}
            assert set(listed) == {"beat", "nightly"}
            assert listed["beat"].name == "heartbeat" and listed["beat"].data == {"kind": "beat"}
            assert listed["nightly"].name == "cleanup" and listed["nightly"].tz == "Europe/Berlin"
            assert {r.name for r in beats.runs.items} == {"heartbeat"}
            nightly = listed["nightly"]
        finally:
            await app.close(timeout=5)

        app = await Application.create(root())
        try:
            await app.start()
            after = await app.queue("maint").get_job_scheduler("nightly")
            assert after is not None and after.next_run_ms == nightly.next_run_ms
            assert after.iteration_count == nightly.iteration_count
        finally:
            await app.close(timeout=5)
