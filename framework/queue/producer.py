"""Writing jobs: one `addJobs` script call for many jobs.

`add_bulk` sends its jobs in chunks of one script call each, all in one pipeline. Concurrent `add()` calls
are batched automatically (as ioredis auto-pipelines): while one call is on the wire, the adds that arrive
meanwhile wait and then go together in the next call. A lone add goes out at once, so sequential adds pay
no extra latency, and a hundred concurrent ones cost a couple of round trips instead of a hundred.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from framework.errors import BulkAddError
from framework.queue.held_connection import HeldConnection
from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.queue import Queue

# One entry: [custom id or "", name, data JSON, opts JSON, delay ms, priority, lifo "1"/"0"].
Entry = list[Any]
CHUNK = 1000  # jobs per script call: keeps any single call short on the server
# How long add_bulk's chunk records (addJobsOnce) live: far longer than a resend can take (the per-command
# deadline), short enough to cost nothing.
RECORD_TTL_MS = 300_000


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


async def add_bulk_entries(queue: Queue, entries: list[Entry], timestamp: int) -> list[tuple[str, int]]:
    """Write add_bulk's entries, each chunk at most once (`addJobsOnce`): a pipeline re-sent after a
    dropped connection gets the chunks already written back instead of writing them again. When the server
    refuses a chunk (e.g. out of memory), raises `BulkAddError` naming the items that were written.
    Returns (id, created) pairs."""
    from framework.queue.queue import now_ms

    lua = script("addJobsOnce")
    ts = timestamp or now_ms()
    call = uuid.uuid4().hex
    chunks = [entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK)]
    replies: list[Any] = [None] * len(chunks)
    pending = list(range(len(chunks)))
    await queue._ensure_loaded(lua)
    for _ in range(2):  # a second pass only for chunks refused with NOSCRIPT (the server restarted)
        pipe = queue.client.pipeline(transaction=False)
        for i in pending:
            args: list[Any] = [queue._base_bytes, ts, queue.max_events, len(chunks[i]), RECORD_TTL_MS]
            for e in chunks[i]:
                args.extend(e)
            keys = [*queue._add_keys, queue.keys.bulk_record(call, i)]
            pipe.execute_command("EVALSHA", lua.sha, lua.num_keys, *keys, *args)
        for i, reply in zip(pending, await pipe.execute(raise_on_error=False), strict=True):
            replies[i] = reply
        pending = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if not pending:
            break
        await queue._ensure_loaded(lua)
    failed = next((r for r in replies if isinstance(r, BaseException)), None)
    out: list[tuple[str, int]] = []
    written_items: list[int] = []
    for i, reply in enumerate(replies):
        if isinstance(reply, BaseException):
            continue
        it = iter(reply)
        pairs = [(as_text(job_id), int(created)) for job_id, created in zip(it, it, strict=True)]
        out.extend(pairs)
        written_items.extend(i * CHUNK + n for n, (_, created) in enumerate(pairs) if created)
    if failed is not None:
        written = [job_id for job_id, created in out if created]
        raise BulkAddError(len(entries), written_items, written, failed)
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
