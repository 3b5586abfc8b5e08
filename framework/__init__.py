"""nestq: NestJS-style modules over a fast, crash-safe Redis job queue."""

from framework.errors import (
    ConfigurationError,
    CorruptJobError,
    InvalidJobDataError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    LockLostError,
    NestqError,
    UnrecoverableError,
)
from framework.queue import (
    Backoff,
    Job,
    JobOptions,
    JobState,
    KeepJobs,
    Queue,
    QueueEvent,
    QueueEvents,
    RateLimit,
    Repeat,
    Worker,
)

# --- module system exports (framework.di) go below this line ---
