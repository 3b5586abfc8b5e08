"""A Redis Sentinel setup of our own: 1 master, 1 replica, 3 sentinels, from the `redis-server` binary.

Used by the Sentinel tests (a fixture starts one per test that fails it over) and by `.ci/run`, which runs
the integration suite against one:

    python -m tests.support.sentinel_setup up DIR [BASE_PORT]   # prints the redis+sentinel:// URL
    python -m tests.support.sentinel_setup down DIR             # stops every process it started, by pid

Ports: BASE_PORT (master), +1 (replica), +2..+4 (sentinels); the tests take free ports in 7400-7479.
Sentinels notice a dead master after 1 s (`down-after-milliseconds`), so a failover takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support.own_server import stop_processes

SERVICE = "nestq"
TEST_PORTS = range(7400, 7480)


def _binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("the Sentinel setup needs the redis-server binary (apt-get install redis-server)")
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(ports: range = TEST_PORTS) -> int:
    """The first port of five free consecutive ports in `ports`."""
    for base in range(ports.start, ports.stop - 4, 5):
        if all(_free(base + i) for i in range(5)):
            return base
    raise RuntimeError(f"no five free ports in {ports.start}-{ports.stop - 1} for a Sentinel setup")


def _wait(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Sentinel setup: {what} not ready within {timeout} s")
        time.sleep(0.05)


class SentinelSetup:
    """Start with `start()`, stop with `stop()`; `kill_master()` kills the current master with SIGKILL."""

    def __init__(self, folder: Path, base_port: int | None = None, service: str = SERVICE) -> None:
        self.folder = folder
        self.base = base_port if base_port is not None else free_base_port()
        self.service = service
        self.data_ports = [self.base, self.base + 1]
        self.sentinel_ports = [self.base + 2, self.base + 3, self.base + 4]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def _spawn(self, port: int, args: list[str]) -> None:
        log = self.folder / f"{port}.log"
        self.processes[port] = subprocess.Popen(
            [_binary(), *args, "--logfile", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        (self.folder / "pids").open("a").write(f"{self.processes[port].pid}\n")

    def _server_args(self, port: int) -> list[str]:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        return ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
                "--appendonly", "no"]  # fmt: skip

    def start(self) -> SentinelSetup:
        self.folder.mkdir(parents=True, exist_ok=True)
        master, replica = self.data_ports
        self._spawn(master, self._server_args(master))
        self._spawn(replica, [*self._server_args(replica), "--replicaof", "127.0.0.1", str(master)])
        for port in self.sentinel_ports:
            conf = self.folder / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                f"sentinel failover-timeout {self.service} 10000\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
            self._spawn(port, [str(conf), "--sentinel"])
        _wait(lambda: self._client(replica).info("replication")["master_link_status"] == "up", "replica link")
        for port in self.sentinel_ports:
            _wait(lambda p=port: self._sentinel_sees_all(p), f"sentinel {port}")
        return self

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=1)

    def _sentinel_sees_all(self, port: int) -> bool:
        state = self._client(port).sentinel_master(self.service)
        return bool(state["num-slaves"] >= 1 and state["num-other-sentinels"] >= 2)

    def master_port(self) -> int:
        """The master's port as the sentinels see it now."""
        for port in self.sentinel_ports:
            try:
                return int(self._client(port).sentinel_get_master_addr_by_name(self.service)[1])
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel answers")

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        process = self.processes.pop(port)
        process.kill()
        process.wait()
        return port

    def wait_for_new_master(self, old: int, timeout: float = 60.0) -> int:
        """Wait until the sentinels name another master than `old` and it accepts writes; return its port."""
        _wait(lambda: self.master_port() != old, "failover", timeout)
        port = self.master_port()
        _wait(lambda: self._client(port).info("replication")["role"] == "master", "new master", timeout)
        return port

    def stop(self) -> None:
        stop_processes(self.processes.values())
        self.processes.clear()


def _down(folder: Path) -> None:
    pids = folder / "pids"
    if not pids.exists():
        return
    for line in pids.read_text().split():
        try:
            os.kill(int(line), signal.SIGTERM)
        except ProcessLookupError:
            pass
    pids.unlink()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "up":
        folder = Path(argv[1])
        setup = SentinelSetup(folder, int(argv[2]) if len(argv) > 2 else None).start()
        print(setup.url)
        return 0
    if len(argv) == 2 and argv[0] == "down":
        _down(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
