"""Retry delays: fixed, exponential, jitter and named strategies, without a server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from framework.queue import backoff as backoff_module
from framework.queue.backoff import Backoff, register_backoff_strategy


class TestBuiltIn:
    def test_fixed_is_the_same_every_time(self) -> None:
        """A fixed backoff waits its delay before every retry."""
        backoff = Backoff.fixed(5)
        assert [backoff.compute(n, RuntimeError(), None) for n in (1, 2, 5)] == [5, 5, 5]

    def test_exponential_doubles(self) -> None:
        """An exponential backoff waits delay, 2*delay, 4*delay, ..."""
        backoff = Backoff.exponential(1.5)
        assert [backoff.compute(n, RuntimeError(), None) for n in (1, 2, 3, 4)] == [1.5, 3, 6, 12]

    def test_jitter_stays_between_its_bounds(self) -> None:
        """With jitter j the delay is between (1 - j) * base and base."""
        backoff = Backoff.exponential(2, jitter=0.5)
        delays = [backoff.compute(3, RuntimeError(), None) for _ in range(200)]
        assert all(4 <= d <= 8 for d in delays) and len(set(delays)) > 1

    def test_delay_takes_a_timedelta(self) -> None:
        """Durations are seconds or a timedelta."""
        assert Backoff.fixed(timedelta(milliseconds=250)).delay == 0.25  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "kwargs", [{"delay": -1}, {"delay": 1, "jitter": 1.5}, {"delay": 1, "jitter": -0.1}]
    )
    def test_bad_values_are_refused(self, kwargs: dict[str, Any]) -> None:
        """A negative delay or a jitter outside [0, 1] is refused when the backoff is built."""
        with pytest.raises(ValidationError):
            Backoff(type="fixed", **kwargs)

    def test_round_trips_through_json(self) -> None:
        """A backoff stored with a job validates back to the same backoff."""
        backoff = Backoff.exponential(3, jitter=0.25)
        assert Backoff.model_validate(backoff.model_dump(mode="json")) == backoff


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strategies registered by a test are forgotten after it."""
    monkeypatch.setattr(backoff_module, "_STRATEGIES", {})


class TestCustom:
    def test_worker_strategies_come_first(self) -> None:
        """A strategy given to the worker wins over a process-wide one of the same name."""
        register_backoff_strategy("unit-linear", lambda n, exc, job: 100.0 * n)
        backoff = Backoff.custom("unit-linear")
        assert backoff.compute(2, RuntimeError(), None) == 200
        assert backoff.compute(2, RuntimeError(), None, {"unit-linear": lambda n, e, j: 7.0}) == 7

    def test_negative_results_wait_no_time(self) -> None:
        """A strategy returning a negative delay retries at once."""
        assert Backoff.custom("x").compute(1, RuntimeError(), None, {"x": lambda n, e, j: -3.0}) == 0

    def test_unknown_strategy_says_how_to_register(self) -> None:
        """An unknown name is a LookupError saying how to register one."""
        with pytest.raises(LookupError, match="register_backoff_strategy"):
            Backoff.custom("never-registered").compute(1, RuntimeError(), None)

    def test_built_in_names_are_reserved(self) -> None:
        """'fixed' and 'exponential' cannot be replaced."""
        with pytest.raises(ValueError, match="built-in"):
            register_backoff_strategy("fixed", lambda n, e, j: 1.0)
