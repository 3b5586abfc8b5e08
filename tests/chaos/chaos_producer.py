"""A producer process of the chaos suite: adds jobs with ids `<name>-<n>` until `--until` (a Unix time),
one at a time and now and then 20 in one add_bulk. A job id makes a retried add idempotent, so a failed add
(Redis away, paused, connection cut) is simply tried again. `try <id>` is written before an attempt and
`ack <id>` once the add returned (O_APPEND, one write per line)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from redis.exceptions import RedisError

from framework.errors import NestqError
from framework.queue import Queue

OPTS = {"remove_on_complete": False, "attempts": 5, "backoff": {"type": "fixed", "delay": 0.05}}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--until", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pause", type=float, default=0.02)
    args = p.parse_args()
    rng = random.Random(args.seed)
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = 0
    async with Queue("chaos") as queue:
        while time.time() < args.until:
            size = 20 if rng.random() < 0.05 else 1
            ids = [f"{args.name}-{n + i}" for i in range(size)]
            n += size
            os.write(fd, "".join(f"try {i}\n" for i in ids).encode())
            items = [
                {"name": "n", "data": {"sleep": rng.random() * 0.03}, "opts": {**OPTS, "job_id": i}}
                for i in ids
            ]
            while True:
                try:
                    if size == 1:
                        await queue.add("n", items[0]["data"], **items[0]["opts"])
                    else:
                        await queue.add_bulk(items)
                    break
                except (ConnectionError, RedisError, NestqError, TimeoutError) as exc:
                    print(f"error {type(exc).__name__}: {exc}", flush=True)
                    await asyncio.sleep(0.1)
            os.write(fd, "".join(f"ack {i}\n" for i in ids).encode())
            await asyncio.sleep(args.pause)
    os.close(fd)


if __name__ == "__main__":
    asyncio.run(main())
