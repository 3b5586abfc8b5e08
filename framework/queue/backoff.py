"""Retry backoff: fixed, exponential (both with optional jitter) or a named custom strategy."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from framework.queue.durations import DurationField

# A custom strategy gets (attempts_made, error, job) and returns the delay in seconds.
BackoffStrategy = Callable[[int, BaseException, Any], float]

_STRATEGIES: dict[str, BackoffStrategy] = {}


def register_backoff_strategy(name: str, strategy: BackoffStrategy) -> None:
    """Make `Backoff.custom(name)` available to every worker of this process."""
    if name in ("fixed", "exponential"):
        raise ValueError(f"{name!r} is a built-in backoff type; pick another name for a custom strategy")
    _STRATEGIES[name] = strategy


class Backoff(BaseModel):
    """How long to wait before retrying a failed job.

    Use the constructors: `Backoff.fixed(5)`, `Backoff.exponential(1, jitter=0.5)`, `Backoff.custom("name")`.
    """

    model_config = ConfigDict(frozen=True)

    type: str = "fixed"
    delay: DurationField = 0.0
    jitter: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("delay")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError("backoff delay must be >= 0 seconds")
        return v

    @classmethod
    def fixed(cls, delay: float, *, jitter: float = 0.0) -> Backoff:
        """Wait `delay` seconds before every retry."""
        return cls(type="fixed", delay=delay, jitter=jitter)

    @classmethod
    def exponential(cls, delay: float, *, jitter: float = 0.0) -> Backoff:
        """Wait `delay * 2 ** (attempt - 1)` seconds: delay, 2*delay, 4*delay, ..."""
        return cls(type="exponential", delay=delay, jitter=jitter)

    @classmethod
    def custom(cls, name: str, *, delay: float = 0.0) -> Backoff:
        """Use a strategy registered with `register_backoff_strategy(name, fn)` or given to the Worker."""
        return cls(type=name, delay=delay)

    def compute(
        self,
        attempts_made: int,
        error: BaseException,
        job: Any,
        strategies: dict[str, BackoffStrategy] | None = None,
    ) -> float:
        """Seconds to wait before the next attempt, after `attempts_made` failed attempts."""
        if self.type == "fixed":
            base = self.delay
        elif self.type == "exponential":
            base = self.delay * (2 ** max(attempts_made - 1, 0))
        else:
            strategy = (strategies or {}).get(self.type) or _STRATEGIES.get(self.type)
            if strategy is None:
                raise LookupError(
                    f"unknown backoff strategy {self.type!r}: register it with "
                    "register_backoff_strategy(name, fn) or Worker(backoff_strategies={...})"
                )
            return max(float(strategy(attempts_made, error, job)), 0.0)
        if self.jitter:
            # Spread retries between (1 - jitter) * base and base, so failed jobs don't retry in lockstep.
            base = base * (1 - self.jitter * random.random())
        return base
