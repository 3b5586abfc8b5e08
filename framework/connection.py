"""Turn a `connection` argument (URL, client or None) into a redis.asyncio client.

None means: `NESTQ_REDIS_URL` from the settings, else the embedded server for this folder.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Connection = str | Redis | None


def resolve_url(connection: str | None) -> str:
    """The server URL to use when no client was given."""
    if connection:
        return connection
    from framework.settings import get_settings

    url = get_settings().redis_url
    if url:
        return url
    from framework.embedded import embedded_url

    return embedded_url()


def create_redis(connection: Connection) -> tuple[Redis, bool]:
    """Return (client, owned). A client passed in is shared and not closed by nestq (owned is False)."""
    if isinstance(connection, Redis):
        return connection, False
    url = resolve_url(connection)
    client = Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        # A command that hits a dropped connection is retried on a fresh one, a few times with a capped
        # backoff, before the caller sees a ConnectionError: a Redis restart doesn't fail a producer.
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=6),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return client, True


def clone_redis(client: Redis) -> Redis:
    """A new client with its own connection pool to the same server (for blocking commands)."""
    kwargs = dict(client.connection_pool.connection_kwargs)
    pool = client.connection_pool.__class__(
        connection_class=client.connection_pool.connection_class, **kwargs
    )
    return Redis(connection_pool=pool)
