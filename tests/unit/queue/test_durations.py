"""Durations: seconds as float or a timedelta, milliseconds for Redis; bad values refused clearly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from framework.queue.durations import DurationField, to_ms, to_seconds


class TestToSeconds:
    def test_numbers_and_timedeltas(self) -> None:
        """Ints, floats and timedeltas become float seconds."""
        assert to_seconds(3) == 3.0
        assert to_seconds(0.25) == 0.25
        assert to_seconds(timedelta(minutes=2)) == 120.0

    @pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), timedelta(seconds=-1)])
    def test_negative_nan_and_infinite_are_refused(self, value: float | timedelta) -> None:
        """A duration is a finite number of seconds >= 0; the message names the field."""
        with pytest.raises(ValueError, match="delay must be a finite number of seconds >= 0"):
            to_seconds(value, field="delay")

    @pytest.mark.parametrize("value", [True, "5", None])
    def test_other_types_are_refused(self, value: object) -> None:
        """Booleans, strings and None are not durations."""
        with pytest.raises(ValueError, match="timeout must be seconds"):
            to_seconds(value, field="timeout")  # type: ignore[arg-type]


class TestToMs:
    def test_rounds_to_whole_milliseconds(self) -> None:
        """Redis stores whole milliseconds, rounded."""
        assert to_ms(1.2345) == 1234
        assert to_ms(1.2346) == 1235
        assert to_ms(timedelta(seconds=2)) == 2000


class TestDurationField:
    def test_model_field_takes_either_form(self) -> None:
        """In a pydantic model a duration is given as seconds or a timedelta, stored as seconds."""

        class M(BaseModel):
            d: DurationField

        assert M(d=timedelta(milliseconds=1500)).d == 1.5  # type: ignore[arg-type]
        assert M(d=2).d == 2.0
