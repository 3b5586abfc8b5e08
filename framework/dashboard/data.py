"""The dashboard's data layer: plain async functions over `Queue`s that return JSON-ready dicts.

The HTML pages, the JSON API and the ops CLI all go through these functions, so what a person sees
in the browser, what a script reads from the API and what `nestq jobs` prints are the same data.
Nothing here knows about HTTP or terminals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import orjson

from framework.dashboard.sources import (
    AppQueues,
    CombinedQueues,
    DiscoveredQueues,
    QueueSource,
    StaticQueues,
    discover_queue_names,
    source_of,
)
from framework.errors import CorruptJobError, JobNotFoundError, NestqError
from framework.queue import Job, Queue
from framework.queue.flow import flow_summary
from framework.queue.job import JobState
from framework.queue.queue import ALL_STATES
from framework.queue.scheduler import JobSchedulerInfo
from framework.queue.scripts import LuaScript, script
from framework.queue.serialization import as_text
from framework.settings import redact_url

__all__ = [
    "ACTION_STATES",
    "CLEANABLE_STATES",
    "STATES",
    "ActionError",
    "AppQueues",
    "CombinedQueues",
    "DiscoveredQueues",
    "JobListing",
    "NotFoundError",
    "QueueSource",
    "QueueSummary",
    "SchedulerListing",
    "SchedulerRow",
    "StaticQueues",
    "add_job",
    "cancel_job",
    "clean_queue",
    "discover_queue_names",
    "drain_queue",
    "find_job",
    "job_detail",
    "list_jobs",
    "list_queues",
    "list_schedulers",
    "obliterate_queue",
    "pause_queue",
    "promote_all",
    "promote_job",
    "queue_summary",
    "remove_job",
    "remove_scheduler",
    "resume_queue",
    "retry_all",
    "retry_job",
    "source_of",
]

# Display order: where a job is in its life.
STATES: tuple[str, ...] = (
    "active",
    "waiting",
    "waiting-children",
    "prioritized",
    "delayed",
    "paused",
    "completed",
    "failed",
)
assert set(STATES) == set(ALL_STATES)
CLEANABLE_STATES: tuple[str, ...] = ("completed", "failed", "delayed", "prioritized", "waiting", "paused")
# Which single-job actions apply in which state (the UI shows only those).
ACTION_STATES: dict[str, tuple[str, ...]] = {
    "retry": ("failed", "completed"),
    "promote": ("delayed",),
    "remove": ("waiting", "waiting-children", "prioritized", "delayed", "paused", "completed", "failed"),
}

PREVIEW_CHARS = 160
REASON_CHARS = 300
NAME_SCAN_LIMIT = 10_000  # ids looked at when filtering a state's list by job name
_SCAN_CHUNK = 500


# The name this module's own error had: there is one not-found error now, the core's.
NotFoundError = JobNotFoundError


class ActionError(NestqError, ValueError):
    """An action that does not apply (retry a waiting job, clean active jobs, ...)."""


class QueueSummary(TypedDict):
    """One queue at a glance (`list_queues`, `queue_summary`)."""

    name: str
    counts: dict[str, int]  # every state of `STATES`, in that order
    total: int
    paused: bool


class JobListing(TypedDict):
    """One page of a state's jobs (`list_jobs`); each job is a summary dict (or an error entry)."""

    queue: str
    state: str
    start: int
    limit: int
    total: int
    complete: bool  # False when a name filter stopped at `NAME_SCAN_LIMIT`
    name: str | None
    counts: dict[str, int]
    paused: bool
    jobs: list[dict[str, Any]]


class SchedulerRow(TypedDict):
    """A job scheduler as the dashboard and the CLI show it."""

    id: str
    name: str
    pattern: str | None
    every_seconds: float | None
    tz: str | None
    limit: int | None
    iterations: int
    next_run: int | None  # ms since the epoch
    end_date: int | None  # ms since the epoch
    data_preview: str


class SchedulerListing(TypedDict):
    """A queue's job schedulers, the next due first (`list_schedulers`)."""

    queue: str
    supported: bool  # always True: kept for API clients written when schedulers were optional
    schedulers: list[SchedulerRow]


# --- reading ---------------------------------------------------------------------------------------


async def queue_summary(queue: Queue) -> QueueSummary:
    """Counts per state, the total and the paused flag of one queue."""
    counts, paused = await asyncio.gather(queue.get_job_counts(), queue.is_paused())
    ordered = {state: counts.get(state, 0) for state in STATES}
    return {"name": queue.name, "counts": ordered, "total": sum(ordered.values()), "paused": paused}


async def list_queues(source: QueueSource) -> list[QueueSummary]:
    """A summary of every queue, sorted by name."""
    names = await source.names()
    queues = [await source.get(name) for name in names]
    return list(await asyncio.gather(*(queue_summary(q) for q in queues)))


def _check_state(state: str) -> str:
    if state not in STATES:
        raise ActionError(f"unknown state {state!r}; states are {', '.join(STATES)}")
    return state


async def _ids_newest_first(queue: Queue, state: str, start: int, end: int, total: int) -> list[str]:
    """Ids of `state` at positions [start, end] counted from the most recently added job."""
    if end < start or start >= total:
        return []
    if state in ("completed", "failed", "prioritized"):
        # Finished: last finished first. Prioritized: in the order they will run (priority, then FIFO).
        return await queue.get_job_ids(state, start, end)
    # The other states list the next job to run first: read the mirrored range and reverse it.
    lo, hi = max(total - 1 - end, 0), total - 1 - start
    return list(reversed(await queue.get_job_ids(state, lo, hi)))


# Bytes of each large field (data, result, reason, progress) a listing reads per job: enough for the previews.
SUMMARY_BYTES = 1024


Cut = dict[str, tuple[str, int]]  # field -> (the start read, its full length)


async def _load(queue: Queue, ids: Sequence[str]) -> list[tuple[Job[Any] | dict[str, Any], Cut]]:
    """Jobs by id in one round trip, for a listing: large fields are read only as far as the previews need
    (`jobSummary`), so a page of 4 MB jobs costs kilobytes. A job changed outside nestq becomes an error
    entry, not a crash. Each job comes with its cut fields."""
    if not ids:
        return []
    lua = script("jobSummary")

    def summary(pipe: Any, part: Queue, job_id: str) -> None:
        pipe.execute_command("EVALSHA", lua.sha, 1, part.keys.job(job_id), SUMMARY_BYTES)

    out: list[tuple[Job[Any] | dict[str, Any], Cut]] = []
    for job_id, flat in zip(ids, await _per_job(queue, ids, summary, lua), strict=True):
        if not flat:
            continue  # removed between the two reads
        fields = {as_text(k): v for k, v in zip(flat[::2], flat[1::2], strict=True)}
        cut: Cut = {}
        for field in ("data", "returnvalue", "failedReason", "progress"):
            size = fields.pop(f"{field}:len", None)
            if size is not None and int(size) > SUMMARY_BYTES:
                raw = fields.pop(field)
                head = raw.decode("utf-8", "ignore") if isinstance(raw, bytes) else as_text(raw)
                cut[field] = (head, int(size))
        try:
            job = Job.from_hash(queue.partition_for(job_id), job_id, fields)
        except CorruptJobError as exc:
            out.append(({"id": job_id, "name": "?", "corrupt": str(exc)}, {}))
            continue
        out.append((job, cut))
    return out


async def _per_job(
    queue: Queue, ids: Sequence[str], command: Callable[[Any, Queue, str], None], lua: LuaScript | None = None
) -> list[Any]:
    """One pipelined command per job id, sent to the queue (or partition) that holds the job: one pipeline
    per partition, all at once (on a cluster each on its shard). Replies in `ids` order."""
    groups: dict[int, tuple[Queue, list[int]]] = {}
    for n, job_id in enumerate(ids):
        part = queue.partition_for(job_id)
        groups.setdefault(id(part), (part, []))[1].append(n)
    replies: list[Any] = [None] * len(ids)

    async def run(part: Queue, positions: list[int]) -> None:
        if lua is not None:
            await part._ensure_loaded(lua)
        pipe = part.client.pipeline(transaction=False)
        for n in positions:
            command(pipe, part, ids[n])
        for n, reply in zip(positions, await pipe.execute(), strict=True):
            replies[n] = reply

    await asyncio.gather(*(run(part, positions) for part, positions in groups.values()))
    return replies


def _hget_name(pipe: Any, part: Queue, job_id: str) -> None:
    pipe.hget(part.keys.job(job_id), "name")


def _cut_preview(head: str, size: int, limit: int = PREVIEW_CHARS) -> str:
    """The preview of a field of which only `head` (JSON text) was read: its start, marked as cut."""
    return head[: limit - 1] + "…" if size > len(head) or len(head) > limit else head


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A value as one short line of JSON (for tables)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _json_text(value, indent=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_text(value: Any, *, indent: bool = True) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    try:
        return orjson.dumps(value, option=option | orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:
        return repr(value)


def _summary(job: Job[Any] | dict[str, Any], state: str | None, cut: Cut | None = None) -> dict[str, Any]:
    if isinstance(job, dict):
        return {**job, "state": state}
    cut = cut or {}
    reason = job.failed_reason or ""
    if "failedReason" in cut:
        reason = cut["failedReason"][0]
    try:
        attempts: int | None = job.attempts
    except (TypeError, ValueError):
        attempts = None  # corrupt stored options: shown as unknown rather than breaking the page
    return {
        "id": job.id,
        "name": job.name,
        "state": state,
        "timestamp": job.timestamp,
        "processed_on": job.processed_on,
        "finished_on": job.finished_on,
        "due_on": job.due_on,
        "attempts_made": job.attempts_made,
        "attempts": attempts,
        "priority": job.priority,
        "progress": _cut_preview(*cut["progress"]) if "progress" in cut else job.progress,
        "failed_reason": reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…",
        "data_preview": _cut_preview(*cut["data"]) if "data" in cut else preview(job.data),
        "result_preview": (
            _cut_preview(*cut["returnvalue"]) if "returnvalue" in cut else preview(job.return_value)
        ),
        "worker": job.worker,
    }


async def list_jobs(
    queue: Queue, state: str, *, start: int = 0, limit: int = 25, name: str | None = None
) -> JobListing:
    """One page of a state's jobs, most recently added first (failed/completed: last finished first;
    prioritized: in the order they will run).

    Args:
        queue: the queue.
        state: one of `STATES`.
        start: index of the first job of the page.
        limit: page size.
        name: keep only jobs whose name contains this text (case-insensitive). The newest
            `NAME_SCAN_LIMIT` jobs of the state are searched; `complete` is False when there were more.

    Returns:
        {"queue", "state", "start", "limit", "total", "complete", "name", "counts", "paused", "jobs"}.
    """
    _check_state(state)
    start, limit = max(start, 0), max(min(limit, 1000), 1)
    summary = await queue_summary(queue)
    state_total: int = summary["counts"][state]
    complete = True
    if name:
        ids, complete = await _ids_by_name(queue, state, state_total, name)
        total = len(ids)
        ids = ids[start : start + limit]
    else:
        total = state_total
        ids = await _ids_newest_first(queue, state, start, start + limit - 1, state_total)
    jobs = [_summary(job, state, cut) for job, cut in await _load(queue, ids)]
    return {
        "queue": queue.name,
        "state": state,
        "start": start,
        "limit": limit,
        "total": total,
        "complete": complete,
        "name": name or None,
        "counts": summary["counts"],
        "paused": summary["paused"],
        "jobs": jobs,
    }


async def _ids_by_name(queue: Queue, state: str, state_total: int, needle: str) -> tuple[list[str], bool]:
    """Ids whose job name contains `needle` (newest first), and whether the whole state was scanned."""
    needle = needle.casefold()
    matched: list[str] = []
    scanned = 0
    limit = min(state_total, NAME_SCAN_LIMIT)
    while scanned < limit:
        chunk = await _ids_newest_first(
            queue, state, scanned, min(scanned + _SCAN_CHUNK, limit) - 1, state_total
        )
        if not chunk:
            break
        names = await _per_job(
            queue, chunk, lambda pipe, part, job_id: pipe.hget(part.keys.job(job_id), "name")
        )
        for job_id, raw in zip(chunk, names, strict=True):
            if raw is None:
                continue
            job_name = as_text(raw)
            if needle in job_name.casefold():
                matched.append(job_id)
        scanned += len(chunk)
    return matched, scanned >= state_total


async def job_detail(queue: Queue, job_id: str) -> dict[str, Any]:
    """Everything about one job: its fields, state, logs, and which actions apply.

    Raises:
        JobNotFoundError: no such job (never added, removed, or trimmed by retention).
    """
    try:
        job = await queue.get_job(job_id)
    except CorruptJobError as exc:
        state = await queue.get_job_state(job_id)
        return {"queue": queue.name, "id": job_id, "state": str(state), "corrupt": str(exc), "actions": []}
    if job is None:
        raise JobNotFoundError(
            f"no job {job_id!r} in queue {queue.name!r} (removed, or trimmed by retention)"
        )
    state, logs = await asyncio.gather(queue.get_job_state(job_id), queue.get_job_logs(job_id))
    state_name = str(state)
    detail = job.to_dict()
    detail.update(
        queue=queue.name,
        state=state_name,
        attempts=job.attempts,
        logs=logs,
        due_on=job.due_on,
        actions=[action for action, states in ACTION_STATES.items() if state_name in states],
        flow=await flow_summary(queue, job),
    )
    return detail


async def find_job(source: QueueSource, job_id: str, queue: str | None = None) -> list[dict[str, Any]]:
    """Where a job with this id exists: [{"queue", "id", "name", "state"}], in one or every queue."""
    names = [queue] if queue else await source.names()
    found: list[dict[str, Any]] = []
    for name in names:
        q = await source.get(name)
        part = q.partition_for(job_id)
        raw = await part.client.hget(part.keys.job(job_id), "name")
        if raw is None:
            continue
        state = await q.get_job_state(job_id)
        job_name = as_text(raw)
        found.append({"queue": name, "id": job_id, "name": job_name, "state": str(state)})
    return found


def _scheduler(info: JobSchedulerInfo) -> SchedulerRow:
    return {
        "id": info.id,
        "name": info.name,
        "pattern": info.cron,
        "every_seconds": info.every,
        "tz": info.tz,
        "limit": info.limit,
        "iterations": info.iteration_count,
        "next_run": info.next_run_ms,
        "end_date": None if info.end_date is None else int(info.end_date.timestamp() * 1000),
        "data_preview": preview(info.data),
    }


async def list_schedulers(queue: Queue) -> SchedulerListing:
    """The queue's job schedulers, the next due first."""
    schedulers = [_scheduler(info) for info in await queue.get_job_schedulers()]
    schedulers.sort(key=lambda s: (s["next_run"] is None, s["next_run"] or 0, s["id"]))
    return {"queue": queue.name, "supported": True, "schedulers": schedulers}


# --- actions ---------------------------------------------------------------------------------------


def _done(message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": True, "message": message, **extra}


async def _state_of(queue: Queue, job_id: str) -> str:
    state = str(await queue.get_job_state(job_id))
    if state == JobState.UNKNOWN:
        raise JobNotFoundError(f"no job {job_id!r} in queue {queue.name!r}")
    return state


async def retry_job(queue: Queue, job_id: str) -> dict[str, Any]:
    """Move a failed (or completed) job back to waiting for a fresh set of attempts."""
    state = await _state_of(queue, job_id)
    if state not in ACTION_STATES["retry"]:
        raise ActionError(f"job {job_id} is {state}; only failed or completed jobs can be retried")
    job = await queue.get_job(job_id)
    if job is None or not await job.retry(state):
        raise ActionError(f"job {job_id} changed state before it could be retried; reload and try again")
    return _done(f"Job {job_id} retried", job_id=job_id)


async def retry_all(queue: Queue, state: str = "failed") -> dict[str, Any]:
    """Retry every job of a finished state."""
    if state not in ACTION_STATES["retry"]:
        raise ActionError(f"only failed or completed jobs can be retried, not {state!r}")
    count = await queue.retry_jobs(state)
    return _done(f"Retried {count} {state} job{'' if count == 1 else 's'}", count=count)


async def promote_job(queue: Queue, job_id: str) -> dict[str, Any]:
    """Run a delayed job now."""
    state = await _state_of(queue, job_id)
    if state != "delayed":
        raise ActionError(f"job {job_id} is {state}; only delayed jobs can be promoted")
    job = await queue.get_job(job_id)
    if job is None or not await job.promote():
        raise ActionError(f"job {job_id} changed state before it could be promoted; reload and try again")
    return _done(f"Job {job_id} promoted", job_id=job_id)


async def promote_all(queue: Queue) -> dict[str, Any]:
    """Run every delayed job now."""
    count = await queue.promote_jobs()
    return _done(f"Promoted {count} delayed job{'' if count == 1 else 's'}", count=count)


async def remove_job(queue: Queue, job_id: str) -> dict[str, Any]:
    """Delete a job that is not running."""
    try:
        removed = await queue.remove(job_id)
    except RuntimeError as exc:
        raise ActionError(str(exc)) from None
    if not removed:
        raise JobNotFoundError(f"no job {job_id!r} in queue {queue.name!r}")
    return _done(f"Job {job_id} removed", job_id=job_id)


async def clean_queue(
    queue: Queue, state: str = "completed", grace: float = 0, limit: int = 1000
) -> dict[str, Any]:
    """Remove up to `limit` jobs of `state` older than `grace` seconds."""
    if state not in CLEANABLE_STATES:
        raise ActionError(f"clean takes a state among {', '.join(CLEANABLE_STATES)} (never active jobs)")
    if grace < 0:
        raise ActionError("grace must be >= 0 seconds")
    if limit < 1:
        raise ActionError("limit must be >= 1")
    ids = await queue.clean(grace, limit, state)
    n = len(ids)
    return _done(f"Removed {n} {state} job{'' if n == 1 else 's'}", count=n, ids=ids)


async def pause_queue(queue: Queue) -> dict[str, Any]:
    """Stop workers from taking new jobs of this queue."""
    await queue.pause()
    return _done(f"Queue {queue.name} paused", paused=True)


async def resume_queue(queue: Queue) -> dict[str, Any]:
    """Let workers take jobs of this queue again."""
    await queue.resume()
    return _done(f"Queue {queue.name} resumed", paused=False)


async def remove_scheduler(queue: Queue, scheduler_id: str) -> dict[str, Any]:
    """Delete a job scheduler (jobs it already added stay)."""
    if not await queue.remove_job_scheduler(scheduler_id):
        raise JobNotFoundError(f"no scheduler {scheduler_id!r} in queue {queue.name!r}")
    return _done(f"Scheduler {scheduler_id} removed", scheduler_id=scheduler_id)


def error_text(exc: BaseException) -> str:
    """An exception as a message safe to show: any URL password is hidden."""
    return redact_url(str(exc) or type(exc).__name__)


def pretty_json(value: Any) -> str:
    """`value` as indented JSON text (for display only)."""
    return _json_text(value)


# --- adding and queue-wide actions (ops CLI `add`, `cancel`, `drain`, `obliterate`; dashboard add) ----


async def add_job(
    queue: Queue, name: str, data: Any = None, opts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Add a job (`opts`: job options such as delay, priority, attempts, job_id); nothing is written on
    bad input."""
    options = dict(opts or {})
    if "repeat" in options:
        raise ActionError("repeat makes a job scheduler; add schedulers from code (@every / @cron)")
    try:
        job = await queue.add(name, data, **options)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"job not added: {error_text(exc)}") from None
    return _done(f"Job {job.id} added to {queue.name}", job_id=job.id, queue=queue.name)


async def cancel_job(queue: Queue, job_id: str) -> dict[str, Any]:
    """Cancel a job: a pending one fails at once; an active one is stopped by its worker."""
    state = await _state_of(queue, job_id)
    if state in ("completed", "failed"):
        raise ActionError(f"job {job_id} is {state} already; nothing to cancel")
    if not await queue.cancel(job_id):
        raise ActionError(f"job {job_id} finished before it could be cancelled")
    message = f"Job {job_id} cancellation requested" if state == "active" else f"Job {job_id} cancelled"
    return _done(message, job_id=job_id, was=state)


async def drain_queue(queue: Queue, *, delayed: bool = False) -> dict[str, Any]:
    """Remove every job waiting to run (and the delayed ones with `delayed`); active jobs finish."""
    count = await queue.drain(delayed=delayed)
    return _done(f"Removed {count} waiting job{'' if count == 1 else 's'} from {queue.name}", count=count)


async def obliterate_queue(queue: Queue, *, force: bool = False) -> dict[str, Any]:
    """Delete the queue and every job of it (refused while jobs are active unless `force`)."""
    try:
        keys = await queue.obliterate(force=force)
    except RuntimeError as exc:
        raise ActionError(f"{error_text(exc)} (nestq obliterate --force)") from None
    return _done(f"Queue {queue.name} obliterated ({keys} keys deleted)", keys=keys)
