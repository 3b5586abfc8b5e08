"""Models of the notifications service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Broadcast(BaseModel):
    """The data of a `broadcast` job: one email of `template` to every user, rendered with `data`
    (plus each user's `name`)."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class BroadcastResult(BaseModel):
    """The result of a `broadcast` job: how many emails it queued."""

    emails: int
