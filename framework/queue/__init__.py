"""The Redis queue core: Queue, Job, Worker, QueueEvents and job options."""

from framework.queue.backoff import Backoff
from framework.queue.events import QueueEvent, QueueEvents
from framework.queue.job import Job, JobState
from framework.queue.options import JobOptions, KeepJobs, RateLimit, Repeat
from framework.queue.queue import Queue
from framework.queue.worker import Worker

__all__ = [
    "Backoff",
    "Job",
    "JobOptions",
    "JobState",
    "KeepJobs",
    "Queue",
    "QueueEvent",
    "QueueEvents",
    "RateLimit",
    "Repeat",
    "Worker",
]
