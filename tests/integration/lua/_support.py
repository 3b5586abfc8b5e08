"""Call each Lua script directly, with the queue's real keys, and read back exactly what it left.

Every helper passes `now` explicitly so no test depends on the clock; the defaults mirror what `Queue` and
`Worker` pass in production.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from framework.queue.keys import QueueKeys
from framework.queue.scripts import script

T0 = 1_700_000_000_000  # a fixed "now" (ms) for every test
MAX_EVENTS = 10_000
LOCK_MS = 30_000
PRIORITY_SHIFT = 4294967296  # 2**32: a prioritized score is priority * 2**32 + sequence


def text(value: Any) -> Any:
    """Decode bytes (recursively through lists) to str; leave other values alone."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [text(v) for v in value]
    return value


def pairs(flat: list[Any] | dict[Any, Any]) -> dict[str, str]:
    """A flat [field, value, ...] reply (or one redis-py already parsed into a dict) as a dict of str."""
    if isinstance(flat, dict):
        return {text(k): text(v) for k, v in flat.items()}
    items = text(flat)
    return dict(zip(items[0::2], items[1::2], strict=True))


@dataclass
class Fetched:
    """One job handed to a worker by moveToActive / moveToFinished."""

    id: str
    token: str
    hash: dict[str, str]


@dataclass
class Finish:
    """One finished-job group of moveToFinished's ARGV."""

    id: str
    token: str
    kind: str = "completed"  # "completed" | "failed" | "retry"
    value: str = "null"  # return value JSON, or the failed reason
    stacktrace: str = ""
    # A count, as a worker with default options passes (1000 completed, 5000 failed); -1 = keep all, which
    # exempts the job from every other job's rule (each job's own retention).
    keep_count: int = 1000
    keep_age_ms: int = 0
    retry_delay_ms: int = 0

    def args(self) -> list[Any]:
        return [
            self.id,
            self.token,
            self.kind,
            self.value,
            self.stacktrace,
            self.keep_count,
            self.keep_age_ms,
            self.retry_delay_ms,
        ]


@dataclass
class Taken:
    """moveToActive's reply."""

    jobs: list[Fetched]
    next_due: int
    limited_ms: int


@dataclass
class Finished:
    """moveToFinished's reply."""

    results: list[int]
    jobs: list[Fetched]
    next_due: int
    limited_ms: int


def scheduler_fields(**over: str) -> dict[str, str]:
    """A scheduler hash as upsert_job_scheduler writes it (every 1 s, no limit), with overrides."""
    fields = {
        "cron": "",
        "tz": "",
        "every": "1000",
        "limit": "",
        "startDate": "",
        "endDate": "",
        "immediately": "0",
        "name": "tick",
        "data": '{"n": 1}',
        "opts": "{}",
        "priority": "0",
        "lifo": "0",
        "anchor": str(T0),
        "createdAt": str(T0),
    }
    fields.update(over)
    return fields


def _fetched(raw: list[Any]) -> list[Fetched]:
    return [Fetched(text(job_id), text(token), pairs(flat)) for job_id, token, flat in raw]


@dataclass
class LuaQueue:
    """The queue "q" under a test's prefix, driven script by script."""

    r: aioredis.Redis
    prefix: str
    name: str = "q"
    k: QueueKeys = field(init=False)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.k = QueueKeys(self.prefix, self.name)
        self.base = self.k.base + ":"

    # -- the scripts ------------------------------------------------------------------------------------

    async def add(
        self,
        name: str = "job",
        data: str = "{}",
        *,
        job_id: str = "",
        opts: str = "{}",
        timestamp: int = T0,
        delay: int = 0,
        priority: int = 0,
        lifo: bool = False,
        max_events: int = MAX_EVENTS,
    ) -> tuple[str, int]:
        k = self.k
        job, created = await script("addJob")(
            self.r,
            [k.wait, k.prioritized, k.delayed, k.meta, k.id_counter, k.priority_counter, k.events, k.marker],
            [
                self.base,
                job_id,
                name,
                data,
                opts,
                timestamp,
                delay,
                priority,
                "1" if lifo else "0",
                max_events,
            ],
        )
        return text(job), created

    async def add_jobs(
        self, jobs: list[dict[str, Any]], *, timestamp: int = T0, max_events: int = MAX_EVENTS
    ) -> list[tuple[str, int]]:
        """addJobs; each job a dict of add()'s keyword arguments (job_id, name, data, opts, delay, priority,
        lifo). Returns [(job id, created), ...]."""
        k = self.k
        args: list[Any] = [self.base, timestamp, max_events, len(jobs)]
        for job in jobs:
            args += [
                job.get("job_id", ""),
                job.get("name", "job"),
                job.get("data", "{}"),
                job.get("opts", "{}"),
                job.get("delay", 0),
                job.get("priority", 0),
                "1" if job.get("lifo") else "0",
            ]
        flat = text(
            await script("addJobs")(
                self.r,
                [
                    k.wait,
                    k.prioritized,
                    k.delayed,
                    k.meta,
                    k.id_counter,
                    k.priority_counter,
                    k.events,
                    k.marker,
                ],
                args,
            )
        )
        return list(zip(flat[0::2], flat[1::2], strict=True))

    def _fetch_keys(self) -> list[str]:
        k = self.k
        return [
            k.wait,
            k.active,
            k.prioritized,
            k.delayed,
            k.meta,
            k.events,
            k.marker,
            k.limiter,
            k.priority_counter,
        ]

    async def move_to_active(
        self,
        worker: str = "w1",
        *,
        lock_ms: int = LOCK_MS,
        now: int | str = T0,
        count: int = 1,
        limit_max: int = 0,
        limit_ms: int = 0,
        clock_offset: int | None = None,
    ) -> Taken:
        args: list[Any] = [self.base, worker, lock_ms, now, count, MAX_EVENTS, limit_max, limit_ms]
        if clock_offset is not None:
            args.append(clock_offset)
        jobs, next_due, limited = await script("moveToActive")(self.r, self._fetch_keys(), args)
        return Taken(_fetched(jobs), next_due, limited)

    async def move_to_finished(
        self,
        finished: list[Finish],
        worker: str = "w1",
        *,
        lock_ms: int = LOCK_MS,
        now: int = T0,
        count: int = 0,
        limit_max: int = 0,
        limit_ms: int = 0,
        metrics_window: int = 0,
    ) -> Finished:
        args: list[Any] = [
            self.base,
            worker,
            lock_ms,
            now,
            count,
            MAX_EVENTS,
            limit_max,
            limit_ms,
            len(finished),
        ]
        for f in finished:
            args += f.args()
        results, jobs, next_due, limited = await script("moveToFinished")(
            self.r, self.k.finish_keys(), [*args, metrics_window]
        )
        return Finished(list(results), _fetched(jobs), next_due, limited)

    async def extend_locks(
        self, held: list[tuple[str, str]], *, lock_ms: int = LOCK_MS
    ) -> tuple[list[str], list[str]]:
        """Returns (lost, cancelled)."""
        args: list[Any] = [self.base, lock_ms]
        for job_id, token in held:
            args += [job_id, token]
        lost, cancelled = text(await script("extendLocks")(self.r, [self.k.active], args))
        return lost, cancelled

    async def stall_check(
        self,
        *,
        now: int = T0,
        max_stalled: int = 1,
        interval_ms: int = 30_000,
        keep_count: int = -1,
        keep_age_ms: int = 0,
    ) -> Any:
        k = self.k
        res = await script("moveStalledJobsToWait")(
            self.r,
            k.stall_keys(),
            [self.base, now, max_stalled, interval_ms, MAX_EVENTS, keep_count, keep_age_ms],
        )
        return text(res)

    async def next_stall_check(self, **kw: Any) -> Any:
        """The stall check of the next interval: the NX guard of the previous one has lapsed."""
        await self.r.delete(self.k.stalled_check)
        return await self.stall_check(**kw)

    async def stall(self, job_id: str, *, now: int = T0, **kw: Any) -> Any:
        """Let an active job's lock lapse, then run the two stall checks that move it; returns the last."""
        await self.expire_lock(job_id)
        await self.next_stall_check(now=now, **kw)  # it becomes a candidate ...
        return await self.next_stall_check(now=now, **kw)  # ... and, still without a lock, has stalled

    async def pause(self, action: str = "pause") -> int:
        k = self.k
        return await script("pause")(self.r, [k.meta, k.events, k.marker, k.wait], [action, MAX_EVENTS])

    async def resume(self) -> int:
        return await self.pause("resume")

    async def promote(self, job_id: str = "", count: int = 1000) -> int:
        k = self.k
        return await script("promote")(
            self.r,
            [k.delayed, k.wait, k.prioritized, k.priority_counter, k.events, k.marker],
            [self.base, job_id, count, MAX_EVENTS],
        )

    async def retry_jobs(self, state: str = "failed", job_id: str = "", count: int = 1000) -> int:
        k = self.k
        src = k.failed if state == "failed" else k.completed
        return await script("retryJobs")(
            self.r,
            [src, k.wait, k.prioritized, k.priority_counter, k.events, k.marker, k.meta],
            [self.base, job_id, count, MAX_EVENTS, state],
        )

    async def remove(self, job_id: str) -> int:
        return await script("removeJob")(self.r, self.k.remove_keys(), [self.base, job_id, MAX_EVENTS, T0])

    async def drain(self, count: int, *, delayed: bool = False) -> int:
        k = self.k
        return await script("drain")(
            self.r,
            [k.wait, k.prioritized, k.delayed, k.events],
            [self.base, count, "1" if delayed else "0", MAX_EVENTS],
        )

    async def clean(self, key: str, kind: str, cutoff: int, limit: int = 1000) -> list[str]:
        return text(
            await script("cleanJobs")(
                self.r, [key, self.k.events], [self.base, cutoff, limit, kind, MAX_EVENTS]
            )
        )

    async def update_progress(self, job_id: str, progress: str) -> int:
        return await script("updateProgress")(
            self.r, [self.k.job(job_id), self.k.events], [job_id, progress, MAX_EVENTS]
        )

    async def add_log(self, job_id: str, line: str, keep: int = 1000) -> int:
        return await script("addLog")(self.r, [self.k.job(job_id), self.k.logs(job_id)], [line, keep])

    async def get_state(self, job_id: str) -> str:
        return text(await script("getState")(self.r, self.k.state_keys(job_id), [job_id]))

    async def release(
        self, held: list[tuple[str, str]], *, now: int = T0, keep_count: int = -1, keep_age_ms: int = 0
    ) -> int:
        k = self.k
        args: list[Any] = [self.base, MAX_EVENTS, now, keep_count, keep_age_ms]
        for job_id, token in held:
            args += [job_id, token]
        return await script("releaseJobs")(self.r, [k.active, k.wait, k.events, k.marker, k.failed], args)

    async def cancel(self, job_id: str, *, now: int = T0, keep_count: int = -1, keep_age_ms: int = 0) -> int:
        k = self.k
        return await script("cancelJob")(
            self.r,
            [k.wait, k.prioritized, k.delayed, k.active, k.completed, k.failed, k.events],
            [self.base, job_id, now, MAX_EVENTS, keep_count, keep_age_ms, k.cancelled],
        )

    async def upsert_scheduler(
        self,
        sid: str,
        version: str,
        first_run: int | None,
        *,
        now: int = T0,
        fields: dict[str, str] | None = None,
    ) -> tuple[str, int]:
        k = self.k
        args: list[Any] = [self.base, sid, version, now, "" if first_run is None else first_run, MAX_EVENTS]
        for key, value in (fields if fields is not None else scheduler_fields()).items():
            args += [key, value]
        job_id, status = await script("upsertJobScheduler")(
            self.r,
            k.upsert_scheduler_keys(sid),
            args,
        )
        return text(job_id), status

    async def schedule_next(
        self, sid: str, version: str, run_at: int, next_run: int | None, *, now: int = T0
    ) -> tuple[str, int]:
        k = self.k
        job_id, status = await script("scheduleNext")(
            self.r,
            k.schedule_keys(sid),
            [self.base, sid, version, run_at, "" if next_run is None else next_run, now, MAX_EVENTS],
        )
        return text(job_id), status

    async def remove_scheduler(self, sid: str) -> int:
        k = self.k
        return await script("removeJobScheduler")(
            self.r,
            k.remove_scheduler_keys(sid),
            [self.base, sid, MAX_EVENTS],
        )

    # -- reading state back -----------------------------------------------------------------------------

    async def key_names(self) -> set[str]:
        """Every key of the queue, as its suffix after the base: {"wait", "1", "1:lock", "events", ...}."""
        return {
            text(key)[len(self.base) :] async for key in self.r.scan_iter(match=f"{self.base}*", count=1000)
        }

    async def snapshot(self) -> dict[str, Any]:
        """Every key of the queue with its type, full contents and whether it has a TTL."""
        out: dict[str, Any] = {}
        for name in sorted(await self.key_names()):
            key = self.base + name
            kind = text(await self.r.type(key))
            value: Any
            if kind == "string":
                value = text(await self.r.get(key))
            elif kind == "list":
                value = text(await self.r.lrange(key, 0, -1))
            elif kind == "zset":
                value = [(text(m), s) for m, s in await self.r.zrange(key, 0, -1, withscores=True)]
            elif kind == "hash":
                value = pairs(await self.r.execute_command("HGETALL", key))
            elif kind == "set":
                value = sorted(text(list(await self.r.smembers(key))))
            elif kind == "stream":
                value = [
                    (text(i), pairs(f)) for i, f in await self.r.execute_command("XRANGE", key, "-", "+")
                ]
            else:  # pragma: no cover - the scripts create no other type
                value = kind
            out[name] = (kind, value, await self.r.pttl(key) >= 0)
        return out

    async def wait_list(self) -> list[str]:
        """The wait list in pop order (workers RPOP: the right end goes first)."""
        return list(reversed(text(await self.r.lrange(self.k.wait, 0, -1))))

    async def zset(self, key: str) -> list[tuple[str, float]]:
        return [(text(m), s) for m, s in await self.r.zrange(key, 0, -1, withscores=True)]

    async def members(self, key: str) -> list[str]:
        return text(await self.r.zrange(key, 0, -1))

    async def job(self, job_id: str) -> dict[str, str]:
        return pairs(await self.r.execute_command("HGETALL", self.k.job(job_id)))

    async def lock(self, job_id: str) -> str | None:
        return text(await self.r.get(self.k.lock(job_id)))

    async def lock_ttl(self, job_id: str) -> int:
        return await self.r.pttl(self.k.lock(job_id))

    async def marker(self) -> list[tuple[str, float]]:
        return await self.zset(self.k.marker)

    async def clear_marker(self) -> None:
        await self.r.delete(self.k.marker)

    async def events(self) -> list[dict[str, str]]:
        """The event stream's entries, oldest first, as field dicts (each has "event")."""
        return [pairs(f) for _id, f in await self.r.execute_command("XRANGE", self.k.events, "-", "+")]

    async def event_names(self) -> list[str]:
        return [e["event"] for e in await self.events()]

    async def clear_events(self) -> None:
        await self.r.delete(self.k.events)

    async def expire_lock(self, job_id: str) -> None:
        """Make a job's lock lapse now (what a real expiry leaves: no lock key)."""
        await self.r.delete(self.k.lock(job_id))

    # -- composite set-ups ------------------------------------------------------------------------------

    async def active_job(self, worker: str = "w1", *, now: int = T0, **add: Any) -> Fetched:
        """Add one job and take it: it is active under `worker`'s lock.

        The marker the add set is cleared first, as the worker that woke on it consumed it (BZPOPMIN).
        """
        await self.add(**add)
        await self.clear_marker()
        taken = await self.move_to_active(worker, now=now)
        assert len(taken.jobs) == 1
        return taken.jobs[0]

    async def finished_job(
        self,
        kind: str = "completed",
        *,
        now: int = T0,
        value: str = '"ok"',
        keep_count: int = 1000,
        keep_age_ms: int = 0,
        **add: Any,
    ) -> str:
        """Add one job, take it and finish it (completed or failed) at `now` under a retention rule; returns
        its id."""
        job = await self.active_job(now=now, **add)
        stack = "[]" if kind == "failed" else ""
        res = await self.move_to_finished(
            [Finish(job.id, job.token, kind, value, stack, keep_count, keep_age_ms)], now=now
        )
        assert res.results == [1]
        return job.id


async def wait_until_gone(r: aioredis.Redis, key: str, timeout: float = 5.0) -> None:
    """Poll until a key with a (small) TTL has really expired."""
    deadline = time.monotonic() + timeout
    while await r.exists(key):
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still exists after {timeout}s")
        await asyncio.sleep(0.01)
