"""Serving the dashboard with uvicorn, in the same process as an application or on its own.

    server = await start_dashboard(app)      # returns once the port is bound
    ...
    await server.stop()

`start_dashboard` binds the socket itself, so a port in use is a clear `DashboardError` (not
uvicorn's `sys.exit`), and it never installs signal handlers: the process's own shutdown (e.g.
`Application.serve()`) stays in charge of SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Generator
from typing import Any

import structlog
import uvicorn
from starlette.types import Receive, Scope, Send

from framework.dashboard.app import Dashboard
from framework.dashboard.auth import Auth, auth_from_settings, is_loopback_host
from framework.dashboard.data import source_of
from framework.dashboard.middleware import AuthMiddleware
from framework.errors import ConfigurationError
from framework.settings import DashboardSettings, get_settings

__all__ = [
    "DashboardError",
    "DashboardServer",
    "check_bind",
    "dashboard_server",
    "serve_dashboard",
    "start_dashboard",
]

log = structlog.get_logger("nestq.dashboard")


class DashboardError(ConfigurationError):
    """The dashboard cannot be served as configured (no auth on a public interface, port in use, ...)."""


def check_bind(host: str, auth: Auth | None) -> None:
    """Refuse to serve the dashboard on anything but loopback without authentication.

    Raises:
        DashboardError: `host` is reachable from other machines and `auth` is None.
    """
    if auth is None and not is_loopback_host(host):
        raise DashboardError(
            f"refusing to serve the dashboard on {host} without authentication: anyone who can reach "
            "this address could retry, remove and clean jobs. Set NESTQ_DASHBOARD__USERNAME and "
            "NESTQ_DASHBOARD__PASSWORD (or NESTQ_DASHBOARD__TOKEN), or bind to 127.0.0.1 "
            "(NESTQ_DASHBOARD__HOST=127.0.0.1) and put an authenticating proxy in front."
        )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the host process owns the signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _WithMetrics:
    """The dashboard, and the Prometheus exposition at `/metrics` beside it, behind the dashboard's auth."""

    def __init__(self, dashboard: Dashboard) -> None:
        from framework.observability.prometheus import MetricsApp

        self._dashboard = dashboard
        self._metrics = AuthMiddleware(MetricsApp(dashboard.source), auth=dashboard.auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/metrics", "/metrics/"):
            await self._metrics(scope, receive, send)
            return
        await self._dashboard(scope, receive, send)


class DashboardServer:
    """A running dashboard HTTP server (see `start_dashboard`); with `metrics`, `/metrics` beside it."""

    def __init__(
        self, app: Dashboard, sock: socket.socket, *, host: str, access_log: bool, metrics: bool = False
    ) -> None:
        self.app = app
        self.host = host
        self.metrics = metrics
        self._sock = sock
        self._port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            _WithMetrics(app) if metrics else app,
            log_config=None,
            access_log=access_log,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The dashboard's address, e.g. `http://127.0.0.1:8000/admin/queues/`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.app.base_path}/"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="nestq-dashboard")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise DashboardError("the dashboard server stopped during startup")
            await asyncio.sleep(0.01)
        log.info(
            "dashboard listening", url=self.url, read_only=self.app.read_only, auth=self.app.auth is not None
        )
        if self.metrics:
            host = f"[{self.host}]" if ":" in self.host else self.host
            log.info("prometheus metrics at /metrics", url=f"http://{host}:{self.port}/metrics")

    async def wait(self) -> None:
        """Until the server stops."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop accepting connections and finish the requests in flight (5 s at most)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._server.should_exit = True
        try:
            await task
        except (asyncio.CancelledError, SystemExit):
            pass
        finally:
            self._sock.close()


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise DashboardError(f"cannot resolve dashboard host {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise DashboardError(
            f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}; "
            "choose another port (NESTQ_DASHBOARD__PORT or --port)"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start_dashboard(
    queues: Any,
    settings: DashboardSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    read_only: bool | None = None,
    auth: Auth | None = None,
    access_log: bool = False,
) -> DashboardServer:
    """Serve the dashboard over `queues` in this process; returns once the port is bound.

    Args:
        queues: an `Application`, a list of `Queue`, or a `QueueSource`.
        settings: the dashboard settings (default: `get_settings().dashboard`): host, port, base path,
            read-only and auth.
        host, port, read_only, auth: override the settings.
        access_log: log every request (uvicorn's access log).

    Raises:
        DashboardError: no auth on a non-loopback host, or the port cannot be bound.
    """
    settings = settings or get_settings().dashboard
    host = host or settings.host
    port = settings.port if port is None else port
    auth = auth if auth is not None else auth_from_settings(settings)
    check_bind(host, auth)
    app = Dashboard(
        source_of(queues),
        base_path=settings.base_path,
        read_only=settings.read_only if read_only is None else read_only,
        auth=auth,
    )
    server = DashboardServer(
        app, _bind(host, port), host=host, access_log=access_log, metrics=settings.metrics
    )
    await server.start()
    return server


async def serve_dashboard(
    queues: Any,
    settings: DashboardSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    read_only: bool | None = None,
    auth: Auth | None = None,
    access_log: bool = True,
) -> None:
    """Serve the dashboard until SIGINT/SIGTERM (or until cancelled), then stop gracefully."""
    server = await start_dashboard(
        queues, settings, host=host, port=port, read_only=read_only, auth=auth, access_log=access_log
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    waiter = asyncio.create_task(stop.wait())
    runner = asyncio.create_task(server.wait())
    try:
        await asyncio.wait([waiter, runner], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        runner.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()


@contextlib.asynccontextmanager
async def dashboard_server(
    queues: Any, settings: DashboardSettings | None = None
) -> AsyncIterator[DashboardServer | None]:
    """Serve the dashboard for the duration of the block when `settings.enabled` (for `nestq run`).

        async with dashboard_server(app):
            await app.serve()

    Yields the running server, or None when `NESTQ_DASHBOARD__ENABLED` is false.

    Raises:
        DashboardError: no auth on a non-loopback host, or the port cannot be bound.
    """
    settings = settings or get_settings().dashboard
    if not settings.enabled:
        yield None
        return
    server = await start_dashboard(queues, settings)
    try:
        yield server
    finally:
        await server.stop()
