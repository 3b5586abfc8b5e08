"""`http_client(app, overrides=...)`: an httpx client on a FastAPI / Starlette app whose lifespan runs.

The app's `framework.http.lifespan` creates the nestq application with the given provider overrides (on
the real Redis of the settings, or the root module's connection), requests go through
`httpx.ASGITransport` with the lifespan state in their scope as a server would put it, and the
application closes when the block ends. Exposed as `framework.testing.http_client`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.di.application import Application
from framework.http.lifespan import get_application, testing_overrides

if TYPE_CHECKING:
    import httpx

    class HttpTestClient(httpx.AsyncClient):
        """The client `http_client` yields: an `httpx.AsyncClient` with the running application."""

        nest: Application


__all__ = ["http_client", "run_lifespan"]  # HttpTestClient: for type hints, under TYPE_CHECKING


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
