"""Queue: the producer and admin side of one named queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Unpack, cast

from redis.asyncio import Redis

from framework.connection import Connection, create_redis
from framework.errors import CorruptJobError, JobFailedError, JobNotFoundError
from framework.observability import metrics as _metrics
from framework.observability import tracing
from framework.observability import workers as _workers
from framework.observability.metrics import Metrics
from framework.observability.workers import WorkerInfo
from framework.queue import scheduler, serialization
from framework.queue.add_options import AddOptions
from framework.queue.control import JobControl, is_controlled
from framework.queue.durations import Seconds, to_ms, to_seconds
from framework.queue.job import FINISHED_STATES, Job, JobState
from framework.queue.keys import DEFAULT_PREFIX, QueueKeys, escape_glob
from framework.queue.options import (
    DEFAULT_KEEP_FAILED,
    JobOptions,
    KeepJobs,
    build_options,
    coerce_options,
    keep_for,
)
from framework.queue.producer import AddBatcher, Entry, add_bulk_entries
from framework.queue.routing import check_partitions
from framework.queue.scripts import LuaScript, execute, script
from framework.queue.serialization import as_text
from framework.queue.waiter import JobWaiter

DEFAULT_MAX_EVENTS = 10_000
MAX_LOG_LINES = 1000
ALL_STATES: tuple[str, ...] = (
    "waiting",
    "prioritized",
    "delayed",
    "active",
    "completed",
    "failed",
    "paused",
    "waiting-children",
)


def check_queue_name(name: object) -> None:
    """Raise ValueError unless `name` can name a queue (non-empty, no `{`, `}` or `:`)."""
    if not name or not isinstance(name, str) or any(c in name for c in "{}:"):
        raise ValueError(f"queue name must be a non-empty string without '{{', '}}' or ':', got {name!r}")


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_to_dict(flat: Sequence[Any]) -> dict[str, Any]:
    """HGETALL's flat [field, value, ...] reply as a dict with str keys."""
    it = iter(flat)
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(it, it, strict=True)}


def _opts_json(opts: JobOptions) -> str:
    # Only what differs from the defaults is stored: smaller hashes, and defaults can evolve.
    return serialization.dumps(
        opts.model_dump(mode="json", exclude_defaults=True, exclude={"job_id"}), what="opts"
    )


class Queue(JobControl):
    """One named queue on Redis: add jobs, inspect them, and administer the queue.

    Args:
        name: the queue's name.
        connection: a `redis://` or `redis+cluster://` URL, a `redis.asyncio.Redis` or
            `redis.asyncio.cluster.RedisCluster` client (shared, not closed by the queue), or None for
            `NESTQ_REDIS_URL`, else the embedded server.
        prefix: key prefix (default `NESTQ_PREFIX`, else "nestq"). Keys are `{prefix:name}:...`.
        default_job_options: options applied to every job added here (`JobOptions` or a dict).
        partitions: store the queue as this many hash-tagged partitions (`{prefix:name#0}` ...), so one hot
            queue spreads over the shards of a Redis Cluster (see `framework.queue.partitioned`). Every
            producer, worker and listener of the queue must give the same count.
    """

    _partitioned = False  # True on PartitionedQueue

    def __new__(cls, name: str, *args: Any, partitions: int = 1, **kwargs: Any) -> Queue:
        if partitions != 1 and cls is Queue:
            from framework.queue.partitioned import PartitionedQueue

            return super().__new__(PartitionedQueue)
        return super().__new__(cls)

    def __init__(
        self,
        name: str,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        default_job_options: JobOptions | dict[str, Any] | None = None,
        max_events: int = DEFAULT_MAX_EVENTS,
        partitions: int = 1,
    ) -> None:
        check_queue_name(name)
        if partitions != 1 and not self._partitioned:
            check_partitions(partitions)
            raise ValueError(f"partitions= is taken by Queue itself, not by {type(self).__name__}")
        self.name = name
        self.partitions = partitions
        self.prefix = prefix or _default_prefix()
        self.keys = QueueKeys(self.prefix, name)
        self.base = self.keys.base + ":"
        self.default_job_options = coerce_options(default_job_options)
        self.max_events = max_events
        self._connection = connection
        self._client: Redis | None = None
        self._owns_client = False
        self._default_opts_json = _opts_json(self.default_job_options or JobOptions())
        self._waiter: JobWaiter | None = None
        self._batcher: AddBatcher | None = None
        # Set by a Worker on its own Queue so job.update_progress() also fires the worker's progress hook.
        self._progress_listener: Callable[[Job[Any], Any], None] | None = None
        # Pre-encoded: these go out with every add, and encoding them each time is measurable.
        self._add_keys: list[bytes] = [key.encode() for key in self.keys.add_keys()]
        self._base_bytes = self.base.encode()

    # -- partitions (a plain queue is its own only partition; see framework/queue/partitioned.py) -------

    @property
    def parts(self) -> list[Queue]:
        """The queues that store this queue's jobs: `[self]`, or a partitioned queue's partitions."""
        return [self]

    def partition_for(self, job_id: str) -> Queue:
        """The queue that stores the job `job_id` (this one, or a partitioned queue's partition)."""
        return self

    # -- connection -------------------------------------------------------------------------------------

    @property
    def client(self) -> Redis:
        """The Redis client (created on first use)."""
        if self._client is None:
            self._client, self._owns_client = create_redis(self._connection, key=self.keys.base)
        return self._client

    async def close(self) -> None:
        """Release the connection (a client passed in by the caller stays open)."""
        if self._waiter is not None:
            await self._waiter.close()
            self._waiter = None
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, lua: LuaScript, keys: list[str], args: list[Any]) -> Any:
        return await lua(self.client, keys, args)

    # -- adding jobs ------------------------------------------------------------------------------------

    def _prepare(self, name: str, data: Any, opts: dict[str, Any]) -> tuple[JobOptions, Entry]:
        """Validate one job and build its addJobs entry; raises before anything is written."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"job name must be a non-empty string, got {name!r}")
        options = build_options(self.default_job_options, opts)
        if options.repeat is not None:
            raise ValueError(
                "repeat= makes a job scheduler: use "
                "queue.upsert_job_scheduler(id, Repeat(...), name=..., data=...)"
            )
        if options.parent is not None:
            raise ValueError(
                "parent= links one job at a time: use queue.add(..., parent=...) or a FlowProducer"
            )
        entry: Entry = [
            options.job_id or "",
            name,
            serialization.dumps(data, what="data"),
            self._default_opts_json if not opts else _opts_json(options),
            round(options.delay * 1000),
            options.priority,
            "1" if options.lifo else "0",
        ]
        return options, entry

    def _new_job(self, job_id: str, entry: Entry, data: Any, timestamp: int) -> Job[Any]:
        job: Job[Any] = Job(self, job_id, entry[1], data, serialization.loads(entry[3]), timestamp=timestamp)
        job.delay, job.priority = entry[4], entry[5]
        return job

    async def add(self, name: str, data: Any = None, **options: Unpack[AddOptions]) -> Job[Any]:
        """Add a job and return it.

        Keyword arguments are job options (`AddOptions` names and types each one). A second add with the
        same job_id, or a deduplicated one, returns the existing job and writes nothing. With
        `repeat=Repeat(...)` it upserts a job scheduler instead (see `upsert_job_scheduler`; its id is
        `job_id`, else derived from the name and the pattern) and returns the scheduler's next job.
        Concurrent calls are sent together (see `framework.queue.producer`).

        Raises:
            InvalidJobDataError (a TypeError): `data` cannot be carried by JSON (the message names the path).
            ValueError: an invalid option (negative delay, priority out of range, attempts < 1, ...).
        """
        opts = cast(dict[str, Any], options)  # validated by JobOptions in _prepare
        if opts.get("repeat") is not None:
            return await self._add_scheduled(name, data, opts)
        if tracing.is_active():
            item = {"name": name, "data": data, "opts": dict(opts)}
            return await tracing.traced_add(self, [item], "add", lambda: self._add(name, data, item["opts"]))
        return await self._add(name, data, opts)

    async def _add(self, name: str, data: Any, opts: dict[str, Any]) -> Job[Any]:
        if opts.get("parent") is not None:
            from framework.queue.flow import add_child_job  # a flow child: written with its parent's links

            return await add_child_job(self, name, data, opts)
        options, entry = self._prepare(name, data, opts)
        if is_controlled(options):  # deduplication=, group_id= (control.py)
            job_id, created, _ = (await self._add_controlled([(options, entry)]))[0]
            return await self._existing_or_new(job_id, created, entry, data, now_ms())
        if self._batcher is None:
            self._batcher = AddBatcher(self)
        timestamp = now_ms()
        job_id, created = await self._batcher.submit(entry)
        if not created:
            existing = await self.get_job(job_id)
            if existing is not None:
                return existing
        return self._new_job(job_id, entry, data, timestamp)

    async def add_bulk(self, jobs: Iterable[dict[str, Any]]) -> list[Job[Any]]:
        """Add many jobs in one round trip. Each item: {"name": ..., "data": ..., "opts": {...}}.

        Every item is validated before anything is written: one bad item writes nothing. Items whose
        job_id already exists are returned as the existing jobs. Each chunk of 1000 jobs is written at
        most once, even when the connection drops and the call is re-sent.

        Raises:
            BulkAddError: Redis refused part of the call (e.g. out of memory); `written` names the jobs that
                were written (add only the other items again).
            RedisUnavailableError: Redis could not be reached (or did not answer in time): some chunks may
                have been written. Adding the same items again is safe only with job ids.
        """
        if tracing.is_active():
            items = [
                {**item, "opts": dict(item.get("opts") or {})} if isinstance(item, dict) else item
                for item in jobs
            ]
            return await tracing.traced_add(self, items, "add_bulk", lambda: self._add_bulk(items))
        return await self._add_bulk(jobs)

    async def _add_bulk(self, jobs: Iterable[dict[str, Any]]) -> list[Job[Any]]:
        prepared: list[tuple[Entry, Any]] = []
        controlled: dict[int, JobOptions] = {}  # deduplication= / group_id= items (control.py)
        for i, item in enumerate(jobs):
            if not isinstance(item, dict) or "name" not in item:
                raise ValueError(f"add_bulk item {i} must be a dict with 'name', 'data' and optional 'opts'")
            try:
                options, entry = self._prepare(item["name"], item.get("data"), dict(item.get("opts") or {}))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"add_bulk item {i}: {exc}") from None
            if is_controlled(options):
                controlled[i] = options
            prepared.append((entry, item.get("data")))
        if not prepared:
            return []
        timestamp = now_ms()
        plain = [entry for i, (entry, _) in enumerate(prepared) if i not in controlled]
        plain_results = iter(await add_bulk_entries(self, plain, timestamp) if plain else [])
        special = iter(
            await self._add_controlled([(options, prepared[i][0]) for i, options in controlled.items()])
            if controlled
            else []
        )
        out: list[Job[Any]] = []
        for i, (entry, data) in enumerate(prepared):
            job_id, created = next(special)[:2] if i in controlled else next(plain_results)
            out.append(await self._existing_or_new(job_id, created, entry, data, timestamp))
        return out

    async def _existing_or_new(self, job_id: str, created: int, entry: Entry, data: Any, ts: int) -> Job[Any]:
        existing = None if created else await self.get_job(job_id)
        return existing or self._new_job(job_id, entry, data, ts)

    async def _ensure_loaded(self, lua: LuaScript) -> None:
        exists = await execute(self.client, "SCRIPT", "EXISTS", lua.sha)
        if not exists or not exists[0]:
            await execute(self.client, "SCRIPT", "LOAD", lua.source)

    # -- reading jobs -----------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job[Any] | None:
        """The job with that id, or None."""
        raw: dict[Any, Any] = await self.client.hgetall(self.keys.job(job_id))
        if not raw:
            return None
        return Job.from_hash(self, job_id, {as_text(k): v for k, v in raw.items()})

    async def get_job_state(self, job_id: str) -> JobState:
        state = await self._run(script("getState"), self.keys.state_keys(job_id), [job_id])
        return JobState(as_text(state))

    async def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        lines = await self.client.lrange(self.keys.logs(job_id), start, end)
        return [as_text(x) for x in lines]

    async def get_job_counts(self, *states: str) -> dict[str, int]:
        """Number of jobs per state (all states when none are given)."""
        wanted = states or ALL_STATES
        for s in wanted:
            if s not in ALL_STATES:
                raise ValueError(f"unknown state {s!r}; states are {', '.join(ALL_STATES)}")
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.wait)
        pipe.zcard(k.prioritized)
        pipe.zcard(k.delayed)
        pipe.zcard(k.active)
        pipe.zcard(k.completed)
        pipe.zcard(k.failed)
        pipe.hexists(k.meta, "paused")
        pipe.zcard(k.waiting_children)
        pipe.lrange(k.groups, 0, -1)
        pipe.smembers(k.groups_paused)
        replies = await pipe.execute()
        wait, prio, delayed, active, completed, failed, paused, waiting_children, ring, held = replies
        group_paused = 0
        if ring or held:  # waiting jobs of fair groups (control.py)
            group_ready, group_paused = await self._grouped_waiting(ring, held)
            wait += group_ready
        counts = {
            "waiting": 0 if paused else wait,
            "prioritized": prio,
            "delayed": delayed,
            "active": active,
            "completed": completed,
            "failed": failed,
            "paused": (wait if paused else 0) + group_paused,
            "waiting-children": waiting_children,
        }
        return {s: int(counts[s]) for s in wanted}

    async def count(self) -> int:
        """Jobs still to run (waiting, prioritized, delayed)."""
        c = await self.get_job_counts("waiting", "paused", "prioritized", "delayed")
        return sum(c.values())

    async def get_job_ids(self, state: str, start: int = 0, end: int = -1) -> list[str]:
        """Ids in one state, newest first for finished states, next-to-run first for the others."""
        k = self.keys
        c = self.client
        ids: list[Any]
        if state in ("waiting", "paused"):
            paused = await c.hexists(k.meta, "paused")
            if (state == "paused") != bool(paused):
                return []
            # Workers RPOP, so the next job is at the right end: read the list reversed.
            n = await c.llen(k.wait)
            lo, hi = _reverse_range(n, start, end)
            ids = list(reversed(await c.lrange(k.wait, lo, hi))) if hi >= lo else []
        elif state in ("prioritized", "delayed", "active", "waiting-children"):
            key = {"prioritized": k.prioritized, "delayed": k.delayed, "active": k.active,
                   "waiting-children": k.waiting_children}[state]  # fmt: skip
            ids = await c.zrange(key, start, end)
        elif state in ("completed", "failed"):
            ids = await c.zrevrange(k.completed if state == "completed" else k.failed, start, end)
        else:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(ALL_STATES)}")
        return [as_text(x) for x in ids]

    async def get_jobs(
        self, states: str | Sequence[str] | None = None, start: int = 0, end: int = -1
    ) -> list[Job[Any]]:
        """Jobs in the given states (all when None), paginated over their concatenation by [start, end]."""
        if states is None:
            states = ALL_STATES
        elif isinstance(states, str):
            states = [states]
        ids: list[str] = []
        if len(states) == 1:
            ids = await self.get_job_ids(states[0], start, end)
        else:
            stop = None if end < 0 else end + 1
            for s in states:
                ids.extend(await self.get_job_ids(s, 0, -1 if stop is None else stop))
                if stop is not None and len(ids) >= stop:
                    break
            ids = ids[start:stop]
        return await self._load_jobs(ids)

    async def _load_jobs(self, ids: list[str]) -> list[Job[Any]]:
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.keys.job(job_id))
        out = []
        for job_id, fields in zip(ids, await pipe.execute(), strict=True):
            if fields:
                fields = {as_text(k): v for k, v in fields.items()}
                try:
                    out.append(Job.from_hash(self, job_id, fields))
                except CorruptJobError as exc:
                    # One hand-edited hash must not break a listing (the dashboard): show it, say why.
                    placeholder: Job[Any] = Job(self, job_id, as_text(fields.get("name", "?")), None)
                    placeholder.failed_reason = str(exc)
                    out.append(placeholder)
        return out

    # -- job operations ---------------------------------------------------------------------------------

    async def _update_progress(self, job: Job[Any], progress: Any) -> None:
        value = serialization.dumps(progress, what="progress")
        stored = await self._run(
            script("updateProgress"),
            [self.keys.job(job.id), self.keys.events],
            [job.id, value, self.max_events],
        )
        if not stored:
            raise JobNotFoundError(_gone(self.name, job.id, "store its progress"))
        job.progress = progress
        if self._progress_listener is not None:
            self._progress_listener(job, progress)

    async def _add_log(self, job_id: str, message: str) -> int:
        lines = int(
            await self._run(
                script("addLog"),
                [self.keys.job(job_id), self.keys.logs(job_id)],
                [str(message), MAX_LOG_LINES],
            )
        )
        if not lines:
            raise JobNotFoundError(_gone(self.name, job_id, "add a log line"))
        return lines

    async def remove(self, job_id: str) -> bool:
        """Delete a job that is not running. Returns False when there is no such job.

        Raises:
            RuntimeError: the job is active; cancel it instead.
        """
        res = await self._run(
            script("removeJob"), self.keys.remove_keys(), [self.base, job_id, self.max_events, now_ms()]
        )
        if res == -1:
            raise RuntimeError(
                f"job {job_id} is active (held by a worker); use queue.cancel({job_id!r}) instead"
            )
        return bool(res)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job, from any process.

        A waiting, prioritized, paused or delayed job moves to failed at once, with the reason "cancelled"
        and no retry (a `failed` event is emitted). An active job is cancelled through its worker: the
        handler is stopped (an async handler sees `CancelledError`; a plain `def` handler, running in a
        thread, cannot be interrupted and runs to its end, its result discarded), and the job ends failed
        with the reason "cancelled", without retry.

        Returns:
            True if the job was cancelled or its cancellation requested; False if it had already finished
            or does not exist.
        """
        k = self.keys
        raw = await self.client.hget(k.job(job_id), "opts")
        if raw is None:
            return False
        opts = serialization.loads(raw)
        remove_on_fail = opts.get("remove_on_fail") if isinstance(opts, dict) else None
        if isinstance(remove_on_fail, dict):
            remove_on_fail = KeepJobs.model_validate(remove_on_fail)
        keep_count, keep_age = keep_for(remove_on_fail, DEFAULT_KEEP_FAILED)
        res = await self._run(
            script("cancelJob"),
            [k.wait, k.prioritized, k.delayed, k.active, k.completed, k.failed, k.events],
            [self.base, job_id, now_ms(), self.max_events, keep_count, keep_age, k.cancelled],
        )
        return bool(res)

    async def _retry_one(self, job_id: str, state: str = "failed") -> bool:
        return bool(await self._retry(state, job_id, 1))

    async def _retry(self, state: str, job_id: str, count: int) -> int:
        if state not in ("failed", "completed"):
            raise ValueError(
                f"only finished jobs can be retried: state must be 'failed' or 'completed', not {state!r}"
            )
        k = self.keys
        src = k.failed if state == "failed" else k.completed
        return int(
            await self._run(
                script("retryJobs"),
                [src, k.wait, k.prioritized, k.priority_counter, k.events, k.marker, k.meta],
                [self.base, job_id, count, self.max_events, state],
            )
        )

    async def retry_jobs(self, state: str = "failed", count: int = 1000) -> int:
        """Move every job of a finished state back to waiting, `count` per atomic step. Returns the total."""
        total = 0
        while True:
            moved = await self._retry(state, "", count)
            total += moved
            if moved < count:
                return total

    async def _promote_one(self, job_id: str) -> bool:
        return bool(await self._promote(job_id, 1))

    async def _promote(self, job_id: str, count: int) -> int:
        k = self.keys
        return int(
            await self._run(
                script("promote"),
                [k.delayed, k.wait, k.prioritized, k.priority_counter, k.events, k.marker],
                [self.base, job_id, count, self.max_events],
            )
        )

    async def promote_jobs(self, count: int = 1000) -> int:
        """Run every delayed job now. Returns how many were promoted."""
        total = 0
        while True:
            moved = await self._promote("", count)
            total += moved
            if moved < count:
                return total

    # -- queue operations -------------------------------------------------------------------------------

    async def _pause(self, action: str) -> bool:
        k = self.keys
        return bool(
            await self._run(script("pause"), [k.meta, k.events, k.marker, k.wait], [action, self.max_events])
        )

    async def pause(self) -> None:
        """Stop workers from taking new jobs (active ones finish). Adding jobs still works."""
        await self._pause("pause")

    async def resume(self) -> None:
        await self._pause("resume")

    async def is_paused(self) -> bool:
        return bool(await self.client.hexists(self.keys.meta, "paused"))

    async def drain(self, delayed: bool = False) -> int:
        """Remove every job waiting to run (and delayed ones if `delayed`). Active jobs finish.

        Emits `emptied` (with the count removed) on the event stream; `drained` keeps its BullMQ
        meaning, "no jobs left for the workers". Returns the number of jobs removed.
        """
        k = self.keys
        total = 0
        while True:
            n = int(
                await self._run(
                    script("drain"),
                    [k.wait, k.prioritized, k.delayed, k.events],
                    [self.base, 1000, "1" if delayed else "0", self.max_events],
                )
            )
            total += n
            if n == 0:
                return total

    async def clean(self, grace: Seconds = 0, limit: int = 1000, state: str = "completed") -> list[str]:
        """Remove up to `limit` jobs of `state` older than `grace` seconds. Returns their ids.

        Emits one `cleaned` event with the count (as BullMQ), not one `removed` event per job.
        """
        k = self.keys
        kinds = {
            "completed": (k.completed, "zset-finished"),
            "failed": (k.failed, "zset-finished"),
            "delayed": (k.delayed, "zset"),
            "prioritized": (k.prioritized, "zset"),
            "waiting": (k.wait, "list"),
            "paused": (k.wait, "list"),
        }
        if state not in kinds:
            raise ValueError(
                f"clean() takes a state among {', '.join(kinds)} (active jobs are never cleaned)"
            )
        if limit < 1:
            raise ValueError("limit must be >= 1")
        key, kind = kinds[state]
        cutoff = now_ms() - to_ms(grace, field="grace")
        ids = await self._run(
            script("cleanJobs"), [key, k.events], [self.base, cutoff, limit, kind, self.max_events]
        )
        return [as_text(x) for x in ids]

    async def obliterate(self, *, force: bool = False) -> int:
        """Delete the queue and all its jobs. Refuses while jobs are active unless `force`.

        The queue is paused first so no worker takes a job while keys are deleted. Returns keys deleted.
        """
        await self.pause()
        if not force and await self.client.zcard(self.keys.active):
            await self.resume()
            raise RuntimeError(f"queue {self.name!r} has active jobs; wait for them or pass force=True")
        deleted = 0
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=escape_glob(self.keys.base) + ":*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await self.client.unlink(*batch)
                batch = []
        if batch:
            deleted += await self.client.unlink(*batch)
        return deleted

    # -- observability ----------------------------------------------------------------------------------

    async def get_metrics(self, kind: str, start: int = 0, end: int = -1) -> Metrics:
        """Jobs finished per minute, kept by the workers (see `MetricsOptions`), BullMQ's `getMetrics`.

        Args:
            kind: "completed" or "failed" (failed for good; retried attempts are not counted).
            start, end: minutes back to return, inclusive, like LRANGE (0 = the current minute so far).

        Returns:
            `Metrics(count, data, meta)`: `data` newest first, `count` data points in the window,
            `meta.count` jobs counted in all.
        """
        return await _metrics.get_metrics(self, kind, start, end)

    async def get_workers(self) -> list[WorkerInfo]:
        """The workers of this queue alive now (heartbeat within the last 1.5 intervals), oldest first."""
        return await _workers.get_workers(self)

    # -- waiting for results ----------------------------------------------------------------------------

    async def wait_for_job(self, job_id: str, timeout: float | None = None) -> Any:
        """Result of a job once it has finished (see `Job.wait_until_finished`)."""
        if self._waiter is None:
            self._waiter = JobWaiter(self)
        fut = await self._waiter.register(job_id)
        try:
            # The stream position is pinned before this check, so an end after it reaches the future.
            state = await self.get_job_state(job_id)
            if state in FINISHED_STATES:
                job = await self.get_job(job_id)
                if job is not None:
                    if state == JobState.COMPLETED:
                        return job.return_value
                    raise JobFailedError(job_id, job.failed_reason)
            if state == JobState.UNKNOWN and not fut.done():
                # Gone: removed, or finished with remove_on_* and the event already passed.
                raise JobNotFoundError(f"job {job_id} does not exist in queue {self.name!r}")
            async with asyncio.timeout(None if timeout is None else to_seconds(timeout, field="timeout")):
                return await fut
        finally:
            self._waiter.unregister(job_id, fut)

    # -- job schedulers (the logic lives in framework/queue/scheduler.py) -------------------------------

    async def upsert_job_scheduler(
        self,
        scheduler_id: str,
        repeat: scheduler.RepeatLike,
        *,
        name: str | None = None,
        data: Any = None,
        opts: scheduler.OptionsLike = None,
    ) -> Job[Any] | None:
        """Create or update the job scheduler `scheduler_id`: jobs of `name` with `data` on a schedule.

        The schedule lives in Redis; the queue's workers keep it going (no beat process), one job per
        tick however many processes run. Upserting the same definition again changes nothing (no new job,
        no shifted run), so every instance may upsert its schedulers at start; a changed definition
        replaces the old one and its pending job. Missed ticks: the next run is computed when a run's job
        is taken, so after an outage an overdue job runs once, not once per missed tick.

        Args:
            scheduler_id: a non-empty id without ':'.
            repeat: `Repeat(cron=..., tz=...)` or `Repeat(every=seconds)`, with optional limit,
                start_date, end_date and immediately (or a dict of those).
            name: name of the jobs (default: the scheduler id).
            data: data of every job (JSON).
            opts: job options of every job (attempts, backoff, priority, timeout, remove_on_*, ...).

        Returns:
            The scheduler's pending job, or its last job once the schedule has ended (None if none).

        Raises:
            ValueError: an invalid cron expression or time zone, every <= 0, both or neither of cron and
                every, or an invalid option; the message names the field. Nothing is written.
        """
        return await scheduler.upsert_job_scheduler(
            self, scheduler_id, repeat, name=name, data=data, opts=opts
        )

    async def remove_job_scheduler(self, scheduler_id: str) -> bool:
        """Delete a job scheduler and its pending job (an active one finishes; no run follows).

        Returns False when there was no such scheduler.
        """
        return await scheduler.remove_job_scheduler(self, scheduler_id)

    async def get_job_scheduler(self, scheduler_id: str) -> scheduler.JobSchedulerInfo | None:
        """The job scheduler `scheduler_id`, or None."""
        return await scheduler.get_job_scheduler(self, scheduler_id)

    async def get_job_schedulers(self, start: int = 0, end: int = -1) -> list[scheduler.JobSchedulerInfo]:
        """Job schedulers by next run (ended ones last), paginated by [start, end]."""
        return await scheduler.get_job_schedulers(self, start, end)

    async def _add_scheduled(self, name: str, data: Any, opts: dict[str, Any]) -> Job[Any]:
        """`add(name, data, repeat=...)`: upsert the scheduler `job_id` (or one named after the pattern)."""
        opts = dict(opts)
        repeat = opts.pop("repeat")
        scheduler_id = opts.pop("job_id", None) or scheduler.default_scheduler_id(name, repeat)
        job = await self.upsert_job_scheduler(scheduler_id, repeat, name=name, data=data, opts=opts)
        if job is None:
            raise ValueError(
                f"repeat: scheduler {scheduler_id!r} has no run left (limit reached, or no run before "
                "end_date); nothing to return"
            )
        return job


def _reverse_range(n: int, start: int, end: int) -> tuple[int, int]:
    """Map [start, end] counted from the right end of a list of length n to LRANGE indexes."""
    if end < 0:
        end = n + end
    end = min(end, n - 1)
    return n - 1 - end, n - 1 - start


def _default_prefix() -> str:
    try:
        from framework.settings import get_settings

        return get_settings().prefix or DEFAULT_PREFIX
    except ImportError:  # pragma: no cover - settings always ship with the package
        return DEFAULT_PREFIX


def _gone(queue: str, job_id: str, action: str) -> str:
    return (
        f"cannot {action}: job {job_id} no longer exists in queue {queue!r} "
        "(removed, cleaned, or trimmed by retention)"
    )
