"""Testing a FastAPI / Starlette app built with `framework.http.lifespan`, with nestq providers replaced.

The app's lifespan creates the nestq application with the given overrides (on the real Redis of the
settings, or of the root module's connection) and closes it when the block ends. Three ways in, all
exposed by `framework.testing`:

- `async with http_client(app, overrides=...)`: an `httpx.AsyncClient` over `httpx.ASGITransport`, with
  the lifespan state in each request's scope as a server would put it;
- `with http_test_client(app, overrides=...)`: Starlette's `TestClient` (sync tests);
- `async with http_server(app, overrides=...)`: the app on a real uvicorn server on a free port.

Each exposes the running `Application` as `.nest`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.di.application import Application
from framework.http.lifespan import OVERRIDES_KEY, get_application, testing_overrides

if TYPE_CHECKING:
    import httpx
    import uvicorn
    from starlette.testclient import TestClient

    class HttpTestClient(httpx.AsyncClient):
        """The client `http_client` yields: an `httpx.AsyncClient` with the running application."""

        nest: Application

    class SyncHttpTestClient(TestClient):
        """The client `http_test_client` yields: Starlette's `TestClient` with the running application."""

        nest: Application


__all__ = ["RunningServer", "http_client", "http_server", "http_test_client", "run_lifespan"]


@dataclass(frozen=True)
class RunningServer:
    """What `http_server` yields: the base URL, the running application and the uvicorn server."""

    url: str
    nest: Application
    server: uvicorn.Server


@asynccontextmanager
async def http_client(
    app: ASGIApp,
    *,
    overrides: Mapping[object, object] | None = None,
    base_url: str = "http://testserver",
    **client_options: Any,
) -> AsyncIterator[HttpTestClient]:
    """Run `app`'s lifespan (nestq providers replaced by `overrides`) and yield an `httpx.AsyncClient` on it.

    Args:
        app: the FastAPI or Starlette app, built with `lifespan=framework.http.lifespan(AppModule)`.
        overrides: replacement providers by token, as for `Application.create(..., overrides=...)`.
        base_url: the client's base URL.
        **client_options: more keyword arguments of `httpx.AsyncClient`.

    The client's `nest` attribute is the running `Application` (`await client.nest.run_until_drained()`).
    """
    import httpx

    reset = testing_overrides.set(dict(overrides) if overrides else None)
    try:
        async with run_lifespan(app) as state:
            transport = httpx.ASGITransport(app=_with_state(app, state))
            client = _client_class()(transport=transport, base_url=base_url, **client_options)
            client.nest = get_application({"state": state})
            async with client:
                yield client
    finally:
        testing_overrides.reset(reset)


@contextmanager
def http_test_client(
    app: ASGIApp, *, overrides: Mapping[object, object] | None = None, **client_options: Any
) -> Iterator[SyncHttpTestClient]:
    """`with TestClient(app)` (which runs the lifespan) with nestq providers replaced by `overrides`.

    Args:
        app: a FastAPI or Starlette app built with `lifespan=framework.http.lifespan(AppModule)`.
        overrides: replacement providers by token.
        **client_options: more keyword arguments of `starlette.testclient.TestClient`.
    """
    from starlette.testclient import TestClient

    state = getattr(app, "state", None)
    if state is None:
        raise TypeError(f"http_test_client takes a FastAPI or Starlette app, got {app!r}")
    # TestClient runs the lifespan in a thread of its own: the overrides travel on app.state.
    setattr(state, OVERRIDES_KEY, dict(overrides or {}))
    try:
        with TestClient(app, **client_options) as client:
            client.nest = get_application(app)
            yield client
    finally:
        delattr(state, OVERRIDES_KEY)


@asynccontextmanager
async def http_server(
    app: ASGIApp,
    *,
    overrides: Mapping[object, object] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 30.0,
) -> AsyncIterator[RunningServer]:
    """Serve `app` with uvicorn in this event loop (nestq providers replaced by `overrides`).

    Args:
        app: a FastAPI or Starlette app built with `lifespan=framework.http.lifespan(AppModule)`.
        overrides: replacement providers by token.
        host, port: where to listen (port 0: a free one).
        startup_timeout: seconds to wait for the server to listen.

    At exit the server shuts down as on SIGTERM: stops accepting, lets open requests finish, then runs
    the lifespan's shutdown (the application closes last).
    """
    import uvicorn

    reset = testing_overrides.set(dict(overrides) if overrides else None)
    try:
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve(), name="nestq-http-server")  # inherits the overrides
        try:
            async with asyncio.timeout(startup_timeout):
                while not server.started:
                    if serving.done():
                        serving.result()  # uvicorn's own error, if it raised
                        raise RuntimeError("the HTTP app did not start (its lifespan failed; see the log)")
                    await asyncio.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()
            yield RunningServer(url=f"http://{host}:{bound[1]}", nest=get_application(app), server=server)
        finally:
            server.should_exit = True
            await serving
    finally:
        testing_overrides.reset(reset)


@asynccontextmanager
async def run_lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Send the ASGI lifespan startup to `app`, yield its state, then shut it down (as a server does)."""
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}

    async def serve() -> None:
        await app(scope, inbox.get, outbox.put)

    task = asyncio.create_task(serve(), name="nestq-http-lifespan")
    try:
        await inbox.put({"type": "lifespan.startup"})
        await _expect(task, outbox, "lifespan.startup.complete")
        yield state
        await inbox.put({"type": "lifespan.shutdown"})
        await _expect(task, outbox, "lifespan.shutdown.complete")
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _expect(task: asyncio.Task[None], outbox: asyncio.Queue[Message], expected: str) -> None:
    getter = asyncio.ensure_future(outbox.get())
    await asyncio.wait([getter, task], return_when=asyncio.FIRST_COMPLETED)
    if not getter.done():
        getter.cancel()
        task.result()  # the app's own error, if it raised
        raise RuntimeError(f"the app's lifespan ended without sending {expected!r}")
    message = getter.result()
    if message["type"] != expected:
        if task.done() or message["type"].endswith(".failed"):
            await asyncio.gather(task, return_exceptions=True)
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        raise RuntimeError(f"the app's lifespan failed: {message.get('message') or message['type']}")


@functools.cache
def _client_class() -> type[HttpTestClient]:
    """`HttpTestClient`, made at first use: httpx is a test-time dependency, not a runtime one."""
    import httpx

    return type("HttpTestClient", (httpx.AsyncClient,), {"__module__": __name__})


def _with_state(app: ASGIApp, state: Mapping[str, Any]) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return asgi
