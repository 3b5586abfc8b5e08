"""Connections: a producer gets a clear, bounded ConnectionError; outages are logged once, not per attempt."""

from __future__ import annotations

import socket
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from framework.connection import GIVE_UP_AFTER, Outage, create_redis
from framework.errors import RedisUnavailableError
from framework.queue import Queue

SECRET = "s3cret-pw"


def _closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestProducerError:
    async def test_add_fails_after_a_bounded_wait_naming_the_redacted_url(self) -> None:
        """Queue.add against an unreachable Redis raises RedisUnavailableError after GIVE_UP_AFTER seconds,
        naming the server without its password and saying what to check."""
        url = f"redis://:{SECRET}@127.0.0.1:{_closed_port()}/0"
        t0 = time.monotonic()
        async with Queue("q", connection=url, prefix="t") as q:
            with pytest.raises(RedisUnavailableError) as info:
                await q.add("n", 1)
        waited = time.monotonic() - t0
        assert GIVE_UP_AFTER - 0.5 <= waited < GIVE_UP_AFTER + 3
        message = str(info.value)
        assert SECRET not in message
        assert "redis://:***@127.0.0.1:" in message
        assert "NESTQ_REDIS_URL" in message and "running and reachable" in message
        # Catchable as either kind of ConnectionError.
        assert isinstance(info.value, ConnectionError)
        assert isinstance(info.value, RedisConnectionError)

    async def test_clients_have_no_read_timeout(self) -> None:
        """No socket read timeout: it would race 5 s blocking reads, and redis-py's asyncio.wait_for
        around writes can swallow a cancellation on Python 3.11."""
        client, owned = create_redis(f"redis://127.0.0.1:{_closed_port()}/0")
        assert owned
        assert client.connection_pool.make_connection().socket_timeout is None
        await client.aclose()


class TestOutage:
    def test_logs_once_per_outage_and_once_on_recovery(self) -> None:
        """Many failed attempts make one warning; the first success one info line; then silence."""
        outage = Outage("worker", queue="q")
        with capture_logs() as logs:
            assert outage.failed(OSError("refused")) is True
            for _ in range(20):
                assert outage.failed(OSError("refused")) is False
            outage.ok()
            outage.ok()
            outage.failed(OSError("again"))
            outage.ok()
        events = [(e["log_level"], e["event"]) for e in logs]
        assert events == [
            ("warning", "redis unreachable; worker retrying until it is back"),
            ("info", "redis reachable again; worker resumed"),
            ("warning", "redis unreachable; worker retrying until it is back"),
            ("info", "redis reachable again; worker resumed"),
        ]
        assert outage.outages == 2

    def test_recovery_callbacks_run(self) -> None:
        """on_recovered callbacks run when an outage ends (the worker renews its locks then)."""
        outage = Outage("worker")
        calls: list[int] = []
        outage.on_recovered(lambda: calls.append(1))
        outage.ok()
        outage.failed(OSError("x"))
        outage.ok()
        assert calls == [1]
