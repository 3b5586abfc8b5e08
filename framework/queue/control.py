"""Job control on the queue side: deduplicated and grouped adds, queue-wide limits, manual rate limits,
fair groups, job mutation, and moving a running job back (step jobs, rate-limited jobs).

`JobControl` is a mixin of `Queue` (its public methods are Queue's); the worker calls `move_back` when a
handler raises `DelayedError` or `RateLimitError`. Each state change is one Lua script (lua/*.lua):
addControlledJob, setQueueLimits, pauseGroup, updateJobData, changePriority, changeDelay, clearLogs,
moveActiveJob. The fetch side lives in lua/includes/{queueLimits,groups,fetchJobs}.lua.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from framework.errors import DelayedError, JobNotFoundError, RateLimitError
from framework.queue import serialization
from framework.queue.control_options import check_control_id
from framework.queue.durations import Seconds, to_ms
from framework.queue.keys import QueueKeys
from framework.queue.options import MAX_PRIORITY, JobOptions, RateLimit
from framework.queue.scripts import LuaScript, script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.job import Job

# A manual rate limit fills the limiter's window beyond any worker's max (BullMQ does the same).
_RATE_LIMITED = 2**53 - 1
Entry = list[Any]


def is_controlled(options: JobOptions) -> bool:
    """Jobs with deduplication or a group take the addControlledJob path; the rest go through addJobs."""
    return options.deduplication is not None or options.group_id is not None


def group_limit_args(concurrency: int | None, rate_limit: RateLimit | None) -> list[int]:
    """A worker's group limits as the fetch scripts take them: [concurrency, max, window ms] (0 = none)."""
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValueError(f"group_concurrency must be an int >= 1 (or None), got {concurrency!r}")
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise ValueError(f"group_rate_limit must be a RateLimit(max=, duration=), got {rate_limit!r}")
    if concurrency is None and rate_limit is None:
        return []
    return [
        concurrency or 0,
        rate_limit.max if rate_limit else 0,
        round(rate_limit.duration * 1000) if rate_limit else 0,
    ]


def _now_ms() -> int:
    return int(time.time() * 1000)


class JobControl:
    """Queue methods of job control (mixed into `Queue`)."""

    __slots__ = ()

    if TYPE_CHECKING:
        keys: QueueKeys
        base: str
        max_events: int
        name: str

        @property
        def client(self) -> Redis: ...

        async def _ensure_loaded(self, lua: LuaScript) -> None: ...

    # -- adding -----------------------------------------------------------------------------------------

    async def _add_controlled(self, items: Sequence[tuple[JobOptions, Entry]]) -> list[tuple[str, int, int]]:
        """Write deduplicated / grouped jobs, one addControlledJob call each, in one pipeline.
        Returns (job id, created, deduplicated) per item."""
        lua = script("addControlledJob")
        ts = _now_ms()
        calls: list[tuple[list[str], list[Any]]] = []
        k = self.keys
        for options, entry in items:
            dedup, gid = options.deduplication, options.group_id or ""
            keys = [
                *k.add_keys(),
                k.deduplication(dedup.id) if dedup else k.meta,
                k.group(gid) if gid else k.meta,
                k.groups,
                k.groups_paused,
            ]
            args = [self.base, *entry, self.max_events]
            args.insert(5, ts)  # entry: id, name, data, opts, delay, priority, lifo: the timestamp after opts
            if dedup is not None:
                ttl = 0 if dedup.ttl is None else max(1, round(dedup.ttl * 1000))
                args += [dedup.id, ttl, "1" if dedup.extend else "0", "1" if dedup.replace else "0"]
            else:
                args += ["", 0, "0", "0"]
            args.append(gid)
            calls.append((keys, args))
        if len(calls) == 1:
            replies = [await lua(self.client, *calls[0])]
        else:
            await self._ensure_loaded(lua)
            pipe = self.client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.execute_command("EVALSHA", lua.sha, lua.num_keys, *keys, *args)
            replies = await pipe.execute()
        return [(as_text(r[0]), int(r[1]), int(r[2])) for r in replies]

    # -- deduplication ----------------------------------------------------------------------------------

    async def get_deduplication_job_id(self, deduplication_id: str) -> str | None:
        """The id of the job that holds `deduplication_id` now (adds with it are ignored), or None."""
        check_control_id(deduplication_id, "deduplication id")
        key = self.keys.deduplication(deduplication_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        raw, pttl = await pipe.execute()
        if raw is None:
            return None
        job_id = as_text(raw)
        if pttl > 0:
            return job_id
        # Held until the job finishes: an id left by a job that was cancelled or removed no longer holds.
        name, finished = await self.client.hmget(self.keys.job(job_id), ["name", "finishedOn"])
        return job_id if name is not None and finished is None else None

    async def remove_deduplication_key(self, deduplication_id: str) -> bool:
        """Free `deduplication_id` now: the next add with it creates a job. Returns False if it was free."""
        check_control_id(deduplication_id, "deduplication id")
        return bool(await self.client.delete(self.keys.deduplication(deduplication_id)))

    # -- queue-wide limits ------------------------------------------------------------------------------

    async def _set_limits(self, *args: Any) -> None:
        await script("setQueueLimits")(self.client, [self.keys.meta, self.keys.marker], list(args))

    async def set_global_concurrency(self, concurrency: int) -> None:
        """At most `concurrency` jobs of this queue active at once, across every worker and process."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"global concurrency must be an int >= 1, got {concurrency!r}")
        await self._set_limits("concurrency", concurrency)

    async def get_global_concurrency(self) -> int | None:
        """The queue-wide concurrency, or None when there is none."""
        raw = await self.client.hget(self.keys.meta, "concurrency")
        return None if raw is None else int(raw)

    async def remove_global_concurrency(self) -> None:
        """Drop the queue-wide concurrency (each worker's own `concurrency` still holds)."""
        await self._set_limits("no-concurrency")

    async def set_global_rate_limit(self, max: int, duration: Seconds) -> None:
        """At most `max` jobs started per `duration` seconds, across every worker and process. It replaces
        the workers' own `limiter` while set."""
        if isinstance(max, bool) or not isinstance(max, int) or max < 1:
            raise ValueError(f"global rate limit max must be an int >= 1, got {max!r}")
        ms = to_ms(duration, field="duration")
        if ms < 1:
            raise ValueError(f"global rate limit duration must be > 0 seconds, got {duration!r}")
        await self._set_limits("rate", max, ms)

    async def get_global_rate_limit(self) -> tuple[int, float] | None:
        """The queue-wide rate limit as (max, duration in seconds), or None."""
        m, d = await self.client.hmget(self.keys.meta, ["max", "duration"])
        return None if m is None or d is None else (int(m), int(d) / 1000)

    async def remove_global_rate_limit(self) -> None:
        """Drop the queue-wide rate limit (workers' own `limiter` applies again)."""
        await self._set_limits("no-rate")

    async def rate_limit(self, duration: Seconds) -> None:
        """No worker of this queue takes a job for `duration` seconds (e.g. an API answered 429).

        From a handler, follow it with `raise RateLimitError()` so the running job goes back to waiting
        without using an attempt.
        """
        ms = to_ms(duration, field="duration")
        if ms < 1:
            raise ValueError(f"rate_limit takes a duration > 0 seconds, got {duration!r}")
        await self.client.set(self.keys.limiter, _RATE_LIMITED, px=ms)

    async def get_rate_limit_ttl(self) -> float:
        """Seconds left of the current rate-limit window or manual rate limit (0 when none)."""
        ms = await self.client.pttl(self.keys.limiter)
        return max(int(ms), 0) / 1000

    # -- fair groups ------------------------------------------------------------------------------------

    async def _group_action(self, group_id: str, action: str) -> bool:
        check_control_id(group_id, "group id")
        k = self.keys
        return bool(
            await script("pauseGroup")(
                self.client,
                [k.groups_paused, k.groups, k.group(group_id), k.marker, k.meta],
                [group_id, action],
            )
        )

    async def pause_group(self, group_id: str) -> bool:
        """No worker takes jobs of this group until `resume_group` (adds still work; active ones finish).
        Returns False when it was paused already."""
        return await self._group_action(group_id, "pause")

    async def resume_group(self, group_id: str) -> bool:
        """Let workers take jobs of a paused group again. Returns False when it was not paused."""
        return await self._group_action(group_id, "resume")

    async def is_group_paused(self, group_id: str) -> bool:
        check_control_id(group_id, "group id")
        return bool(await self.client.sismember(self.keys.groups_paused, group_id))

    async def get_group_counts(self, group_id: str) -> dict[str, int]:
        """Jobs of one group: {"waiting", "paused", "active"} (waiting jobs count as paused while the group
        is paused). Delayed jobs of the group join it when they fall due."""
        check_control_id(group_id, "group id")
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.group(group_id))
        pipe.sismember(k.groups_paused, group_id)
        pipe.zrange(k.active, 0, -1)
        waiting, paused, active_ids = await pipe.execute()
        active = 0
        if active_ids:
            pipe = self.client.pipeline(transaction=False)
            for job_id in active_ids:
                pipe.hget(k.job(as_text(job_id)), "gid")
            active = sum(1 for gid in await pipe.execute() if gid is not None and as_text(gid) == group_id)
        return {
            "waiting": 0 if paused else int(waiting),
            "paused": int(waiting) if paused else 0,
            "active": active,
        }

    async def _grouped_waiting(self, ring: list[Any], paused: set[Any]) -> tuple[int, int]:
        """Waiting jobs of the groups in the ring, and of the paused groups (for get_job_counts)."""
        ids = [as_text(g) for g in ring]
        held = [as_text(g) for g in paused]
        pipe = self.client.pipeline(transaction=False)
        for gid in [*ids, *held]:
            pipe.llen(self.keys.group(gid))
        lengths = [int(n) for n in await pipe.execute()]
        return sum(lengths[: len(ids)]), sum(lengths[len(ids) :])

    async def get_groups(self) -> list[str]:
        """Ids of the groups that have waiting jobs, in turn order, then the paused ones."""
        k = self.keys
        ring = [as_text(g) for g in await self.client.lrange(k.groups, 0, -1)]
        paused = sorted(as_text(g) for g in await self.client.smembers(k.groups_paused))
        return [*reversed(ring), *(g for g in paused if g not in ring)]

    # -- job mutation -----------------------------------------------------------------------------------

    async def _job_script(self, name: str, keys: list[str], args: list[Any], job_id: str) -> int:
        res = int(await script(name)(self.client, keys, args))
        if res == -1:
            raise JobNotFoundError(f"job {job_id} does not exist in queue {self.name!r} (removed or trimmed)")
        return res

    async def _update_data(self, job_id: str, data: Any) -> None:
        value = serialization.dumps(data, what="data")
        k = self.keys
        keys = [k.job(job_id), k.events]
        await self._job_script("updateJobData", keys, [job_id, value, self.max_events], job_id)

    async def _change_priority(self, job_id: str, priority: int) -> None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be an int from 0 to {MAX_PRIORITY}, got {priority!r}")
        k = self.keys
        res = await self._job_script(
            "changePriority",
            [k.job(job_id), k.wait, k.prioritized, k.priority_counter, k.marker, k.meta, k.events],
            [job_id, priority, self.max_events],
            job_id,
        )
        if res == -2:
            raise ValueError(f"job {job_id} belongs to a group; jobs of a group have no priority")

    async def _change_delay(self, job_id: str, delay: Seconds) -> None:
        ms = to_ms(delay, field="delay")
        k = self.keys
        res = await self._job_script(
            "changeDelay",
            [k.job(job_id), k.delayed, k.events, k.marker],
            [job_id, ms, _now_ms(), self.max_events],
            job_id,
        )
        if res == 0:
            raise ValueError(f"job {job_id} is not delayed; change_delay only applies to delayed jobs")

    async def _clear_logs(self, job_id: str, keep: int = 0) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep must be an int >= 0, got {keep!r}")
        k = self.keys
        await self._job_script("clearLogs", [k.job(job_id), k.logs(job_id)], [keep], job_id)

    async def _move_active(self, job: Job[Any], target: str, due_ms: int) -> bool:
        """Move a running job (held under `job.token`) back to delayed or waiting. False if not ours."""
        k = self.keys
        res = await script("moveActiveJob")(
            self.client,
            [k.active, k.wait, k.delayed, k.job(job.id), k.lock(job.id), k.events, k.marker],
            [job.id, job.token or "", target, due_ms, self.max_events],
        )
        if res == -1:
            raise JobNotFoundError(f"job {job.id} does not exist in queue {self.name!r} (removed or trimmed)")
        return bool(res == 1)


async def move_back(queue: JobControl, job: Job[Any], exc: DelayedError | RateLimitError) -> bool:
    """The handler raised DelayedError / RateLimitError: move the job back without using an attempt."""
    if isinstance(exc, RateLimitError):
        return await queue._move_active(job, "wait", 0)
    delay = 0.0 if exc.delay is None else exc.delay
    return await queue._move_active(job, "delayed", _now_ms() + round(delay * 1000))
