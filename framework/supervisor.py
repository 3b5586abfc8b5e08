"""`nestq worker/run --processes N`: one supervisor process keeping N child processes running.

A child is the same command without `--processes` (plus a hidden `--process-index`), started with
`python -m framework`, so one worker process uses one core and N of them use N. The supervisor:

- restarts a child that exits while it is not stopping, after a backoff (0.5 s doubling to 30 s; reset once
  a child has run for 30 s); a child that exits 5 times within 60 s is reported once as crash-looping
  (with its last exit status) and keeps being restarted every 30 s, so a bad deploy is visible in the
  logs but a Redis outage that lasts minutes does not need a human to restart anything;
- stops everything and exits 2 when a child exits 2 (a usage or configuration error: restarting cannot
  fix it);
- on SIGTERM or SIGINT sends one SIGTERM to every child (each drains: stops taking jobs, gives active
  ones `--shutdown-timeout` seconds, hands the rest back) and waits; a second signal is passed on too
  (children then stop at once). A child still running `shutdown_timeout + KILL_GRACE` seconds after the
  first signal is killed; its jobs come back through the stall check. Exits 0 when every child did.

Children run in a session of their own (a terminal's Ctrl+C reaches the supervisor only, which passes
it on once) and get SIGTERM if the supervisor dies (Linux `PR_SET_PDEATHSIG`), so none is orphaned.
Jobs of a child killed by SIGKILL are found by the stall check of the others, as with any crashed worker.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from framework.logging import get_logger

__all__ = ["KILL_GRACE", "RestartPolicy", "Supervisor"]

KILL_GRACE = 30.0  # seconds past the shutdown timeout before a child that has not stopped is killed
_USAGE_ERROR = 2
_PR_SET_PDEATHSIG = 1

log = get_logger("nestq.supervisor")


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that exited is started again.

    Attributes:
        first: seconds before the first restart.
        cap: longest wait between restarts.
        stable_after: a child that ran this long starts the backoff over.
        loop_exits: this many exits ...
        loop_window: ... within this many seconds is a crash loop (reported once).
    """

    first: float = 0.5
    cap: float = 30.0
    stable_after: float = 30.0
    loop_exits: int = 5
    loop_window: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.first * 2.0 ** max(failures - 1, 0), self.cap)


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    failures: int = 0  # exits since the child last ran `stable_after` seconds
    exits: list[float] = field(default_factory=list)
    looping: bool = False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: a supervisor killed with SIGKILL leaves its children running


def describe_exit(code: int) -> str:
    """`exit code 3` or `killed by SIGKILL` (Popen gives -N for a signal)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Runs `command(index)` as N children until SIGTERM/SIGINT; `run()` returns the exit code.

    Args:
        command: the nestq arguments of every child (after `python -m framework`).
        processes: how many children.
        shutdown_timeout: the children's grace period; the supervisor waits that plus `KILL_GRACE`.
        policy: restart timing.
        child_args: arguments added for child `index` only.
        program: what runs the arguments (`python -m framework`).
    """

    def __init__(
        self,
        command: Sequence[str] | None = None,
        processes: int = 1,
        *,
        shutdown_timeout: float,
        policy: RestartPolicy | None = None,
        child_args: dict[int, list[str]] | None = None,
        program: Sequence[str] = (sys.executable, "-m", "framework"),
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.program = list(program)
        self.command = list(command or [])
        self.child_args = child_args or {}
        self.slots = [_Slot(i) for i in range(processes)]
        self.shutdown_timeout = shutdown_timeout
        self.policy = policy or RestartPolicy()
        self.signals: list[int] = []
        self._forwarded = 0
        self._stop_deadline: float | None = None
        self._exit_code = 0

    def argv(self, index: int) -> list[str]:
        return [*self.program, *self.command, *self.child_args.get(index, [])]

    # -- running ------------------------------------------------------------------------------------------

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info(
                "supervisor started",
                processes=len(self.slots),
                pid=os.getpid(),
                command=" ".join(self.command),
            )
            for slot in self.slots:
                self._spawn(slot)
            while not self._finished():
                self._step(time.monotonic())
                time.sleep(0.05)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        log.info("supervisor stopped", exit_code=self._exit_code)
        return self._exit_code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _stopping(self) -> bool:
        return bool(self.signals) or self._stop_deadline is not None

    def _finished(self) -> bool:
        return self._stopping() and all(s.process is None for s in self.slots) and self._forwarded > 0

    def _step(self, now: float) -> None:
        if self.signals and self._forwarded < min(len(self.signals), 2):
            self._forward(now)
        for slot in self.slots:
            if slot.process is not None and (code := slot.process.poll()) is not None:
                self._exited(slot, code, now)
            if slot.process is None and not self._stopping() and now >= slot.restart_at:
                self._spawn(slot)
        if self._stop_deadline is not None and now > self._stop_deadline:
            for slot in self.slots:
                if slot.process is not None and slot.process.poll() is None:
                    log.error(
                        "worker process did not stop in time; killing it (its jobs come back through the "
                        "stall check)",
                        process=slot.index,
                        pid=slot.process.pid,
                    )
                    slot.process.kill()
                    self._exit_code = 1
            self._stop_deadline = now + 3600.0  # killed: only reaping is left

    def stop(self) -> None:
        """Ask the supervisor to stop as on SIGTERM (for callers running `run()` in a thread)."""
        self.signals.append(signal.SIGTERM)

    def _forward(self, now: float) -> None:
        self._forwarded += 1
        if self._forwarded == 1:
            name = signal.Signals(self.signals[0]).name
            log.info("stopping worker processes", signal=name, shutdown_timeout=self.shutdown_timeout)
            self._stop_deadline = now + self.shutdown_timeout + KILL_GRACE
        else:
            log.warning("second signal: worker processes stop now, unfinished jobs go back to their queues")
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGTERM)

    def _spawn(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(  # our own interpreter and arguments
            self.argv(slot.index), start_new_session=True, preexec_fn=_die_with_parent
        )
        slot.started = time.monotonic()
        log.info("worker process started", process=slot.index, pid=slot.process.pid)

    def _exited(self, slot: _Slot, code: int, now: float) -> None:
        pid = slot.process.pid if slot.process is not None else None
        slot.process = None
        if self._stopping():
            if code != 0:
                self._exit_code = 1
                log.warning("worker process ended badly while stopping", process=slot.index, pid=pid,
                            status=describe_exit(code))  # fmt: skip
            return
        if code == _USAGE_ERROR:
            log.error(
                "worker process exited with a usage or configuration error; stopping all (restarting "
                "cannot fix it)",
                process=slot.index,
                pid=pid,
            )
            self._exit_code = _USAGE_ERROR
            self.signals.append(signal.SIGTERM)
            return
        if now - slot.started >= self.policy.stable_after:
            slot.failures = 0
            slot.looping = False
        slot.failures += 1
        slot.exits = [t for t in slot.exits if now - t <= self.policy.loop_window] + [now]
        delay = self.policy.delay(slot.failures)
        slot.restart_at = now + delay
        status = describe_exit(code)
        if len(slot.exits) >= self.policy.loop_exits and not slot.looping:
            slot.looping = True
            log.error(
                f"worker process is crash-looping: {len(slot.exits)} exits in "
                f"{self.policy.loop_window:.0f} s, last {status}; still restarting it (backoff up to "
                f"{self.policy.cap:.0f} s). Run the command without --processes to see why",
                process=slot.index,
                pid=pid,
            )
        else:
            log.warning(
                "worker process exited; restarting it", process=slot.index, pid=pid, status=status,
                restart_in=round(delay, 2),
            )  # fmt: skip
