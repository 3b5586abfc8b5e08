"""`@cron` and `@every`: job schedulers declared on processor methods.

    @processor("maintenance")
    class Maintenance:
        @cron("0 3 * * *", id="nightly-cleanup", tz="Europe/Berlin")
        async def cleanup(self, job: Job) -> None: ...

        @every(3600, id="hourly-digest")
        @process("digest")
        async def send_digest(self, job: Job) -> None: ...

The decorators only record metadata. The method handles the scheduled jobs: their name is the method's
`@process("name")` if it has one, else the method's name (which the decorator then registers as a
`@process` name of the method). When the application starts a processor's worker, it upserts that
processor's schedulers (`upsert_processor_schedulers`): every instance does so, and an unchanged
schedule stays as it is, so N instances or restarts never add a tick twice. A scheduler deleted from the
code is removed from Redis at the next start (see `framework.queue.declared_schedulers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from framework.di.decorators import process
from framework.di.metadata import PROCESS_ATTR, ProcessMetadata, decorated_methods
from framework.di.providers import short_name
from framework.errors import ConfigurationError
from framework.queue.declared_schedulers import DeclaredScheduler, sync_declared_schedulers
from framework.queue.options import Repeat
from framework.queue.scheduler import JobSchedulerInfo, Schedule, check_scheduler_id

if TYPE_CHECKING:
    from framework.di.explorer import ProcessorDefinition
    from framework.di.queue_module import QueueRegistry

__all__ = ["SCHEDULES_ATTR", "JobSchedulerInfo", "ScheduleMetadata", "cron", "every", "scheduled_jobs"]

F = TypeVar("F", bound=Callable[..., Any])

SCHEDULES_ATTR: Final = "__nestq_schedules__"


@dataclass(frozen=True)
class ScheduleMetadata:
    """Recorded by `@cron` / `@every`: the scheduler's id, its schedule and the data of its jobs.

    `id` None means "the processor's class name and the method's name", filled in at bootstrap.
    """

    id: str | None
    repeat: Repeat
    data: Any = None


def cron(
    pattern: str,
    *,
    id: str | None = None,
    tz: str | None = None,
    data: Any = None,
    limit: int | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    immediately: bool = False,
) -> Callable[[F], F]:
    """Run this processor method on a cron schedule (one job per tick across every instance).

    Args:
        pattern: five fields (minute hour day-of-month month day-of-week), six with seconds first, or an
            alias such as `@daily`.
        id: the scheduler's id (default `ClassName.method`); keep it stable across deploys.
        tz: IANA time zone of the pattern (default UTC); DST changes are handled as cron does.
        data: data of every job.
        limit, start_date, end_date, immediately: as in `Repeat`.

    Raises:
        ConfigurationError: an invalid pattern, time zone or id (at import, naming the field).
    """
    return _schedule(
        "@cron",
        id,
        data,
        cron=pattern,
        tz=tz,
        limit=limit,
        start_date=start_date,
        end_date=end_date,
        immediately=immediately,
    )


def every(
    interval: float | timedelta,
    *,
    id: str | None = None,
    data: Any = None,
    limit: int | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    immediately: bool = False,
) -> Callable[[F], F]:
    """Run this processor method every `interval` seconds (one job per tick across every instance).

    Args:
        interval: seconds (or a timedelta) between runs; > 0.
        id: the scheduler's id (default `ClassName.method`); keep it stable across deploys.
        data: data of every job.
        limit, start_date, end_date, immediately: as in `Repeat`.

    Raises:
        ConfigurationError: an invalid interval or id (at import, naming the field).
    """
    return _schedule(
        "@every",
        id,
        data,
        every=interval,
        limit=limit,
        start_date=start_date,
        end_date=end_date,
        immediately=immediately,
    )


def _schedule(where: str, scheduler_id: str | None, data: Any, **repeat: Any) -> Callable[[F], F]:
    try:
        if scheduler_id is not None:
            check_scheduler_id(scheduler_id)
        options = Repeat(**{k: v for k, v in repeat.items() if v is not None})
        Schedule.from_repeat(options)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    record = ScheduleMetadata(scheduler_id, options, data)

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise ConfigurationError(f"{where} decorates a processor method, got {fn!r}")
        if getattr(fn, PROCESS_ATTR, None) is None:
            # Not a handler yet: it handles the jobs named after it.
            process(fn.__name__)(fn)
        records: tuple[ScheduleMetadata, ...] = getattr(fn, SCHEDULES_ATTR, ())
        setattr(fn, SCHEDULES_ATTR, (*records, record))
        return fn

    return decorate


@dataclass(frozen=True)
class ScheduledJob:
    """One scheduler of a processor, resolved: its id, schedule, job name and data."""

    id: str
    repeat: Repeat
    job_name: str
    data: Any
    method: str


def scheduled_jobs(cls: type) -> list[ScheduledJob]:
    """The schedulers declared on `cls`'s methods.

    The job name is the method's first explicit `@process` name, else the method's name.
    """
    out: list[ScheduledJob] = []
    for method, func, records in decorated_methods(cls, SCHEDULES_ATTR):
        meta = getattr(func, PROCESS_ATTR, None)
        names = meta.names if isinstance(meta, ProcessMetadata) else ()
        explicit = [n for n in names if n is not None and n != method]
        job_name = explicit[0] if explicit else method
        for record in records:
            scheduler_id = record.id or f"{cls.__name__}.{method}"
            out.append(ScheduledJob(scheduler_id, record.repeat, job_name, record.data, method))
    return out


async def upsert_processor_schedulers(
    registry: QueueRegistry | None, processors: Iterable[ProcessorDefinition]
) -> None:
    """Sync the `@cron` / `@every` schedulers of `processors` on their queues (at application start).

    Each queue of `processors` ends up with exactly the schedulers its processors declare now: they are
    upserted, and those that code declared at an earlier start and no longer does are removed (one log
    line each; see `framework.queue.declared_schedulers`). Schedulers created at run time through
    `Queue.upsert_job_scheduler` are left alone.

    Raises:
        ConfigurationError: two methods of the application declare the same scheduler id on one queue.
    """
    seen: dict[tuple[str, str], str] = {}
    by_queue: dict[str, list[DeclaredScheduler]] = {}
    for definition in processors:
        declared = by_queue.setdefault(definition.queue, [])
        for job in scheduled_jobs(definition.cls):
            where = f"{short_name(definition.cls)}.{job.method}()"
            other = seen.setdefault((definition.queue, job.id), where)
            if other != where:
                raise ConfigurationError(
                    f"job scheduler id {job.id!r} on queue {definition.queue!r} is declared by {other} and "
                    f"{where}; give one of them another id="
                )
            if registry is None:  # pragma: no cover - a processor always comes with QueueModule.for_root
                raise ConfigurationError(f"{where} declares a job scheduler, but no QueueModule.for_root")
            declared.append(DeclaredScheduler(job.id, job.repeat, job.job_name, job.data, declared_by=where))
    if registry is None:
        return
    for queue_name, declared in by_queue.items():
        await sync_declared_schedulers(registry.queue(queue_name), declared)
