"""nestq's own benchmark: enqueue, drain, latency and memory, printed as a table.

    python benchmarks/bench.py [--url redis://127.0.0.1:6379] [--n 20000]
                               [--only drain,enqueue,latency,memory,sandbox,groups,observability]
    python benchmarks/bench.py --server-cost [--port 7500 | --url ...] [--n 20000]

`--server-cost`: µs of Redis CPU per job for add, fetch and finish apart (INFO cpu, INFO commandstats,
per script from the SLOWLOG) on a private redis-server; see benchmarks/server_cost.py.

`--only observability`: drain with metrics off (`Worker(metrics=False)`), on (per-minute counts and
Prometheus totals kept by moveToFinished), on with a /metrics render every 0.5 s in the same process, and on
with OpenTelemetry tracing (SDK provider, batch processor, a discarding exporter); interleaved rounds
(`--rounds`, default 5), medians and per-round ratios against "off" of the same round.

`--only partitions`: a plain queue against one of 3 and of 6 partitions (`Queue(name, partitions=K)`), one
worker each, interleaved rounds (`--rounds`): medians and per-round ratios against the plain drain.

`--only sandbox`: a 50 ms pure-Python CPU-bound handler, 100 jobs, concurrency 2, run in sandbox processes
(`sandbox=True`) vs in threads (a plain `def`), timed from the first job's start to the last one's end.

The server: --url, else NESTQ_REDIS_URL, else the embedded one (as everywhere in nestq).

Each scenario uses a fresh key prefix and deletes its keys afterwards. The peer comparison (same machine,
same Redis, same harness as arq/SAQ/taskiq/BullMQ) is ../shared/bench; see the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
import uuid
from typing import Any

import server_cost  # benchmarks/server_cost.py, beside this file

from framework import Queue, Worker
from framework.settings import redact_url

try:
    import uvloop  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    uvloop = None


def _prefix() -> str:
    return f"bench{uuid.uuid4().hex[:8]}"


async def _cleanup(q: Queue) -> None:
    await q.obliterate(force=True)
    await q.close()


async def enqueue(url: str | None, n: int) -> dict[str, float]:
    out = {}
    for mode in ("single", "concurrent", "bulk"):
        q = Queue("b", connection=url, prefix=_prefix())
        await q.add("warm", {})
        t0 = time.perf_counter()
        if mode == "single":
            for i in range(n):
                await q.add("noop", {"i": i})
        elif mode == "concurrent":
            it = iter(range(n))

            async def one() -> None:
                for i in it:
                    await q.add("noop", {"i": i})

            await asyncio.gather(*[one() for _ in range(100)])
        else:
            for s in range(0, n, 1000):
                await q.add_bulk([{"name": "noop", "data": {"i": i}} for i in range(s, min(s + 1000, n))])
        out[f"enqueue {mode} (jobs/s)"] = n / (time.perf_counter() - t0)
        await _cleanup(q)
    return out


async def drain(
    url: str | None,
    n: int,
    concurrency: int = 50,
    groups: int = 0,
    *,
    scrape: bool = False,
    partitions: int = 1,
    **worker_options: Any,
) -> dict[str, float]:
    """Jobs/s of one worker draining n jobs; with `groups`, the jobs are spread over that many fair groups
    (added group after group, so round-robin has to interleave them). `scrape`: render /metrics every 0.5 s
    meanwhile; `partitions`: a partitioned queue; `worker_options` go to the Worker (e.g. metrics=False)."""
    prefix = _prefix()
    q = Queue("b", connection=url, prefix=prefix, partitions=partitions)
    for s in range(0, n, 1000):
        await q.add_bulk(
            [
                {
                    "name": "noop",
                    "data": {"i": i},
                    "opts": {"group_id": f"g{i * groups // n}"} if groups else {},
                }
                for i in range(s, min(s + 1000, n))
            ]
        )
    count = 0
    first = last = 0.0
    done = asyncio.Event()

    async def handler(job: Any) -> None:
        nonlocal count, first, last
        if count == 0:
            first = time.perf_counter()
        count += 1
        if count == n:
            last = time.perf_counter()
            done.set()

    w = Worker(
        "b",
        handler,
        connection=url,
        prefix=prefix,
        concurrency=concurrency,
        partitions=partitions,
        **worker_options,
    )
    server_cpu = await _server_cpu(q)
    own_cpu = _own_cpu()
    task = asyncio.create_task(w.run())
    scraper = asyncio.create_task(_scrape(q)) if scrape else None
    await done.wait()
    own_cpu = _own_cpu() - own_cpu
    server_cpu = await _server_cpu(q) - server_cpu
    if scraper is not None:
        scraper.cancel()
    await w.close()
    await task
    await _cleanup(q)
    kind = f"fair-groups drain {groups}x{n // groups}" if groups else "drain"
    if partitions > 1:
        kind += f" partitions={partitions}"
    return {
        f"{kind} conc {concurrency} (jobs/s)": n / (last - first),
        "worker CPU per job (us)": own_cpu / n * 1e6,
        "server CPU per job (us)": server_cpu / n * 1e6,
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _server_cpu(q: Queue) -> float:
    """CPU seconds the server has used (INFO cpu): per job, meaningful on a server of its own."""
    info = await q.client.info("cpu")
    return float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0))


async def _scrape(q: Queue) -> None:
    """What a Prometheus server scraping /metrics costs this process (rendered from Redis each time)."""
    from framework.observability.prometheus import render_metrics

    while True:
        await render_metrics([q])
        await asyncio.sleep(0.5)


async def observability(url: str | None, n: int, rounds: int = 5) -> dict[str, float]:
    """Drain jobs/s with metrics off / on / on + /metrics scrapes / on + OpenTelemetry, interleaved."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from framework.observability import tracing

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=65536))
    modes = {
        "metrics off": {"metrics": False},
        "metrics on": {"metrics": True},
        "metrics on + /metrics scraped every 0.5 s": {"metrics": True, "scrape": True},
        "metrics on + OpenTelemetry": {"metrics": True},
    }
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, options in modes.items():
            tracing.configure(tracer_provider=provider if "OpenTelemetry" in mode else None)
            try:
                one = await drain(url, n, **options)
            finally:
                tracing.configure(tracer_provider=None)
            results[mode].append(next(iter(one.values())))
            cpu[mode].append(one["worker CPU per job (us)"] + one["server CPU per job (us)"])
    provider.shutdown()
    off = results["metrics off"]
    rows: dict[str, float] = {}
    for mode, values in results.items():
        rows[f"drain, {mode} (jobs/s, median of {rounds})"] = statistics.median(values)
    for mode, values in cpu.items():
        rows[f"CPU per job, worker + server, {mode} (us, median)"] = statistics.median(values)
    for mode, values in results.items():
        if mode != "metrics off":
            ratios = [a / b for a, b in zip(values, off, strict=True)]
            rows[f"{mode} / off, median of per-round ratios"] = statistics.median(ratios)
            rows[f"{mode} / off, per-round min"] = min(ratios)
            rows[f"{mode} / off, per-round max"] = max(ratios)
            rows[f"{mode} / off, CPU per job (ratio of medians)"] = statistics.median(
                cpu[mode]
            ) / statistics.median(cpu["metrics off"])
    return rows


def cpu_bound(job: Any) -> int:
    """A fixed amount of pure-Python work (holds the GIL throughout). Imported by name in the sandbox."""
    total = 0
    for i in range(job.data["loops"]):
        total += i % 7
    return total


def _loops_for(ms: float) -> int:
    """Loops of `cpu_bound` that take `ms` milliseconds here, alone (best of 5)."""
    probe = 200_000
    best = min(_timed(probe) for _ in range(5))
    return int(probe * ms / 1000 / best)


def _timed(loops: int) -> float:
    job = type("J", (), {"data": {"loops": loops}})()
    t0 = time.perf_counter()
    cpu_bound(job)
    return time.perf_counter() - t0


async def sandbox(url: str | None, n: int = 100, ms: float = 50, concurrency: int = 2) -> dict[str, float]:
    """The same CPU-bound jobs in threads (one GIL) and in sandbox processes (one GIL each). Timed from the
    first job's start to the last one's end (the sandbox processes start, and import, before that)."""
    out: dict[str, float] = {}
    loops = _loops_for(ms)
    for mode in ("threads", "sandbox"):
        prefix = _prefix()
        q = Queue("b", connection=url, prefix=prefix, default_job_options={"remove_on_complete": False})
        await q.add_bulk([{"name": "cpu", "data": {"loops": loops}} for _ in range(n)])
        w = Worker(
            "b", cpu_bound, connection=url, prefix=prefix, concurrency=concurrency, sandbox=mode == "sandbox"
        )
        await w.run_until_drained()
        jobs = await q.get_jobs(["completed"], 0, -1)
        assert len(jobs) == n, f"{len(jobs)} of {n} jobs completed"
        began = min(j.processed_on or 0 for j in jobs)
        ended = max(j.finished_on or 0 for j in jobs)
        out[f"cpu {ms:g} ms x {n}, conc {concurrency}, {mode} (s)"] = (ended - began) / 1000
        await _cleanup(q)
    threads, sandboxed = out.values()
    out[f"sandbox speed-up vs threads (x, {os.cpu_count()} cpus)"] = threads / sandboxed
    return out


async def redis_bytes_per_job(url: str | None, n: int = 10_000) -> dict[str, float]:
    """Redis memory held by one finished job kept with its result (remove_on_complete=False)."""
    prefix = _prefix()
    q = Queue("b", connection=url, prefix=prefix, default_job_options={"remove_on_complete": False})
    before = (await q.client.info("memory"))["used_memory"]
    for s in range(0, n, 1000):
        await q.add_bulk([{"name": "noop", "data": {"i": i}} for i in range(s, min(s + 1000, n))])
    worker = Worker("b", lambda job: {"ok": True}, connection=url, prefix=prefix, concurrency=50)
    await worker.run_until_drained()
    after = (await q.client.info("memory"))["used_memory"]
    kept = (await q.get_job_counts("completed"))["completed"]
    await _cleanup(q)
    return {"redis bytes per finished job kept": (after - before) / kept}


async def latency(url: str | None, rate: float = 200, duration: float = 5) -> dict[str, float]:
    prefix = _prefix()
    q = Queue("b", connection=url, prefix=prefix)
    lat: list[float] = []

    async def handler(job: Any) -> None:
        lat.append(time.time() - job.data["t"])

    w = Worker("b", handler, connection=url, prefix=prefix, concurrency=50)
    task = asyncio.create_task(w.run())
    await (await q.add("warm", {"t": time.time()})).wait_until_finished(5)
    lat.clear()
    total = int(rate * duration)
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await q.add("noop", {"t": time.time()})
    while len(lat) < total:
        await asyncio.sleep(0.05)
    await w.close()
    await task
    await _cleanup(q)
    s = sorted(lat)
    return {"latency p50 (ms)": s[len(s) // 2] * 1000, "latency p99 (ms)": s[int(len(s) * 0.99)] * 1000}


async def memory(url: str | None, n: int) -> dict[str, float]:
    """Worker RSS before and after processing n jobs in batches (a flat line is the goal)."""
    prefix = _prefix()
    q = Queue("b", connection=url, prefix=prefix)
    done = 0

    async def handler(job: Any) -> None:
        nonlocal done
        done += 1

    w = Worker("b", handler, connection=url, prefix=prefix, concurrency=50)
    task = asyncio.create_task(w.run())
    samples = []
    batch = 10_000
    for start in range(0, n, batch):
        for s in range(start, min(start + batch, n), 1000):
            await q.add_bulk([{"name": "noop", "data": {"i": i}} for i in range(s, min(s + 1000, n))])
        while done < min(start + batch, n):
            await asyncio.sleep(0.05)
        samples.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    await w.close()
    await task
    await _cleanup(q)
    return {"max RSS after first batch (MB)": samples[0], f"max RSS after {n} jobs (MB)": samples[-1]}


async def partitioned(url: str | None, n: int, rounds: int) -> dict[str, float]:
    """One worker draining a plain queue, then the same jobs in a queue of 3 and of 6 partitions, in turns
    (`rounds` times): medians, and per-round ratios against the plain drain of the same round."""
    runs: dict[int, list[dict[str, float]]] = {1: [], 3: [], 6: []}
    for _ in range(rounds):
        for k in runs:
            runs[k].append(await drain(url, n, partitions=k))
    rows: dict[str, float] = {}
    for k, results in runs.items():
        label = "plain" if k == 1 else f"partitions={k}"
        for key, field in (("jobs/s", 0), ("worker CPU per job (us)", 1), ("server CPU per job (us)", 2)):
            values = [list(r.values())[field] for r in results]
            rows[f"{label} drain {key} median of {rounds}"] = statistics.median(values)
            if k > 1:
                plain = [list(r.values())[field] for r in runs[1]]
                ratio = statistics.median(v / p for v, p in zip(values, plain, strict=True))
                rows[f"{label} / plain {key} (median ratio)"] = ratio
    return rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="default: NESTQ_REDIS_URL, else embedded (--server-cost: a private server)")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--memory-n", type=int, default=200_000)
    ap.add_argument("--only", default="enqueue,drain,latency,memory")
    ap.add_argument(
        "--server-cost",
        action="store_true",
        help="Redis CPU per job for add, fetch and finish (benchmarks/server_cost.py) and nothing else",
    )
    ap.add_argument("--port", type=int, default=7500, help="--server-cost: port of its private redis-server")
    ap.add_argument("--rounds", type=int, default=5, help="--only observability: interleaved rounds")
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="--server-cost: run its server under valgrind (callgrind) and count instructions per job",
    )
    ap.add_argument(
        "--per-script",
        action="store_true",
        help="--server-cost: usec per script from the SLOWLOG (logging every command inflates the rest)",
    )
    a = ap.parse_args()
    if a.server_cost:
        print(await server_cost.run(a.url, a.port, a.n, a.instructions, a.per_script))
        return
    a.url = a.url or os.environ.get("NESTQ_REDIS_URL")
    rows: dict[str, float] = {}
    only = a.only.split(",")
    if "enqueue" in only:
        rows.update(await enqueue(a.url, a.n))
    if "drain" in only:
        runs = [await drain(a.url, a.n) for _ in range(3)]
        for key in list(runs[0])[:1]:
            rows[key + " median of 3"] = statistics.median(r[key] for r in runs)
    if "drain" in only:
        rows.update(await redis_bytes_per_job(a.url))
    if "latency" in only:
        rows.update(await latency(a.url))
    if "memory" in only:
        rows.update(await memory(a.url, a.memory_n))
    if "sandbox" in only:
        rows.update(await sandbox(a.url))
    if "groups" in only:
        # Fair groups (100 groups x 200 jobs) against a plain drain of as many jobs, in turns in one run.
        n = 20_000
        plain, grouped = [], []
        for _ in range(3):
            plain.append(next(iter((await drain(a.url, n)).values())))
            grouped.append(next(iter((await drain(a.url, n, groups=100)).values())))
        rows[f"plain drain n={n} conc 50 median of 3 (jobs/s)"] = statistics.median(plain)
        rows["fair-groups drain 100x200 conc 50 median of 3 (jobs/s)"] = statistics.median(grouped)
        rows["fair-groups / plain drain (%)"] = 100 * statistics.median(grouped) / statistics.median(plain)
    if "partitions" in only:
        rows.update(await partitioned(a.url, a.n, a.rounds))
    if "observability" in only:
        rows.update(await observability(a.url, a.n, a.rounds))
    server = redact_url(a.url) if a.url else "the embedded server"
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    print(f"nestq benchmark on {server}, {loop} event loop, n={a.n}")
    width = max(len(k) for k in rows)
    print(f"{'metric'.ljust(width)} | value")
    print(f"{'-' * width}-|------")
    for k, v in rows.items():
        print(f"{k.ljust(width)} | {v:,.2f}")


if __name__ == "__main__":
    if uvloop is not None:
        uvloop.install()
    asyncio.run(main())
