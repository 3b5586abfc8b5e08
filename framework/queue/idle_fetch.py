"""An idle worker waits for the queue's marker and takes jobs in the same round trip.

Waking on the marker (BZPOPMIN) and then asking for jobs would cost a second round trip for every job
that finds the worker idle, which is every job at a modest rate. So the `moveToActive` call is sent
behind the BZPOPMIN on the same connection: the server runs a connection's commands in order, so the
script runs the moment the BZPOPMIN returns, and both replies arrive together. The script reads the clock
on the server (shifted to the worker's clock, see `measure_clock_offset`), because a `now` taken when the
call was sent would be stale by the time it runs.

Closing while blocked: a `CLIENT ID` goes first in the same pipeline, so `interrupt()` can end the wait
with `CLIENT UNBLOCK` from another connection. The queued script still runs and its jobs come back to the
worker, which hands them straight back to waiting. Dropping the connection instead could lose the reply
of a script that had just run, and its jobs would then wait for their locks to expire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection as Connection
from redis.exceptions import NoScriptError

from framework.connection import CONNECTION_ERRORS
from framework.queue.held_connection import HeldConnection
from framework.queue.scripts import LuaScript, execute

_UNBLOCK_TRIES = 100  # 10 ms apart


async def measure_clock_offset(client: Redis) -> int:
    """This process's clock minus the server's, in ms (the reply's travel time split in half)."""
    before = time.time()
    sec, usec = await client.time()
    after = time.time()
    return round(((before + after) / 2 - (sec + usec / 1e6)) * 1000)


class IdleFetch:
    """Blocks on one marker key and runs one script when it returns, on a connection of `blocking`.

    Args:
        blocking: a client used only for blocking calls (no read timeout).
        control: another client, to send `CLIENT UNBLOCK` while the blocking connection waits.
        margin: seconds past the block's own timeout after which the connection is taken for dead (a cut
            network sends no FIN/RST) and dropped.
    """

    def __init__(self, blocking: Redis, control: Redis, *, margin: float) -> None:
        self._control = control
        self._margin = margin
        self._waiting = False
        self._client_id: int | None = None  # the blocking connection's id on the server, while it waits
        # One connection from wait to wait: no pool round on the path of every job that finds us idle.
        self._held = HeldConnection(blocking)

    async def wait_then_run(
        self, marker: bytes, timeout: float, lua: LuaScript, keys: Sequence[bytes], args: Sequence[Any]
    ) -> Any | None:
        """Wait up to `timeout` s for the marker, then run `lua` and return its reply (None when the script
        was not loaded on the server: the caller fetches the usual way, which loads it)."""
        commands: list[tuple[Any, ...]] = [
            ("CLIENT", "ID"),
            ("BZPOPMIN", marker, f"{max(timeout, 0.001):.3f}"),
            ("EVALSHA", lua.sha, lua.num_keys, *keys, *args),
        ]
        self._waiting = True
        try:
            async with asyncio.timeout(timeout + self._margin):
                conn = await self._send(commands)
                await conn.read_response()  # the marker, or nothing when the wait timed out
                self._client_id = None
                try:
                    return await conn.read_response()
                except NoScriptError:
                    await execute(self._control, "SCRIPT", "LOAD", lua.source)
                    return None
        except BaseException:
            # Cancelled or timed out mid-reply: the connection's state is unknown, so it is not reused.
            await self.close()
            raise
        finally:
            self._client_id = None
            self._waiting = False

    async def wait(self, marker: bytes, timeout: float) -> bool:
        """Wait up to `timeout` s for the marker alone (no script behind it). True when it was there: a
        partitioned worker waits on every partition at once and then asks the woken ones first."""
        block = f"{max(timeout, 0.001):.3f}"
        commands: list[tuple[Any, ...]] = [("CLIENT", "ID"), ("BZPOPMIN", marker, block)]
        self._waiting = True
        try:
            async with asyncio.timeout(timeout + self._margin):
                conn = await self._send(commands)
                popped = await conn.read_response()
                return popped is not None
        except BaseException:
            await self.close()
            raise
        finally:
            self._client_id = None
            self._waiting = False

    async def _send(self, commands: list[tuple[Any, ...]]) -> Connection:
        """Send the pipeline and read the CLIENT ID reply. The held connection may have died while idle
        (a restarted server): then nothing reached a server, and the pipeline goes once more on a new one."""
        for attempt in (1, 2):
            reused = self._held.held
            conn = await self._held.connection()
            try:
                await conn.send_packed_command(conn.pack_commands(commands))
                self._client_id = int(await conn.read_response())
                return conn
            except CONNECTION_ERRORS:
                await self._held.drop()
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Drop the connection (the next wait opens a new one)."""
        await self._held.drop()

    async def interrupt(self) -> bool:
        """End the wait in progress early: the queued script still runs and its reply is returned. False
        when that failed (e.g. the server's ACL forbids CLIENT UNBLOCK): the caller then cancels the wait."""
        # CLIENT UNBLOCK answers 0 when the connection is not blocked: its id may not be known yet, its
        # BZPOPMIN may not have been read by the server yet (the pipeline split across packets), or it
        # has just returned. Try again until the wait is over.
        for _ in range(_UNBLOCK_TRIES):
            if not self._waiting:
                return True
            client_id = self._client_id
            if client_id is None:
                await asyncio.sleep(0.01)
                continue
            try:
                if await execute(self._control, "CLIENT", "UNBLOCK", client_id) == 1:
                    return True
            except Exception:
                return False
            await asyncio.sleep(0.01)
        return False
