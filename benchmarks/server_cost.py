"""Redis CPU per job, phase by phase: `python benchmarks/bench.py --server-cost`.

What the server spends on one job's add, fetch and finish, measured on a server of its own (a
`redis-server` started on --port, 7500 by default, no persistence, stopped at the end) or on --url:

- `cpu`: the delta of `INFO cpu` (used_cpu_user + used_cpu_sys) over the phase, per job: everything the
  server did (parsing, replies, scripts, expiry, its cron);
- `script`: the delta of `INFO commandstats` usec of EVALSHA per job (the scripts' own time, less
  sensitive to a loaded machine than the cpu column or jobs/s);
- `calls`: commands run per job: the calls made inside scripts (`redis.call`, which commandstats counts
  too) plus the few the client sends itself; the busiest commands are listed per phase;
- per script (`--per-script`, own server only): calls and usec per EVALSHA sha from the SLOWLOG (every
  command logged, `slowlog-log-slower-than 0`), named by the SHAs of the scripts nestq loads. Logging every
  command costs the server ~40% more per job (measured), so the other columns are inflated in that mode;
- `Minstr` (`--instructions`, own server only): the server runs under valgrind's callgrind, which counts
  the CPU instructions it executes; dumped at each phase boundary: thousands of instructions per job, the
  same on a busy machine as on an idle one (the server is ~50x slower: use a small --n, e.g. 2000). The
  server then runs its cron once a second (`hz 1`: at the default 10 its ~1M instructions per second of
  wall time would be charged to the jobs of a slow phase) and locks last 600 s (not lapsing between the
  fetch and finish phases).

usec in commandstats and the SLOWLOG is wall time inside the command: on a loaded machine it includes
the time the server was descheduled, so it is noisier than the cpu column. On a shared machine compare
`kinstr/job` (exact) or medians of interleaved runs of the cpu column.

Phases, each on a fresh queue with the default options (retention, metrics, events):
- `add bulk`: add_bulk of 1,000-job chunks; `add single`: one `add()` at a time (n/4 jobs);
- `fetch`: moveToActive taking 25 jobs per call (what one report of a 50-slot worker takes);
- `finish`: moveToFinished completing 25 jobs per call with no fetch (the worker's own `_flush`);
- `drain`: a real Worker (concurrency 50) draining n jobs: finish + fetch as it runs in production;
- `drain 3 partitions`: the same on a queue of 3 partitions (`Queue(name, partitions=3)`), on this server.

Against --url (a shared server) other clients' commands land in the same counters: use your own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from framework import Queue, Worker
from framework.queue import outcome
from framework.queue.job import Job
from framework.queue.queue import hash_to_dict, now_ms
from framework.queue.scripts import load_scripts, script
from framework.queue.serialization import as_text

CALLGRIND_OUT = os.path.join(tempfile.gettempdir(), "nestq-server-cost-callgrind")
BATCH = 25  # jobs per fetch / finish call: half the slots of a worker with concurrency 50


@dataclass
class Snapshot:
    cpu: float
    stats: dict[str, dict[str, float]]


@dataclass
class PhaseCost:
    name: str
    jobs: int
    seconds: float
    cpu_us: float
    kinstr: float  # thousands of instructions (callgrind), 0 when not measured
    stats: dict[str, tuple[float, float]]  # command -> (calls, usec) over the phase
    per_script: dict[str, tuple[int, int]] = field(default_factory=dict)  # script -> (calls, usec)

    def per_job(self, value: float) -> float:
        return value / self.jobs if self.jobs else 0.0

    @property
    def script_us(self) -> float:
        return self.stats.get("evalsha", (0, 0))[1]

    @property
    def calls(self) -> float:
        """Commands other than EVALSHA and the probe's own INFO / SLOWLOG / CONFIG."""
        skip = {"evalsha", "info", "slowlog", "config", "ping", "client|setinfo", "client|setname"}
        return sum(c for cmd, (c, _) in self.stats.items() if cmd not in skip)


class Probe:
    """Reads the server's counters around a phase."""

    def __init__(self, client: Redis, own_server: bool, callgrind_pid: int | None = None) -> None:
        self.client = client
        self.own = own_server
        self.callgrind_pid = callgrind_pid
        self.names = {s.sha: name for name, s in load_scripts().items()}

    async def start(self) -> Snapshot:
        if self.own:
            await self.client.execute_command("SLOWLOG", "RESET")  # type: ignore[no-untyped-call]
        await self._instructions()
        return await self._snapshot()

    async def _instructions(self) -> float:
        """Instructions the server ran since the last call (callgrind dumps and zeroes its counters)."""
        if self.callgrind_pid is None:
            return 0.0
        proc = await asyncio.create_subprocess_exec(
            "callgrind_control", "-d", str(self.callgrind_pid), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        await proc.communicate()
        dumps = glob.glob(f"{CALLGRIND_OUT}.{self.callgrind_pid}.*")
        newest = max(dumps, key=lambda p: int(p.rpartition(".")[2]))
        return _summary(newest)

    async def _snapshot(self) -> Snapshot:
        cpu = await self.client.info("cpu")
        raw = await self.client.info("commandstats")
        stats = {k.removeprefix("cmdstat_"): {"calls": v["calls"], "usec": v["usec"]} for k, v in raw.items()}
        return Snapshot(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), stats)

    async def stop(self, name: str, jobs: int, before: Snapshot, seconds: float) -> PhaseCost:
        after = await self._snapshot()
        instructions = await self._instructions()
        stats: dict[str, tuple[float, float]] = {}
        for cmd, v in after.stats.items():
            b = before.stats.get(cmd, {"calls": 0, "usec": 0})
            calls, usec = v["calls"] - b["calls"], v["usec"] - b["usec"]
            if calls:
                stats[cmd] = (calls, usec)
        cost = PhaseCost(name, jobs, seconds, (after.cpu - before.cpu) * 1e6, instructions / 1000, stats)
        if self.own:
            entries = await self.client.execute_command("SLOWLOG", "GET", -1)  # type: ignore[no-untyped-call]
            for entry in entries:
                args = [as_text(a) for a in entry[3]]
                if args and args[0].upper() == "EVALSHA" and len(args) > 1:
                    script_name = self.names.get(args[1], args[1][:8])
                    c, u = cost.per_script.get(script_name, (0, 0))
                    cost.per_script[script_name] = (c + 1, u + int(entry[2]))
        return cost


def _summary(path: str) -> float:
    """The instruction count in a callgrind dump."""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                return float(line.split()[1])
    return 0.0


@contextlib.asynccontextmanager
async def own_server(
    port: int, callgrind: bool = False, slowlog: bool = False
) -> AsyncIterator[tuple[str, int | None]]:
    """A private redis-server on `port` (no persistence), stopped on exit; under callgrind if asked.
    Yields its URL and, under callgrind, its pid."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise SystemExit("--server-cost needs redis-server (or valkey-server) on PATH, or --url")
    workdir = tempfile.mkdtemp(prefix="nestq-server-cost-")
    valgrind = (
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={CALLGRIND_OUT}.%p"] if callgrind else []
    )
    proc = await asyncio.create_subprocess_exec(
        *valgrind, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", workdir, "--slowlog-log-slower-than", "0" if slowlog else "-1",
        "--slowlog-max-len", "200000", *(["--hz", "1"] if callgrind else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if callgrind else None,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = Redis.from_url(url)
        for _ in range(600 if callgrind else 100):
            with contextlib.suppress(Exception):
                await client.ping()
                break
            await asyncio.sleep(0.05)
        await client.aclose()
        yield url, (proc.pid if callgrind else None)
    finally:
        proc.terminate()
        await proc.wait()
        for dump in glob.glob(f"{CALLGRIND_OUT}.{proc.pid}*"):
            os.unlink(dump)
        shutil.rmtree(workdir, ignore_errors=True)


async def _add_bulk(q: Queue, n: int) -> None:
    for s in range(0, n, 1000):
        await q.add_bulk([{"name": "noop", "data": {"i": i}} for i in range(s, min(s + 1000, n))])


async def _measure(probe: Probe, name: str, jobs: int, run: Callable[[], Awaitable[Any]]) -> PhaseCost:
    before = await probe.start()
    t0 = time.perf_counter()
    await run()
    return await probe.stop(name, jobs, before, time.perf_counter() - t0)


async def measure(url: str, n: int, own: bool, callgrind_pid: int | None = None) -> list[PhaseCost]:
    client = Redis.from_url(url)
    probe = Probe(client, own, callgrind_pid)
    prefix = f"cost{uuid.uuid4().hex[:8]}"
    q = Queue("b", connection=url, prefix=prefix)
    await q.add("warm", {})  # scripts loaded, keys created
    await q.obliterate(force=True)
    out = [await _measure(probe, "add bulk", n, lambda: _add_bulk(q, n))]

    # fetch and finish apart, through the worker's own calls (its fetch arguments, its _flush).
    # Under callgrind the server is ~50x slower: locks long enough not to lapse between fetch and finish.
    lock = 600.0 if callgrind_pid else 30.0
    w = Worker(
        "b", lambda job: None, connection=url, prefix=prefix, concurrency=2 * BATCH, lock_duration=lock
    )
    w._connect()
    fetch_keys = [k.encode() for k in w.queue.keys.fetch_keys()]
    taken: list[outcome.Outcome] = []

    async def fetch() -> None:
        lua = script("moveToActive")
        while True:
            jobs, _due, _limited = await lua(w._client_or_raise(), fetch_keys, w._fetch_args(BATCH, now_ms()))
            for job_id, token, flat in jobs:
                job = Job.from_hash(w.queue, as_text(job_id), hash_to_dict(flat))
                job.token = as_text(token)
                taken.append(outcome.completed(job, "null", None))
            if len(jobs) < BATCH:
                return

    async def finish() -> None:
        for s in range(0, len(taken), BATCH):
            await w._flush(taken[s : s + BATCH], 0)

    out.append(await _measure(probe, "fetch", n, fetch))
    out.append(await _measure(probe, "finish", len(taken), finish))
    await w.queue.close()
    await w._client_or_raise().aclose()
    await q.obliterate(force=True)

    await _add_bulk(q, n)
    done = asyncio.Event()
    count = 0

    def handler(job: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    async def handler_async(job: Any) -> None:
        handler(job)

    async def drain() -> None:
        worker = Worker(
            "b", handler_async, connection=url, prefix=prefix, concurrency=2 * BATCH, lock_duration=lock
        )
        task = asyncio.create_task(worker.run())
        await done.wait()
        await worker.close()
        await task

    out.append(await _measure(probe, "drain", n, drain))
    await q.obliterate(force=True)

    # The same drain on a queue of 3 partitions (framework/queue/partitioned.py), on this one server.
    parts = Queue("p", connection=url, prefix=prefix, partitions=3)
    await _add_bulk(parts, n)
    done.clear()
    count = 0

    async def drain_partitioned() -> None:
        worker = Worker(
            "p",
            handler_async,
            connection=url,
            prefix=prefix,
            concurrency=2 * BATCH,
            partitions=3,
            lock_duration=lock,
        )
        task = asyncio.create_task(worker.run())
        await done.wait()
        await worker.close()
        await task

    out.append(await _measure(probe, "drain 3 partitions", n, drain_partitioned))
    await parts.obliterate(force=True)
    await parts.close()

    single = max(n // 4, 1)
    out.append(await _measure(probe, "add single", single, lambda: _add_single(q, single)))
    await q.obliterate(force=True)
    await q.close()
    await client.aclose()
    return out


async def _add_single(q: Queue, n: int) -> None:
    for i in range(n):
        await q.add("noop", {"i": i})


def report(costs: list[PhaseCost], top: int = 8) -> str:
    counted = any(c.kinstr for c in costs)
    lines = [
        f"{'phase':<11} | {'jobs':>6} | {'jobs/s':>8} | {'cpu us/job':>10} | {'script us/job':>13} "
        f"| {'calls/job':>9}" + (" | kinstr/job" if counted else ""),
        f"{'-' * 11}-|{'-' * 8}|{'-' * 10}|{'-' * 12}|{'-' * 15}|{'-' * 10}"
        + ("-|-----------" if counted else ""),
    ]
    by = {c.name: c for c in costs}
    for c in costs:
        lines.append(
            f"{c.name:<11} | {c.jobs:>6} | {c.jobs / c.seconds:>8,.0f} | {c.per_job(c.cpu_us):>10.2f} | "
            f"{c.per_job(c.script_us):>13.2f} | {c.per_job(c.calls):>9.2f}"
            + (f" | {c.per_job(c.kinstr):>10.1f}" if counted else "")
        )

    def total(label: str, parts: list[PhaseCost]) -> str:
        def one(what: str, values: list[float]) -> str:
            return f"{what} {sum(values):.2f} ({' + '.join(f'{v:.2f}' for v in values)})"

        out = f"{label}: " + one("cpu us/job", [p.per_job(p.cpu_us) for p in parts])
        out += ", " + one("script us/job", [p.per_job(p.script_us) for p in parts])
        if counted:
            out += ", " + one("kinstr/job", [p.per_job(p.kinstr) for p in parts])
        return out

    if all(k in by for k in ("add bulk", "fetch", "finish", "drain")):
        lines.append(total("add bulk + fetch + finish", [by["add bulk"], by["fetch"], by["finish"]]))
        lines.append(total("add bulk + drain (as the shared harness)", [by["add bulk"], by["drain"]]))
    for c in costs:
        lines.append(f"\n[{c.name}] busiest commands (calls/job, usec/job; inner script calls included):")
        shown = [(cmd, v) for cmd, v in c.stats.items() if cmd not in {"info", "slowlog"}]
        busiest = sorted(shown, key=lambda kv: -kv[1][1])
        for cmd, (calls, usec) in busiest[:top]:
            lines.append(f"  {cmd:<16} {c.per_job(calls):>7.2f} calls {c.per_job(usec):>7.2f} us")
        for name, (calls, usec) in sorted(c.per_script.items(), key=lambda kv: -kv[1][1]):
            lines.append(
                f"  script {name:<16} {calls:>6} calls, {usec / calls:>8.1f} us/call, "
                f"{c.per_job(usec):>6.2f} us/job"
            )
    return "\n".join(lines)


async def run(
    url: str | None, port: int, n: int, instructions: bool = False, per_script: bool = False
) -> str:
    if url:
        costs = await measure(url, n, own=False)
        where = "the server at --url (shared counters: other clients' commands count too)"
    else:
        async with own_server(port, callgrind=instructions, slowlog=per_script) as (own_url, pid):
            costs = await measure(own_url, n, own=per_script, callgrind_pid=pid)
        where = f"a private redis-server on port {port}" + (" under callgrind" if instructions else "")
    return f"nestq server cost per job on {where}, n={n}\n" + report(costs)
