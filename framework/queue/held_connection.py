"""One connection kept out of a client's pool, for a caller that sends one command at a time.

redis-py's `execute_command` takes a connection from the pool and gives it back on every call (a lock, a
check for unread data, metrics hooks): about a third of the cost of a small command on loopback. The add
batcher has at most one `addJobs` call on the wire per queue, and an idle worker one blocking wait, so each
keeps one connection instead.

A failed call drops the connection and raises; the caller then sends the command the usual way, through
the client and its retry policy (`LuaScript.__call__` does), and the next call takes a fresh connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from framework.errors import CommandTimeoutError

# A pool smaller than this is the caller's deliberate limit: taking a connection out of it for good could
# starve their other commands, so nothing is held there (`for_client` returns None).
MIN_POOL_TO_HOLD = 8


class HeldConnection:
    """A connection from `client`'s pool, held until `close()`. Calls must not overlap."""

    @classmethod
    def for_client(cls, client: Redis) -> HeldConnection | None:
        """A HeldConnection on `client`, or None when its pool is too small to spare one."""
        limit = getattr(client.connection_pool, "max_connections", None)
        if isinstance(limit, int) and limit < MIN_POOL_TO_HOLD:
            return None
        return cls(client)

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._conn: AbstractConnection | None = None
        # The client's per-command deadline (connection.BoundedRetry), kept here too: these calls bypass it.
        retry = client.connection_pool.connection_kwargs.get("retry")
        self._timeout: float | None = getattr(retry, "command_timeout", None)
        self._url: str = getattr(retry, "url", "")

    @property
    def held(self) -> bool:
        """Whether a connection is held now (one that may have died while unused)."""
        return self._conn is not None

    async def connection(self) -> AbstractConnection:
        """The held connection, taken from the pool first if none is held; connected."""
        if self._conn is None:
            pool = self._client.connection_pool
            if isinstance(pool, BlockingConnectionPool) and _busy(pool):
                # Holding one now could leave others waiting for a connection (many queues in one process
                # share the pool): this call goes the usual way instead (the caller falls back on errors).
                raise RedisConnectionError("the connection pool is busy; not holding a connection")
            self._conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        await self._conn.connect()  # reconnects a connection the pool disconnected; else nothing to do
        return self._conn

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (errors as redis-py raises them)."""
        conn = await self.connection()  # connecting has its own bounded retry (connection.BoundedRetry)
        if self._timeout is None:
            return await self._execute(conn, args)
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                return await self._execute(conn, args)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise CommandTimeoutError(self._url, self._timeout) from None

    async def _execute(self, conn: AbstractConnection, args: tuple[Any, ...]) -> Any:
        try:
            await conn.send_packed_command(conn.pack_command(*args))
            return await conn.read_response()
        except ResponseError:
            raise  # the server answered: the connection is in step and stays
        except BaseException:
            await self.drop()
            raise

    async def drop(self) -> None:
        """Disconnect and give back the connection: cancelled or failed mid-call, its state is unknown."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect(nowait=True)
            await self._client.connection_pool.release(conn)

    async def close(self) -> None:
        """Give the connection back to the pool for others to use."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._client.connection_pool.release(conn)


def _busy(pool: BlockingConnectionPool) -> bool:
    """Whether half of a blocking pool's connections are in use (held ones included)."""
    in_use = len(getattr(pool, "_in_use_connections", ()))
    return in_use * 2 >= pool.max_connections
