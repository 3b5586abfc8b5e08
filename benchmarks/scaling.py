"""Scale-out table: drain jobs/s and Redis CPU per job for one queue on one Redis, and on a cluster one
queue, 8 queues, and one partitioned queue (K=3, 6).

    python benchmarks/scaling.py --standalone redis://127.0.0.1:7501 --cluster redis+cluster://127.0.0.1:7510
                                 [--n 20000] [--procs 2] [--concurrency 50] [--rounds 1]

Each scenario adds `n` no-op jobs first, then `--procs` worker processes drain them (each process runs a
worker per queue, `run_until_drained`); timed from the start of the workers to the last one's end. Server
CPU is INFO cpu (user + sys) summed over the masters (and, apart, the replicas), before and after the drain;
worker CPU is the children's rusage. "busy cores" is all CPU used (servers + workers) over the wall time:
near the machine's core count, the machine is the bound, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import redis
from redis.cluster import RedisCluster

from framework import Queue, Worker


def _servers(url: str) -> tuple[list[redis.Redis], list[redis.Redis]]:
    """(masters, replicas) as plain clients."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        seed = url.split("://", 1)[1].split(",")[0]
        host, port = seed.rsplit(":", 1)
        rc = RedisCluster(host=host, port=int(port))
        masters = [redis.Redis(host=n.host, port=n.port) for n in rc.get_primaries()]
        replicas = [redis.Redis(host=n.host, port=n.port) for n in rc.get_replicas()]
        rc.close()
        return masters, replicas
    return [redis.Redis.from_url(url)], []


def _cpu(servers: list[redis.Redis]) -> float:
    total = 0.0
    for server in servers:
        info = server.info("cpu")
        total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return total


def _work(url: str, prefix: str, names: list[str], partitions: int, concurrency: int, ready: Any, go: Any,
          out: Any) -> None:  # fmt: skip
    """One worker process: connect, say ready, wait for the go, drain; report (CPU seconds, end time)."""

    async def main() -> None:
        workers = [
            Worker(name, _noop, connection=url, prefix=prefix, concurrency=concurrency, partitions=partitions)
            for name in names
        ]
        ready.set()
        await asyncio.to_thread(go.wait)
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(w.run_until_drained() for w in workers))
        after = resource.getrusage(resource.RUSAGE_SELF)
        out.put((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, time.time()))

    asyncio.run(main())


async def _noop(job: Any) -> None:
    return None


async def _fill(url: str, prefix: str, names: list[str], partitions: int, n: int) -> None:
    per_queue = n // len(names)
    for name in names:
        q = Queue(name, connection=url, prefix=prefix, partitions=partitions)
        for start in range(0, per_queue, 1000):
            count = min(1000, per_queue - start)
            await q.add_bulk([{"name": "noop", "data": {"i": start + i}} for i in range(count)])
        await q.close()


async def _clean(url: str, prefix: str, names: list[str], partitions: int) -> None:
    for name in names:
        q = Queue(name, connection=url, prefix=prefix, partitions=partitions)
        await q.obliterate(force=True)
        await q.close()


def scenario(
    url: str, queues: int, partitions: int, n: int, procs: int, concurrency: int
) -> dict[str, float]:
    prefix = f"scale{uuid.uuid4().hex[:8]}"
    names = [f"q{i}" for i in range(queues)]
    asyncio.run(_fill(url, prefix, names, partitions, n))
    masters, replicas = _servers(url)
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(procs)]
    workers = [
        ctx.Process(target=_work, args=(url, prefix, names, partitions, concurrency, ready, go, out))
        for ready in readies
    ]
    for p in workers:
        p.start()
    for ready in readies:
        ready.wait()
    cpu_masters, cpu_replicas = _cpu(masters), _cpu(replicas)
    started = time.time()
    go.set()
    reports = [out.get() for _ in workers]
    for p in workers:
        p.join()
    wall = max(end for _, end in reports) - started
    worker_cpu = sum(cpu for cpu, _ in reports)
    master_cpu = _cpu(masters) - cpu_masters
    replica_cpu = _cpu(replicas) - cpu_replicas
    asyncio.run(_clean(url, prefix, names, partitions))
    for server in masters + replicas:
        server.close()
    return {
        "jobs/s": n / wall,
        "master CPU per job (us)": master_cpu / n * 1e6,
        "replica CPU per job (us)": replica_cpu / n * 1e6,
        "worker CPU per job (us)": worker_cpu / n * 1e6,
        "busy cores": (master_cpu + replica_cpu + worker_cpu) / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--standalone", required=True, help="one Redis (redis://...)")
    ap.add_argument("--cluster", required=True, help="a Redis Cluster (redis+cluster://...)")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--procs", type=int, default=2, help="worker processes")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=1, help="scenarios run in turns this many times")
    a = ap.parse_args()
    plan = [
        ("1 queue, 1 Redis", a.standalone, 1, 1),
        ("1 queue, cluster", a.cluster, 1, 1),
        ("8 queues, cluster", a.cluster, 8, 1),
        ("1 queue K=3, cluster", a.cluster, 1, 3),
        ("1 queue K=6, cluster", a.cluster, 1, 6),
    ]
    results: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in plan}
    for _ in range(a.rounds):
        for label, url, queues, partitions in plan:
            results[label].append(scenario(url, queues, partitions, a.n, a.procs, a.concurrency))
    columns = list(next(iter(results.values()))[0])
    print(f"n={a.n}, {a.procs} worker processes x concurrency {a.concurrency}, median of {a.rounds}, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print("| scenario | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, runs in results.items():
        cells = []
        for column in columns:
            values = sorted(r[column] for r in runs)
            cells.append(f"{values[len(values) // 2]:,.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
