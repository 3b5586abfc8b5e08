"""Outcome: what became of one run of a job, as its worker reports it in the next moveToFinished batch.

The retry decision lives here: a failed attempt is retried (with the job's backoff) while attempts are
left and the error allows it, otherwise the job ends failed.
"""

from __future__ import annotations

import traceback
from typing import Any

import structlog

from framework.queue import serialization
from framework.queue.backoff import BackoffStrategy
from framework.queue.job import Job

log = structlog.get_logger("nestq.worker")

MAX_STACKTRACES = 10  # stack traces kept on a job, newest last
# Stored options that, when corrupt, end a failed job at once, named in its reason (in this order).
_FAILURE_OPTIONS = ("remove_on_fail", "attempts")


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


def completed(job: Job[Any], value: str, result: Any) -> Outcome:
    """The handler returned `result` (already serialized as `value`). A corrupt stored retention rule
    gives the default retention (see `RunOptions`), rather than a failed report."""
    return Outcome(job, "completed", value, "", job.run_options.keep_completed, result=result)


MAX_REASON_CHARS = 2_000  # a failure reason as stored on the job, in the event stream and in the logs
MAX_STACK_CHARS = 16_000  # one stack trace as stored on the job (10 of them at most)


def cap_text(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters (head and tail kept), saying how much was left out."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    return f"{text[:head]}... [{len(text) - head - tail} characters cut] ...{text[-tail:]}"


def describe(exc: BaseException) -> str:
    """`Type: message`, capped; never raises (an exception's own `__str__` may)."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception as err:  # user code: a broken __str__
        text = f"<message unavailable: its __str__ raised {type(err).__name__}>"
    return cap_text(f"{name}: {text}" if text else name, MAX_REASON_CHARS)


def _stack(exc: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(exc))
    except Exception as err:
        text = f"{type(exc).__name__} (no traceback: formatting it raised {type(err).__name__})"
    return cap_text(text, MAX_STACK_CHARS)


def failure(
    job: Job[Any], exc: BaseException, *, retry: bool, strategies: dict[str, BackoffStrategy] | None = None
) -> Outcome:
    """The attempt raised `exc`: retry after the job's backoff if `retry` and attempts are left, else fail.

    Never raises: a broken exception (its `__str__` raises) or corrupt stored options still give an outcome
    (corrupt options end the job failed, naming them), so `attempts` always holds."""
    opts = job.run_options
    reason = describe(exc)
    stack = [cap_text(str(s), MAX_STACK_CHARS) for s in job.stacktrace[-MAX_STACKTRACES:]]
    stack = [*stack, _stack(exc)][-MAX_STACKTRACES:]
    problems = [
        f"{name}={cap_text(repr(opts.corrupt[name]), 100)}"
        for name in _FAILURE_OPTIONS
        if name in opts.corrupt
    ]
    keep = opts.keep_failed
    if problems:
        reason = cap_text(
            f"{reason} (and the job's stored options are corrupt: {', '.join(problems)}; not retried)",
            MAX_REASON_CHARS,
        )
        retry = False
    if retry and job.attempts_made + 1 < opts.attempts:
        delay = 0.0
        if opts.backoff_error is not None:
            log.error("backoff strategy failed; retrying without delay", error=describe(opts.backoff_error))
        elif opts.backoff is not None:
            try:
                delay = opts.backoff.compute(job.attempts_made + 1, exc, job, strategies)
            except Exception as bexc:
                log.error("backoff strategy failed; retrying without delay", error=describe(bexc))
        log.info("job failed; will retry", reason=reason, delay=round(delay, 3))
        trace = serialization.dumps(stack)
        return Outcome(job, "retry", reason, trace, keep, delay_ms=int(delay * 1000), error=exc)
    log.info("job failed", reason=reason)
    return Outcome(job, "failed", reason, serialization.dumps(stack), keep, error=exc)


def cancelled(job: Job[Any], exc: BaseException, reason: str) -> Outcome:
    """The job was cancelled (or its run stopped on purpose): it ends failed, without retry."""
    kept = job.stacktrace[-MAX_STACKTRACES:]
    stack = serialization.dumps([cap_text(str(s), MAX_STACK_CHARS) for s in kept])
    return Outcome(job, "failed", reason, stack, job.run_options.keep_failed, error=exc)


def waiting_children(job: Job[Any]) -> Outcome:
    """The handler raised WaitingChildrenError: the job waits for its children, no attempt used."""
    return Outcome(job, "waiting-children", "", "", (-1, 0))
