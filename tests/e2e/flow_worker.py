"""A worker process for the flow crash test (test_flow_crash.py), killed with SIGKILL by it.

Runs one queue: a child (`--role child`) returns its `n` after a short sleep; a parent (`--role parent`)
returns the count and the sum of its children's values. Every run appends `start <queue>:<id>` to the
runs file (one O_APPEND write per line). Redis URL and prefix come from NESTQ_REDIS_URL / NESTQ_PREFIX.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from typing import Any

from framework.logging import configure_logging
from framework.queue import Job, Worker
from framework.queue.shutdown import serve_workers


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--queue", required=True)
    p.add_argument("--role", choices=("child", "parent"), required=True)
    p.add_argument("--runs-file", required=True)
    p.add_argument("--concurrency", type=int, default=10)
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    fd = os.open(args.runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handler(job: Job[Any]) -> Any:
        os.write(fd, f"start {args.queue}:{job.id}\n".encode())
        if args.role == "child":
            await asyncio.sleep(0.02 + random.random() * 0.06)
            return job.data["n"]
        values = await job.get_children_values()
        return {"count": len(values), "sum": sum(values.values())}

    worker = Worker(
        args.queue,
        handler,
        concurrency=args.concurrency,
        lock_duration=1.0,
        stalled_interval=0.5,
        max_stalled_count=1000,  # killed over and over: a child must never fail for stalling
    )
    try:
        await serve_workers(worker, grace=5)
    finally:
        os.close(fd)


if __name__ == "__main__":
    configure_logging("json", "WARNING")
    asyncio.run(main(parse_args()))
