"""The Redis queue core: Queue, Job, Worker, QueueEvents and job options."""

from framework.queue.backoff import Backoff
from framework.queue.canvas import chain, chord, group, signature
from framework.queue.control_options import Deduplication
from framework.queue.events import QueueEvent, QueueEvents
from framework.queue.flow import Dependencies, FlowJob, FlowProducer, JobNode
from framework.queue.job import Job, JobState
from framework.queue.options import JobOptions, KeepJobs, ParentRef, RateLimit, Repeat
from framework.queue.queue import Queue
from framework.queue.worker import Worker

__all__ = [
    "Backoff",
    "Deduplication",
    "Dependencies",
    "FlowJob",
    "FlowProducer",
    "Job",
    "JobNode",
    "JobOptions",
    "JobState",
    "KeepJobs",
    "ParentRef",
    "Queue",
    "QueueEvent",
    "QueueEvents",
    "RateLimit",
    "Repeat",
    "Worker",
    "chain",
    "chord",
    "group",
    "signature",
]
