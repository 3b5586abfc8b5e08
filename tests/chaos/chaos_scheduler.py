"""The scheduler process of the chaos suite: keeps the job scheduler `tick` (every second, on the `ticks`
queue) upserted, re-upserting the same definition every 2 s (a no-op when nothing changed) until SIGTERM.
The workers of `ticks` run the ticks; there is no beat process."""

from __future__ import annotations

import asyncio
import signal

from redis.exceptions import RedisError

from framework import Repeat
from framework.errors import NestqError
from framework.logging import configure_logging
from framework.queue import Queue


async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Queue("ticks") as queue:
        while not stop.is_set():
            try:
                await queue.upsert_job_scheduler("tick", Repeat(every=1.0), name="tick")
            except (ConnectionError, RedisError, NestqError, TimeoutError) as exc:
                print(f"error {type(exc).__name__}: {exc}", flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 2.0)
            except TimeoutError:
                pass


if __name__ == "__main__":
    configure_logging()
    asyncio.run(main())
