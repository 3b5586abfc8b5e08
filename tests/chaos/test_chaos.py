"""The chaos suite: real processes (2 producers, 3 workers, a listener, the scheduler) against a Redis of
the suite's own (AOF everysec), while a seeded driver kills workers (SIGKILL), stops them (SIGTERM),
restarts Redis, pauses clients and cuts connections. Then the invariants of README "Guarantees" are checked.

Run it: `NESTQ_CHAOS_SECONDS=600 python -m pytest -m chaos tests/chaos -s` (default 60 s). The seed is
printed (and NESTQ_CHAOS_SEED replays one). Skipped unless selected with `-m chaos` or NESTQ_CHAOS_SECONDS
is set, so the default test run stays short.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from framework.queue import Queue
from tests.support.own_server import OwnServer

pytestmark = pytest.mark.chaos

PREFIX = "chaos"
WORKERS = 3
CONCURRENCY = 4  # per worker on `chaos`; each worker also runs `ticks` with concurrency 1
PRODUCERS = 2
HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@dataclass
class Proc:
    """One child process; `start()` again after it died or was stopped."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *self.args], env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)

    async def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process, no event
            await asyncio.sleep(0.05)
        return not self.alive

    async def stop(self, timeout: float = 15.0) -> None:
        self.signal(signal.SIGTERM)
        if not await self.wait(timeout):
            self.signal(signal.SIGKILL)
            await self.wait(5)


@dataclass
class Faults:
    """What the driver did, and the duplicates it may have caused (jobs in flight when it struck)."""

    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicate_bound: int = 0
    last_end: float = 0.0
    log: list[str] = field(default_factory=list)

    def record(self, kind: str, in_flight: int, detail: str = "") -> None:
        self.injected[kind] += 1
        self.duplicate_bound += in_flight
        self.log.append(f"{time.time():.3f} {kind} {detail}".strip())


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class Chaos:
    def __init__(self, tmp: Path, seed: int, seconds: float) -> None:
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.server = OwnServer(
            tmp / "redis", "--appendonly", "yes", "--appendfsync", "everysec", "--maxclients", "2000"
        )
        self.env = dict(
            os.environ,
            NESTQ_REDIS_URL=self.server.url,
            NESTQ_PREFIX=PREFIX,
            NESTQ_LOG_FORMAT="json",
            NESTQ_LOG_LEVEL="WARNING",
            NESTQ_COMMAND_TIMEOUT="3",
            PYTHONPATH=str(ROOT),
        )
        self.faults = Faults()
        self.probe_seconds = -1.0
        self.probe_ids: list[str] = []
        self.workers = [
            self._proc(f"worker{i}", "chaos_worker.py", "--runs-file", str(tmp / f"runs{i}.txt"),
                       "--concurrency", str(CONCURRENCY))
            for i in range(WORKERS)
        ]  # fmt: skip
        self.listener = self._proc("listener", "chaos_listener.py", "--file", str(tmp / "events.txt"))
        self.scheduler = self._proc("scheduler", "chaos_scheduler.py")
        self.producers: list[Proc] = []

    def _proc(self, name: str, script: str, *args: str) -> Proc:
        return Proc(name, [str(HERE / script), *args], self.env, self.tmp / f"{name}.log")

    async def admin(self) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.server.port, socket_timeout=5)

    # -- faults -----------------------------------------------------------------------------------------

    async def kill_worker(self) -> None:
        w = self.rng.choice(self.workers)
        w.signal(signal.SIGKILL)
        await w.wait(5)
        self.faults.record("kill -9 worker", CONCURRENCY + 1, w.name)
        await asyncio.sleep(self.rng.uniform(0.2, 2.0))
        w.start()

    async def term_worker(self) -> None:
        w = self.rng.choice(self.workers)
        w.signal(signal.SIGTERM)
        if not await w.wait(15):
            w.signal(signal.SIGKILL)
            await w.wait(5)
        self.faults.record("SIGTERM worker", CONCURRENCY + 1, w.name)
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        w.start()

    async def restart_redis(self) -> None:
        down = self.rng.uniform(0.3, 2.0)
        self.server.stop()  # SIGTERM: Redis writes and fsyncs its AOF before it exits
        self.faults.record("restart redis", WORKERS * (CONCURRENCY + 1), f"down {down:.1f}s")
        await asyncio.sleep(down)
        self.server.start(timeout=60)

    async def pause_clients(self) -> None:
        ms = self.rng.randint(500, 3000)
        admin = await self.admin()
        try:
            await admin.execute_command("CLIENT", "PAUSE", ms, "ALL")
        finally:
            await admin.aclose()
        self.faults.record("CLIENT PAUSE", WORKERS * (CONCURRENCY + 1), f"{ms} ms")
        await asyncio.sleep(ms / 1000)

    async def drop_connections(self) -> None:
        admin = await self.admin()
        try:
            killed = 0
            for kind in ("normal", "pubsub"):
                killed += int(await admin.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"))
        finally:
            await admin.aclose()
        self.faults.record("CLIENT KILL", WORKERS * (CONCURRENCY + 1), f"{killed} connections")

    async def drive(self, until: float) -> None:
        faults = [self.kill_worker, self.term_worker, self.restart_redis, self.pause_clients,
                  self.drop_connections]  # fmt: skip
        while time.time() < until:
            await asyncio.sleep(self.rng.uniform(0.5, 2.5))
            if time.time() >= until:
                break
            fault = self.rng.choice(faults)
            try:
                await fault()
            except Exception as exc:  # a fault that could not be injected (e.g. Redis was down)
                self.faults.log.append(f"{time.time():.3f} {fault.__name__} not injected: {exc!r}")
            self.faults.last_end = time.time()
        for w in self.workers:
            if not w.alive:
                w.start()
        if not self.server.process or self.server.process.poll() is not None:
            self.server.start(timeout=60)

    # -- the run ----------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        self.server.start(timeout=60)
        started = time.time()
        until = started + self.seconds
        self.producers = [
            self._proc(f"producer{i}", "chaos_producer.py", "--name", f"p{i}", "--until", str(until),
                       "--file", str(self.tmp / f"producer{i}.txt"), "--seed", str(self.rng.randrange(2**31)))
            for i in range(PRODUCERS)
        ]  # fmt: skip
        for p in [*self.workers, self.listener, self.scheduler, *self.producers]:
            p.start()
        try:
            await self.drive(until)
            for p in self.producers:
                assert await p.wait(120), f"{p.name} did not finish"
            tried, acked = self.added()
            recovered = await self.wait_done(acked, timeout=180)
            # The last fault can end after the last job completed (a SIGTERM waits for the worker), so the
            # listener's recovery is shown by jobs added now, after every fault.
            self.probe_seconds = await self.probe_listener(timeout=60)
            tried |= set(self.probe_ids)
            # Quiet now: every active job must hold a lock.
            unlocked = await self.active_without_lock()
        finally:
            for p in [*self.workers, self.listener, self.scheduler, *self.producers]:
                await p.stop()
        report = await self.check(tried, acked, recovered, unlocked)
        self.server.stop()
        return report

    def added(self) -> tuple[set[str], set[str]]:
        tried: set[str] = set()
        acked: set[str] = set()
        for i in range(PRODUCERS):
            for line in _lines(self.tmp / f"producer{i}.txt"):
                kind, _, job_id = line.partition(" ")
                (acked if kind == "ack" else tried).add(job_id)
        return tried | acked, acked

    async def wait_done(self, acked: set[str], timeout: float) -> float:
        """Seconds from the last fault until every acknowledged job is completed."""
        admin = await self.admin()
        try:
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    done = await admin.zcard(f"{{{PREFIX}:chaos}}:completed")
                    if done >= len(acked):
                        ids = {x.decode() for x in await admin.zrange(f"{{{PREFIX}:chaos}}:completed", 0, -1)}
                        if acked <= ids:
                            return time.time() - self.faults.last_end
                except (ConnectionError, aioredis.RedisError):
                    pass
                await asyncio.sleep(0.25)
            return -1.0
        finally:
            await admin.aclose()

    async def probe_listener(self, timeout: float, n: int = 5) -> float:
        """Seconds until the listener wrote `completed` for `n` jobs added after every fault; -1 if never."""
        ids = self.probe_ids = [f"probe-{i}" for i in range(n)]
        started = time.time()
        async with Queue("chaos", connection=self.server.url, prefix=PREFIX) as queue:
            await queue.add_bulk([{"name": "n", "data": {"sleep": 0}, "opts": {"job_id": i}} for i in ids])
        deadline = started + timeout
        while time.time() < deadline:  # the listener is another process, writing a file
            seen = {line.split()[2] for line in _lines(self.tmp / "events.txt")}
            if seen.issuperset(ids):
                return time.time() - started
            await asyncio.sleep(0.1)
        return -1.0

    async def active_without_lock(self) -> list[str]:
        admin = await self.admin()
        try:
            out = []
            for queue in ("chaos", "ticks"):
                base = f"{{{PREFIX}:{queue}}}"
                for raw in await admin.zrange(f"{base}:active", 0, -1):
                    job_id = raw.decode()
                    if not await admin.exists(f"{base}:{job_id}:lock"):
                        out.append(f"{queue}/{job_id}")
            return out
        finally:
            await admin.aclose()

    async def states(self, queue: str) -> dict[str, list[str]]:
        """Every job id of `queue` found in each state structure (a list may hold an id twice)."""
        admin = await self.admin()
        base = f"{{{PREFIX}:{queue}}}"
        try:
            out: dict[str, list[str]] = {
                "wait": [x.decode() for x in await admin.lrange(f"{base}:wait", 0, -1)]
            }
            for state in ("active", "delayed", "prioritized", "completed", "failed", "waiting-children"):
                out[state] = [x.decode() for x in await admin.zrange(f"{base}:{state}", 0, -1)]
            return out
        finally:
            await admin.aclose()

    async def job_ids(self, queue: str) -> set[str]:
        """Ids of every job hash of `queue` (keys `{prefix:queue}:<id>` that are hashes with a name)."""
        admin = await self.admin()
        base = f"{{{PREFIX}:{queue}}}:"
        ids = set()
        try:
            async for key in admin.scan_iter(
                match=base.replace("{", "[{]").replace("}", "[}]") + "*", count=1000
            ):
                k = key.decode()
                if await admin.type(key) == b"hash" and await admin.hexists(key, "name"):
                    ids.add(k[len(base) :])
            return ids
        finally:
            await admin.aclose()

    async def check(
        self, tried: set[str], acked: set[str], recovered: float, unlocked: list[str]
    ) -> dict[str, Any]:
        ends: collections.Counter[str] = collections.Counter()
        for i in range(WORKERS):
            for line in _lines(self.tmp / f"runs{i}.txt"):
                kind, _, job_id = line.partition(" ")
                if kind == "end":
                    ends[job_id] += 1
        chaos_states = await self.states("chaos")
        present = await self.job_ids("chaos")
        membership: collections.Counter[str] = collections.Counter()
        for ids in chaos_states.values():
            membership.update(ids)
        in_two = sorted(i for i, n in membership.items() if n > 1)
        in_none = sorted(present - set(membership))
        ghosts = sorted(set(membership) - present)
        run_ids = [i for i in ends if not i.startswith("repeat:")]
        duplicates = sum(n - 1 for i, n in ends.items() if n > 1 and not i.startswith("repeat:"))
        never_ran = sorted(i for i in acked if ends[i] == 0)
        ticks = sorted(int(i.rsplit(":", 1)[1]) for i in ends if i.startswith("repeat:tick:"))
        tick_gaps = [b - a for a, b in itertools.pairwise(ticks)]
        events = [line.split() for line in _lines(self.tmp / "events.txt")]
        events_after = sum(1 for t, _, _ in events if float(t) > self.faults.last_end)
        report = {
            "seed": self.seed,
            "seconds": self.seconds,
            "faults": dict(self.faults.injected),
            "faults_total": sum(self.faults.injected.values()),
            "jobs_tried": len(tried),
            "jobs_acknowledged": len(acked),
            "jobs_in_redis": len(present),
            "jobs_completed": len(chaos_states["completed"]),
            "handler_runs": sum(ends[i] for i in run_ids),
            "duplicates": duplicates,
            "duplicate_bound": self.faults.duplicate_bound,
            "recovery_seconds": round(recovered, 2),
            "ticks_run": len(ticks),
            "tick_min_gap_ms": min(tick_gaps) if tick_gaps else None,
            "listener_events": len(events),
            "listener_events_after_last_fault": events_after,
            "listener_probe_seconds": round(self.probe_seconds, 2),
            "worker_starts": sum(w.starts for w in self.workers),
        }
        problems = {
            "acknowledged but not in Redis": sorted(acked - present)[:20],
            "acknowledged but never ran": never_ran[:20],
            "in two states": in_two[:20],
            "in no state": in_none[:20],
            "in a state without a job hash": ghosts[:20],
            "not tried by a producer": sorted(present - tried)[:20],
            "active without a lock": unlocked[:20],
        }
        report["problems"] = {k: v for k, v in problems.items() if v}
        return report

    seed: int = 0


@pytest.fixture
def chaos_seconds() -> float:
    return float(os.environ.get("NESTQ_CHAOS_SECONDS", "60"))


@pytest.mark.timeout(0)
async def test_invariants_hold_under_chaos(tmp_path: Path, chaos_seconds: float) -> None:
    """Under kills, SIGTERMs, Redis restarts, client pauses and cut connections, every acknowledged job
    completes, duplicates stay within the jobs in flight at each fault, every job is in exactly one state,
    nothing is active without a lock, ticks run once each, and the listener keeps up."""
    seed = int(os.environ.get("NESTQ_CHAOS_SEED") or random.SystemRandom().randrange(2**31))
    print(f"\nchaos seed {seed} (replay: NESTQ_CHAOS_SEED={seed}), {chaos_seconds:g} s", flush=True)
    chaos = Chaos(tmp_path, seed, chaos_seconds)
    chaos.seed = seed
    report = await chaos.run()
    text = json.dumps(report, indent=2)
    print(text, flush=True)
    if os.environ.get("NESTQ_CHAOS_REPORT"):
        with open(os.environ["NESTQ_CHAOS_REPORT"], "w") as out:  # noqa: ASYNC230 - once, at the end
            out.write(text + "\n" + "\n".join(chaos.faults.log) + "\n")
    assert report["problems"] == {}, f"seed {seed}: {text}"
    assert report["recovery_seconds"] >= 0, f"seed {seed}: acknowledged jobs not all completed: {text}"
    assert report["jobs_completed"] == report["jobs_in_redis"], f"seed {seed}: {text}"
    assert report["duplicates"] <= report["duplicate_bound"], f"seed {seed}: {text}"
    assert report["tick_min_gap_ms"] is None or report["tick_min_gap_ms"] >= 1000, f"seed {seed}: {text}"
    assert report["ticks_run"] >= chaos_seconds / 10, f"seed {seed}: the schedule stopped: {text}"
    assert report["listener_probe_seconds"] >= 0, f"seed {seed}: the listener did not recover: {text}"
