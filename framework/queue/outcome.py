"""Outcome: what became of one run of a job, as its worker reports it in the next moveToFinished batch.

The retry decision lives here: a failed attempt is retried (with the job's backoff) while attempts are
left and the error allows it, otherwise the job ends failed.
"""

from __future__ import annotations

import traceback
from typing import Any

import structlog

from framework.queue import serialization
from framework.queue.backoff import Backoff, BackoffStrategy
from framework.queue.job import Job
from framework.queue.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED, KeepJobs, keep_for

log = structlog.get_logger("nestq.worker")

MAX_STACKTRACES = 10  # stack traces kept on a job, newest last


class Outcome:
    """A finished run: `kind` is "completed", "failed" or "retry"; `value` the result JSON or the reason."""

    __slots__ = ("delay_ms", "error", "job", "keep", "kind", "result", "stack", "value")

    def __init__(
        self,
        job: Job[Any],
        kind: str,
        value: str,
        stack: str,
        keep: tuple[int, int],
        delay_ms: int = 0,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        self.job = job
        self.kind = kind
        self.value = value
        self.stack = stack
        self.keep = keep
        self.delay_ms = delay_ms
        self.result = result
        self.error = error


def _keep(raw: Any, default: KeepJobs) -> tuple[int, int]:
    if isinstance(raw, dict):
        raw = KeepJobs.model_validate(raw)
    return keep_for(raw, default)


def completed(job: Job[Any], value: str, result: Any) -> Outcome:
    """The handler returned `result` (already serialized as `value`)."""
    keep = _keep(job.raw_opts.get("remove_on_complete"), DEFAULT_KEEP_COMPLETED)
    return Outcome(job, "completed", value, "", keep, result=result)


def failure(
    job: Job[Any], exc: BaseException, *, retry: bool, strategies: dict[str, BackoffStrategy] | None = None
) -> Outcome:
    """The attempt raised `exc`: retry after the job's backoff if `retry` and attempts are left, else fail."""
    raw = job.raw_opts
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    stack = [*job.stacktrace, "".join(traceback.format_exception(exc))][-MAX_STACKTRACES:]
    keep = _keep(raw.get("remove_on_fail"), DEFAULT_KEEP_FAILED)
    if retry and job.attempts_made + 1 < int(raw.get("attempts", 1)):
        delay = 0.0
        backoff_raw = raw.get("backoff")
        if backoff_raw:
            try:
                delay = Backoff.model_validate(backoff_raw).compute(
                    job.attempts_made + 1, exc, job, strategies
                )
            except Exception as bexc:
                log.error("backoff strategy failed; retrying without delay", error=str(bexc))
        log.info("job failed; will retry", reason=reason, delay=round(delay, 3))
        trace = serialization.dumps(stack)
        return Outcome(job, "retry", reason, trace, keep, delay_ms=int(delay * 1000), error=exc)
    log.info("job failed", reason=reason)
    return Outcome(job, "failed", reason, serialization.dumps(stack), keep, error=exc)


def cancelled(job: Job[Any], exc: BaseException, reason: str) -> Outcome:
    """The job was cancelled (or its run stopped on purpose): it ends failed, without retry."""
    stack = serialization.dumps(job.stacktrace[-MAX_STACKTRACES:])
    keep = _keep(job.raw_opts.get("remove_on_fail"), DEFAULT_KEEP_FAILED)
    return Outcome(job, "failed", reason, stack, keep, error=exc)


def waiting_children(job: Job[Any]) -> Outcome:
    """The handler raised WaitingChildrenError: the job waits for its children, no attempt used."""
    return Outcome(job, "waiting-children", "", "", (-1, 0))
