"""Graceful shutdown on SIGTERM / SIGINT, for processes that run workers.

The first signal starts a graceful stop: workers take no new jobs, active ones get a grace period to
finish, and whatever is still running then goes straight back to waiting (no wait for a lock to expire).
A second signal stops at once: handlers are cancelled now, their jobs still handed back. Either way the
process exits normally (code 0).

    async def main() -> None:
        worker = Worker("email", send_email, concurrency=10)
        await serve_workers(worker, grace=30)

or, around other code, `async with ShutdownSignals() as signals: ... await signals.wait() ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from framework.queue.worker import Worker

log = structlog.get_logger("nestq.shutdown")

DEFAULT_GRACE = 30.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownSignals:
    """Handlers for SIGTERM / SIGINT on the running event loop.

    The first signal sets `graceful` and calls the `on_first` callbacks; the second sets `forced` and calls
    the `on_second` callbacks. Off the main thread (or where the loop cannot take signal handlers)
    `install()` does nothing and `installed` stays False; the events can still be set by hand.
    """

    def __init__(self, signals: Sequence[signal.Signals] = SIGNALS) -> None:
        self.signals = tuple(signals)
        self.graceful = asyncio.Event()
        self.forced = asyncio.Event()
        self.received: list[str] = []
        self.installed: list[signal.Signals] = []
        self._on_first: list[Callable[[], object]] = []
        self._on_second: list[Callable[[], object]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_first(self, callback: Callable[[], object]) -> None:
        """Call `callback()` (on the loop) when the first signal arrives."""
        self._on_first.append(callback)

    def on_second(self, callback: Callable[[], object]) -> None:
        """Call `callback()` (on the loop) when the second signal arrives."""
        self._on_second.append(callback)

    def install(self) -> ShutdownSignals:
        """Install the handlers on the running loop. Returns self."""
        self._loop = asyncio.get_running_loop()
        for sig in self.signals:
            try:
                self._loop.add_signal_handler(sig, self.trigger, sig.name)
                self.installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                pass
        return self

    def remove(self) -> None:
        """Give the signals back to their previous handling."""
        if self._loop is not None and not self._loop.is_closed():
            for sig in self.installed:
                self._loop.remove_signal_handler(sig)
        self.installed = []

    def trigger(self, name: str = "manual") -> None:
        """What a signal does; call it to start a shutdown without one (the second call forces)."""
        self.received.append(name)
        if len(self.received) == 1:
            log.info("signal received: stopping gracefully; send it again to stop at once", signal=name)
            self.graceful.set()
            callbacks = self._on_first
        elif len(self.received) == 2:
            log.warning("second signal: stopping now; unfinished jobs go back to their queue", signal=name)
            self.forced.set()
            callbacks = self._on_second
        else:
            return
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("shutdown callback raised; ignored")

    async def wait(self) -> str:
        """Wait for the first signal; return its name."""
        await self.graceful.wait()
        return self.received[0]

    async def __aenter__(self) -> ShutdownSignals:
        return self.install()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


async def close_workers(
    workers: Iterable[Worker], grace: float | None = DEFAULT_GRACE, signals: ShutdownSignals | None = None
) -> None:
    """Close workers gracefully (active jobs get `grace` seconds, then go back to waiting).

    With `signals`, a second signal (now or during the grace period) closes them at once instead.
    """
    workers = list(workers)
    if signals is not None and signals.forced.is_set():
        grace = 0
    closing: asyncio.Future[list[None]] = asyncio.gather(*(w.close(timeout=grace) for w in workers))
    if signals is None:
        await closing
        return
    forced: asyncio.Future[Any] = asyncio.ensure_future(signals.forced.wait())
    try:
        await asyncio.wait([closing, forced], return_when=asyncio.FIRST_COMPLETED)
        if not closing.done():
            await asyncio.gather(*(w.close(timeout=0) for w in workers))
        await closing
    finally:
        forced.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forced


async def serve_workers(*workers: Worker, grace: float | None = DEFAULT_GRACE) -> None:
    """Run `workers` until SIGTERM or SIGINT, then stop them gracefully (see the module docstring).

    Returns once every worker has stopped, so `asyncio.run(main())` ends and the process exits with 0.
    Raises the error of a worker that crashed (after stopping the others).
    """
    async with ShutdownSignals() as signals:
        runs = [asyncio.ensure_future(w.run()) for w in workers]
        stop = asyncio.ensure_future(signals.graceful.wait())
        try:
            await asyncio.wait([stop, *runs], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            await close_workers(workers, grace, signals)
            results = await asyncio.gather(*runs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
