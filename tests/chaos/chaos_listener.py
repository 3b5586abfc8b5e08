"""The listener process of the chaos suite: a QueueEvents on `chaos`, writing `<unix time> <event> <job id>`
for each completed event to a file, until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time

from framework.logging import configure_logging
from framework.queue import QueueEvents


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    args = p.parse_args()
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def listen() -> None:
        async with QueueEvents("chaos", last_id="0") as events:
            async for event in events:
                if event.event == "completed":
                    os.write(fd, f"{time.time():.3f} completed {event.job_id}\n".encode())

    task = asyncio.create_task(listen())
    await stop.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


if __name__ == "__main__":
    configure_logging()
    asyncio.run(main())
