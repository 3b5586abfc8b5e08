"""Job options and the small option models (retention, rate limit, repeat)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from framework.queue.backoff import Backoff
from framework.queue.control_options import Deduplication, check_control_id
from framework.queue.durations import DurationField

# A job's hash is `{prefix:queue}:<id>`: these ids would collide with the queue's own keys (see keys.py).
RESERVED_JOB_IDS = frozenset(
    {
        "wait",
        "paused",
        "prioritized",
        "delayed",
        "active",
        "completed",
        "failed",
        "meta",
        "waiting-children",
        "id",
        "pc",
        "events",
        "marker",
        "stalled-check",
        "stalled",
        "limiter",
        "cancelled",
        "schedulers",
        "schedulers:declared",
        "scheduler",
        "workers",
        "workers:info",
        "metrics:totals",
        "metrics:completed",
        "metrics:completed:data",
        "metrics:failed",
        "metrics:failed:data",
        # job control (control.py): deduplication keys, fair groups
        "de",
        "g",
        "groups",
        "gpaused",
        "gturn",
    }
)
# priority * 2**32 + a per-priority counter must stay below 2**53, the largest exact integer in a double.
MAX_PRIORITY = 2**21 - 1


class KeepJobs(BaseModel):
    """Retention of finished jobs: keep at most `count` of them, and none older than `age` seconds."""

    model_config = ConfigDict(frozen=True)

    count: int | None = Field(default=None, ge=0)
    age: DurationField | None = None

    @field_validator("age")
    @classmethod
    def _age(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("age must be >= 0 seconds")
        return v


# Default retention: finished jobs are bounded, so Redis does not grow forever.
DEFAULT_KEEP_COMPLETED = KeepJobs(count=1000)
DEFAULT_KEEP_FAILED = KeepJobs(count=5000)


class RateLimit(BaseModel):
    """At most `max` jobs started per `duration` seconds, across every worker of the queue."""

    model_config = ConfigDict(frozen=True)

    max: int = Field(ge=1)
    duration: DurationField

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("duration must be > 0 seconds")
        return v


class Repeat(BaseModel):
    """A schedule: a cron pattern (with time zone) or a fixed interval in seconds (`every`)."""

    model_config = ConfigDict(frozen=True)

    cron: str | None = None
    tz: str | None = None
    every: DurationField | None = None
    limit: int | None = Field(default=None, ge=1)
    start_date: datetime | None = None
    end_date: datetime | None = None
    immediately: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Repeat:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron= or every=")
        if self.every is not None and not (math.isfinite(self.every) and self.every > 0):
            raise ValueError(f"every must be > 0 seconds (a finite number), got every={self.every!r}")
        if self.tz is not None and self.cron is None:
            raise ValueError("tz only applies to cron schedules")
        return self


class ParentRef(BaseModel):
    """A flow parent: the job `id` in queue `queue` (`prefix`: the parent queue's key prefix, None = the
    child's own). `job.parent_ref()` builds one; pass it as a child's `parent` option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    queue: str = Field(min_length=1)
    prefix: str | None = None

    @field_validator("queue")
    @classmethod
    def _queue(cls, v: str) -> str:
        if any(c in v for c in "{}:"):
            raise ValueError(f"a queue name has no '{{', '}}' or ':', got {v!r}")
        return v

    def __getitem__(self, key: str) -> Any:
        """`ref["id"]`, `ref["queue"]`: read like the dict BullMQ's `job.parent` is."""
        if key not in ParentRef.model_fields:
            raise KeyError(key)
        return getattr(self, key)


# A child's failure policy for its parent (BullMQ's fpof / cpof / idof / rdof), as stored for the scripts.
FAILURE_POLICIES = {
    "fail_parent_on_failure": "f",
    "continue_parent_on_failure": "c",
    "ignore_dependency_on_failure": "i",
    "remove_dependency_on_failure": "r",
}


class JobOptions(BaseModel):
    """Options of one job; also the model for queue-wide defaults (`default_job_options`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str | None = None
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY)
    delay: DurationField = 0.0
    attempts: int = Field(default=1, ge=1)
    backoff: Backoff | None = None
    lifo: bool = False
    timeout: DurationField | None = None
    remove_on_complete: bool | int | KeepJobs | None = None
    remove_on_fail: bool | int | KeepJobs | None = None
    repeat: Repeat | None = None
    # W3C trace context (traceparent, tracestate) of the span that added the job; set by nestq's
    # OpenTelemetry integration (framework/observability/tracing.py), not by hand.
    trace_context: dict[str, str] | None = None
    parent: ParentRef | None = None
    fail_parent_on_failure: bool = False
    continue_parent_on_failure: bool = False
    ignore_dependency_on_failure: bool = False
    remove_dependency_on_failure: bool = False

    @model_validator(mode="after")
    def _one_failure_policy(self) -> JobOptions:
        chosen = [name for name in FAILURE_POLICIES if getattr(self, name)]
        if len(chosen) > 1:
            raise ValueError(f"choose one of {', '.join(chosen)}: they answer the same case differently")
        return self

    @property
    def failure_policy(self) -> str:
        """ "f", "c", "i", "r" or "" (see FAILURE_POLICIES)."""
        for name, letter in FAILURE_POLICIES.items():
            if getattr(self, name):
                return letter
        return ""

    deduplication: Deduplication | None = None
    group_id: str | None = None

    @field_validator("group_id")
    @classmethod
    def _group_id(cls, v: str | None) -> str | None:
        return None if v is None else check_control_id(v, "group_id")

    @model_validator(mode="after")
    def _group_priority(self) -> JobOptions:
        if self.group_id is not None and self.priority:
            raise ValueError(
                "priority cannot be combined with group_id: jobs of a group run in the order they were "
                "added (FIFO, or lifo=True); groups share the workers round-robin"
            )
        return self

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: float) -> float:
        if v < 0:
            raise ValueError("delay must be >= 0 seconds")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("timeout must be > 0 seconds")
        return v

    @field_validator("remove_on_complete", "remove_on_fail")
    @classmethod
    def _keep(cls, v: bool | int | KeepJobs | None) -> bool | int | KeepJobs | None:
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            raise ValueError("a retention count must be >= 0")
        return v

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not isinstance(v, str) or not v:
            raise ValueError("job_id must be a non-empty string")
        if v.isdigit():
            raise ValueError(
                f"job_id {v!r} is all digits, which would clash with generated ids; use e.g. 'order-{v}'"
            )
        if ":" in v:
            raise ValueError(f"job_id {v!r} contains ':', which is reserved for Redis key names")
        if v in RESERVED_JOB_IDS:
            raise ValueError(f"job_id {v!r} is the name of one of the queue's own keys; pick another id")
        return v


def build_options(defaults: JobOptions | None, overrides: dict[str, Any]) -> JobOptions:
    """Merge per-call options over queue defaults, raising ValueError (naming the field) when invalid."""
    if not overrides:
        return defaults or _EMPTY
    if defaults is not None:
        merged = defaults.model_dump(exclude_unset=True)
        merged.update(overrides)
    else:
        merged = overrides
    try:
        return JobOptions.model_validate(merged)
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from None


def coerce_options(value: JobOptions | dict[str, Any] | None) -> JobOptions | None:
    """Accept a JobOptions, a dict of options, or None."""
    if value is None or isinstance(value, JobOptions):
        return value
    try:
        return JobOptions.model_validate(value)
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "options"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "invalid job options: " + "; ".join(parts)


def keep_for(value: bool | int | KeepJobs | None, default: KeepJobs) -> tuple[int, int]:
    """Retention as (count, age_ms) for the Lua scripts: count -1 keeps all; 0 removes at once."""
    if value is None:
        value = default
    if value is True:
        return 0, 0
    if value is False:
        return -1, 0
    if isinstance(value, int):
        return value, 0
    count = -1 if value.count is None else value.count
    age = 0 if value.age is None else int(value.age * 1000)
    return count, age


_EMPTY = JobOptions()
