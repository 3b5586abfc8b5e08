"""Event-loop lag monitor: notices a handler that blocks the loop, names the jobs that were running.

A blocked loop freezes every worker of the process: locks are not renewed and may expire, so healthy
jobs could be handed to other workers. One monitor per event loop measures how late a timer fires; past
`THRESHOLD` seconds it logs one warning naming the active jobs of every watching worker, and tells the
workers at once so they renew their locks (extendLocks takes back locks that lapsed meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import structlog

log = structlog.get_logger("nestq.worker")

THRESHOLD = 1.0  # seconds of lag that are reported
INTERVAL = 0.5  # seconds between two measurements


class LagWatcher(Protocol):
    def running_jobs(self, since: float) -> list[dict[str, Any]]:
        """Jobs that ran on the loop (not in threads) at some point after `since` (loop time)."""
        ...

    def loop_lagged(self, seconds: float) -> None:
        """The loop was blocked for `seconds`: renew locks now."""
        ...


class LoopLagMonitor:
    """Measures the lag of one event loop and reports it to the watchers (see `watch_loop_lag`)."""

    def __init__(self, threshold: float = THRESHOLD, interval: float = INTERVAL) -> None:
        self.threshold = threshold
        self.interval = interval
        self.watchers: list[LagWatcher] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            awake = loop.time()
            await asyncio.sleep(self.interval)
            lag = loop.time() - awake - self.interval
            if lag >= self.threshold:
                # The loop answered at `awake`, then froze: name what ran since.
                self.report(lag, awake)

    def report(self, lag: float, since: float) -> None:
        jobs = [job for w in self.watchers for job in w.running_jobs(since)]
        log.warning(
            "event loop blocked: "
            + (
                "one of these jobs' handlers did blocking work on the loop; make it a plain `def` handler "
                "(run in a thread) or use `await asyncio.to_thread(...)`"
                if jobs
                else "no job of this process was running on the loop; something else blocked it"
            ),
            blocked_seconds=round(lag, 2),
            jobs=jobs,
        )
        for watcher in list(self.watchers):
            with contextlib.suppress(Exception):
                watcher.loop_lagged(lag)


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLagMonitor] = weakref.WeakKeyDictionary()


def watch_loop_lag(watcher: LagWatcher) -> Callable[[], None]:
    """Report lags of the running loop to `watcher`; returns the function that stops watching."""
    loop = asyncio.get_running_loop()
    monitor = _monitors.get(loop)
    if monitor is None:
        monitor = _monitors[loop] = LoopLagMonitor()
    monitor.watchers.append(watcher)
    if monitor.task is None or monitor.task.done():
        monitor.task = loop.create_task(monitor.run(), name="nestq-loop-lag")

    def unwatch() -> None:
        if watcher in monitor.watchers:
            monitor.watchers.remove(watcher)
        if not monitor.watchers and monitor.task is not None:
            monitor.task.cancel()
            monitor.task = None

    return unwatch
