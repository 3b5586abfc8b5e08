"""Job options validated at `add`: errors naming the option, defaults merged, retention for the scripts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from framework.queue.options import (
    DEFAULT_KEEP_COMPLETED,
    MAX_PRIORITY,
    JobOptions,
    KeepJobs,
    Repeat,
    build_options,
    coerce_options,
    keep_for,
)


class TestJobOptions:
    @pytest.mark.parametrize(
        ("opts", "message"),
        [
            ({"job_id": "123"}, "all digits"),
            ({"job_id": "a:b"}, "contains ':'"),
            ({"job_id": "wait"}, "one of the queue's own keys"),
            ({"priority": MAX_PRIORITY + 1}, "priority"),
            ({"attempts": 0}, "attempts"),
            ({"delay": -1}, "delay must be >= 0"),
            ({"timeout": 0}, "timeout must be > 0"),
            ({"remove_on_fail": -1}, "retention count must be >= 0"),
            ({"group_id": "t", "priority": 1}, "priority cannot be combined with group_id"),
            ({"fail_parent_on_failure": True, "ignore_dependency_on_failure": True}, "choose one of"),
            ({"atempts": 3}, "atempts"),
        ],
    )
    def test_invalid_options_are_named(self, opts: dict[str, Any], message: str) -> None:
        """Each invalid option (a misspelt one too) is a ValueError that names it."""
        with pytest.raises(ValueError, match=message):
            build_options(None, opts)

    def test_durations_take_timedeltas(self) -> None:
        """delay and timeout take seconds or a timedelta."""
        options = build_options(None, {"delay": timedelta(seconds=90), "timeout": 2})
        assert (options.delay, options.timeout) == (90.0, 2.0)

    def test_failure_policy_letter(self) -> None:
        """The chosen failure policy is stored as the scripts' letter."""
        assert JobOptions(continue_parent_on_failure=True).failure_policy == "c"
        assert JobOptions().failure_policy == ""


class TestDefaults:
    def test_call_options_override_queue_defaults(self) -> None:
        """Per-call options win; the defaults fill in the rest."""
        defaults = JobOptions(attempts=3, priority=5)
        merged = build_options(defaults, {"priority": 1})
        assert (merged.attempts, merged.priority) == (3, 1)

    def test_no_call_options_reuse_the_defaults(self) -> None:
        """With no per-call options the defaults object is used as it is."""
        defaults = JobOptions(attempts=2)
        assert build_options(defaults, {}) is defaults

    def test_coerce_accepts_a_dict(self) -> None:
        """Queue defaults may be given as a dict; invalid ones are a ValueError."""
        assert coerce_options({"attempts": 4}) == JobOptions(attempts=4)
        with pytest.raises(ValueError, match="attempts"):
            coerce_options({"attempts": -4})


class TestRetention:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, (1000, 0)),
            (True, (0, 0)),
            (False, (-1, 0)),
            (25, (25, 0)),
            (KeepJobs(age=60), (-1, 60_000)),
            (KeepJobs(count=5, age=1.5), (5, 1500)),
        ],
    )
    def test_keep_for(self, value: Any, expected: tuple[int, int]) -> None:
        """Retention as (count, age_ms) for the scripts: True removes at once, False keeps all."""
        assert keep_for(value, DEFAULT_KEEP_COMPLETED) == expected


class TestRepeat:
    def test_exactly_one_of_cron_or_every(self) -> None:
        """A schedule is a cron pattern or an interval, not both or neither."""
        with pytest.raises(ValueError, match="exactly one"):
            Repeat()
        with pytest.raises(ValueError, match="exactly one"):
            Repeat(cron="* * * * *", every=5)
        with pytest.raises(ValueError, match="tz only applies"):
            Repeat(every=5, tz="Europe/Paris")
