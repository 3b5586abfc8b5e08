"""Cancel requests for active jobs: one shard pub/sub channel per queue, heard by every worker of it.

`Queue.cancel(id)` flags an active job (`cancel` field of its hash) and publishes its id on
`{prefix:queue}:cancelled` (SPUBLISH: on a Redis Cluster the channel lives on the queue's own shard). The
worker running the job stops its handler. The flag covers a message lost while a worker was
reconnecting: lock renewal reports flagged jobs, and the stall check and releaseJobs fail them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from framework.connection import CONNECTION_ERRORS, Outage
from framework.queue.serialization import as_text

log = structlog.get_logger("nestq.worker")


class CancelListener:
    """Calls `on_cancel(job_id)` for each cancel request published on `channel`.

    Args:
        client: a client for blocking use (the subscription holds one of its connections).
        channel: the queue's cancel channel (`QueueKeys.cancelled`).
        on_cancel: called with the job id (sync, quick; ids of jobs this worker does not run are ignored
            there).
        outage: the owner's outage tracker (one log line per outage for the whole worker).
        on_subscribed: called after each (re)subscription, so the owner can look for requests it missed.
    """

    def __init__(
        self,
        client: Redis,
        channel: str,
        on_cancel: Callable[[str], None],
        outage: Outage,
        on_subscribed: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._on_cancel = on_cancel
        self._outage = outage
        self._on_subscribed = on_subscribed
        self._sharded = True

    async def run(self) -> None:
        """Listen until cancelled, resubscribing after every lost connection."""
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._subscribe(pubsub)
                # No outage.ok() here: a server still loading its data accepts SUBSCRIBE but not the
                # worker's commands, so recovery is for the data path to declare.
                if self._on_subscribed is not None:
                    self._on_subscribed()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] in ("message", "smessage"):
                        data = message["data"]
                        self._on_cancel(as_text(data))
            except ResponseError as exc:
                if self._sharded and "unknown command" in str(exc).lower():
                    self._sharded = False  # a server before 7.0: plain pub/sub (cancelJob falls back too)
                else:
                    log.warning("cancel channel subscription failed; retrying", error=str(exc))
                    await asyncio.sleep(1.0)
            except CONNECTION_ERRORS as exc:
                self._outage.failed(exc)
                await self._outage.pause()
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]

    async def _subscribe(self, pubsub: PubSub) -> None:
        if self._sharded:
            await pubsub.ssubscribe(self._channel)
        else:
            await pubsub.subscribe(self._channel)
