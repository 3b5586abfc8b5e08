"""Durations are seconds as float, or a timedelta; Redis stores milliseconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

Seconds = float | timedelta


def to_seconds(value: Seconds, *, field: str = "duration") -> float:
    """Normalize a duration to float seconds, refusing negatives and non-numbers with a clear ValueError."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be seconds (int/float) or a timedelta, got {value!r}")
    else:
        seconds = float(value)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative or infinite
        raise ValueError(f"{field} must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def to_ms(value: Seconds, *, field: str = "duration") -> int:
    return round(to_seconds(value, field=field) * 1000)


def _coerce(value: object) -> object:
    return value.total_seconds() if isinstance(value, timedelta) else value


# A pydantic field type: accepts float seconds or a timedelta, stores float seconds.
DurationField = Annotated[float, BeforeValidator(_coerce)]
