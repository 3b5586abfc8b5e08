"""Live workers: each running Worker writes a heartbeat (lua/heartbeat-2.lua) every `interval` seconds.

An entry lapses 1.5 intervals after the last beat, so a worker killed without a goodbye disappears within
two heartbeats; a worker that closes normally removes itself at once. Reading never writes: lapsed entries
are filtered by the server's clock and pruned by the next heartbeat of any worker of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.queue import Queue

log = structlog.get_logger("nestq.worker")

DEFAULT_HEARTBEAT_INTERVAL = 10.0
LAPSE_FACTOR = 1.5  # an entry lives this many intervals after its last beat


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker of a queue, as its last heartbeat described it.

    Attributes:
        id: the worker's id (`host:pid:random`), as in CLIENT LIST and the job's `worker` field.
        hostname, pid: where it runs.
        queue: the queue it consumes.
        concurrency: jobs it may run at once.
        active: jobs it was running at its last heartbeat.
        started_at, last_seen: ms since the epoch (server clock for last_seen).
    """

    id: str
    hostname: str
    pid: int
    queue: str
    concurrency: int
    active: int
    started_at: int
    last_seen: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for the CLI's --json and the dashboard API)."""
        return {
            "id": self.id,
            "hostname": self.hostname,
            "pid": self.pid,
            "queue": self.queue,
            "concurrency": self.concurrency,
            "active": self.active,
            "started_at": self.started_at,
            "last_seen": self.last_seen,
        }


async def get_workers(queue: Queue) -> list[WorkerInfo]:
    """See `Queue.get_workers`."""
    k = queue.keys
    async with queue.client.pipeline(transaction=False) as pipe:
        pipe.zrange(k.workers, 0, -1, withscores=True)
        pipe.hgetall(k.workers_info)
        pipe.time()
        entries, infos, (secs, micros) = await pipe.execute()
    now = int(secs) * 1000 + int(micros) // 1000
    by_id = {as_text(key): value for key, value in infos.items()}
    workers: list[WorkerInfo] = []
    for member, expires in entries:
        worker_id = as_text(member)
        raw = by_id.get(worker_id)
        if expires <= now or raw is None:
            continue
        try:
            info = json.loads(as_text(raw))
            workers.append(
                WorkerInfo(
                    id=worker_id,
                    hostname=str(info["hostname"]),
                    pid=int(info["pid"]),
                    queue=str(info.get("queue", queue.name)),
                    concurrency=int(info["concurrency"]),
                    active=int(info["active"]),
                    started_at=int(info["started_at"]),
                    last_seen=int(expires) - int(info["ttl"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # written by a newer or broken client: not ours to interpret
    workers.sort(key=lambda w: (w.started_at, w.id))
    return workers


class Heartbeat:
    """Beats for one worker until stopped, then removes its entry.

    Args:
        queue: the worker's queue.
        worker_id: the worker's id.
        concurrency, active: read at every beat (the concurrency may change while the worker runs).
        interval: seconds between beats.
    """

    def __init__(
        self,
        queue: Queue,
        worker_id: str,
        *,
        concurrency: Callable[[], int],
        active: Callable[[], int],
        interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0 seconds, got {interval!r}")
        self._queue = queue
        self._id = worker_id
        self._concurrency = concurrency
        self._active = active
        self._interval = interval
        self._started_at = int(time.time() * 1000)
        self._keys = [queue.keys.workers, queue.keys.workers_info]

    def _info(self) -> str:
        return json.dumps(
            {
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "queue": self._queue.name,
                "concurrency": self._concurrency(),
                "active": self._active(),
                "started_at": self._started_at,
                "ttl": int(self._interval * LAPSE_FACTOR * 1000),
            }
        )

    async def beat(self) -> None:
        """One heartbeat now."""
        ttl = int(self._interval * LAPSE_FACTOR * 1000)
        await script("heartbeat")(self._queue.client, self._keys, [self._id, self._info(), ttl])

    async def run(self) -> None:
        """Beat every interval until cancelled; a failed beat is retried at the next one."""
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: the worker's other loops report it
                log.debug("heartbeat failed", queue=self._queue.name, error=str(exc))
            await asyncio.sleep(self._interval)

    async def leave(self) -> None:
        """Remove this worker's entry (a normal close); an error only leaves it to lapse."""
        with contextlib.suppress(Exception):
            await script("heartbeat")(self._queue.client, self._keys, [self._id, "", 0])
