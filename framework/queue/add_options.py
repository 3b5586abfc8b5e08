"""The keyword arguments of `Queue.add`, typed, so that mypy and editors know every job option.

`JobOptions` (options.py) validates them at run time; this TypedDict only names and types them for
static checking, with the same names. A test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from framework.queue.backoff import Backoff
from framework.queue.control_options import Deduplication
from framework.queue.durations import Seconds
from framework.queue.options import KeepJobs, ParentRef, Repeat

__all__ = ["AddOptions"]


class AddOptions(TypedDict, total=False):
    """Job options, as keyword arguments of `Queue.add` (every one optional).

    Attributes:
        job_id: your id for the job; a second add with the same id returns the existing job.
        priority: 0 (none) or 1..2**21-1, lower runs first.
        delay: seconds (or a timedelta) before the job may run.
        attempts: attempts in all before the job ends failed (>= 1).
        backoff: wait between attempts: `Backoff.fixed(d)`, `Backoff.exponential(d)`, `Backoff.custom(name)`.
        lifo: take this job before the others waiting (last in, first out).
        timeout: seconds an attempt may run before it fails with `JobTimeoutError`.
        remove_on_complete, remove_on_fail: retention: True removes at once, False keeps, a count keeps
            that many, `KeepJobs(count=, age=)` both.
        repeat: a schedule (`Repeat(cron=...)` or `Repeat(every=...)`): upserts a job scheduler instead.
        trace_context: set by the OpenTelemetry integration, not by hand.
        parent: a flow parent (`job.parent_ref()`): this job is its child.
        fail_parent_on_failure, continue_parent_on_failure, ignore_dependency_on_failure,
            remove_dependency_on_failure: what a child's failure does to its parent (choose one).
        deduplication: `Deduplication(id, ttl=, extend=, replace=)`: ignore (or replace) repeated adds.
        group_id: the fair group (tenant) the job belongs to.
    """

    job_id: str | None
    priority: int
    delay: Seconds
    attempts: int
    backoff: Backoff | Mapping[str, Any] | None
    lifo: bool
    timeout: Seconds | None
    remove_on_complete: bool | int | KeepJobs | Mapping[str, Any] | None
    remove_on_fail: bool | int | KeepJobs | Mapping[str, Any] | None
    repeat: Repeat | Mapping[str, Any] | None
    trace_context: dict[str, str] | None
    parent: ParentRef | Mapping[str, Any] | None
    fail_parent_on_failure: bool
    continue_parent_on_failure: bool
    ignore_dependency_on_failure: bool
    remove_dependency_on_failure: bool
    deduplication: Deduplication | Mapping[str, Any] | None
    group_id: str | None
