"""Worker: takes jobs from one queue and runs a handler on them, `concurrency` at a time.

How it talks to Redis (few round trips, no polling):
- a *fetcher* takes jobs when slots are free and, when the queue has nothing ready, blocks on the queue's
  marker (BZPOPMIN) until a job is added or the next delayed job falls due, with the next fetch queued
  behind the wait on the same connection: a job added to an idle worker costs it no second round trip
  (idle_fetch.py);
- a *finisher* sends the finished jobs of the moment in one `moveToFinished` call, which also takes as
  many new jobs as slots were freed: under load, one round trip completes a batch and refills it. Two
  such reports (of up to half the slots each) may be on the wire at once, so this process runs jobs while
  the server finishes and hands out the next ones;
- a *lock keeper* renews the locks of all active jobs in one call every lock_duration / 3 (at once after
  a blocked event loop or a Redis outage), and learns there of cancel requests it may have missed
  (lock_keeper.py);
- a *stall checker* moves jobs of dead workers back to waiting (once per interval for the whole queue; a
  job must have had no lock for a whole interval, so a live worker can take lapsed locks back first)
  (stall_checker.py);
- a *cancel listener* hears `queue.cancel(id)` for the jobs this worker runs (shard pub/sub).

Plain (sync) handlers run in threads; the thread of a cancelled job keeps its slot until it returns
(thread_runner.py).

Redis outages: every loop retries with a capped backoff and the worker logs once when Redis goes away
and once when it is back (`Outage`); finished jobs are kept and reported on recovery. A handler that
blocks the event loop is reported by the loop-lag monitor (`lag.py`), naming the jobs that were running.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from framework.connection import (
    CONNECTION_ERRORS,
    Connection,
    Outage,
    clone_redis,
    create_redis,
    is_permanent,
)
from framework.errors import (
    CorruptJobError,
    DelayedError,
    InvalidJobDataError,
    JobCancelledError,
    JobTimeoutError,
    RateLimitError,
    RedisAccessError,
    UnrecoverableError,
    WaitingChildrenError,
)
from framework.observability import tracing
from framework.observability.metrics import MetricsOptions, metrics_window
from framework.observability.workers import DEFAULT_HEARTBEAT_INTERVAL, Heartbeat
from framework.queue import outcome, serialization
from framework.queue.backoff import BackoffStrategy
from framework.queue.cancellation import CancelListener
from framework.queue.control import group_limit_args, move_back
from framework.queue.durations import Seconds, to_seconds
from framework.queue.idle_fetch import IdleFetch, measure_clock_offset
from framework.queue.interceptors import Interceptor, check_interceptor, intercepted
from framework.queue.job import Job
from framework.queue.keys import QueueKeys
from framework.queue.lag import watch_loop_lag
from framework.queue.lock_keeper import LockKeeper
from framework.queue.options import (
    DEFAULT_KEEP_FAILED,
    RateLimit,
    keep_for,
)
from framework.queue.outcome import Outcome
from framework.queue.partition_fetch import PartitionFetch
from framework.queue.partitioned import PartitionedQueue
from framework.queue.queue import Queue, _default_prefix, check_queue_name, hash_to_dict, now_ms
from framework.queue.routing import check_layout, check_partitions
from framework.queue.sandbox import SandboxedHandler, SandboxPool
from framework.queue.scheduler import SCHEDULER_JOB_PREFIX, schedule_next
from framework.queue.scripts import LuaScript, script
from framework.queue.serialization import as_text
from framework.queue.stall_checker import StallChecker
from framework.queue.thread_runner import ThreadRunner, ThreadSlot
from framework.queue.worker_events import WorkerEvent, WorkerEventName

log = structlog.get_logger("nestq.worker")

Handler = Callable[[Job[Any]], Any]
_CONNECTION_ERRORS = CONNECTION_ERRORS
_FETCH_ERRORS: tuple[type[BaseException], ...] = (RedisError, *CONNECTION_ERRORS)  # see _fetch_failed
CANCELLED_REASON = "cancelled"
# A blocking call (BZPOPMIN) that has not returned this long after its own timeout sits on a dead
# connection (a network cut sends no FIN/RST): it is abandoned and the connection dropped.
_BLOCK_MARGIN = 5.0
_REPORTS_IN_FLIGHT = 2  # finished-job reports on the wire at once (see _finish_loop)
CLOCK_OFFSET_WARNING_MS = 1000  # a clock this far from the server's is logged (once per worker)
_POOL_NEEDED = 8  # connections a worker may use at once from its client's pool, handlers' calls included


class Worker:
    """Consumes one queue.

    Args:
        name: queue name.
        handler: `async def handler(job)` or plain `def handler(job)` (run in a thread); its return value
            (JSON) becomes the job's result; raising fails the attempt (retried per the job's attempts and
            backoff; `UnrecoverableError` fails at once).
        connection, prefix: as for `Queue`.
        concurrency: jobs run at the same time.
        lock_duration: seconds a job's lock lives without renewal (renewed every lock_duration / 3).
        stalled_interval: seconds between stall checks (one worker runs each check for the whole queue). A
            job is recovered once its lock has been missing at two checks: a dead worker's jobs go back
            to waiting between lock_duration + 1x and + 2x stalled_interval after it died, and a live
            worker whose locks lapsed (blocked loop, Redis restart) has one interval to take them back.
        max_stalled_count: times a job may stall (its worker died) before it is failed.
        limiter: `RateLimit(max=, duration=)` shared by every worker of the queue.
        drain_delay: longest single block on an empty queue, in seconds.
        backoff_strategies: named custom backoff strategies for `Backoff.custom(name)`.
        interceptors: objects with `async def intercept(self, job, call_next)` run around the handler,
            the first outermost (see `framework.queue.interceptors`).
        metrics: per-minute counts and Prometheus totals kept in Redis (`MetricsOptions`, on by default
            with a one-day window); False keeps none.
        heartbeat_interval: seconds between the heartbeats that list this worker in `Queue.get_workers()`.
        sandbox: run the handler in a pool of `concurrency` processes (CPU-bound or crash-prone code): it
            must be importable by name (see `framework.queue.sandbox`); a timeout or cancel kills its
            process, a process that dies fails that attempt only. Same as passing `SandboxedHandler(fn)`.
        max_jobs_per_child: with `sandbox`, jobs a process runs before it is replaced.
        group_concurrency: at most this many jobs of one group (`add(..., group_id=)`) active at once,
            across every worker (give every worker of the queue the same value).
        group_rate_limit: `RateLimit(max=, duration=)` per group, across every worker.
        partitions: the queue's partition count (`Queue(name, partitions=K)`): the worker takes from every
            partition in turn (framework/queue/partition_fetch.py). A count other than the queue's is
            refused at start (`PartitionMismatchError`).
    """

    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        concurrency: int = 1,
        lock_duration: Seconds = 30.0,
        stalled_interval: Seconds = 30.0,
        max_stalled_count: int = 1,
        limiter: RateLimit | None = None,
        drain_delay: Seconds = 5.0,
        backoff_strategies: dict[str, BackoffStrategy] | None = None,
        default_job_options: Any = None,
        max_events: int = 10_000,
        interceptors: Sequence[Interceptor] = (),
        metrics: MetricsOptions | bool = True,
        heartbeat_interval: Seconds = DEFAULT_HEARTBEAT_INTERVAL,
        sandbox: bool = False,
        max_jobs_per_child: int | None = None,
        group_concurrency: int | None = None,
        group_rate_limit: RateLimit | None = None,
        partitions: int = 1,
    ) -> None:
        check_queue_name(name)
        self.partitions = check_partitions(partitions)
        if partitions > 1 and (limiter is not None or group_concurrency or group_rate_limit):
            raise ValueError(
                "limiter=, group_concurrency= and group_rate_limit= are not supported on a partitioned queue "
                "(each partition would apply them on its own); use a plain queue for rate-limited jobs"
            )
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_stalled_count < 0:
            raise ValueError("max_stalled_count must be >= 0")
        self.name = name
        if sandbox and not isinstance(handler, SandboxedHandler):
            handler = SandboxedHandler(handler, max_jobs_per_child=max_jobs_per_child)
        self.handler = handler
        pool = getattr(handler, "sandbox_pool", None)  # a SandboxedHandler, or a processor's dispatcher
        self._sandbox = pool if isinstance(pool, SandboxPool) else None
        for interceptor in interceptors:
            check_interceptor(interceptor, f"Worker({name!r}, interceptors=...)")
        self.interceptors = tuple(interceptors)
        self._concurrency = concurrency
        self.lock_ms = int(to_seconds(lock_duration, field="lock_duration") * 1000)
        if self.lock_ms < 1000:
            raise ValueError("lock_duration must be at least 1 second")
        self.stalled_interval = to_seconds(stalled_interval, field="stalled_interval")
        self.max_stalled_count = max_stalled_count
        self.limiter = limiter
        # Fair groups (control.py): limits per group, held by every worker through Redis.
        self._group_args = group_limit_args(group_concurrency, group_rate_limit)
        self.drain_delay = max(to_seconds(drain_delay, field="drain_delay"), 0.05)
        self.backoff_strategies = backoff_strategies or {}
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._metrics_window = metrics_window(metrics)
        self._heartbeat_interval = to_seconds(heartbeat_interval, field="heartbeat_interval")
        if self._heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0 seconds, got {heartbeat_interval!r}")
        self._heartbeat: Heartbeat | None = None
        self._connection = connection
        self._prefix = prefix
        self._default_job_options = default_job_options
        self._max_events = max_events
        self._is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        self._listeners: dict[str, list[Callable[..., Any]]] = {e.value: [] for e in WorkerEvent}
        self._queue: Queue | None = None
        self._finish_keys: list[bytes] | None = None  # encoded once: they go out with every report
        self._id_bytes = self.id.encode()
        self._client: Redis | None = None
        self._bclient: Redis | None = None
        self._idle_fetch: IdleFetch | None = None
        self._pfetch: PartitionFetch | None = None  # a partitioned queue's fetcher (partition_fetch.py)
        self._marker = b""
        self._clock_offset = 0  # ms, this process's clock minus the server's (idle_fetch.py)
        self._clock_warned = False
        self._owns_client = False
        # Job bookkeeping: `_active` holds every job we hold a lock for (running or waiting to be reported).
        self._active: dict[str, Job[Any]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = 0
        self._reserved = 0
        self._finished: list[Outcome] = []
        self._flushing = 0  # finished jobs being reported right now
        self._finished_event = asyncio.Event()
        self._fetch_event = asyncio.Event()
        self._idle_event = asyncio.Event()
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._burst = False
        self._burst_delayed = False
        self._blocking = False
        self._loops: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._close_event = asyncio.Event()
        self._started = False
        self._outage = Outage("worker", queue=name, worker=self.id)
        self._drained_emitted = False
        # Crash safety: cancel requests, lock renewal on demand, threads of cancelled sync handlers.
        self._cancel_requested: set[str] = set()
        self._lost: set[str] = set()
        self._renew_now = asyncio.Event()
        self._lock_keeper: LockKeeper | None = None  # built by run(), once connected
        # Jobs whose handler ended lately (id, name, loop time): the lag monitor names a handler that
        # blocked the loop and returned in the same step.
        self._ended: collections.deque[tuple[str, str, float]] = collections.deque(maxlen=256)
        self._orphans: set[ThreadSlot] = set()
        self._threads = ThreadRunner(
            orphans=self._orphans, on_orphan_returned=self._fetch_event.set, size=concurrency
        )
        self._forced = False
        self._unwatch_lag: Callable[[], None] | None = None

    @property
    def concurrency(self) -> int:
        """Jobs run at the same time. May be set while the worker runs: new slots fill at once; when
        lowered, running jobs finish and no new ones are taken until the count is below the new value."""
        return self._concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {value!r}")
        self._concurrency = value
        self._threads.resize(value)
        if self._sandbox is not None:
            self._sandbox.resize(value)
        self._fetch_event.set()  # the fetcher takes jobs for the new free slots (none when lowered)

    async def run_sync(self, fn: Callable[[], Any], job: Job[Any]) -> Any:
        """Run the plain function `fn` for `job` in one of this worker's threads (as many as its
        concurrency; contextvars copied). The module system runs plain `def` handlers through it."""
        return await self._threads.call(lambda _job: fn(), job)

    # -- events ---------------------------------------------------------------------------------------

    def on(self, event: WorkerEvent | WorkerEventName, callback: Callable[..., Any]) -> None:
        """Call `callback` on a worker-local event.

        Events and arguments: active(job), progress(job, progress), completed(job, result),
        failed(job, error), stalled(job), error(exc), drained(). Sync or async; an exception in a
        callback is logged and changes nothing else.
        """
        if event not in self._listeners:
            raise ValueError(f"unknown worker event {event!r}; events are {', '.join(WorkerEvent)}")
        self._listeners[event].append(callback)

    def _emit(self, event: WorkerEventName, *args: Any) -> None:
        for cb in self._listeners[event]:
            try:
                res = cb(*args)
                if inspect.isawaitable(res):
                    task = asyncio.ensure_future(self._await_hook(event, res))
                    self._hook_tasks.add(task)
                    task.add_done_callback(self._hook_tasks.discard)
            except Exception:
                log.exception("worker hook raised; ignored", hook=event, queue=self.name)

    async def _await_hook(self, event: str, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("worker hook raised; ignored", hook=event, queue=self.name)

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            raise RuntimeError("the worker is not running")
        return self._queue

    @property
    def is_running(self) -> bool:
        return self._started and not self._stopped.is_set()

    def _connect(self) -> None:
        if self._client is None:
            # On a cluster, a client for the master serving this queue's slot (blocking and held
            # connections included: the clone below goes to the same node).
            slot_key = QueueKeys(self._prefix or _default_prefix(), self.name).base
            self._client, self._owns_client = create_redis(self._connection, key=slot_key)
            # Named, so an operator can tell a worker's blocking connections apart in CLIENT LIST.
            self._bclient = clone_redis(self._client, name=f"nestq-worker:{self.id}")
            self._idle_fetch = IdleFetch(self._bclient, self._client, margin=_BLOCK_MARGIN)
            self._queue = Queue(
                self.name,
                connection=self._client,
                prefix=self._prefix,
                default_job_options=self._default_job_options,
                max_events=self._max_events,
                partitions=self.partitions,
            )
            self._queue._progress_listener = self._on_progress
            if isinstance(self._queue, PartitionedQueue):
                for part in self._queue.parts:
                    part._progress_listener = self._on_progress
                parts = self._queue.parts
                self._pfetch = PartitionFetch(parts, name=f"nestq-worker:{self.id}", margin=_BLOCK_MARGIN)
            self._marker = self._queue.keys.marker.encode()
            self._check_pool()

    def _check_pool(self) -> None:
        # The fetcher, two reports, the lock keeper, the stall checker and the handlers' own calls share the
        # client: a small non-blocking pool fails some of them with "Too many connections" under load.
        pool = self._client_or_raise().connection_pool
        limit = getattr(pool, "max_connections", None)
        if isinstance(limit, int) and limit < _POOL_NEEDED and not isinstance(pool, BlockingConnectionPool):
            log.warning(
                "the Redis client's pool allows too few connections for a worker; some calls will fail with "
                "'Too many connections'. Give it max_connections >= "
                f"{_POOL_NEEDED} or a BlockingConnectionPool",
                queue=self.name,
                max_connections=limit,
            )

    def _on_progress(self, job: Job[Any], progress: Any) -> None:
        self._emit("progress", job, progress)

    def _on_stalled(self, job: Job[Any]) -> None:
        self._emit_for(job, "stalled", job)

    def _on_stall_failed(self, job: Job[Any]) -> None:
        # As BullMQ: a job failed by the stall check reaches the checking worker's `failed` listeners too.
        reason = job.failed_reason or "stalled"
        error: Exception = (
            JobCancelledError(f"job {job.id} was cancelled")
            if reason == CANCELLED_REASON
            else UnrecoverableError(reason)
        )
        self._emit_for(job, "failed", job, error)

    def _emit_error(self, exc: BaseException) -> None:
        self._emit("error", exc)

    async def run(self) -> None:
        """Process jobs until `close()` is called."""
        if self._started:
            raise RuntimeError("a Worker runs once; create a new one")
        self._started = True
        self._connect()
        if self._sandbox is not None:
            try:
                await self._sandbox.start(self.concurrency)  # the processes' start-up is not paid by a job
            except BaseException:
                await self._shutdown()
                raise
        log.info("worker started", queue=self.name, worker=self.id, concurrency=self.concurrency)
        locks = self._lock_keeper = LockKeeper(
            self._client_or_raise(),
            self.queue,
            lock_ms=self.lock_ms,
            active=self._active,
            tasks=self._tasks,
            lost=self._lost,
            renew_now=self._renew_now,
            on_cancel=self._request_cancel,
            on_error=self._emit_error,
            connection_lost=self._connection_lost,
            connection_ok=self._connection_ok,
        )
        self._outage.on_recovered(locks.renew_soon)
        # Back after an outage, perhaps on another server (a failover): its clock may differ.
        self._outage.on_recovered(lambda: self._track(self._measure_clock()))
        self._loops = [
            asyncio.create_task(self._finish_loop(), name=f"nestq-finisher-{self.name}"),
            asyncio.create_task(locks.run(), name=f"nestq-locks-{self.name}"),
        ]
        for index, queue in enumerate(self._partitions()):
            stalls = StallChecker(
                self._client_for(queue),
                queue,
                interval=self.stalled_interval,
                max_stalled_count=self.max_stalled_count,
                max_events=self._max_events,
                on_stalled=self._on_stalled,
                on_failed=self._on_stall_failed,
                on_error=self._emit_error,
                connection_lost=self._connection_lost,
            )
            cancels = CancelListener(
                self._bclient_or_raise() if self._pfetch is None else self._pfetch.blocking[index],
                queue.keys.cancelled,
                self._request_cancel,
                self._outage,
                on_subscribed=locks.renew_soon,
            )
            self._loops += [
                asyncio.create_task(stalls.run(), name=f"nestq-stalls-{queue.name}"),
                asyncio.create_task(cancels.run(), name=f"nestq-cancel-{queue.name}"),
            ]
        self._heartbeat = Heartbeat(
            self.queue,
            self.id,
            concurrency=lambda: self.concurrency,
            active=lambda: self._running,
            interval=self._heartbeat_interval,
        )
        self._loops.append(asyncio.create_task(self._heartbeat.run(), name=f"nestq-heartbeat-{self.name}"))
        self._unwatch_lag = watch_loop_lag(self)
        self._fetcher = asyncio.create_task(self._fetch_loop(), name=f"nestq-fetcher-{self.name}")
        try:
            try:
                await self._fetcher
            except RedisAccessError as exc:
                # Retrying cannot fix it (wrong password, ACL, TLS): one clear error, and the worker stops.
                log.error(str(exc), queue=self.name, worker=self.id)
                raise
            # Fetching has stopped: let the running jobs finish and their results land.
            await self._wait_idle()
        finally:
            await self._shutdown()

    async def run_until_drained(self, *, include_delayed: bool = False) -> None:
        """Burst mode: process what is there, return once nothing is ready or running.

        With `include_delayed`, also wait for delayed jobs (retries in backoff) to fall due and run.
        """
        self._burst = True
        self._burst_delayed = include_delayed
        await self.run()

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking jobs, let active ones finish (up to `timeout` s), hand the rest back to waiting.

        `timeout=0` cancels the running handlers at once (their jobs still go back to waiting). A second
        call while closing may shorten the grace period (`close(timeout=0)` on a second SIGTERM).
        """
        if not self._closing:
            self._closing = True
            self._close_event.set()
            self._fetch_event.set()
            self._finished_event.set()
            if self._fetcher is not None and self._blocking:
                self._track(self._interrupt_block())
            if not self._started:
                self._stopped.set()
                return
        try:
            async with asyncio.timeout(timeout):
                await self._wait_idle()
        except TimeoutError:
            self._force()
        await self._stopped.wait()

    async def _interrupt_block(self) -> None:
        fetch = self._pfetch or self._idle_fetch_or_raise()
        if not await fetch.interrupt() and self._fetcher is not None and self._blocking:
            self._fetcher.cancel()  # CLIENT UNBLOCK refused: drop the connection instead

    def _track(self, awaitable: Awaitable[Any]) -> None:
        """Run `awaitable` in the background; shutdown waits for it."""
        task = asyncio.ensure_future(awaitable)
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    def _force(self) -> None:
        """Grace period over: cancel the running handlers; their jobs go back to waiting."""
        if self._forced:
            return
        self._forced = True
        if self._tasks:
            log.warning(
                "grace period over; handing unfinished jobs back", queue=self.name, jobs=list(self._tasks)
            )
        for task in list(self._tasks.values()):
            task.cancel()

    async def _wait_idle(self) -> None:
        while self._running or self._finished or self._reserved or self._flushing:
            self._idle_event.clear()
            await self._idle_event.wait()

    async def _shutdown(self) -> None:
        self._closing = True
        self._finished_event.set()
        if self._unwatch_lag is not None:
            self._unwatch_lag()
        await _cancel_all(self._loops)
        # Jobs still locked by us (cancelled mid-run): hand them straight back, no waiting for a lock TTL.
        if self._tasks:
            for task in list(self._tasks.values()):
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._finished:
            with contextlib.suppress(Exception):
                await self._flush(self._take_finished(), 0)
        if self._active:
            await self._release(list(self._active.values()))
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        self._threads.shutdown()
        if self._sandbox is not None:
            await self._sandbox.aclose()
        if self._heartbeat is not None:
            await self._heartbeat.leave()
        if self._queue is not None:
            await self._queue.close()
        if self._idle_fetch is not None:
            await self._idle_fetch.close()
        if self._pfetch is not None:
            await self._pfetch.close()
        if self._bclient is not None:
            await self._bclient.aclose()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        log.info("worker stopped", queue=self.name, worker=self.id)
        self._stopped.set()

    async def _release(self, jobs: list[Job[Any]]) -> None:
        if self._pfetch is not None:
            for part_jobs in _by_partition(jobs, self.queue):
                await self._release_from(part_jobs[0].queue or self.queue, part_jobs)
        else:
            await self._release_from(self.queue, jobs)

    async def _release_from(self, queue: Queue, jobs: list[Job[Any]]) -> None:
        k = queue.keys
        keep_count, keep_age = keep_for(None, DEFAULT_KEEP_FAILED)
        args: list[Any] = [queue.base, self._max_events, now_ms(), keep_count, keep_age]
        for job in jobs:
            args += [job.id, job.token or ""]
        try:
            n = await script("releaseJobs")(
                self._client_for(queue), [k.active, k.wait, k.events, k.marker, k.failed], args
            )
            log.info(
                "handed unfinished jobs back to waiting", queue=self.name, count=n, jobs=[j.id for j in jobs]
            )
        except Exception as exc:
            log.warning(
                "could not hand jobs back; the stall check will recover them",
                queue=self.name,
                error=str(exc),
                jobs=[j.id for j in jobs],
            )
        for job in jobs:
            self._active.pop(job.id, None)

    def _client_or_raise(self) -> Redis:
        if self._client is None:
            raise RuntimeError("the worker is not connected")
        return self._client

    def _idle_fetch_or_raise(self) -> IdleFetch:
        if self._idle_fetch is None:
            raise RuntimeError("the worker is not connected")
        return self._idle_fetch

    def _bclient_or_raise(self) -> Redis:
        if self._bclient is None:
            raise RuntimeError("the worker is not connected")
        return self._bclient

    # -- fetching -------------------------------------------------------------------------------------

    def _free_slots(self) -> int:
        return self.concurrency - self._running - self._reserved - len(self._orphans)

    def _client_for(self, queue: Queue) -> Redis:
        """The client for `queue`'s keys: the worker's own, or a partition's (on a cluster, on its shard)."""
        return self._client_or_raise() if queue is self._queue else queue.client

    def _partitions(self) -> list[Queue]:
        """The queues this worker takes from: the queue itself, or its partitions."""
        return self.queue.parts

    def _fetch_args(self, want: int, now: int | str, queue: Queue | None = None) -> list[Any]:
        lim_max = self.limiter.max if self.limiter else 0
        lim_ms = int(self.limiter.duration * 1000) if self.limiter else 0
        base, offset = (queue or self.queue).base, self._clock_offset
        return [base, self.id, self.lock_ms, now, want, self._max_events, lim_max, lim_ms, offset,
                *self._group_args]  # fmt: skip

    async def _fetch_loop(self) -> None:
        keys = [key.encode() for key in self.queue.keys.fetch_keys()]
        lua = script("moveToActive")
        await self._measure_clock()
        await self._check_layout()
        self._fetch_event.set()
        # A reply taken while blocked (see _block): handled like a fetch's, without waiting for the event.
        taken: Any | None = None
        while not self._closing:
            if taken is None:
                await self._fetch_event.wait()
                self._fetch_event.clear()
                if self._closing:
                    break
                want = self._free_slots()
                if want <= 0:
                    continue
                self._reserved += want
                try:
                    if self._pfetch is None:
                        taken = await lua(self._client_or_raise(), keys, self._fetch_args(want, now_ms()))
                    else:
                        taken = await self._pfetch.take(want, self._partition_args)
                    self._connection_ok()
                except _FETCH_ERRORS as exc:
                    await self._fetch_failed(exc)
                    self._fetch_event.set()
                    continue
                finally:
                    # Whatever happened, the reservation ends here; close() may wait for it (_wait_idle).
                    self._reserved -= want
                    self._idle_event.set()
            jobs, next_due, limited = taken
            taken = None
            self._start_jobs(jobs)
            if len(jobs) >= want:
                # Every slot is busy; the finisher refills them as jobs complete.
                continue
            if self._pfetch is not None and self._pfetch.more:
                self._fetch_event.set()  # a partition had more than its share: ask again for the free slots
                continue
            if limited > 0:
                await self._sleep(limited / 1000)
                self._fetch_event.set()
                continue
            # Fewer ready jobs than free slots: the queue has nothing more right now. Block until a job is
            # added (the marker) rather than ask again: fetchJobs re-arms the marker when jobs remain.
            if self._burst:
                if self._running or self._finished or self._reserved or self._flushing:
                    # In-flight jobs (and reports on the wire) may still add retries: let them land, then
                    # look again.
                    await self._wait_idle()
                    self._fetch_event.set()
                    continue
                if not (self._burst_delayed and next_due >= 0):
                    break
            if not self._running and not self._finished and not self._drained_emitted:
                self._drained_emitted = True
                self._emit("drained")
            if jobs:
                await asyncio.sleep(0)  # let the jobs just taken start before this loop blocks again
            want = self._free_slots()
            taken = await self._block(next_due, want, lua, keys)
            if taken is None:
                self._fetch_event.set()

    def _partition_args(self, queue: Queue, want: int) -> list[Any]:
        return self._fetch_args(want, now_ms(), queue)

    async def _check_layout(self) -> None:
        """Refuse a queue stored with another partition count (`PartitionMismatchError`), once, at start."""
        while not self._closing:
            try:
                await check_layout(self._client_or_raise(), self.queue.prefix, self.name, self.partitions)
                return
            except _FETCH_ERRORS as exc:
                await self._fetch_failed(exc)

    async def _fetch_failed(self, exc: BaseException) -> None:
        """A fetch failed: wait out a Redis outage, or log a server error and pause a second. An error that
        retrying cannot fix (NOPERM, wrong password, TLS) raises `RedisAccessError`: the worker stops."""
        if is_permanent(exc):
            retry = self._client_or_raise().connection_pool.connection_kwargs.get("retry")
            raise RedisAccessError(getattr(retry, "url", "the server"), exc) from exc
        if isinstance(exc, _CONNECTION_ERRORS):
            await self._connection_lost(exc)
            return
        log.error("fetching jobs failed", queue=self.name, exc_info=exc)
        self._emit("error", exc)
        await asyncio.sleep(1)

    async def _measure_clock(self) -> None:
        with contextlib.suppress(Exception):  # 0 (the clocks agree) until it can be measured
            self._clock_offset = await measure_clock_offset(self._client_or_raise())
        if abs(self._clock_offset) >= CLOCK_OFFSET_WARNING_MS and not self._clock_warned:
            self._clock_warned = True
            log.warning(
                "this machine's clock differs from the Redis server's; delays, backoff and schedules are "
                "shifted to the server's clock, but timestamps shown (finishedOn, logs) use this one. Sync "
                "the clocks (NTP)",
                queue=self.name,
                offset_ms=self._clock_offset,
            )

    async def _block(self, next_due: int, want: int, lua: LuaScript, keys: list[bytes]) -> Any | None:
        """Wait for the marker and take up to `want` jobs in the same round trip (idle_fetch.py).
        Returns moveToActive's reply, or None when the caller should fetch (or stop) itself."""
        timeout = self.drain_delay
        if next_due >= 0:
            timeout = min(timeout, max((next_due - now_ms()) / 1000, 0.0))
        if timeout <= 0 or self._closing or want <= 0:
            return None
        # No await between this check and setting _blocking: close() either sees _blocking and interrupts
        # the wait, or we see _closing here.
        self._blocking = True
        self._reserved += want
        # Waiting for a delayed job: the server checks blocking timeouts only `hz` times a second (every
        # 100 ms by default), so wake ourselves on time by adding the marker when the job falls due.
        wake = None
        if next_due >= 0 and timeout < self.drain_delay:
            wake = asyncio.get_running_loop().call_later(timeout + 0.001, self._wake_at_due_time)
        taken = None
        try:
            if self._pfetch is not None:
                await self._pfetch.wait(timeout)  # then the caller fetches, woken partitions first
            else:
                taken = await self._idle_fetch_or_raise().wait_then_run(
                    self._marker, timeout, lua, keys, self._fetch_args(want, "")
                )
            self._connection_ok()
        except asyncio.CancelledError:
            if not self._closing:
                raise
        except _FETCH_ERRORS as exc:
            await self._fetch_failed(exc)
        finally:
            self._blocking = False
            self._reserved -= want
            self._idle_event.set()
            if wake is not None:
                wake.cancel()
        if taken is not None and self._closing:
            # close() ended the wait, and the script queued behind it still took jobs: hand them back.
            if taken[0]:
                await self._release([self._taken_job(entry) for entry in taken[0]])
            return None
        return taken

    def _taken_job(self, entry: list[Any]) -> Job[Any]:
        job: Job[Any] = Job(entry[3] if len(entry) > 3 else self._queue, as_text(entry[0]), "?", None)
        job.token = as_text(entry[1])
        return job

    def _wake_at_due_time(self) -> None:
        self._track(self._add_marker())

    async def _add_marker(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the server's own timeout follows anyway
            for queue in self._partitions():
                await self._client_for(queue).zadd(queue.keys.marker, {"0": 0})

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the worker is closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._close_event.wait()

    def _start_jobs(self, jobs: list[Any]) -> None:
        if jobs:
            self._drained_emitted = False
        for entry in jobs:
            job_id = as_text(entry[0])
            token = as_text(entry[1])
            self._running += 1
            queue = entry[3] if len(entry) > 3 else None  # a partition's job (partition_fetch.py)
            self._tasks[job_id] = asyncio.create_task(self._process(job_id, token, entry[2], queue))

    # -- running a job --------------------------------------------------------------------------------

    async def _process(self, job_id: str, token: str, flat: list[Any], queue: Queue | None = None) -> None:
        finished: Outcome | None = None
        job: Job[Any]
        queue = queue or self._queue
        try:
            try:
                job = Job.from_hash(queue, job_id, hash_to_dict(flat))
            except CorruptJobError as exc:
                job = Job(queue, job_id, "?", None)
                job.token = token
                self._active[job_id] = job
                log.error("corrupt job failed", queue=self.name, job_id=job_id, error=str(exc))
                finished = self._failure(job, exc, retry=False)
                return
            job.token = token
            self._active[job_id] = job
            structlog.contextvars.bind_contextvars(
                queue=self.name, job_id=job_id, job_name=job.name, attempt=job.attempts_made + 1
            )
            self._emit("active", job)
            # Job schedulers: taking a scheduler's run queues its next run (framework/queue/scheduler.py).
            if job_id.startswith(SCHEDULER_JOB_PREFIX):
                await schedule_next(queue or self.queue, job)
            finished = await self._execute(job)
            if job_id in self._cancel_requested or job_id in self._lost:
                # The handler swallowed the CancelledError and returned: its outcome no longer counts.
                self._uncancel()
                finished = self._stopped_job(job)
        except asyncio.CancelledError:
            if job_id not in self._cancel_requested and job_id not in self._lost:
                # Shutdown past its grace period: the job goes back to waiting (see _shutdown).
                finished = None
                raise
            self._uncancel()
            finished = self._stopped_job(job)
        except Exception:
            # Not the handler (_execute catches its errors): the job could not be started, e.g. Redis went
            # away right then. Hand it back rather than keep renewing a lock nobody works under; if that
            # fails too, the lock lapses and the stall check recovers the job.
            log.exception("could not start the job; handing it back", queue=self.name, job_id=job_id)
            held = self._active.get(job_id)
            if held is not None:
                hand_back = asyncio.ensure_future(self._release([held]))
                self._hook_tasks.add(hand_back)
                hand_back.add_done_callback(self._hook_tasks.discard)
        finally:
            self._tasks.pop(job_id, None)
            held = self._active.get(job_id)
            self._ended.append((job_id, held.name if held else "?", asyncio.get_running_loop().time()))
            self._cancel_requested.discard(job_id)
            self._lost.discard(job_id)
            self._running -= 1
            if finished is None and not self._closing:
                self._fetch_event.set()  # a slot freed without a report to refill it
            if finished is not None:
                self._finished.append(finished)
                self._finished_event.set()
            self._idle_event.set()

    async def _execute(self, job: Job[Any]) -> Outcome | None:
        if tracing.is_active():  # OpenTelemetry: a span per attempt (framework/observability/tracing.py)
            return await tracing.traced_attempt(job, self._attempt)
        return await self._attempt(job)

    async def _attempt(self, job: Job[Any]) -> Outcome | None:
        timeout = job.run_options.timeout
        try:
            if timeout:
                try:
                    async with asyncio.timeout(timeout):
                        result = await self._call(job)
                except TimeoutError:
                    raise JobTimeoutError(
                        f"job exceeded its timeout of {timeout} s and was cancelled"
                    ) from None
            else:
                result = await self._call(job)
            try:
                value = serialization.dumps(result, what="return value")
            except InvalidJobDataError as exc:
                return self._failure(job, exc, retry=False)
            return outcome.completed(job, value, result)
        except (DelayedError, RateLimitError) as exc:
            await self._move_back(job, exc)
            return None
        except UnrecoverableError as exc:
            return self._failure(job, exc, retry=False)
        except WaitingChildrenError:
            return outcome.waiting_children(job)
        except Exception as exc:
            return self._failure(job, exc, retry=True)

    async def _move_back(self, job: Job[Any], exc: DelayedError | RateLimitError) -> None:
        """The job goes back to delayed / waiting without using an attempt (control.py); no report."""
        try:
            await move_back(job.queue or self.queue, job, exc)
        except Exception:
            log.exception("could not move the job back; the stall check will recover it", job_id=job.id)
        self._active.pop(job.id, None)

    async def _call(self, job: Job[Any]) -> Any:
        if self.interceptors:
            return await intercepted(self.interceptors, job, lambda: self._call_handler(job))
        return await self._call_handler(job)

    async def _call_handler(self, job: Job[Any]) -> Any:
        if self._is_async:
            return await self.handler(job)
        # Plain functions run in a thread (contextvars copied), so they never block the event loop. A thread
        # cannot be interrupted: when the job is cancelled or times out, its result is discarded but its
        # slot stays taken until it returns, so `concurrency` still bounds the threads at work.
        return await self._threads.call(self.handler, job)

    def _failure(self, job: Job[Any], exc: BaseException, *, retry: bool) -> Outcome:
        return outcome.failure(job, exc, retry=retry, strategies=self.backoff_strategies)

    # -- reporting finished jobs ----------------------------------------------------------------------

    def _take_finished(self, limit: int | None = None) -> list[Outcome]:
        if limit is None or len(self._finished) <= limit:
            batch, self._finished = self._finished, []
        else:
            batch, self._finished = self._finished[:limit], self._finished[limit:]
        return batch

    async def _finish_loop(self) -> None:
        # Two reports may be on the wire at once, each of at most half the slots: while the server runs one
        # (finish a batch, take the next), this process runs the jobs the other one brought. With a
        # single report in flight, the worker and the server would take turns and one of them always idled.
        reports: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._finished_event.wait()
                self._finished_event.clear()
                if not self._finished:
                    if self._closing and not self._running:
                        self._idle_event.set()
                    continue
                if len(reports) >= _REPORTS_IN_FLIGHT:
                    await asyncio.wait(reports, return_when=asyncio.FIRST_COMPLETED)
                    self._finished_event.set()
                    continue
                batch = self._take_finished(max(1, (self.concurrency + 1) // 2))  # may change live
                if self._finished:
                    self._finished_event.set()  # the rest goes in the next report
                # Each report refills the slots its own jobs freed, so both reports bring work back. (A slot
                # freed without a report wakes the fetcher instead: see _process.)
                want = 0 if self._closing else max(min(self._free_slots(), len(batch)), 0)
                self._reserved += want
                self._flushing += len(batch)
                report = asyncio.create_task(self._report(batch, want))
                reports.add(report)
                report.add_done_callback(reports.discard)
        finally:
            # Stopped: reports on the wire put their batches back for _shutdown to send (moveToFinished is
            # idempotent, so a report that did land is only confirmed again).
            for report in reports:
                report.cancel()
            await asyncio.gather(*reports, return_exceptions=True)

    async def _report(self, batch: list[Outcome], want: int) -> None:
        """Report one batch of finished jobs and start the jobs taken in the same call."""
        try:
            jobs = await self._flush(batch, want)
        except BaseException as exc:
            # Keep the results for another report (moveToFinished is idempotent): by _shutdown when this
            # was cancelled, else once Redis is back.
            self._reserved -= want
            self._finished[:0] = batch
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, _CONNECTION_ERRORS):
                await self._connection_lost(exc)
            else:
                log.error("reporting finished jobs failed; will retry", queue=self.name, exc_info=exc)
                self._emit("error", exc)
                await asyncio.sleep(1)
            self._finished_event.set()
            return
        finally:
            self._flushing -= len(batch)
            self._idle_event.set()
        self._reserved -= want
        if self._closing and jobs:
            # close() came while this report was on the wire: the jobs it took go straight back. Counted
            # as in flight meanwhile, so shutdown waits for the hand-back instead of cancelling it.
            self._flushing += 1
            try:
                await self._release([self._taken_job(entry) for entry in jobs])
            finally:
                self._flushing -= 1
                self._idle_event.set()
            return
        self._start_jobs(jobs)
        if len(jobs) < want:
            self._fetch_event.set()
        self._idle_event.set()

    async def _finish(self, q: Queue, batch: list[Outcome], want: int, now: int) -> tuple[Any, Any]:
        """One moveToFinished call: report `batch` (jobs of `q`) and take up to `want` jobs of `q`."""
        lim_max = self.limiter.max if self.limiter else 0
        lim_ms = int(self.limiter.duration * 1000) if self.limiter else 0
        args: list[Any] = [
            q._base_bytes,
            self._id_bytes,
            self.lock_ms,
            now,
            want,
            self._max_events,
            lim_max,
            lim_ms,
            len(batch),
        ]
        for f in batch:
            args += [f.job.id, f.job.token or "", f.kind, f.value, f.stack, f.keep[0], f.keep[1], f.delay_ms]
        args.append(self._metrics_window)
        args += self._group_args
        keys = self._finish_keys if q is self._queue else None
        if keys is None:
            keys = [key.encode() for key in q.keys.finish_keys()]
            if q is self._queue:
                self._finish_keys = keys
        client = self._client_for(q)
        results, jobs, _next_due, _limited = await script("moveToFinished")(client, keys, args)
        return results, jobs

    async def _finish_partitions(
        self, batch: list[Outcome], want: int, now: int
    ) -> tuple[list[Any], list[Any]]:
        """A partitioned queue's report: one moveToFinished per partition, all at once, each taking new jobs
        from its own partition; but every K-th report takes none and leaves its slots to the fetcher, which
        asks the partitions in turn, so a partition with no running job is still asked (partition_fetch.py).
        Returns the results in `batch` order and the jobs taken, each tagged with its partition."""
        groups: dict[int, list[Outcome]] = {}
        for f in batch:
            groups.setdefault(id(f.job.queue or self.queue), []).append(f)
        if self._pfetch is not None and self._pfetch.refill_turn():
            want = 0
        calls = []
        for group in groups.values():
            share = min(len(group), want)
            want -= share
            calls.append(self._finish(group[0].job.queue or self.queue, group, share, now))
        done = list(zip(groups.values(), await asyncio.gather(*calls), strict=True))
        by_outcome = {
            id(f): res for group, (replies, _) in done for f, res in zip(group, replies, strict=True)
        }
        jobs = [[*entry, group[0].job.queue] for group, (_, taken) in done for entry in taken]
        return [by_outcome[id(f)] for f in batch], jobs

    async def _flush(self, batch: list[Outcome], want: int) -> list[Any]:
        now = now_ms()
        if self._pfetch is None:
            results, jobs = await self._finish(self.queue, batch, want, now)
        else:
            results, jobs = await self._finish_partitions(batch, want, now)
        self._connection_ok()
        for f, res in zip(batch, results, strict=True):
            self._active.pop(f.job.id, None)
            job = f.job
            if res != 1:
                log.warning(
                    "job result discarded: the lock was lost (another worker may run it again)"
                    if res == 0
                    else "job result discarded: the job no longer exists",
                    queue=self.name,
                    job_id=job.id,
                    job_name=job.name,
                )
                continue
            if f.kind == "waiting-children":
                continue
            job.attempts_made += 1
            if f.kind == "completed":
                job.return_value = f.result
                job.finished_on = now  # as the script stored it
                self._emit_for(job, "completed", job, f.result)
            else:
                job.failed_reason = f.value
                if f.kind == "retry":
                    job.delay, job.due_on = f.delay_ms, (now + f.delay_ms if f.delay_ms else None)
                else:
                    job.finished_on = now
                self._emit_for(job, "failed", job, f.error)
        return list(jobs)

    def _emit_for(self, job: Job[Any], event: WorkerEventName, *args: Any) -> None:
        if not self._listeners[event]:
            return  # the common case: binding the log context costs more than the rest of the report
        with structlog.contextvars.bound_contextvars(
            queue=self.name, job_id=job.id, job_name=job.name, attempt=job.attempts_made
        ):
            self._emit(event, *args)

    # -- cancellation ---------------------------------------------------------------------------------

    def _request_cancel(self, job_id: str) -> None:
        """A cancel request for `job_id` (ignored unless this worker runs it)."""
        task = self._tasks.get(job_id)
        if task is None or job_id in self._cancel_requested or job_id in self._lost:
            return
        self._cancel_requested.add(job_id)
        log.info("cancelling a running job on request", queue=self.name, job_id=job_id)
        task.cancel()

    def _stopped_job(self, job: Job[Any]) -> Outcome | None:
        """The outcome of a job whose handler was stopped on purpose (cancelled, or lock lost)."""
        if job.id in self._lost:
            return None
        if not self._is_async and any(o.job_id == job.id for o in self._orphans):
            log.warning(
                "job cancelled; its handler runs in a thread that cannot be interrupted: it goes on to its "
                "end and its result is discarded",
                queue=self.name,
                job_id=job.id,
            )
        return outcome.cancelled(job, JobCancelledError(f"job {job.id} was cancelled"), CANCELLED_REASON)

    @staticmethod
    def _uncancel() -> None:
        # The cancellation was ours and is handled: later awaits of this task must not see it.
        task = asyncio.current_task()
        if task is not None:
            while task.cancelling():
                task.uncancel()

    # -- event-loop lag (see lag.py) ------------------------------------------------------------------

    def running_jobs(self, since: float) -> list[dict[str, Any]]:
        """Jobs of this worker that ran on the loop (async handlers) at some point after `since`."""
        if not self._is_async:
            return []
        jobs = {job_id: job.name for job_id, job in list(self._active.items()) if job_id in self._tasks}
        for job_id, name, ended in self._ended:
            if ended >= since:
                jobs.setdefault(job_id, name)
        return [{"queue": self.name, "job_id": job_id, "job_name": name} for job_id, name in jobs.items()]

    def loop_lagged(self, seconds: float) -> None:
        if seconds * 1000 > self.lock_ms / 3 and self._lock_keeper is not None:
            self._lock_keeper.renew_soon()

    # -- outages --------------------------------------------------------------------------------------

    async def _connection_lost(self, exc: BaseException) -> None:
        if self._outage.failed(exc):
            self._emit("error", exc)
        await self._outage.pause()

    def _connection_ok(self) -> None:
        self._outage.ok()


def _by_partition(jobs: list[Job[Any]], default: Queue) -> list[list[Job[Any]]]:
    """`jobs` grouped by the queue they belong to (their partition), in order of first appearance."""
    groups: dict[int, list[Job[Any]]] = {}
    for job in jobs:
        groups.setdefault(id(job.queue or default), []).append(job)
    return list(groups.values())


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait for them; cancel again any that swallowed it (on Python 3.11 an
    `asyncio.wait_for` deep in a library can lose a cancellation)."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("worker loop had crashed", task=task.get_name(), exc_info=task.exception())
