"""A Redis-protocol server of a test's own (never the shared one): for tests that pause, fill, restart or
kill it. `redis-server` when installed, else the embedded Valkey binary. Ports come from
NESTQ_TEST_PORTS ("7100-7199" by default), the first free one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import redis


def _ports() -> range:
    low, _, high = os.environ.get("NESTQ_TEST_PORTS", "7100-7199").partition("-")
    return range(int(low), int(high or low) + 1)


def free_port() -> int:
    for port in _ports():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in NESTQ_TEST_PORTS={os.environ.get('NESTQ_TEST_PORTS', '7100-7199')}")


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from framework.embedded import _binary_path

    return str(_binary_path())


class OwnServer:
    """One server process in `folder` on a free port; `start()`, `stop()` (SIGTERM), `kill()` (SIGKILL)."""

    def __init__(self, folder: Path, *options: str, port: int | None = None) -> None:
        self.folder = folder
        self.options = list(options)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, timeout: float = 20.0) -> OwnServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--logfile", str(self.folder / "server.log"),
            *self.options,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client().ping():
                    return self
            except (redis.AuthenticationError, redis.ResponseError):
                return self  # it answers (and wants a password)
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"own server on {self.port} did not start: {log}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM every process, then wait for each (SIGKILL one that takes longer than `timeout`)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
