"""The retry decision and the report of a finished run, without a server."""

from __future__ import annotations

import orjson

from framework.queue import outcome
from framework.queue.job import Job


def _job(attempts_made: int = 0, **opts: object) -> Job[object]:
    job: Job[object] = Job(None, "7", "n", {}, dict(opts))
    job.attempts_made = attempts_made
    return job


class TestFailure:
    def test_retries_while_attempts_are_left(self) -> None:
        """A first failure of a 3-attempt job is a retry with the exponential backoff's delay."""
        job = _job(0, attempts=3, backoff={"type": "exponential", "delay": 2.0})
        out = outcome.failure(job, RuntimeError("boom"), retry=True)
        assert (out.kind, out.value, out.delay_ms) == ("retry", "RuntimeError: boom", 2000)
        second = outcome.failure(
            _job(1, attempts=3, backoff={"type": "exponential", "delay": 2.0}), RuntimeError(), retry=True
        )
        assert second.delay_ms == 4000

    def test_last_attempt_fails(self) -> None:
        """With no attempt left the job ends failed, keeping the failed-jobs retention rule."""
        out = outcome.failure(_job(2, attempts=3, remove_on_fail=7), ValueError("x"), retry=True)
        assert out.kind == "failed" and out.keep == (7, 0)

    def test_no_retry_when_not_allowed(self) -> None:
        """retry=False (UnrecoverableError, bad result) fails at once whatever the attempts."""
        out = outcome.failure(_job(0, attempts=5), RuntimeError("bad"), retry=False)
        assert out.kind == "failed"

    def test_stack_traces_are_capped(self) -> None:
        """The newest MAX_STACKTRACES traces are kept, the new one last."""
        job = _job(0, attempts=1)
        job.stacktrace = [f"old {i}" for i in range(outcome.MAX_STACKTRACES)]
        out = outcome.failure(job, RuntimeError("newest"), retry=False)
        traces = orjson.loads(out.stack)
        assert len(traces) == outcome.MAX_STACKTRACES
        assert traces[0] == "old 1" and "newest" in traces[-1]

    def test_a_broken_custom_strategy_retries_without_delay(self) -> None:
        """An unknown custom backoff is logged and the retry happens at once."""
        out = outcome.failure(
            _job(0, attempts=2, backoff={"type": "nope", "delay": 0}), RuntimeError(), retry=True
        )
        assert (out.kind, out.delay_ms) == ("retry", 0)


class TestCompletedAndCancelled:
    def test_completed_uses_the_completed_retention(self) -> None:
        """remove_on_complete=True means remove at once (count 0)."""
        out = outcome.completed(_job(0, remove_on_complete=True), "42", 42)
        assert (out.kind, out.value, out.result, out.keep) == ("completed", "42", 42, (0, 0))

    def test_cancelled_ends_failed_with_the_reason(self) -> None:
        """A cancelled run is a final failure with the given reason."""
        out = outcome.cancelled(_job(0, attempts=5), RuntimeError("stop"), "cancelled")
        assert (out.kind, out.value) == ("failed", "cancelled")
