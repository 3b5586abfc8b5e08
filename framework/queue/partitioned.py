"""PartitionedQueue: one logical queue stored as K partition queues (see routing.py).

`Queue(name, partitions=K)` returns one of these. Each partition is a plain `Queue` named `name#i`; this
class routes a job's operations to the partition of its id and merges the queue-wide ones (counts, lists,
pause, drain, clean, metrics, schedulers) over all partitions, concurrently (on a cluster each partition
may be on another shard). Jobs it returns belong to their partition's `Queue` (`job.queue.name` is
`name#i`), so a job's own operations (progress, logs, retry, remove, ...) go straight to its partition.

Not supported, and refused with a message saying so: fair groups (`group_id`), flow children (`parent=`
and flows into a partitioned queue), queue-wide concurrency and rate limits (each partition would apply
them on its own, K times over), and `deduplication=` together with a `job_id`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Iterable
from typing import Any, NoReturn, TypeVar

from framework.connection import Connection
from framework.errors import BulkAddError
from framework.observability.metrics import Metrics, MetricsMeta
from framework.queue import scheduler
from framework.queue.durations import Seconds
from framework.queue.job import Job, JobState
from framework.queue.keys import escape_glob
from framework.queue.options import JobOptions, build_options
from framework.queue.queue import ALL_STATES, Queue
from framework.queue.routing import (
    PARTITION_SEP,
    check_layout,
    check_partitions,
    job_partition,
    new_job_id,
    partition_name,
    partition_of,
)
from framework.queue.serialization import as_text

T = TypeVar("T")
_ZSET_STATES = ("prioritized", "delayed", "active", "waiting-children", "completed", "failed")


class PartitionedQueue(Queue):
    """A queue stored as `partitions` hash-tagged partitions (create it with `Queue(name, partitions=K)`)."""

    _partitioned = True

    def __init__(
        self,
        name: str,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        default_job_options: JobOptions | dict[str, Any] | None = None,
        max_events: int = 10_000,
        partitions: int = 2,
    ) -> None:
        if isinstance(name, str) and PARTITION_SEP in name:
            raise ValueError(
                f"a partitioned queue's name cannot contain {PARTITION_SEP!r} (its partitions are named "
                f"'name{PARTITION_SEP}0', ...), got {name!r}"
            )
        super().__init__(
            name,
            connection=connection,
            prefix=prefix,
            default_job_options=default_job_options,
            max_events=max_events,
            partitions=check_partitions(partitions),
        )
        self._parts: list[Queue] | None = None
        self._layout_checked = False

    @property
    def parts(self) -> list[Queue]:
        """The partition queues, `name#0` first (they share this queue's client)."""
        if self._parts is None:
            self._parts = [
                Queue(
                    partition_name(self.name, i),
                    connection=self.client,
                    prefix=self.prefix,
                    default_job_options=self.default_job_options,
                    max_events=self.max_events,
                )
                for i in range(self.partitions)
            ]
        return self._parts

    def partition_for(self, job_id: str) -> Queue:
        """The partition queue that holds the job `job_id`."""
        return self.parts[job_partition(job_id, self.partitions)]

    async def check_layout(self) -> None:
        """Record this queue's partition count, or raise `PartitionMismatchError` if another is recorded."""
        if not self._layout_checked:
            await check_layout(self.client, self.prefix, self.name, self.partitions)
            self._layout_checked = True

    async def close(self) -> None:
        parts, self._parts = self._parts or [], None
        for part in parts:
            await part.close()
        await super().close()

    async def _each(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        return list(await asyncio.gather(*calls))

    # -- adding jobs ------------------------------------------------------------------------------------

    def _route(self, name: str, opts: dict[str, Any]) -> tuple[Queue, dict[str, Any]]:
        """Validate `opts` and pick the partition; returns it with the options to add with (job_id set)."""
        options = build_options(self.default_job_options, opts)
        if options.group_id is not None:
            _unsupported("fair groups (group_id=)", "use a plain queue for grouped jobs")
        if options.parent is not None:
            _unsupported("flow children (parent=)", "add the child to a plain queue")
        opts = dict(opts)
        if options.deduplication is not None:
            if "job_id" in opts and opts["job_id"] is not None:
                raise ValueError(
                    "on a partitioned queue the deduplication id picks the job's partition: give "
                    "deduplication= or job_id=, not both"
                )
            index = partition_of(options.deduplication.id, self.partitions)
            opts["job_id"] = new_job_id(self.partitions, index)
        elif options.job_id is None:
            opts["job_id"] = new_job_id(self.partitions)
        return self.partition_for(opts["job_id"]), opts

    async def add(self, name: str, data: Any = None, **opts: Any) -> Job[Any]:
        if opts.get("repeat") is not None:
            return await self._add_scheduled(name, data, opts)
        part, opts = self._route(name, opts)
        await self.check_layout()
        return await part.add(name, data, **opts)

    async def add_bulk(self, jobs: Iterable[dict[str, Any]]) -> list[Job[Any]]:
        """As `Queue.add_bulk`; the items of each partition are written together, the partitions at once."""
        routed: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        total = 0
        for i, item in enumerate(jobs):
            total += 1
            if not isinstance(item, dict) or "name" not in item:
                raise ValueError(f"add_bulk item {i} must be a dict with 'name', 'data' and optional 'opts'")
            try:
                part, opts = self._route(item["name"], dict(item.get("opts") or {}))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"add_bulk item {i}: {exc}") from None
            index = self.parts.index(part)
            routed.setdefault(index, []).append((i, {**item, "opts": opts}))
        if not routed:
            return []
        await self.check_layout()
        groups = list(routed.items())
        results = await asyncio.gather(
            *(self.parts[index].add_bulk([item for _, item in items]) for index, items in groups),
            return_exceptions=True,
        )
        out: list[Job[Any] | None] = [None] * total
        failure: BaseException | None = None
        written_items: list[int] = []
        for (_, items), result in zip(groups, results, strict=True):
            positions = [i for i, _ in items]
            if isinstance(result, BulkAddError):
                failure = failure or result.cause
                written_items.extend(positions[n] for n in result.written_items)
            elif isinstance(result, BaseException):
                failure = failure or result
            else:
                for position, job in zip(positions, result, strict=True):
                    out[position] = job
                written_items.extend(positions)
        if failure is not None:
            written_items.sort()
            ids = [str(job.id) for job in out if job is not None]
            raise BulkAddError(total, written_items, ids, failure)
        return [job for job in out if job is not None]

    # -- reading jobs -----------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job[Any] | None:
        return await self.partition_for(job_id).get_job(job_id)

    async def get_job_state(self, job_id: str) -> JobState:
        return await self.partition_for(job_id).get_job_state(job_id)

    async def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        return await self.partition_for(job_id).get_job_logs(job_id, start, end)

    async def get_job_counts(self, *states: str) -> dict[str, int]:
        counts = await self._each(part.get_job_counts(*states) for part in self.parts)
        return {state: sum(c[state] for c in counts) for state in counts[0]}

    async def get_job_ids(self, state: str, start: int = 0, end: int = -1) -> list[str]:
        """Ids in one state over all partitions: finished states newest first, the others in the order they
        run (waiting jobs one partition after the other, as workers take them; zsets by score)."""
        if state not in ALL_STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(ALL_STATES)}")
        stop = -1 if end < 0 else end  # each partition's first end+1 are enough for [start, end]
        merged: list[str]
        if state in _ZSET_STATES:
            newest_first = state in ("completed", "failed")
            scored = await self._each(_scored_ids(part, state, stop, newest_first) for part in self.parts)
            pairs = heapq.merge(*scored, key=lambda p: -p[0] if newest_first else p[0])
            merged = [job_id for _, job_id in pairs]
        else:
            lists = await self._each(part.get_job_ids(state, 0, stop) for part in self.parts)
            merged = [job_id for row in itertools.zip_longest(*lists) for job_id in row if job_id is not None]
        return merged[start:] if end < 0 else merged[start : end + 1]

    async def _load_jobs(self, ids: list[str]) -> list[Job[Any]]:
        by_part: dict[int, list[str]] = {}
        for job_id in ids:
            by_part.setdefault(job_partition(job_id, self.partitions), []).append(job_id)
        loaded = await self._each(self.parts[i]._load_jobs(part_ids) for i, part_ids in by_part.items())
        jobs = {job.id: job for batch in loaded for job in batch}
        return [jobs[job_id] for job_id in ids if job_id in jobs]

    # -- job operations ---------------------------------------------------------------------------------

    async def remove(self, job_id: str) -> bool:
        return await self.partition_for(job_id).remove(job_id)

    async def cancel(self, job_id: str) -> bool:
        return await self.partition_for(job_id).cancel(job_id)

    async def retry_jobs(self, state: str = "failed", count: int = 1000) -> int:
        return sum(await self._each(part.retry_jobs(state, count) for part in self.parts))

    async def promote_jobs(self, count: int = 1000) -> int:
        return sum(await self._each(part.promote_jobs(count) for part in self.parts))

    async def wait_for_job(self, job_id: str, timeout: float | None = None) -> Any:
        return await self.partition_for(job_id).wait_for_job(job_id, timeout)

    # -- queue operations -------------------------------------------------------------------------------

    async def pause(self) -> None:
        await self._each(part.pause() for part in self.parts)

    async def resume(self) -> None:
        await self._each(part.resume() for part in self.parts)

    async def is_paused(self) -> bool:
        """True when any partition is paused (all are, unless a pause or resume was cut short)."""
        return any(await self._each(part.is_paused() for part in self.parts))

    async def drain(self, delayed: bool = False) -> int:
        return sum(await self._each(part.drain(delayed) for part in self.parts))

    async def clean(self, grace: Seconds = 0, limit: int = 1000, state: str = "completed") -> list[str]:
        """As `Queue.clean`: up to `limit` jobs in all, taken from the partitions in turn."""
        removed: list[str] = []
        for part in self.parts:
            if len(removed) >= limit:
                break
            removed += await part.clean(grace, limit - len(removed), state)
        return removed

    async def obliterate(self, *, force: bool = False) -> int:
        """Delete every partition (and the recorded partition count). Refuses while jobs are active unless
        `force`; the partitions are all paused before any is deleted."""
        await self.pause()
        if not force and any(await self._each(part.client.zcard(part.keys.active) for part in self.parts)):
            await self.resume()
            raise RuntimeError(f"queue {self.name!r} has active jobs; wait for them or pass force=True")
        deleted = sum(await self._each(part.obliterate(force=True) for part in self.parts))
        deleted += await _delete_keys(self)  # the name's own keys: the recorded count, the workers
        self._layout_checked = False
        return deleted

    # -- observability ----------------------------------------------------------------------------------

    async def get_metrics(self, kind: str, start: int = 0, end: int = -1) -> Metrics:
        """As `Queue.get_metrics`, summed over the partitions minute by minute."""
        each = await self._each(part.get_metrics(kind, start, end) for part in self.parts)
        data = [sum(values) for values in itertools.zip_longest(*(m.data for m in each), fillvalue=0)]
        meta = MetricsMeta(count=sum(m.meta.count for m in each))
        return Metrics(count=max(m.count for m in each), data=data, meta=meta)

    # -- job schedulers: a scheduler and its jobs live in the partition of its id -----------------------

    async def upsert_job_scheduler(
        self,
        scheduler_id: str,
        repeat: scheduler.RepeatLike,
        *,
        name: str | None = None,
        data: Any = None,
        opts: scheduler.OptionsLike = None,
    ) -> Job[Any] | None:
        scheduler.check_scheduler_id(scheduler_id)
        await self.check_layout()
        part = self.parts[partition_of(scheduler_id, self.partitions)]
        return await part.upsert_job_scheduler(scheduler_id, repeat, name=name, data=data, opts=opts)

    async def remove_job_scheduler(self, scheduler_id: str) -> bool:
        part = self.parts[partition_of(scheduler_id, self.partitions)]
        return await part.remove_job_scheduler(scheduler_id)

    async def get_job_scheduler(self, scheduler_id: str) -> scheduler.JobSchedulerInfo | None:
        return await self.parts[partition_of(scheduler_id, self.partitions)].get_job_scheduler(scheduler_id)

    async def get_job_schedulers(self, start: int = 0, end: int = -1) -> list[scheduler.JobSchedulerInfo]:
        stop = -1 if end < 0 else end
        each = await self._each(part.get_job_schedulers(0, stop) for part in self.parts)
        ordered = sorted(
            (info for infos in each for info in infos),
            key=lambda s: (s.next_run_ms is None, s.next_run_ms or 0, s.id),
        )
        return ordered[start:] if end < 0 else ordered[start : end + 1]

    # -- job control ------------------------------------------------------------------------------------

    async def get_deduplication_job_id(self, deduplication_id: str) -> str | None:
        part = self.parts[partition_of(deduplication_id, self.partitions)]
        return await part.get_deduplication_job_id(deduplication_id)

    async def remove_deduplication_key(self, deduplication_id: str) -> bool:
        part = self.parts[partition_of(deduplication_id, self.partitions)]
        return await part.remove_deduplication_key(deduplication_id)

    async def rate_limit(self, duration: Seconds) -> None:
        await self._each(part.rate_limit(duration) for part in self.parts)

    async def get_rate_limit_ttl(self) -> float:
        return max(await self._each(part.get_rate_limit_ttl() for part in self.parts))

    async def set_global_concurrency(self, concurrency: int) -> None:
        _unsupported("a queue-wide concurrency", "limit each worker's concurrency instead")

    async def set_global_rate_limit(self, max: int, duration: Seconds) -> None:
        _unsupported("a queue-wide rate limit", "use a plain queue for rate-limited jobs")

    async def get_global_concurrency(self) -> int | None:
        return None

    async def get_global_rate_limit(self) -> tuple[int, float] | None:
        return None

    async def remove_global_concurrency(self) -> None:
        return None

    async def remove_global_rate_limit(self) -> None:
        return None

    async def pause_group(self, group_id: str) -> bool:
        _unsupported("fair groups", "use a plain queue for grouped jobs")

    async def resume_group(self, group_id: str) -> bool:
        _unsupported("fair groups", "use a plain queue for grouped jobs")

    async def is_group_paused(self, group_id: str) -> bool:
        return False

    async def get_group_counts(self, group_id: str) -> dict[str, int]:
        return {"waiting": 0, "paused": 0, "active": 0}

    async def get_groups(self) -> list[str]:
        return []


async def _scored_ids(part: Queue, state: str, stop: int, newest_first: bool) -> list[tuple[float, str]]:
    k = part.keys
    key = {"prioritized": k.prioritized, "delayed": k.delayed, "active": k.active, "failed": k.failed,
           "waiting-children": k.waiting_children, "completed": k.completed}[state]  # fmt: skip
    read = part.client.zrevrange if newest_first else part.client.zrange
    rows: Any = await read(key, 0, stop, withscores=True)
    return [(float(score), as_text(member)) for member, score in rows]


async def _delete_keys(queue: Queue) -> int:
    pattern = escape_glob(queue.keys.base) + ":*"
    keys = [key async for key in queue.client.scan_iter(match=pattern, count=1000)]
    return int(await queue.client.unlink(*keys)) if keys else 0


def _unsupported(what: str, instead: str) -> NoReturn:
    raise ValueError(f"{what} is not supported on a partitioned queue; {instead}")
