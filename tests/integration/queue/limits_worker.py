"""A worker process for test_limits_processes.py: runs until SIGTERM, records every run in Redis.

Each run pushes `start_ms end_ms group` (wall clock, float ms) onto the list `<prefix>-runs` once its handler
returns. Arguments: URL PREFIX QUEUE CONCURRENCY [GROUP_CONCURRENCY].
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from framework.queue import Job, Worker
from framework.queue.shutdown import serve_workers


async def main(url: str, prefix: str, queue: str, concurrency: int, group_concurrency: int) -> None:
    worker: Worker

    async def handler(job: Job[Any]) -> None:
        start = time.time() * 1000
        await asyncio.sleep(float(job.data.get("sleep", 0.05)))
        end = time.time() * 1000
        await worker.queue.client.rpush(f"{prefix}-runs", f"{start} {end} {job.group_id or '-'}")

    worker = Worker(
        queue,
        handler,
        connection=url,
        prefix=prefix,
        concurrency=concurrency,
        group_concurrency=group_concurrency or None,
        drain_delay=0.5,
    )
    await serve_workers(worker, grace=5)


if __name__ == "__main__":
    url, prefix, queue, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    group_conc = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(main(url, prefix, queue, conc, group_conc))
