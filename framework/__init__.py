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
    RedisUnavailableError,
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
from framework.di import (
    Application,
    ApplicationContext,
    Module,
    ProviderSpec,
    QueueConfig,
    QueueModule,
    QueueRegistry,
    QueueSpec,
    QueueToken,
    inject,
    inject_queue,
    on_active,
    on_completed,
    on_drained,
    on_error,
    on_failed,
    on_progress,
    on_queue_event,
    on_stalled,
    process,
    processor,
    provide,
    queue_events_listener,
)
from framework.di.schedulers import JobSchedulerInfo, cron, every
