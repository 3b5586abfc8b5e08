"""Results of the maintenance jobs."""

from __future__ import annotations

from pydantic import BaseModel


class CleanupResult(BaseModel):
    """What a `cleanup` run deleted."""

    reports_removed: int
    sessions_removed: int


class DigestResult(BaseModel):
    """What a `digest` run queued: one email per user who gets the digest."""

    emails: int
