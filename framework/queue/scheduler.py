"""Job schedulers: cron and `every` schedules kept in Redis, one job per tick however many processes run.

A scheduler is a hash (`{prefix:queue}:scheduler:<id>`) plus an entry in the queue's `schedulers` zset
(score: its next run in ms). It always has at most one pending job, a delayed job with the deterministic
id `repeat:<scheduler id>:<run at ms>` whose hash names its scheduler (field `rjk`). When a worker takes
that job, `schedule_next` computes the following run in Python (cron needs Python) and one Lua script adds
its job only if the scheduler still exists with the same definition and this run is still its latest:
N processes racing, restarting or retrying compute the same id, so a tick never gets two jobs. There is no
beat process: the workers of the queue keep every schedule going.

Missed ticks: the next run is computed from the time the current run's job is *taken*, not from when it
was due. When every worker was down for a while, the overdue job runs once on recovery and the schedule
goes on from then: a missed stretch costs one run, never one run per missed tick.

DST: cron patterns are read in the scheduler's time zone (see `framework.queue.cron`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import orjson
import structlog
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.queue import serialization
from framework.queue.cron import next_cron_time, resolve_tz, validate_cron
from framework.queue.options import JobOptions, Repeat, build_options
from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.job import Job
    from framework.queue.queue import Queue

log = structlog.get_logger("nestq.scheduler")

RepeatLike = Repeat | Mapping[str, Any]
OptionsLike = JobOptions | Mapping[str, Any] | None

SCHEDULER_JOB_PREFIX: Final = "repeat:"
SCHEDULER_FIELD: Final = "rjk"  # job hash field naming the scheduler (BullMQ's repeatJobKey)

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MS = timedelta(milliseconds=1)
_NOT_FOR_SCHEDULED_JOBS = ("job_id", "delay", "repeat")
_SCHEDULE_NEXT_ATTEMPTS = 4
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


# -- schedules ------------------------------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (naive is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return (moment - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of `ms` milliseconds since the epoch."""
    return _EPOCH + ms * _MS


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated `Repeat`, in milliseconds: computes the runs of a scheduler.

    Runs of `every`: with a start date, start_date + k * every (k >= 0); without, anchor + k * every
    (k >= 1, or k >= 0 with `immediately`) where the anchor is the time the scheduler was created. Runs of
    `cron`: every match at or after the start date. `immediately` adds a first run at once (or at the start
    date). No run is made after the end date, nor more than `limit` runs in all.
    """

    cron: str | None = None
    tz: str | None = None
    every_ms: int | None = None
    limit: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    immediately: bool = False

    @classmethod
    def from_repeat(cls, repeat: RepeatLike) -> Schedule:
        """Validate a `Repeat` (or a dict of its fields); ValueError naming the field when invalid."""
        if not isinstance(repeat, Repeat):
            if not isinstance(repeat, Mapping):
                raise ValueError(f"repeat: expected Repeat(cron=... or every=...), got {repeat!r}")
            try:
                repeat = Repeat.model_validate(dict(repeat))
            except ValidationError as exc:
                raise ValueError(_explain(exc)) from None
        cron = validate_cron(repeat.cron) if repeat.cron is not None else None
        every_ms: int | None = None
        if repeat.every is not None:
            every_ms = round(repeat.every * 1000)
            if every_ms < 1:
                raise ValueError(f"repeat.every: must be at least 1 ms, got {repeat.every!r} s")
        elif cron is None:
            raise ValueError("repeat: give exactly one of cron= or every=")
        zone = resolve_tz(repeat.tz) if repeat.tz is not None else None
        start = None if repeat.start_date is None else to_ms(_localize(repeat.start_date, zone))
        end = None if repeat.end_date is None else to_ms(_localize(repeat.end_date, zone))
        if start is not None and end is not None and end <= start:
            raise ValueError(
                f"repeat.end_date: must be after start_date ({repeat.end_date} <= {repeat.start_date})"
            )
        return cls(cron, repeat.tz, every_ms, repeat.limit, start, end, repeat.immediately)

    def first_run(self, now_ms: int) -> int | None:
        """The first run of a scheduler created at `now_ms`, or None when none falls before the end date."""
        start = self.start_ms
        if self.immediately:
            first = max(now_ms, start or now_ms)
        elif self.every_ms is not None:
            if start is None:
                first = now_ms + self.every_ms
            elif start >= now_ms:
                first = start
            else:
                first = self._next_every(now_ms - 1, start)
        else:
            first = self._next_cron(now_ms if start is None else max(now_ms, start - 1))
        return self._within_end(first)

    def anchor(self, now_ms: int) -> int:
        """Origin of the `every` grid for a scheduler created at `now_ms`."""
        return self.start_ms if self.start_ms is not None else now_ms

    def next_run(self, after_ms: int, anchor_ms: int) -> int | None:
        """The first run strictly after `after_ms`, or None when the end date comes first."""
        if self.every_ms is not None:
            return self._within_end(self._next_every(after_ms, anchor_ms))
        return self._within_end(self._next_cron(after_ms))

    def _next_every(self, after_ms: int, anchor_ms: int) -> int:
        assert self.every_ms is not None
        if after_ms < anchor_ms:
            return anchor_ms
        return anchor_ms + ((after_ms - anchor_ms) // self.every_ms + 1) * self.every_ms

    def _next_cron(self, after_ms: int) -> int:
        assert self.cron is not None
        return to_ms(next_cron_time(self.cron, from_ms(after_ms), self.tz))

    def _within_end(self, run_ms: int) -> int | None:
        return None if self.end_ms is not None and run_ms > self.end_ms else run_ms

    # -- storage --------------------------------------------------------------------------------------

    def to_fields(self) -> dict[str, str]:
        return {
            "cron": self.cron or "",
            "tz": self.tz or "",
            "every": "" if self.every_ms is None else str(self.every_ms),
            "limit": "" if self.limit is None else str(self.limit),
            "startDate": "" if self.start_ms is None else str(self.start_ms),
            "endDate": "" if self.end_ms is None else str(self.end_ms),
            "immediately": "1" if self.immediately else "0",
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Schedule:
        return cls(
            cron=fields.get("cron") or None,
            tz=fields.get("tz") or None,
            every_ms=_opt_int(fields.get("every")),
            limit=_opt_int(fields.get("limit")),
            start_ms=_opt_int(fields.get("startDate")),
            end_ms=_opt_int(fields.get("endDate")),
            immediately=fields.get("immediately") == "1",
        )


def _localize(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """A naive start/end date is read in the scheduler's time zone (UTC without one)."""
    return moment.replace(tzinfo=zone or _UTC) if moment.tzinfo is None else moment


def _opt_int(value: str | None) -> int | None:
    return int(value) if value else None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(["repeat", *(str(p) for p in err["loc"])])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


# -- what a scheduler looks like from outside ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSchedulerInfo:
    """A job scheduler as stored in Redis (see `Queue.get_job_schedulers`).

    Attributes:
        id: the scheduler's id.
        name: name of the jobs it creates.
        cron: its cron pattern, or None for an `every` schedule.
        every: its interval in seconds, or None for a cron schedule.
        tz: time zone of the cron pattern (None: UTC).
        limit: most runs it makes, or None.
        start_date, end_date: bounds of the schedule (aware, UTC), or None.
        immediately: whether its first run was made at once.
        iteration_count: runs made so far (jobs created).
        next_run_ms: when the next run is due (ms since the epoch), None once the schedule has ended.
        data: data of the jobs it creates.
        opts: job options of the jobs it creates.
    """

    id: str
    name: str
    cron: str | None
    every: float | None
    tz: str | None
    limit: int | None
    start_date: datetime | None
    end_date: datetime | None
    immediately: bool
    iteration_count: int
    next_run_ms: int | None
    data: Any = None
    opts: dict[str, Any] = field(default_factory=dict)

    @property
    def next_run(self) -> datetime | None:
        """When the next run is due (aware, UTC), None once the schedule has ended."""
        return None if self.next_run_ms is None else from_ms(self.next_run_ms)

    @property
    def pattern(self) -> str | None:
        """The cron pattern (BullMQ's name for it)."""
        return self.cron

    @property
    def repeat(self) -> Repeat:
        """The schedule as a `Repeat`, e.g. to upsert it elsewhere."""
        return Repeat(
            cron=self.cron,
            tz=self.tz,
            every=self.every,
            limit=self.limit,
            start_date=self.start_date,
            end_date=self.end_date,
            immediately=self.immediately,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for the dashboard and the CLI)."""
        return {
            "id": self.id,
            "name": self.name,
            "cron": self.cron,
            "every": self.every,
            "tz": self.tz,
            "limit": self.limit,
            "start_date": None if self.start_date is None else self.start_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
            "immediately": self.immediately,
            "iteration_count": self.iteration_count,
            "next_run_ms": self.next_run_ms,
            "next_run": None if self.next_run is None else self.next_run.isoformat(),
            "data": self.data,
            "opts": self.opts,
        }

    @classmethod
    def from_fields(cls, scheduler_id: str, fields: Mapping[str, str]) -> JobSchedulerInfo:
        schedule = Schedule.from_fields(fields)
        opts = serialization.loads(fields.get("opts") or "{}")
        done = fields.get("done") == "1"
        return cls(
            id=scheduler_id,
            name=fields.get("name", ""),
            cron=schedule.cron,
            every=None if schedule.every_ms is None else schedule.every_ms / 1000,
            tz=schedule.tz,
            limit=schedule.limit,
            start_date=None if schedule.start_ms is None else from_ms(schedule.start_ms),
            end_date=None if schedule.end_ms is None else from_ms(schedule.end_ms),
            immediately=schedule.immediately,
            iteration_count=int(fields.get("ic") or 0),
            next_run_ms=None if done else _opt_int(fields.get("next")),
            data=serialization.loads(fields.get("data")),
            opts=opts if isinstance(opts, dict) else {},
        )


# -- ids ------------------------------------------------------------------------------------------------


def check_scheduler_id(scheduler_id: object) -> str:
    """Return the id, or raise ValueError: a non-empty string without ':' (as for job ids)."""
    if not isinstance(scheduler_id, str) or not scheduler_id:
        raise ValueError(f"job scheduler id must be a non-empty string, got {scheduler_id!r}")
    if ":" in scheduler_id:
        raise ValueError(
            f"job scheduler id {scheduler_id!r} contains ':', which is reserved for Redis key names"
        )
    return scheduler_id


def default_scheduler_id(name: str, repeat: RepeatLike) -> str:
    """A stable id for `queue.add(name, data, repeat=...)` without a job_id: from the name and the pattern."""
    schedule = Schedule.from_repeat(repeat)
    key = orjson.dumps([name, schedule.cron, schedule.tz, schedule.every_ms]).decode()
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return f"{name.replace(':', '-')}-{digest}"


def scheduler_job_id(scheduler_id: str, run_ms: int) -> str:
    """Id of the job of one run: `repeat:<scheduler id>:<run at ms>`."""
    return f"{SCHEDULER_JOB_PREFIX}{scheduler_id}:{run_ms}"


def parse_scheduler_job_id(job_id: str) -> tuple[str, str] | None:
    """(scheduler id, run at ms as written) of a scheduler's job id, or None for any other job."""
    if not job_id.startswith(SCHEDULER_JOB_PREFIX):
        return None
    scheduler_id, _, run_at = job_id[len(SCHEDULER_JOB_PREFIX) :].rpartition(":")
    if not scheduler_id or not run_at.isdigit():
        return None
    return scheduler_id, run_at


# -- operations (one small function per script) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """What every job of a scheduler is made of."""

    name: str
    data_json: str
    opts_json: str
    priority: int
    lifo: bool


def _template(queue: Queue, name: str, data: Any, opts: OptionsLike) -> _Template:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: the job name must be a non-empty string, got {name!r}")
    if isinstance(opts, JobOptions):
        given = opts.model_dump(exclude_unset=True)
    elif opts is None:
        given = {}
    elif isinstance(opts, Mapping):
        given = dict(opts)
    else:
        raise ValueError(f"opts: expected job options (a dict or JobOptions), got {opts!r}")
    for key in _NOT_FOR_SCHEDULED_JOBS:
        if given.get(key) not in (None, 0, 0.0):
            raise ValueError(
                f"opts.{key}: not for a scheduler's jobs (ids and run times come from the schedule; "
                "use Repeat(start_date=...) to start later)"
            )
        given.pop(key, None)
    options = build_options(queue.default_job_options, given)
    opts_json = serialization.dumps(
        options.model_dump(mode="json", exclude_defaults=True, exclude=set(_NOT_FOR_SCHEDULED_JOBS)),
        what="opts",
    )
    data_json = serialization.dumps(data, what="data")
    return _Template(name, data_json, opts_json, options.priority, options.lifo)


def _version(schedule: Schedule, template: _Template) -> str:
    definition = [schedule.to_fields(), template.name, template.data_json, template.opts_json]
    return hashlib.sha1(orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


async def upsert_job_scheduler(
    queue: Queue,
    scheduler_id: str,
    repeat: RepeatLike,
    *,
    name: str | None = None,
    data: Any = None,
    opts: OptionsLike = None,
) -> Job[Any] | None:
    """Create or update a scheduler; return its pending job (or its last one once the schedule ended).

    See `Queue.upsert_job_scheduler`.
    """
    sid = check_scheduler_id(scheduler_id)
    schedule = Schedule.from_repeat(repeat)
    template = _template(queue, sid if name is None else name, data, opts)
    version = _version(schedule, template)
    now = _now_ms()
    first = schedule.first_run(now)
    fields = {
        **schedule.to_fields(),
        "name": template.name,
        "data": template.data_json,
        "opts": template.opts_json,
        "priority": str(template.priority),
        "lifo": "1" if template.lifo else "0",
        "anchor": str(schedule.anchor(now)),
        "createdAt": str(now),
    }
    k = queue.keys
    args: list[Any] = [queue.base, sid, version, now, "" if first is None else first, queue.max_events]
    for key, value in fields.items():
        args += [key, value]
    job_id, status = await script("upsertJobScheduler")(
        queue.client,
        k.upsert_scheduler_keys(sid),
        args,
    )
    job_id = as_text(job_id)
    outcome = {0: "unchanged", 1: "created", 2: "replaced", 3: "restarted"}.get(int(status), str(status))
    log.info(
        f"job scheduler {outcome}",
        queue=queue.name,
        scheduler=sid,
        cron=schedule.cron,
        every_ms=schedule.every_ms,
        job_id=job_id or None,
    )
    return await queue.get_job(job_id) if job_id else None


async def remove_job_scheduler(queue: Queue, scheduler_id: str) -> bool:
    """Delete a scheduler and its pending job (an active one finishes). False when there was none."""
    k = queue.keys
    removed = await script("removeJobScheduler")(
        queue.client,
        k.remove_scheduler_keys(scheduler_id),
        [queue.base, scheduler_id, queue.max_events],
    )
    return bool(removed)


async def get_job_scheduler(queue: Queue, scheduler_id: str) -> JobSchedulerInfo | None:
    """One scheduler, or None."""
    raw = await queue.client.hgetall(queue.keys.scheduler(scheduler_id))
    if not raw:
        return None
    return JobSchedulerInfo.from_fields(scheduler_id, _decode(raw))


async def get_job_schedulers(queue: Queue, start: int = 0, end: int = -1) -> list[JobSchedulerInfo]:
    """Schedulers by next run (ended ones last), paginated by [start, end]."""
    ids = [as_text(x) for x in await queue.client.zrange(queue.keys.schedulers, start, end)]
    if not ids:
        return []
    pipe = queue.client.pipeline(transaction=False)
    for sid in ids:
        pipe.hgetall(queue.keys.scheduler(sid))
    out = []
    for sid, raw in zip(ids, await pipe.execute(), strict=True):
        if raw:
            out.append(JobSchedulerInfo.from_fields(sid, _decode(raw)))
    return out


async def schedule_next(queue: Queue, job: Job[Any]) -> None:
    """Queue the next run of the scheduler whose job a worker just took. Never raises.

    Called once per take (a retried or stalled job is taken again: the script sees its run already has a
    successor and does nothing). The next run is computed from now, so overdue jobs after an outage run
    once. Connection errors are retried a few times; if Redis stays out of reach the schedule resumes at
    the next `upsert_job_scheduler` of the same definition (e.g. the next application start).
    """
    parsed = parse_scheduler_job_id(job.id)
    if parsed is None:
        return
    scheduler_id, run_at = parsed
    for attempt in range(1, _SCHEDULE_NEXT_ATTEMPTS + 1):
        try:
            await _schedule_next(queue, scheduler_id, run_at)
            return
        except _CONNECTION_ERRORS as exc:
            if attempt == _SCHEDULE_NEXT_ATTEMPTS:
                log.error(
                    "could not schedule the next run; the scheduler resumes at its next upsert",
                    queue=queue.name,
                    scheduler=scheduler_id,
                    error=str(exc),
                )
                return
            await asyncio.sleep(0.1 * 2**attempt)
        except Exception:
            log.exception("could not schedule the next run", queue=queue.name, scheduler=scheduler_id)
            return


async def _schedule_next(queue: Queue, scheduler_id: str, run_at: str) -> None:
    k = queue.keys
    raw = await queue.client.hgetall(k.scheduler(scheduler_id))
    fields = _decode(raw) if raw else {}
    # Cheap early exits; the script checks the same atomically.
    if not fields or fields.get("done") == "1" or fields.get("next") != run_at:
        return
    schedule = Schedule.from_fields(fields)
    now = _now_ms()
    anchor = _opt_int(fields.get("anchor"))
    nxt = schedule.next_run(max(now, int(run_at)), now if anchor is None else anchor)
    job_id, status = await script("scheduleNext")(
        queue.client,
        k.schedule_keys(scheduler_id),
        [
            queue.base,
            scheduler_id,
            fields.get("version", ""),
            run_at,
            "" if nxt is None else nxt,
            now,
            queue.max_events,
        ],
    )
    if int(status) == 2:
        log.info("job scheduler ended (limit or end date reached)", queue=queue.name, scheduler=scheduler_id)
    elif int(status) == 1:
        log.debug("next run scheduled", queue=queue.name, scheduler=scheduler_id, job_id=as_text(job_id))


def _now_ms() -> int:
    return to_ms(datetime.now(_UTC))


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}
