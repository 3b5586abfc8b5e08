"""add_bulk under a dropped connection and a full server (issue 13): never duplicated, never silently
half-written."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis

from framework import BulkAddError
from framework.queue import Queue
from tests.support.own_server import free_port


class DropRepliesProxy:
    """A TCP proxy to Redis. Once armed, the first connection that sends an EVALSHA gets no replies, and is
    cut once `written()` is true: the server stored everything, the client saw none of it (and re-sends)."""

    def __init__(self, upstream_port: int, written) -> None:
        self.upstream_port = upstream_port
        self.written = written
        self.armed = False
        self.cut = False
        self.port = free_port()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> DropRepliesProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        state = {"victim": False}

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                if self.armed and not self.cut and b"EVALSHA" in data and not state["victim"]:
                    state["victim"] = True
                    self.cut = True
                    self._spawn(cut_when_written())
                up_writer.write(data)
                await up_writer.drain()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                if not state["victim"]:
                    writer.write(data)
                    await writer.drain()

        async def cut_when_written() -> None:
            while not await self.written():  # noqa: ASYNC110 - polls the server, no event to wait on
                await asyncio.sleep(0.02)
            writer.transport.abort()
            up_writer.transport.abort()

        self._spawn(client_to_server())
        self._spawn(server_to_client())


async def test_dropped_connection_does_not_duplicate_a_multi_chunk_add_bulk(own_server) -> None:
    """The connection drops after Redis stored all 5 chunks, before any reply: 5000 jobs, not 10000."""
    server = own_server()
    total = 5000
    check = aioredis.Redis(host="127.0.0.1", port=server.port)

    async def written() -> bool:
        return await check.llen("{h:bulk}:wait") >= total

    async with DropRepliesProxy(server.port, written) as proxy:
        q = Queue("bulk", connection=f"redis://127.0.0.1:{proxy.port}/0", prefix="h")
        try:
            await q.get_job_counts()  # connected
            proxy.armed = True
            jobs = await asyncio.wait_for(q.add_bulk([{"name": "n", "data": i} for i in range(total)]), 30)
        finally:
            await q.close()
    assert proxy.cut, "the proxy never cut the connection: the test did not test anything"
    assert len(jobs) == total and len({j.id for j in jobs}) == total
    assert await check.llen("{h:bulk}:wait") == total
    assert [j.data for j in jobs] == list(range(total))
    await check.aclose()


async def test_out_of_memory_midway_names_what_was_written(own_server) -> None:
    """When Redis refuses later chunks (OOM), BulkAddError names exactly the jobs that were written."""
    server = own_server("--maxmemory-policy", "noeviction")
    admin = server.client()
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", used + 2_500_000)
    q = Queue("full", connection=server.url, prefix="h")
    items = [{"name": "n", "data": "x" * 1000} for _ in range(6000)]
    try:
        with pytest.raises(BulkAddError, match=r"add_bulk wrote \d+ of 6000 jobs") as caught:
            await q.add_bulk(items)
        error = caught.value
        stored = [x.decode() for x in admin.lrange("{h:full}:wait", 0, -1)]
        assert 0 < len(error.written) < 6000
        assert sorted(error.written) == sorted(stored)
        assert len(error.written_items) == len(error.written)
        assert "used memory > 'maxmemory'" in str(error)
        # Adding only the other items completes the call, without duplicates.
        admin.config_set("maxmemory", 0)
        rest = [item for i, item in enumerate(items) if i not in set(error.written_items)]
        await q.add_bulk(rest)
        assert admin.llen("{h:full}:wait") == 6000
    finally:
        with contextlib.suppress(Exception):
            admin.config_set("maxmemory", 0)
        await q.close()
