"""Models of the reports service: a request, the report it produces, and a request's status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class ReportRequest(BaseModel):
    """What `POST /reports` takes, and the data of a `generate` job.

    `scheduled_for` without a time zone is taken as UTC; a time in the past means "now". With `sections`,
    the report is built as a flow: one `section` job per part, run in parallel, then an `assemble` job.
    """

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    urgent: bool = False
    scheduled_for: datetime | None = None
    sections: bool = False

    @field_validator("scheduled_for")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class ReportAccepted(BaseModel):
    """The answer to a report request: the job that builds it."""

    job_id: str


class QueueStats(BaseModel):
    """One queue in a report: jobs per state, and the share of finished jobs that failed."""

    counts: dict[str, int]
    total: int
    failure_rate: float | None = Field(description="failed / (completed + failed); None before any finished")


class ReportSummary(BaseModel):
    """A generated report: the state of every queue of the application, and its users."""

    report_id: str
    email: str
    requested_at: datetime
    generated_at: datetime
    users: int
    queues: dict[str, QueueStats]
    totals: dict[str, int]
    busiest_queue: str | None


class ReportStatus(BaseModel):
    """Where a report request stands: the job's state and progress, and the report once done."""

    job_id: str
    state: str
    progress: Any = None
    result: dict[str, Any] | None = None
    failed_reason: str | None = None
