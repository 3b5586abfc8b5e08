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


class DelayedError(NestqError):
    """Raise from a handler to put the job back in delayed without using an attempt (a step job).

    `raise DelayedError(delay=30)` runs the job again in 30 s; after `await job.move_to_delayed(ts)`,
    a bare `raise DelayedError()` only ends this run. Record the step first with `job.update_data(...)`.

    Attributes:
        delay: seconds until the job runs again, or None when the handler moved it already.
    """

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):
            raise ValueError(f"DelayedError(delay=...) takes seconds >= 0, got {delay!r}")
        super().__init__(message or "job moved back to delayed")
        self.delay = delay


class RateLimitError(NestqError):
    """Raise from a handler after `await queue.rate_limit(seconds)` (e.g. on an HTTP 429): the job goes
    back to waiting without using an attempt, and no worker of the queue takes a job until the time is
    over."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "job moved back to waiting: the queue is rate limited")


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


class CommandTimeoutError(RedisUnavailableError, TimeoutError):
    """A command got no answer within the per-command deadline (`NESTQ_COMMAND_TIMEOUT`, default 5 s).

    The server may be paused (`CLIENT PAUSE`), overloaded, or cut off by the network. The command may or may
    not have run: adding the same jobs again with job ids is safe, without them it may duplicate.
    """

    def __init__(self, url: str, timeout: float) -> None:
        RedisConnectionError.__init__(
            self,
            f"Redis at {url} did not answer within {timeout:g} s (NESTQ_COMMAND_TIMEOUT); the command may "
            "or may not have run. Check the server's load (SLOWLOG, CLIENT PAUSE) and the network, or raise "
            "NESTQ_COMMAND_TIMEOUT.",
        )
        self.url = url
        self.waited = timeout


class RedisAccessError(NestqError):
    """Redis refused nestq for good: wrong password, an ACL without the needed permission (NOPERM), or a
    TLS certificate that fails verification. Retrying cannot help; the message says what to fix.

    Attributes:
        url: the server's URL, password replaced by `***`.
    """

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(
            f"Redis at {url} refused nestq: {cause}. This does not fix itself: check the user and "
            "password in NESTQ_REDIS_URL, the user's ACL (it needs the queue's keys, scripts (EVALSHA, "
            "SCRIPT LOAD) and pub/sub), or the server's TLS certificate (rediss://, ssl_ca_certs)."
        )
        self.url = url


class BulkAddError(NestqError):
    """`add_bulk` was refused by the server partway (e.g. out of memory): some chunks were written.

    Attributes:
        written: the job ids that were written, in item order (items `written_items`).
        written_items: the indexes (in the call's list) of the items that were written.
        cause: the server's error.
    """

    def __init__(
        self, total: int, written_items: list[int], written: list[str], cause: BaseException
    ) -> None:
        span = _ranges(written_items)
        super().__init__(
            f"add_bulk wrote {len(written)} of {total} jobs (items {span or 'none'}) before Redis "
            f"refused the rest: {cause}. The written jobs are queued; add only the other items again (or "
            "give every job a job_id, so that adding them all again cannot duplicate)."
        )
        self.written = written
        self.written_items = written_items
        self.cause = cause


def _ranges(indexes: list[int]) -> str:
    parts: list[str] = []
    for i in indexes:
        if parts and isinstance(parts[-1], str) and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = parts[-1].split("-")[0] + f"-{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)


class ConfigurationError(NestqError):
    """The application or module graph is wired wrongly; the message says where and how to fix it."""


# --- module system (framework.di) ---


class MissingProviderError(ConfigurationError, LookupError):
    """A constructor parameter has no provider visible from its module; says what to import or export."""


class CircularDependencyError(ConfigurationError):
    """Providers (or modules) depend on each other in a loop; the message prints it as `A -> B -> A`."""


class PartitionMismatchError(NestqError, ValueError):
    """A queue is stored as K partitions but was opened with another count (`partitions=`).

    Producers and workers of one queue must all give the same `partitions`: with another count, jobs would
    be written where no worker looks. The count is kept in the queue's meta by its first user.
    """
