"""Errors raised by nestq. Each says what went wrong and what to do about it."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError


class NestqError(Exception):
    """Base class of every error nestq raises on purpose."""


class UnrecoverableError(NestqError):
    """Raise from a handler to fail the job at once, without any retry."""


class JobTimeoutError(NestqError, TimeoutError):
    """A job ran longer than its `timeout` option; its handler was cancelled."""


class JobCancelledError(NestqError):
    """A job was cancelled through `job.cancel()` / `queue.cancel(id)`."""


class WaitingChildrenError(NestqError):
    """Raise from a handler after adding children (`job.add_child(...)`): the job waits in `waiting-children`
    until they have finished, then runs again (without using an attempt)."""


class JobNotFoundError(NestqError, LookupError):
    """No job with that id exists (never added, removed, or trimmed by retention)."""


class JobFailedError(NestqError):
    """Raised by `Job.wait_until_finished()` when the job ended failed.

    Attributes:
        job_id: the job's id.
        failed_reason: the reason stored on the job.
    """

    def __init__(self, job_id: str, failed_reason: str | None) -> None:
        super().__init__(f"job {job_id} failed: {failed_reason}")
        self.job_id = job_id
        self.failed_reason = failed_reason


class InvalidJobDataError(NestqError, TypeError):
    """A payload or result that JSON cannot carry; names the offending path."""


class CorruptJobError(NestqError):
    """A job hash in Redis is not what nestq wrote (edited by hand or by another tool)."""


class LockLostError(NestqError):
    """The worker no longer holds the job's lock: another worker may have taken the job over."""


class RedisUnavailableError(NestqError, RedisConnectionError, ConnectionError):
    """Redis could not be reached in a bounded time; says which server (password hidden) and what to check.

    A `redis.exceptions.ConnectionError` and a builtin `ConnectionError`, so either `except` catches it.

    Attributes:
        url: the server's URL, password replaced by `***`.
        waited: seconds spent retrying before giving up.
    """

    def __init__(self, url: str, waited: float, cause: BaseException | None = None) -> None:
        detail = f" (last error: {cause})" if cause is not None else ""
        super().__init__(
            f"cannot reach Redis at {url} after retrying for {waited:g} s{detail}. Check that the server is "
            "running and reachable from this machine (host, port, firewall), and that NESTQ_REDIS_URL "
            "(password, TLS with rediss://) is right."
        )
        self.url = url
        self.waited = waited


class ConfigurationError(NestqError):
    """The application or module graph is wired wrongly; the message says where and how to fix it."""


# --- module system (framework.di) ---


class MissingProviderError(ConfigurationError, LookupError):
    """A constructor parameter has no provider visible from its module; says what to import or export."""


class CircularDependencyError(ConfigurationError):
    """Providers (or modules) depend on each other in a loop; the message prints it as `A -> B -> A`."""
