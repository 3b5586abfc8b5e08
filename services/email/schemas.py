"""Models of the email service: the data of a `send` job, a rendered email, and a job's result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class SendEmail(BaseModel):
    """The data of a `send` job: who gets which template, rendered with `data`."""

    model_config = ConfigDict(extra="forbid")

    to: EmailStr
    template: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class RenderedEmail(BaseModel):
    """A template rendered: the subject line, a plain-text body and an HTML body."""

    subject: str
    text: str
    html: str


class SentEmail(BaseModel):
    """The result of a `send` job."""

    message_id: str
    to: str
    template: str
    subject: str
