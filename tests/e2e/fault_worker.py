"""A worker process for the fault tests (started by test_faults.py, killed or signalled by it).

Every run of a job appends `start <id>` and, once its handler returns, `end <id>` to the runs file (one
O_APPEND write per line, so processes sharing the file never interleave). Redis URL and key prefix come
from NESTQ_REDIS_URL and NESTQ_PREFIX; logs go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

from framework.logging import configure_logging
from framework.queue import Job, QueueEvents, Worker
from framework.queue.shutdown import serve_workers


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--queue", default="faults")
    p.add_argument("--runs-file", required=True)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--lock", type=float, default=2.0, help="lock_duration, seconds")
    p.add_argument("--stalled", type=float, default=1.0, help="stalled_interval, seconds")
    p.add_argument("--grace", type=float, default=10.0, help="grace period on SIGTERM, seconds")
    p.add_argument("--events", action="store_true", help="also run a QueueEvents listener")
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    fd = os.open(args.runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handler(job: Job[Any]) -> str:
        os.write(fd, f"start {job.id}\n".encode())
        await asyncio.sleep(float(job.data.get("sleep", 0.05)))
        os.write(fd, f"end {job.id}\n".encode())
        return job.id

    worker = Worker(
        args.queue,
        handler,
        concurrency=args.concurrency,
        lock_duration=args.lock,
        stalled_interval=args.stalled,
    )
    listener: asyncio.Task[None] | None = None
    if args.events:

        async def listen() -> None:
            async with QueueEvents(args.queue) as events:
                async for _event in events:
                    pass

        listener = asyncio.create_task(listen())
    try:
        await serve_workers(worker, grace=args.grace)
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        os.close(fd)


if __name__ == "__main__":
    configure_logging("json", "INFO")
    asyncio.run(main(parse_args()))
