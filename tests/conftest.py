"""Shared fixtures: a real Redis-protocol server and one key prefix per test.

The server is `NESTQ_REDIS_URL` when set (CI runs the integration suite against the machine's Redis 7
and a local Redis Cluster that way), else an embedded Valkey started once per test session in a temporary
folder. On a cluster (`redis+cluster://`), tests marked `single_node` are skipped.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import structlog

from tests.support.clients import raw_client
from tests.support.local_cluster import LocalCluster, available, free_base
from tests.support.own_server import OwnServer


def _on_cluster() -> bool:
    from framework.cluster import is_cluster_url

    return is_cluster_url(os.environ.get("NESTQ_REDIS_URL"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `single_node(reason)` are skipped when the suite runs on a Redis Cluster."""
    if not _on_cluster():
        return
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "needs one server")
            item.add_marker(pytest.mark.skip(reason=f"single node only: {reason}"))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Code under test (the CLI's main()) configures logging process-wide: put it back after each test."""
    import framework.logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # A uvicorn.Config with its default log_config gives these loggers handlers of their own and stops
    # them propagating to the root: later tests would never see their records.
    named = {n: logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    saved = {n: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for n, lg in named.items()}
    installed = framework.logging._handler
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for n, lg in named.items():
        lg.handlers[:], lg.level, lg.propagate, lg.disabled = saved[n]
    framework.logging._handler = installed
    structlog.configure(**config)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the server the integration tests talk to."""
    url = os.environ.get("NESTQ_REDIS_URL")
    if url:
        yield url
        return
    from framework.embedded import EmbeddedServer

    folder: Path = tmp_path_factory.mktemp("embedded")
    server = EmbeddedServer(folder)
    yield server.ensure_running()
    server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so tests never see each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A raw client for assertions on keys; deletes this test's keys at teardown."""
    client = raw_client(redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{{{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster URL: `NESTQ_REDIS_URL` when it is one, else 3 masters + 3 replicas of this session's
    own on ports 7310-7315 (skipped when `redis-server` / `redis-cli` are not installed)."""
    url = os.environ.get("NESTQ_REDIS_URL")
    if _on_cluster() and url:
        yield url
        return
    if not available():
        pytest.skip("redis-server and redis-cli are needed to start a Redis Cluster")
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), free_base(7310))
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., OwnServer]]:
    """`own_server(*options)`: start a server of this test's own (to pause, fill or kill); stopped after."""
    started: list[OwnServer] = []

    def start(*options: str) -> OwnServer:
        server = OwnServer(tmp_path / f"server{len(started)}", *options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
