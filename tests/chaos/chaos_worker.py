"""A worker process of the chaos suite: Workers on the `chaos` queue and the `ticks` queue (a job scheduler's
runs), until SIGTERM. Every handler run appends `start <id>` and, when it returns, `end <id>` to the runs
file (one O_APPEND write per line). Redis URL and prefix come from NESTQ_REDIS_URL / NESTQ_PREFIX."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from framework.logging import configure_logging
from framework.queue import Job, Worker
from framework.queue.shutdown import serve_workers


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs-file", required=True)
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args()
    fd = os.open(args.runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handler(job: Job[Any]) -> str:
        os.write(fd, f"start {job.id}\n".encode())
        await asyncio.sleep(float((job.data or {}).get("sleep", 0.01)))
        os.write(fd, f"end {job.id}\n".encode())
        return job.id

    workers = [
        Worker("chaos", handler, concurrency=args.concurrency, lock_duration=3.0, stalled_interval=1.0),
        Worker("ticks", handler, concurrency=1, lock_duration=3.0, stalled_interval=1.0),
    ]
    await serve_workers(*workers, grace=5.0)


if __name__ == "__main__":
    configure_logging()
    asyncio.run(main())
