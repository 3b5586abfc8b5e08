"""A job's stored options, decoded once into what the runtime uses; never raising on corrupt values."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest

from framework.queue import outcome
from framework.queue.add_options import AddOptions
from framework.queue.backoff import Backoff
from framework.queue.job import Job
from framework.queue.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED, JobOptions, keep_for
from framework.queue.run_options import RunOptions


def _job(**opts: Any) -> Job[Any]:
    return Job(None, "7", "n", {}, dict(opts))


class TestDecode:
    def test_no_options_are_the_defaults(self) -> None:
        """An empty or non-dict options value gives one attempt, no backoff or timeout, default retention."""
        for raw in ({}, None, [], "x"):
            opts = RunOptions.decode(raw)
            assert (opts.attempts, opts.backoff, opts.timeout, opts.corrupt) == (1, None, None, {})
            assert opts.keep_completed == keep_for(None, DEFAULT_KEEP_COMPLETED)
            assert opts.keep_failed == keep_for(None, DEFAULT_KEEP_FAILED)

    def test_what_add_stores_reads_back(self) -> None:
        """Options as `add` stores them (JSON of JobOptions) decode to the same values, typed."""
        stored = JobOptions(
            attempts=4,
            backoff=Backoff.exponential(2, jitter=0.5),
            timeout=30,
            remove_on_complete=10,
            remove_on_fail={"count": 3, "age": 60},  # type: ignore[arg-type]
            group_id="tenant-1",
            deduplication={"id": "d-1"},  # type: ignore[arg-type]
            trace_context={"traceparent": "00-abc"},
        ).model_dump(mode="json", exclude_defaults=True)
        opts = RunOptions.decode(stored)
        assert opts.attempts == 4
        assert opts.backoff == Backoff.exponential(2, jitter=0.5)
        assert opts.timeout == 30.0
        assert (opts.keep_completed, opts.keep_failed) == ((10, 0), (3, 60_000))
        assert (opts.group_id, opts.deduplication_id) == ("tenant-1", "d-1")
        assert opts.trace_context == {"traceparent": "00-abc"}
        assert opts.corrupt == {}

    def test_corrupt_values_fall_back_and_are_named(self) -> None:
        """A refused stored value gives the field's default and is kept in `corrupt`; nothing raises."""
        opts = RunOptions.decode(
            {"attempts": "3", "remove_on_fail": "all", "remove_on_complete": {"count": -1}, "timeout": "x"}
        )
        assert opts.attempts == 1 and opts.timeout is None
        assert opts.keep_failed == keep_for(None, DEFAULT_KEEP_FAILED)
        assert opts.keep_completed == keep_for(None, DEFAULT_KEEP_COMPLETED)
        assert set(opts.corrupt) == {"attempts", "remove_on_fail", "remove_on_complete", "timeout"}

    def test_a_bad_backoff_is_kept_as_its_error(self) -> None:
        """A stored backoff that does not validate is no backoff, with the reason kept for the log."""
        opts = RunOptions.decode({"attempts": 2, "backoff": {"type": "fixed", "delay": -1}})
        assert opts.backoff is None and isinstance(opts.backoff_error, ValueError)

    def test_cached_rule_answers_only_for_its_value(self) -> None:
        """A validated rule is reused for the same stored value only: a fractional count is still refused."""
        assert RunOptions.decode({"remove_on_fail": {"count": 1}}).keep_failed == (1, 0)
        assert RunOptions.decode({"remove_on_fail": {"count": 1.5}}).corrupt.keys() == {"remove_on_fail"}


class TestJobReadsDecodedOptions:
    def test_decoded_once_per_job(self) -> None:
        """`job.run_options` is decoded on first use and then the same object."""
        job = _job(attempts=3)
        assert job.run_options is job.run_options and job.attempts == 3

    def test_attempts_of_a_corrupt_job_raise(self) -> None:
        """`job.attempts` says the stored value is not valid, rather than guessing."""
        with pytest.raises(ValueError, match="stored attempts=0 is not valid"):
            _ = _job(attempts=0).attempts

    def test_failure_names_corrupt_options_and_does_not_retry(self) -> None:
        """The failure path names corrupt retention and attempts (in that order) and ends the job."""
        out = outcome.failure(_job(attempts="x", remove_on_fail=[1]), RuntimeError("boom"), retry=True)
        assert out.kind == "failed"
        assert "remove_on_fail=[1], attempts='x'; not retried" in out.value


class TestAddOptions:
    def test_add_options_name_every_job_option(self) -> None:
        """`Queue.add`'s typed keyword arguments are exactly the fields of `JobOptions`."""
        assert set(get_type_hints(AddOptions)) == set(JobOptions.model_fields)
