"""Worker process of the failover test: each run of a job appends `<unix time> <id>` to `--runs-file` (one
write per line); runs until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from framework.logging import configure_logging
from framework.queue import Job, Worker
from framework.queue.shutdown import serve_workers


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--runs-file", required=True)
    args = p.parse_args()
    configure_logging(format="json")
    fd = os.open(args.runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handler(job: Job[Any]) -> None:
        os.write(fd, f"{time.time():.3f} {job.id}\n".encode())

    worker = Worker(
        args.queue,
        handler,
        connection=args.url,
        prefix=args.prefix,
        concurrency=10,
        lock_duration=2.0,
        stalled_interval=1.0,
    )
    await serve_workers(worker, grace=5.0)


if __name__ == "__main__":
    asyncio.run(main())
