"""The dashboard's data layer: plain async functions over `Queue`s that return JSON-ready dicts.

The HTML pages, the JSON API and the ops CLI all go through these functions, so what a person sees
in the browser, what a script reads from the API and what `nestq jobs` prints are the same data.
Nothing here knows about HTTP or terminals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import orjson
from redis.asyncio import Redis

from framework.errors import CorruptJobError, NestqError
from framework.queue import Job, Queue
from framework.queue.flow import flow_summary
from framework.queue.job import JobState
from framework.queue.queue import ALL_STATES
from framework.queue.scripts import script
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
    "NotFoundError",
    "QueueSource",
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


class NotFoundError(NestqError, LookupError):
    """No such queue, job or scheduler."""


class ActionError(NestqError, ValueError):
    """An action that does not apply (retry a waiting job, clean active jobs, ...)."""


# --- which queues exist ----------------------------------------------------------------------------


@runtime_checkable
class QueueSource(Protocol):
    """Where the dashboard and the CLI find queues by name."""

    async def names(self) -> list[str]:
        """Every queue name, sorted."""
        ...

    async def get(self, name: str) -> Queue:
        """The queue called `name`; raises NotFoundError for an unknown name."""
        ...

    async def close(self) -> None:
        """Release what the source opened itself."""
        ...


class StaticQueues:
    """A fixed list of `Queue` objects (closed by their owner, not here)."""

    def __init__(self, queues: Iterable[Queue]) -> None:
        self._queues: dict[str, Queue] = {}
        for queue in queues:
            if not isinstance(queue, Queue):
                raise TypeError(f"expected Queue objects, got {queue!r}")
            self._queues[queue.name] = queue

    async def names(self) -> list[str]:
        return sorted(self._queues)

    async def get(self, name: str) -> Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise _unknown_queue(name, sorted(self._queues)) from None

    async def close(self) -> None:
        return None


class AppQueues:
    """The queues an `Application` registers (`QueueModule.register_queue(...)`)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def _names(self) -> list[str]:
        return sorted(self._app.exploration.queues)

    async def names(self) -> list[str]:
        return self._names()

    async def get(self, name: str) -> Queue:
        if name not in self._app.exploration.queues:
            raise _unknown_queue(name, self._names())
        queue = self._app.queue(name)
        assert isinstance(queue, Queue)
        return queue

    async def close(self) -> None:
        return None


class DiscoveredQueues:
    """Queues found on the server by their keys (`{prefix:name}:meta|id|events`).

    Queues are created on the given client (shared, not closed here); the key scan is repeated at most
    every `ttl` seconds, and at once when an unknown name is asked for.
    """

    def __init__(self, client: Redis, prefix: str, *, ttl: float = 5.0) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self._names: list[str] = []
        self._scanned_at = -float("inf")
        self._queues: dict[str, Queue] = {}

    async def _scan(self) -> list[str]:
        self._names = await discover_queue_names(self.client, self.prefix)
        self._scanned_at = time.monotonic()
        return self._names

    async def names(self) -> list[str]:
        if time.monotonic() - self._scanned_at > self.ttl:
            await self._scan()
        return list(self._names)

    async def get(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is not None:
            return queue
        names = await self.names()
        if name not in names:
            names = await self._scan()
        if name not in names:
            raise _unknown_queue(name, names)
        queue = self._queues[name] = Queue(name, connection=self.client, prefix=self.prefix)
        return queue

    async def close(self) -> None:
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()


class CombinedQueues:
    """Several sources as one: names are merged, a name is looked up in the first source that has it."""

    def __init__(self, *sources: QueueSource) -> None:
        self._sources = sources

    async def names(self) -> list[str]:
        names: set[str] = set()
        for source in self._sources:
            names.update(await source.names())
        return sorted(names)

    async def get(self, name: str) -> Queue:
        for source in self._sources:
            try:
                return await source.get(name)
            except NotFoundError:
                continue
        raise _unknown_queue(name, await self.names())

    async def close(self) -> None:
        for source in self._sources:
            await source.close()


def source_of(queues: object) -> QueueSource:
    """A `QueueSource` for an `Application`, a list of `Queue`, or a source given as is."""
    if isinstance(queues, QueueSource) and not isinstance(queues, type):
        return queues
    if isinstance(queues, Queue):
        return StaticQueues([queues])
    if hasattr(queues, "exploration") and hasattr(queues, "queue"):
        return AppQueues(queues)
    if isinstance(queues, Iterable) and not isinstance(queues, str | bytes | Mapping):
        return StaticQueues(list(queues))
    raise TypeError(f"expected an Application or a list of Queue, got {queues!r}")


def _unknown_queue(name: str, known: Sequence[str]) -> NotFoundError:
    return NotFoundError(f"no queue {name!r} (queues: {', '.join(known) or 'none'})")


_DISCOVERY_SUFFIXES = (":meta", ":id", ":events", ":workers")  # workers: a queue only consumed so far


async def discover_queue_names(client: Redis, prefix: str) -> list[str]:
    """Names of the queues that have keys on the server under `prefix` (one SCAN of the key space)."""
    head = "{" + prefix + ":"
    pattern = _escape_glob(head) + "*}:[miew]*"
    names: set[str] = set()
    async for raw in client.scan_iter(match=pattern, count=1000):
        key = as_text(raw)
        if not key.startswith(head) or not key.endswith(_DISCOVERY_SUFFIXES):
            continue
        name, sep, rest = key[len(head) :].partition("}")
        if sep and name and rest in _DISCOVERY_SUFFIXES and "{" not in name:
            names.add(name)
    return sorted(names)


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


# --- reading ---------------------------------------------------------------------------------------


async def queue_summary(queue: Queue) -> dict[str, Any]:
    """Counts per state, the total and the paused flag of one queue."""
    counts, paused = await asyncio.gather(queue.get_job_counts(), queue.is_paused())
    ordered = {state: counts.get(state, 0) for state in STATES}
    return {"name": queue.name, "counts": ordered, "total": sum(ordered.values()), "paused": paused}


async def list_queues(source: QueueSource) -> list[dict[str, Any]]:
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
    await queue._ensure_loaded(lua)
    pipe = queue.client.pipeline(transaction=False)
    for job_id in ids:
        pipe.execute_command("EVALSHA", lua.sha, 1, queue.keys.job(job_id), SUMMARY_BYTES)
    out: list[tuple[Job[Any] | dict[str, Any], Cut]] = []
    for job_id, flat in zip(ids, await pipe.execute(), strict=True):
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
            job = Job.from_hash(queue, job_id, fields)
        except CorruptJobError as exc:
            out.append(({"id": job_id, "name": "?", "corrupt": str(exc)}, {}))
            continue
        out.append((job, cut))
    return out


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
) -> dict[str, Any]:
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
        pipe = queue.client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hget(queue.keys.job(job_id), "name")
        for job_id, raw in zip(chunk, await pipe.execute(), strict=True):
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
        NotFoundError: no such job (never added, removed, or trimmed by retention).
    """
    try:
        job = await queue.get_job(job_id)
    except CorruptJobError as exc:
        state = await queue.get_job_state(job_id)
        return {"queue": queue.name, "id": job_id, "state": str(state), "corrupt": str(exc), "actions": []}
    if job is None:
        raise NotFoundError(f"no job {job_id!r} in queue {queue.name!r} (removed, or trimmed by retention)")
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
        raw = await q.client.hget(q.keys.job(job_id), "name")
        if raw is None:
            continue
        state = await q.get_job_state(job_id)
        job_name = as_text(raw)
        found.append({"queue": name, "id": job_id, "name": job_name, "state": str(state)})
    return found


def _scheduler_fields(item: Any) -> dict[str, Any]:
    if hasattr(item, "to_dict"):
        raw = item.to_dict()
    elif hasattr(item, "model_dump"):
        raw = item.model_dump(mode="json")
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        raw = dataclasses.asdict(item)
    elif isinstance(item, Mapping):
        raw = dict(item)
    else:
        raw = {k: v for k, v in vars(item).items() if not k.startswith("_")}
    return {str(k): v for k, v in raw.items()}


def _first(fields: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = fields.get(name)
        if value is not None:
            return value
    return None


def _to_ms(value: Any) -> int | None:
    """A time as ms since the epoch, from ms, seconds, a datetime or an ISO string."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, int | float):
        return int(value) if value > 1e11 else int(value * 1000)
    return None


def _scheduler(item: Any) -> dict[str, Any]:
    fields = _scheduler_fields(item)
    repeat = fields.get("repeat")
    repeat_fields = _scheduler_fields(repeat) if repeat is not None and not isinstance(repeat, str) else {}
    template = fields.get("template")
    template_fields = _scheduler_fields(template) if isinstance(template, Mapping) else {}
    both = {**template_fields, **repeat_fields, **fields}
    every_ms = _first(both, "every_ms", "every_millis")
    every = _first(both, "every")  # nestq durations are seconds
    every_seconds = every_ms / 1000 if isinstance(every_ms, int | float) else every
    return {
        "id": str(_first(fields, "id", "key", "scheduler_id") or ""),
        "name": _first(both, "name", "job_name"),
        "pattern": _first(both, "cron", "pattern"),
        "every_seconds": every_seconds if isinstance(every_seconds, int | float) else None,
        "tz": _first(both, "tz", "timezone"),
        "limit": _first(both, "limit"),
        "iterations": _first(both, "iteration_count", "iterations", "count"),
        "next_run": _to_ms(_first(fields, "next_run_ms", "next", "next_run", "next_millis", "next_run_at")),
        "end_date": _to_ms(_first(both, "end_date")),
        "data_preview": preview(_first(both, "data")),
    }


def schedulers_supported(queue: Queue) -> bool:
    """Whether this version of the queue core has job schedulers."""
    return hasattr(queue, "get_job_schedulers")


async def list_schedulers(queue: Queue) -> dict[str, Any]:
    """The queue's job schedulers with their next run: {"supported", "schedulers": [...]}."""
    if not schedulers_supported(queue):
        return {"queue": queue.name, "supported": False, "schedulers": []}
    items = await getattr(queue, "get_job_schedulers")()  # noqa: B009 - added by the scheduler work
    schedulers = [_scheduler(item) for item in items]
    schedulers.sort(key=lambda s: (s["next_run"] is None, s["next_run"] or 0, s["id"]))
    return {"queue": queue.name, "supported": True, "schedulers": schedulers}


# --- actions ---------------------------------------------------------------------------------------


def _done(message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": True, "message": message, **extra}


async def _state_of(queue: Queue, job_id: str) -> str:
    state = str(await queue.get_job_state(job_id))
    if state == JobState.UNKNOWN:
        raise NotFoundError(f"no job {job_id!r} in queue {queue.name!r}")
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
        raise NotFoundError(f"no job {job_id!r} in queue {queue.name!r}")
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
    if not schedulers_supported(queue):
        raise ActionError("this version of nestq has no job schedulers")
    removed = await getattr(queue, "remove_job_scheduler")(scheduler_id)  # noqa: B009
    if removed is not None and not removed:
        raise NotFoundError(f"no scheduler {scheduler_id!r} in queue {queue.name!r}")
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
