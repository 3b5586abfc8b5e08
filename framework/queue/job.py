"""Job: one unit of work as stored in Redis, with the operations a handler or producer needs."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from framework.errors import CorruptJobError, LockLostError
from framework.queue import serialization
from framework.queue.durations import Seconds
from framework.queue.options import JobOptions, ParentRef
from framework.queue.run_options import RunOptions
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.flow import Dependencies
    from framework.queue.queue import Queue

T = TypeVar("T")


class JobState(StrEnum):
    """Where a job is in its life."""

    WAITING = "waiting"
    PRIORITIZED = "prioritized"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    WAITING_CHILDREN = "waiting-children"
    UNKNOWN = "unknown"


FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.FAILED})


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class Job(Generic[T]):
    """A job. `Job[Model]` in a handler's signature makes `job.data` a validated pydantic model.

    Attributes:
        id, name, data, opts, progress, return_value, failed_reason, stacktrace, attempts_made,
        timestamp, processed_on, finished_on (ms since the epoch, as in BullMQ), delay (ms), priority,
        worker (id of the worker that took it last), due_on (ms: when a delayed job, or a retry waiting
        out its backoff, falls due; None when not delayed).
    """

    __slots__ = (
        "_due_on",
        "_opts",
        "_opts_text",
        "_raw_opts",
        "_run_options",
        "attempts_made",
        "attempts_started",
        "data",
        "delay",
        "failed_reason",
        "finished_on",
        "id",
        "name",
        "parent_key",
        "priority",
        "processed_on",
        "progress",
        "queue",
        "return_value",
        "stacktrace",
        "stalled_count",
        "timestamp",
        "token",
        "worker",
    )

    def __init__(
        self,
        queue: Queue | None,
        id: str,
        name: str,
        data: Any,
        raw_opts: dict[str, Any] | None = None,
        *,
        timestamp: int = 0,
    ) -> None:
        self.queue = queue
        self.id = id
        self.name = name
        self.data: Any = data
        self._raw_opts: dict[str, Any] = raw_opts or {}
        self._opts: JobOptions | None = None
        self._run_options: RunOptions | None = None
        self._opts_text: bytes | str | None = None  # the JSON `_raw_opts` was read from, if it was
        self.timestamp = timestamp
        self.delay = 0
        self.priority = 0
        self.progress: Any = None
        self.return_value: Any = None
        self.failed_reason: str | None = None
        self.stacktrace: list[str] = []
        self.attempts_made = 0
        self.attempts_started = 0
        self.stalled_count = 0
        self.processed_on: int | None = None
        self.finished_on: int | None = None
        self._due_on: int | None = None
        self.worker: str | None = None
        self.token: str | None = None
        self.parent_key: str | None = None  # a flow child's parent, as its job key (see flow.py)

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_hash(cls, queue: Queue | None, job_id: str, fields: dict[str, Any]) -> Job[Any]:
        """Build a Job from its Redis hash; raise CorruptJobError naming the field that is not ours."""
        try:
            name = as_text(fields["name"])
        except KeyError:
            raise CorruptJobError(
                f"job {job_id}: the hash has no 'name' field (not written by nestq?)"
            ) from None
        job: Job[Any] = cls(queue, job_id, name, None)
        field = "data"
        try:
            job.data = serialization.loads(fields.get("data"))
            field = "opts"
            job._opts_text = fields.get("opts")
            raw_opts = serialization.loads(job._opts_text)
            job._raw_opts = raw_opts if isinstance(raw_opts, dict) else {}
            field = "progress"
            job.progress = serialization.loads(fields.get("progress"))
            field = "returnvalue"
            job.return_value = serialization.loads(fields.get("returnvalue"))
            field = "stacktrace"
            trace = serialization.loads(fields.get("stacktrace"))
            job.stacktrace = trace if isinstance(trace, list) else []
            field = "timestamp"
            job.timestamp = int(fields.get("timestamp") or 0)
            job.delay = int(fields.get("delay") or 0)
            job.priority = int(fields.get("priority") or 0)
            field = "attemptsMade"
            job.attempts_made = int(fields.get("attemptsMade") or 0)
            job.attempts_started = int(fields.get("ats") or 0)
            job.stalled_count = int(fields.get("stc") or 0)
            field = "processedOn"
            job.processed_on = _int(fields.get("processedOn"))
            job.finished_on = _int(fields.get("finishedOn"))
            job._due_on = _int(fields.get("dueOn"))
        except (ValueError, TypeError) as exc:
            raise CorruptJobError(
                f"job {job_id}: field {field!r} is not valid ({exc}); the hash was changed outside nestq. "
                f"Inspect it with HGETALL and remove the job (queue.remove({job_id!r}))."
            ) from None
        reason = fields.get("failedReason")
        job.failed_reason = None if reason is None else as_text(reason)
        worker = fields.get("worker")
        job.worker = None if worker is None else as_text(worker)
        parent_key = fields.get("parentKey")
        job.parent_key = None if parent_key is None else as_text(parent_key)
        return job

    # -- options --------------------------------------------------------------------------------------

    @property
    def opts(self) -> JobOptions:
        """The job's options (validated on first access)."""
        if self._opts is None:
            self._opts = JobOptions.model_validate(self._raw_opts)
        return self._opts

    @property
    def raw_opts(self) -> dict[str, Any]:
        """The options as stored (JSON), for copying them elsewhere; read them through `run_options`."""
        return self._raw_opts

    @property
    def run_options(self) -> RunOptions:
        """The options the runtime uses, decoded once (never raises: see `RunOptions`)."""
        if self._run_options is None:
            self._run_options = RunOptions.of(self._opts_text, self._raw_opts)
        return self._run_options

    @property
    def due_on(self) -> int | None:
        """When the job falls due (ms since the epoch) while delayed: added with a delay, or a retry waiting
        out its backoff (then `delay` is that backoff). None once it is no longer delayed."""
        if not self.delay:
            return None
        return self._due_on if self._due_on is not None else self.timestamp + self.delay

    @due_on.setter
    def due_on(self, value: int | None) -> None:
        self._due_on = value

    @property
    def attempts(self) -> int:
        """Attempts in all (the `attempts` option).

        Raises:
            ValueError: the stored value is not a positive whole number (the hash was changed by hand).
        """
        opts = self.run_options
        if "attempts" in opts.corrupt:
            raise ValueError(f"job {self.id}: stored attempts={opts.corrupt['attempts']!r} is not valid")
        return opts.attempts

    # -- flows (framework/queue/flow.py) --------------------------------------------------------------

    @property
    def parent(self) -> ParentRef | None:
        """The flow parent of this job (queue and id), or None."""
        if self.parent_key is None:
            return None
        from framework.queue.flow import parse_job_key

        return parse_job_key(self.parent_key)

    def parent_ref(self) -> ParentRef:
        """A reference to this job, to pass as a child's `parent` option."""
        q = self._queue()
        return ParentRef(id=self.id, queue=q.name, prefix=q.prefix)

    async def get_children_values(self) -> dict[str, Any]:
        """Results of this job's completed children, keyed `"queue:id"`."""
        from framework.queue import flow

        return await flow.children_values(self)

    async def get_failed_children_values(self) -> dict[str, str]:
        """Failed reasons of the children whose failure was ignored, keyed `"queue:id"`."""
        from framework.queue import flow

        return await flow.failed_children_values(self)

    async def get_dependencies(self) -> Dependencies:
        """This job's children by outcome: processed, unprocessed, failed, ignored (see `Dependencies`)."""
        from framework.queue import flow

        return await flow.dependencies(self)

    async def add_child(self, queue: str, name: str, data: Any = None, **opts: Any) -> Job[Any]:
        """Add a child job (in `queue`, which may be another queue) that this job will wait for once it
        raises `WaitingChildrenError`."""
        from framework.queue import flow

        return await flow.add_child(self, queue, name, data, opts)

    # -- operations -----------------------------------------------------------------------------------

    def _queue(self) -> Queue:
        if self.queue is None:
            raise RuntimeError("this Job is not attached to a Queue")
        return self.queue

    async def update_progress(self, progress: Any) -> None:
        """Store progress (a number or any JSON value) and emit a `progress` event.

        Raises:
            JobNotFoundError: the job no longer exists (removed, cleaned or trimmed).
        """
        await self._queue()._update_progress(self, progress)

    async def log(self, message: str) -> int:
        """Append a line to the job's log (kept with the job; newest 1000 lines). Returns the line count.

        Raises:
            JobNotFoundError: the job no longer exists (removed, cleaned or trimmed).
        """
        return await self._queue()._add_log(self.id, message)

    async def get_logs(self, start: int = 0, end: int = -1) -> list[str]:
        return await self._queue().get_job_logs(self.id, start, end)

    async def get_state(self) -> JobState:
        return await self._queue().get_job_state(self.id)

    async def retry(self, state: str = "failed") -> bool:
        """Move this finished job back to waiting for a fresh set of attempts."""
        return await self._queue()._retry_one(self.id, state)

    async def remove(self) -> bool:
        return await self._queue().remove(self.id)

    async def promote(self) -> bool:
        """Run this delayed job now."""
        return await self._queue()._promote_one(self.id)

    async def cancel(self) -> bool:
        """Cancel the job: a waiting/delayed one at once, an active one through its worker."""
        return await self._queue().cancel(self.id)

    # -- job control (framework/queue/control.py) -----------------------------------------------------

    @property
    def deduplication_id(self) -> str | None:
        """The job's deduplication id (`add(..., deduplication=Deduplication(id))`), or None."""
        return self.run_options.deduplication_id

    @property
    def group_id(self) -> str | None:
        """The fair group the job belongs to (`add(..., group_id=...)`), or None."""
        return self.run_options.group_id

    async def update_data(self, data: Any) -> None:
        """Replace the job's data (JSON). Raises JobNotFoundError when the job is gone."""
        await self._queue()._update_data(self.id, data)
        self.data = data

    async def change_priority(self, priority: int) -> None:
        """Give the job another priority (0 = none, lower runs first); a ready job moves to its new place.
        Raises JobNotFoundError when the job is gone."""
        await self._queue()._change_priority(self.id, priority)
        self.priority = priority

    async def change_delay(self, delay: Seconds) -> None:
        """Run this delayed job `delay` seconds from now. Raises ValueError when it is not delayed,
        JobNotFoundError when it is gone."""
        await self._queue()._change_delay(self.id, delay)

    async def clear_logs(self, keep: int = 0) -> None:
        """Delete the job's log lines (all, or all but the newest `keep`)."""
        await self._queue()._clear_logs(self.id, keep)

    async def move_to_delayed(self, timestamp_ms: int) -> None:
        """From the job's handler: move the running job back to delayed, due at `timestamp_ms` (ms since
        the epoch), without using an attempt; then `raise DelayedError()` to end this run.

        Raises:
            LockLostError: this worker no longer holds the job.
        """
        if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int | float):
            raise ValueError(f"timestamp_ms must be ms since the epoch, got {timestamp_ms!r}")
        if not await self._queue()._move_active(self, "delayed", int(timestamp_ms)):
            raise LockLostError(f"job {self.id} is not held by this worker (its lock was lost, or it moved)")

    async def wait_until_finished(self, timeout: float | None = None) -> Any:
        """Wait (on the event stream, no polling) until the job completes; return its result.

        Raises:
            JobFailedError: the job ended failed.
            JobNotFoundError: the job is gone (removed, or finished and removed by its retention).
            TimeoutError: still not finished after `timeout` seconds.
        """
        return await self._queue().wait_for_job(self.id, timeout)

    async def refresh(self) -> Job[T]:
        """Re-read the job from Redis (fields updated in place)."""
        fresh = await self._queue().get_job(self.id)
        if fresh is not None:
            for slot in Job.__slots__:
                if slot not in ("queue", "token"):
                    setattr(self, slot, getattr(fresh, slot))
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the job (for the dashboard and the CLI)."""
        return {
            "id": self.id,
            "name": self.name,
            "data": self.data,
            "opts": self._raw_opts,
            "progress": self.progress,
            "return_value": self.return_value,
            "failed_reason": self.failed_reason,
            "stacktrace": self.stacktrace,
            "attempts_made": self.attempts_made,
            "attempts_started": self.attempts_started,
            "timestamp": self.timestamp,
            "delay": self.delay,
            "priority": self.priority,
            "processed_on": self.processed_on,
            "finished_on": self.finished_on,
            "due_on": self.due_on,
            "worker": self.worker,
            "parent": None if self.parent is None else self.parent.model_dump(),
            "deduplication_id": self.deduplication_id,
            "group_id": self.group_id,
        }

    def __repr__(self) -> str:
        return f"<Job {self.id} name={self.name!r} attempts_made={self.attempts_made}>"
