"""Producer process of the failover test: adds `--count` jobs with ids `j-0`, `j-1`, ... one at a time.

An id makes `add` idempotent, so an add that fails while the cluster fails over is tried again. Each id is
appended to `--acked-file` as `<unix time> <id>` once `add` returned (one write per line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from framework.errors import CommandTimeoutError, RedisUnavailableError
from framework.queue import Queue


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--acked-file", required=True)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--pause", type=float, default=0.002)
    args = p.parse_args()
    fd = os.open(args.acked_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    async with Queue(args.queue, connection=args.url, prefix=args.prefix) as queue:
        for i in range(args.count):
            while True:
                try:
                    await queue.add("n", {"i": i}, job_id=f"j-{i}")
                    break
                except (RedisUnavailableError, CommandTimeoutError, ConnectionError) as exc:
                    print(f"retrying add {i}: {exc}", flush=True)
            os.write(fd, f"{time.time():.3f} j-{i}\n".encode())
            await asyncio.sleep(args.pause)
    os.close(fd)


if __name__ == "__main__":
    asyncio.run(main())
