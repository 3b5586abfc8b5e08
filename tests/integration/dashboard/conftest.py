"""Fixtures of the dashboard tests: queues on the real test server, seeded by a real Worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from framework.queue import Job, Queue, Worker
from framework.settings import get_settings

BASE = "/admin/queues"
XSS = "<script>alert(1)</script>"


@dataclass
class Seed:
    """The `email` queue after one worker pass: ids by what happened to them."""

    queue: Queue
    completed: list[str]
    failed: str
    delayed: str
    waiting: list[str]


MakeQueue = Callable[..., Queue]


@pytest.fixture
async def make_queue(redis_url: str, prefix: str, redis: aioredis.Redis) -> AsyncIterator[MakeQueue]:
    """`make_queue("email")`: a Queue on the test server under this test's prefix, closed at teardown."""
    built: list[Queue] = []

    def factory(name: str = "email", **kwargs: Any) -> Queue:
        queue = Queue(name, connection=kwargs.pop("connection", redis_url), prefix=prefix, **kwargs)
        built.append(queue)
        return queue

    yield factory
    for queue in built:
        await queue.close()


@pytest.fixture
def drain(redis_url: str, prefix: str) -> Callable[..., Any]:
    """`await drain(queue, handler)`: run a real Worker on the queue until nothing is ready."""

    async def run(queue: Queue, handler: Callable[[Job[Any]], Any]) -> None:
        worker = Worker(queue.name, handler, connection=redis_url, prefix=prefix)
        try:
            await worker.run_until_drained()
        finally:
            await worker.close()

    return run


async def handler(job: Job[Any]) -> Any:
    """Completes `send` jobs (with progress and logs) and fails every other name."""
    if job.name != "send":
        raise ValueError(f"cannot {job.name}: {XSS}")
    await job.log(f"sending to {job.data['to']}")
    await job.update_progress(100)
    return {"delivered": True, "to": job.data["to"]}


@pytest.fixture
async def seeded(make_queue: MakeQueue, drain: Callable[..., Any]) -> Seed:
    """3 completed, 1 failed, 1 delayed and 2 waiting jobs in `email`."""
    queue = make_queue("email")
    done = [await queue.add("send", {"to": f"user{i}@example.com"}) for i in range(3)]
    failed = await queue.add("boom", {"html": XSS})
    await drain(queue, handler)
    delayed = await queue.add("later", {"n": 1}, delay=3600)
    waiting = [await queue.add("send", {"to": f"late{i}@example.com"}) for i in range(2)]
    return Seed(queue, [j.id for j in done], failed.id, delayed.id, [j.id for j in waiting])


def client(app: Any, *, host: str = "127.0.0.1", **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client calling the ASGI app in process, as a client at `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)


async def csrf_token(http: httpx.AsyncClient, base: str = BASE) -> str:
    """Open a page (which sets the CSRF cookie) and return the token."""
    response = await http.get(f"{base}/")
    assert response.status_code == 200, response.text
    token = http.cookies.get("nestq_csrf")
    assert token
    return token


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str) -> Iterator[None]:
    """The CLI's settings point at the test server and this test's prefix."""
    monkeypatch.setenv("NESTQ_REDIS_URL", redis_url)
    monkeypatch.setenv("NESTQ_PREFIX", prefix)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
