"""Typed view models: what each page's template receives, built by `pages.py` from `data.py`'s results.

One frozen dataclass per page; its `template` names the Jinja file and its fields are exactly the
names the template uses (besides what every page shares: base, csrf_token, read_only, flash, ...).
The rows inside (queue summaries, job summaries, schedulers) are the data layer's JSON-ready dicts,
the same the JSON API and the ops CLI show. Nothing here reads Redis or knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from framework.dashboard.data import JobListing, QueueSummary, SchedulerListing
from framework.queue import Queue

__all__ = [
    "ActivityView",
    "ErrorView",
    "JobView",
    "QueueView",
    "QueuesView",
    "SearchView",
    "View",
    "WorkersView",
]


@dataclass(frozen=True)
class View:
    """Base of the page views."""

    template: ClassVar[str]


@dataclass(frozen=True)
class QueuesView(View):
    """The home page: every queue with its counts, and the totals over all of them."""

    template: ClassVar[str] = "queues.html"
    queues: list[QueueSummary]
    totals: dict[str, int]


@dataclass(frozen=True)
class QueueView(View):
    """One queue: a page of one state's jobs, its schedulers and its limits."""

    template: ClassVar[str] = "queue.html"
    queue: Queue
    listing: JobListing
    state: str
    name_filter: str
    page_number: int
    pages: int
    limit: int
    schedulers: SchedulerListing
    limits: dict[str, Any]
    cleanable: bool
    action_states: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class JobView(View):
    """One job: `data.job_detail`, and which actions apply in which state."""

    template: ClassVar[str] = "job.html"
    queue: Queue
    job: dict[str, Any]
    action_states: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class SearchView(View):
    """Jobs found by id, id prefix or name."""

    template: ClassVar[str] = "search.html"
    job_id: str
    found: list[dict[str, Any]]


@dataclass(frozen=True)
class ErrorView(View):
    """A refusal or failure, said in words."""

    template: ClassVar[str] = "error.html"
    title: str
    message: str


@dataclass(frozen=True)
class ActivityView(View):
    """Throughput and failure charts per queue over a range, with the Redis server's facts."""

    template: ClassVar[str] = "activity.html"
    queues: list[dict[str, Any]]
    range: str
    ranges: list[str]
    server: dict[str, Any] | None


@dataclass(frozen=True)
class WorkersView(View):
    """Live workers of every queue, with the Redis server's facts."""

    template: ClassVar[str] = "workers.html"
    workers: list[dict[str, Any]]
    server: dict[str, Any] | None
