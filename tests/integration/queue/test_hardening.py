"""What a hostile test broke (issue 13): failure bookkeeping that must never loop, capped failure text, a
deadline on producers' commands, and errors that retrying cannot fix."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from framework import CommandTimeoutError, RedisAccessError
from framework.connection import clone_redis, create_redis
from framework.queue import Queue, Worker
from framework.queue.outcome import MAX_REASON_CHARS, MAX_STACK_CHARS, MAX_STACKTRACES
from framework.settings import get_settings
from framework.testing import capture_logs

from .conftest import wait_for


@pytest.fixture
def deadline(monkeypatch):
    """`deadline(seconds)`: set NESTQ_COMMAND_TIMEOUT for clients made from now on (reset after)."""

    def set_(seconds: float) -> None:
        monkeypatch.setenv("NESTQ_COMMAND_TIMEOUT", str(seconds))
        get_settings.cache_clear()

    yield set_
    monkeypatch.delenv("NESTQ_COMMAND_TIMEOUT", raising=False)
    get_settings.cache_clear()


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


async def _drain(worker: Worker, timeout: float = 30.0) -> None:
    await asyncio.wait_for(worker.run_until_drained(include_delayed=True), timeout)


class TestFailureBookkeepingNeverLoops:
    async def test_exception_whose_str_raises_still_counts_attempts(self, make_queue, make_worker) -> None:
        """A handler error whose __str__ raises is recorded; the job runs exactly `attempts` times."""
        q = make_queue()
        job = await q.add("n", None, attempts=3)
        runs = 0

        async def handler(job):
            nonlocal runs
            runs += 1
            raise BrokenStr()

        await _drain(make_worker(handler, start=False))
        assert runs == 3
        stored = await q.get_job(job.id)
        assert stored is not None and stored.attempts_made == 3
        assert (await q.get_job_state(job.id)).value == "failed"
        assert stored.failed_reason.startswith("BrokenStr: <message unavailable")

    @pytest.mark.parametrize(
        "opts",
        ['{"attempts":"three"}', '{"attempts":3,"remove_on_fail":"sometimes"}', '{"attempts":-2}'],
    )
    async def test_corrupt_stored_options_fail_the_job_once(self, make_queue, make_worker, opts) -> None:
        """Corrupt attempts/remove_on_fail in the stored options: the job fails once, naming them."""
        q = make_queue()
        job = await q.add("n", None)
        await q.client.hset(q.keys.job(job.id), "opts", opts)
        runs = 0

        async def handler(job):
            nonlocal runs
            runs += 1
            raise ValueError("boom")

        await _drain(make_worker(handler, start=False))
        assert runs == 1
        stored = await q.get_job(job.id)
        assert stored is not None and "stored options are corrupt" in (stored.failed_reason or "")
        assert (await q.get_job_state(job.id)).value == "failed"


class TestFailureTextIsCapped:
    async def test_huge_message_is_capped_in_hash_stream_and_logs(self, make_queue, make_worker) -> None:
        """A 5 MB error message is stored, streamed and logged cut to the caps, on every attempt."""
        q = make_queue()
        job = await q.add("n", None, attempts=3)

        async def handler(job):
            raise ValueError("x" * 5_000_000)

        with capture_logs() as logs:
            await _drain(make_worker(handler, start=False))
        k = q.keys
        assert 0 < await q.client.hstrlen(k.job(job.id), "failedReason") <= MAX_REASON_CHARS + 50
        trace = await q.client.hstrlen(k.job(job.id), "stacktrace")
        assert 0 < trace <= MAX_STACKTRACES * (MAX_STACK_CHARS + 100)
        events = await q.client.xrange(k.events)
        reasons = [f[b"failedReason"] for _, f in events if b"failedReason" in f]
        assert len(reasons) == 3 and all(len(r) <= MAX_REASON_CHARS + 50 for r in reasons)
        logged = [e["reason"] for e in logs if "reason" in e]
        assert logged and all(len(r) <= MAX_REASON_CHARS + 50 for r in logged)
        assert "characters cut" in reasons[-1].decode()


class TestCommandDeadline:
    async def test_add_and_admin_calls_fail_within_the_deadline_when_redis_is_paused(
        self, own_server, deadline
    ) -> None:
        """Under CLIENT PAUSE, add() and get_job_counts() raise CommandTimeoutError after the deadline."""
        server = own_server()
        deadline(0.5)
        q = Queue("paused", connection=server.url, prefix="h")
        admin = server.client()
        try:
            await q.add("n", 1)  # connected, scripts loaded
            admin.execute_command("CLIENT", "PAUSE", 20_000, "ALL")
            for call in (
                lambda: q.add("n", 2),
                lambda: q.get_job_counts(),
                lambda: q.add_bulk([{"name": "n"}]),
            ):
                started = time.monotonic()
                with pytest.raises(CommandTimeoutError, match=r"did not answer within 0\.5 s"):
                    await call()
                assert time.monotonic() - started < 4.0
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
            await q.close()

    async def test_blocking_reads_are_not_bound_by_the_deadline(self, redis_url, prefix, deadline) -> None:
        """Clients for blocking reads carry no command deadline; a worker idling longer than it is fine."""
        deadline(0.3)
        client, _ = create_redis(redis_url, key=f"{{{prefix}:idle}}")
        assert client.connection_pool.connection_kwargs["retry"].command_timeout == 0.3
        blocking = clone_redis(client)
        assert blocking.connection_pool.connection_kwargs["retry"].command_timeout is None
        errors: list[BaseException] = []
        done = asyncio.Event()
        w = Worker("idle", lambda job: done.set(), connection=redis_url, prefix=prefix, drain_delay=1.0)
        w.on("error", errors.append)
        task = asyncio.create_task(w.run())
        q = Queue("idle", connection=redis_url, prefix=prefix)
        try:
            await wait_for(lambda: w._blocking)
            await asyncio.sleep(1.5)  # the scenario: idle for longer than the deadline, in blocking waits
            await q.add("n")
            await asyncio.wait_for(done.wait(), 5)
            assert errors == []
        finally:
            await w.close(timeout=5)
            await asyncio.wait_for(task, 10)
            await q.close()
            await client.aclose()
            await blocking.aclose()


class TestPermanentErrors:
    async def test_wrong_password_is_one_clear_error_at_once(self, own_server) -> None:
        """A wrong password raises RedisAccessError at once (no 5 s retry), without the password."""
        server = own_server("--requirepass", "right-pass")
        url = f"redis://:wrong-pass@127.0.0.1:{server.port}/0"
        q = Queue("q", connection=url, prefix="h")
        started = time.monotonic()
        with pytest.raises(RedisAccessError) as caught:
            await q.add("n")
        assert time.monotonic() - started < 2.0
        assert "wrong-pass" not in str(caught.value) and "password" in str(caught.value)
        await q.close()

    async def test_worker_without_permission_stops_with_one_error(self, own_server) -> None:
        """A worker whose ACL user may not touch the queue's keys (NOPERM) stops with one clear error."""
        server = own_server()
        server.client().execute_command("ACL", "SETUSER", "limited", "on", ">pw", "~other:*", "+@all")
        url = f"redis://limited:pw@127.0.0.1:{server.port}/0"
        w = Worker("q", lambda job: None, connection=url, prefix="h")
        with capture_logs() as logs:
            with pytest.raises(RedisAccessError, match="refused nestq"):
                await asyncio.wait_for(w.run(), 10)
        errors = [e for e in logs if e["log_level"] == "error"]
        assert len(errors) == 1 and "refused nestq" in errors[0]["event"]


class TestClockOffset:
    async def test_a_large_clock_offset_is_warned_about_once(self, redis_url, prefix, monkeypatch) -> None:
        """A worker whose clock is seconds away from the server's logs a warning naming the offset."""
        import framework.queue.worker as worker_module

        async def skewed(client: aioredis.Redis) -> int:
            return 5_000

        monkeypatch.setattr(worker_module, "measure_clock_offset", skewed)
        w = Worker("q", lambda job: None, connection=redis_url, prefix=prefix)
        with capture_logs() as logs:
            task = asyncio.create_task(w.run())
            await wait_for(lambda: w._blocking)
            await w.close(timeout=5)
            await asyncio.wait_for(task, 10)
        [warning] = [e for e in logs if "clock differs" in e["event"]]
        assert warning["offset_ms"] == 5_000 and warning["log_level"] == "warning"


def test_settings_read_the_command_timeout(deadline) -> None:
    """NESTQ_COMMAND_TIMEOUT sets the deadline (default 5 s)."""
    assert get_settings().command_timeout == 5.0
    deadline(2.5)
    assert get_settings().command_timeout == 2.5
