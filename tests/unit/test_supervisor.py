"""The `--processes` supervisor with stand-in children (small Python programs): restart with backoff, a crash
loop reported once, signals passed on once, a usage error stops all, a child that will not stop is killed."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from framework import supervisor as supervisor_module
from framework.supervisor import RestartPolicy, Supervisor, describe_exit

FAST = RestartPolicy(first=0.01, cap=0.05, stable_after=30, loop_exits=3, loop_window=60)
# Says it is ready (a file named after its pid in the folder given as NESTQ_TEST_READY), exits 0 on SIGTERM.
SLEEPER = (
    "import os, pathlib, signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "pathlib.Path(os.environ['NESTQ_TEST_READY'], str(os.getpid())).touch(); time.sleep(60)"
)


def _program(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _when(condition: Callable[[], bool], then: Callable[[], None], timeout: float = 60) -> threading.Thread:
    """Call `then` (from a thread) once `condition` holds; the supervisor runs in the main thread."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _events(logs: list[dict[str, object]], text: str) -> list[dict[str, object]]:
    return [e for e in logs if text in str(e["event"])]


def test_a_crashing_child_is_restarted_and_a_crash_loop_reported_once() -> None:
    sup = Supervisor(
        processes=2, shutdown_timeout=1, policy=FAST, program=_program("import sys; sys.exit(3)")
    )
    with capture_logs() as logs:
        _when(
            lambda: len(_events(logs, "crash-looping")) >= 2 and len(_events(logs, "restarting")) >= 8,
            sup.stop,
        )
        assert sup.run() in (0, 1)  # 1 when a child was caught exiting 3 after the stop
    loops = _events(logs, "crash-looping")
    assert sorted(e["process"] for e in loops) == [0, 1]  # once per child, though it kept crashing
    assert all("exit code 3" in str(e["event"]) for e in loops)
    restarts = _events(logs, "exited; restarting it")
    assert restarts and restarts[0]["status"] == "exit code 3"
    assert len(_events(logs, "worker process started")) > 6


def test_sigterm_is_passed_on_once_and_the_supervisor_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NESTQ_TEST_READY", str(tmp_path))
    sup = Supervisor(processes=3, shutdown_timeout=5, policy=FAST, program=_program(SLEEPER))
    with capture_logs() as logs:
        _when(lambda: len(list(tmp_path.iterdir())) == 3, lambda: os.kill(os.getpid(), signal.SIGTERM))
        assert sup.run() == 0
    assert len(_events(logs, "stopping worker processes")) == 1
    assert not _events(logs, "restarting")


def test_a_usage_error_stops_every_child_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NESTQ_TEST_READY", str(tmp_path))
    code = (
        "import sys; sys.exit(2) if '--process-index' in sys.argv and sys.argv[-1] == '1' else None; "
        + SLEEPER
    )
    program = _program(code)
    sup = Supervisor(
        processes=2,
        shutdown_timeout=5,
        policy=FAST,
        program=program,
        child_args={0: ["--process-index", "0"], 1: ["--process-index", "1"]},
    )
    with capture_logs() as logs:
        assert sup.run() == 2
    assert _events(logs, "usage or configuration error")


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor_module, "KILL_GRACE", 0.3)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    sup = Supervisor(processes=1, shutdown_timeout=0.2, policy=FAST, program=_program(stubborn))
    with capture_logs() as logs:
        _when(lambda: sup.slots[0].process is not None, lambda: (time.sleep(0.5), sup.stop()) and None)
        assert sup.run() == 1
    assert _events(logs, "did not stop in time")


def test_describe_exit() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "killed by SIGKILL"


def test_processes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="processes must be >= 1"):
        Supervisor(["worker", "a:B"], 0, shutdown_timeout=1)
