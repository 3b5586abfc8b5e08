"""A producer process for the fault tests: adds `--count` jobs with ids `p-0`, `p-1`, ... one at a time.

A job id makes `add` idempotent, so an add that fails with a ConnectionError (Redis away) is simply tried
again. Each id is written to the added file once `add` returned; each ConnectionError is printed to stdout
as `error <message>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from framework.queue import Queue


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--queue", default="faults")
    p.add_argument("--added-file", required=True)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--pause", type=float, default=0.01)
    p.add_argument("--sleep", type=float, default=0.2, help="how long each job's handler sleeps")
    args = p.parse_args()
    fd = os.open(args.added_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    async with Queue(args.queue) as queue:
        for i in range(args.count):
            while True:
                try:
                    job = await queue.add("n", {"sleep": args.sleep}, job_id=f"p-{i}")
                    break
                except ConnectionError as exc:
                    print(f"error {exc}", flush=True)
            os.write(fd, f"{job.id}\n".encode())
            await asyncio.sleep(args.pause)
    os.close(fd)


if __name__ == "__main__":
    asyncio.run(main())
