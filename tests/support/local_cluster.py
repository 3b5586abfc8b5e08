"""A Redis Cluster of a test's (or CI's) own: 3 masters + 3 replicas from the `redis-server` binary.

Ports `base` .. `base+5` (the cluster helper's range is 7300-7399: 7300 for CI and the session fixture,
7310+ for tests that kill nodes). Node timeout 1000 ms, so a replica takes over a killed master in ~2 s.
Every node is stopped by its pid. Also a command line, for `.ci/run`:

    python -m tests.support.local_cluster start 7300 /tmp/nestq-cluster   # prints the pids
    python -m tests.support.local_cluster stop /tmp/nestq-cluster
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

NODES = 6
NODE_TIMEOUT_MS = 1000


def free_base(low: int, high: int = 7399) -> int:
    """The first port from `low` (in steps of 10, up to `high`) whose six ports are all free: two test
    sessions on one machine then start clusters side by side."""
    for base in range(low, high - NODES + 2, 10):
        free = True
        for port in range(base, base + NODES):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return base
    raise RuntimeError(f"no six free ports from {low} to {high}")


def available() -> bool:
    """Whether a cluster can be started here (`redis-server` and `redis-cli` installed)."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


class LocalCluster:
    """Six `redis-server` processes in cluster mode on ports `base`..`base+5`, in `folder`."""

    def __init__(self, folder: Path, base: int, *options: str) -> None:
        self.folder = folder
        self.base = base
        self.options = list(options)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def ports(self) -> list[int]:
        return [self.base + i for i in range(NODES)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.base}"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=2)

    def start(self, timeout: float = 60.0) -> LocalCluster:
        for port in self.ports:
            self.start_node(port)
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        self.wait_ok(timeout)
        self.wait_replicas_synced(timeout)
        return self

    def start_node(self, port: int, timeout: float = 20.0) -> None:
        """Start (or restart, keeping its nodes.conf) the node on `port`."""
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # A master otherwise waits 5 s before a replica's first (diskless) sync: a master killed in
            # that window has a replica that never synced, which refuses to fail over.
            "--repl-diskless-sync-delay", "0",
            "--logfile", str(folder / "server.log"),
            *self.options,
        ]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes[port] = process
        (folder / "pid").write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client(port).ping():
                    return
            except redis.RedisError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"cluster node on {port} did not start: {log}")
            time.sleep(0.05)

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Wait until every running node says `cluster_state:ok` and agrees on the slots."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for port, process in self.processes.items():
                if process.poll() is not None:
                    continue
                try:
                    states.append(self.client(port).cluster("INFO").get("cluster_state", "?"))
                except redis.RedisError as exc:
                    states.append(str(exc))
            if states and all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not become ok: {states}")
            time.sleep(0.1)

    def wait_replicas_synced(self, timeout: float = 60.0) -> None:
        """Wait until every running replica's link to its master is up (its first sync is done)."""
        deadline = time.monotonic() + timeout
        while True:
            links = []
            for port, process in self.processes.items():
                if process.poll() is not None:
                    continue
                try:
                    info = self.client(port).info("replication")
                except redis.RedisError as exc:
                    links.append(str(exc))
                    continue
                if info.get("role") == "slave":
                    links.append(str(info.get("master_link_status", "?")))
            if links and all(link == "up" for link in links):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas did not sync with their masters: {links}")
            time.sleep(0.1)

    def master_of(self, key: str) -> int:
        """Port of the master that owns `key`'s slot now."""
        for port, process in self.processes.items():
            if process.poll() is not None:
                continue
            slot = int(self.client(port).execute_command("CLUSTER KEYSLOT", key))
            for start, end, master, *_ in self.client(port).execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise RuntimeError("no running node answered")

    def kill(self, port: int) -> None:
        """SIGKILL one node."""
        process = self.processes.pop(port)
        process.kill()
        process.wait()

    def stop(self) -> None:
        stop_processes(self.processes.values())
        self.processes.clear()


def _stop_folder(folder: Path) -> None:
    """Stop the nodes started by `start` in `folder` (a separate process): by the pids it wrote."""
    for pidfile in folder.glob("*/pid"):
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        pidfile.unlink()


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"] and len(argv) == 3:
        folder = Path(argv[2])
        cluster = LocalCluster(folder, int(argv[1])).start()
        print(" ".join(str(p.pid) for p in cluster.processes.values()))
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        _stop_folder(Path(argv[1]))
        return 0
    print(
        "usage: python -m tests.support.local_cluster start BASE_PORT FOLDER | stop FOLDER", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
