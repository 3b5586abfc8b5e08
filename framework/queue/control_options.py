"""Option models of job control: deduplication and fair-group ids (keywords of `Queue.add`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from framework.queue.durations import DurationField


class Deduplication(BaseModel):
    """Deduplicate adds by an id of your choosing (`add(..., deduplication=Deduplication("order-7"))`).

    Modes:
        - simple (no `ttl`): another add with the same id is ignored while the first job is not finished.
        - throttle (`ttl` seconds): ignored for that long after the first add, finished or not.
        - debounce (`extend=True, replace=True` and a `delay`): an add while the first job is still delayed
          replaces its data and restarts its delay (and `extend` restarts the ttl).

    An ignored add returns the existing job and emits a `deduplicated` event.

    Args:
        id: the deduplication id (non-empty, no ':').
        ttl: seconds the id is held, or None to hold it until the job finishes.
        extend: an ignored add restarts the ttl.
        replace: an ignored add while the job is delayed replaces its data and restarts its delay.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    ttl: DurationField | None = None
    extend: bool = False
    replace: bool = False

    def __init__(self, id: str | None = None, /, **data: Any) -> None:
        if id is not None:
            data["id"] = id
        super().__init__(**data)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_control_id(v, "deduplication id")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("ttl must be > 0 seconds (or None to hold the id until the job finishes)")
        return v


def check_control_id(value: Any, what: str) -> str:
    """A deduplication or group id: a non-empty string without ':' (it becomes part of a Redis key)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if ":" in value:
        raise ValueError(f"{what} {value!r} contains ':', which is reserved for Redis key names")
    return value
