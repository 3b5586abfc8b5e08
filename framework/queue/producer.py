"""Writing jobs: one `addJobs` script call for many jobs.

`add_bulk` sends its jobs in chunks of one script call each, all in one pipeline. Concurrent `add()` calls
are batched automatically (as ioredis auto-pipelines): while one call is on the wire, the adds that arrive
meanwhile wait and then go together in the next call. A lone add goes out at once, so sequential adds pay
no extra latency, and a hundred concurrent ones cost a couple of round trips instead of a hundred.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from framework.queue.held_connection import HeldConnection
from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.queue import Queue

# One entry: [custom id or "", name, data JSON, opts JSON, delay ms, priority, lifo "1"/"0"].
Entry = list[Any]
CHUNK = 1000  # jobs per script call: keeps any single call short on the server


async def add_entries(
    queue: Queue, entries: list[Entry], timestamp: int, via: HeldConnection | None = None
) -> list[tuple[str, int]]:
    """Write entries with as many `addJobs` calls as chunks, in one pipeline. Returns (id, created) pairs.
    A single chunk goes over `via` when given (the batcher's own connection)."""
    from framework.queue.queue import now_ms

    lua = script("addJobs")
    chunks = [entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK)]
    ts = timestamp or now_ms()

    def args(chunk: list[Entry]) -> list[Any]:
        flat: list[Any] = [queue._base_bytes, ts, queue.max_events, len(chunk)]
        for e in chunk:
            flat.extend(e)
        return flat

    if len(chunks) == 1:
        replies = [await lua(queue.client, queue._add_keys, args(chunks[0]), via=via)]
    else:
        await queue._ensure_loaded(lua)
        pipe = queue.client.pipeline(transaction=False)
        for chunk in chunks:
            pipe.execute_command("EVALSHA", lua.sha, lua.num_keys, *queue._add_keys, *args(chunk))
        replies = await pipe.execute()
    out: list[tuple[str, int]] = []
    for reply in replies:
        it = iter(reply)
        out.extend((as_text(job_id), int(created)) for job_id, created in zip(it, it, strict=True))
    return out


class AddBatcher:
    """Batches concurrent `add()` calls of one Queue into shared `addJobs` calls."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._pending: list[tuple[Entry, asyncio.Future[tuple[str, int]]]] = []
        self._inflight = False
        self._task: asyncio.Future[None] | None = None  # held so the loop can't lose the sender task
        # One call on the wire at a time: it can keep its own connection (held_connection.py).
        self._conn = HeldConnection.for_client(queue.client)

    async def submit(self, entry: Entry) -> tuple[str, int]:
        if not self._inflight:
            # Nothing on the wire: send this one now, without a task or a future (the sequential case).
            self._inflight = True
            try:
                return (await add_entries(self._queue, [entry], 0, self._conn))[0]
            finally:
                if self._pending:
                    self._task = asyncio.ensure_future(self._send_loop())
                else:
                    self._inflight = False
        fut: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, fut))
        return await fut

    async def close(self) -> None:
        """Give the held connection back to the client's pool."""
        if self._conn is not None:
            await self._conn.close()

    async def _send_loop(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
                try:
                    results = await add_entries(self._queue, [entry for entry, _ in batch], 0, self._conn)
                except BaseException as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._inflight = False
